import os
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pandas as pd

from formclip_pipeline.core.files import write_json, write_text
from formclip_pipeline.core.report import render_html
from formclip_pipeline.core.pose import POSE_FPS
from formclip_pipeline.core.score import ScoreError, ScoreSettings, score_video
from formclip_pipeline.core.video import VideoError, file_sha256
from formclip_pipeline.partitions import incoming_videos
from formclip_pipeline.resources import DuckDBStore, FormClipPaths

VIDEO_PATH_TAG = "formclip/video_path"
EXERCISE_TAG = "formclip/exercise"


class ScoringConfig(dg.Config):
    fps: float = POSE_FPS


@dg.asset(
    partitions_def=incoming_videos,
    group_name="scoring",
    kinds={"ffmpeg", "duckdb", "html"},
    # Transient trouble (a file still locked by the copier, a busy disk: OSError) raises and is retried
    # with backoff; a video that cannot be scored is a permanent, recorded failure and is not retried.
    retry_policy=dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL),
    description="Score of one dropped-in video (partition = its content hash): sets, reps, 0-100 form score, "
                "timestamped issues and advice, as JSON and a self-contained HTML page in data/reports/, "
                "and a row in DuckDB table scored_videos. A broken video becomes a recorded failure.",
)
def video_report(context: dg.AssetExecutionContext, config: ScoringConfig, paths: FormClipPaths,
                 duckdb: DuckDBStore) -> dict:
    path = context.run.tags.get(VIDEO_PATH_TAG)
    exercise = context.run.tags.get(EXERCISE_TAG) or None
    key = context.partition_key
    row = {"video_sha256": key, "path": path, "exercise": exercise, "status": "ok", "reason": None,
           "overall_score": None, "sets": None, "reps": None, "json_path": None, "html_path": None,
           "model": None, "scored_at": datetime.now(timezone.utc)}
    if not path:
        raise dg.Failure(f"run for partition {key} carries no {VIDEO_PATH_TAG} tag; launch it from the sensor")
    if Path(path).exists() and file_sha256(path)[:16] != key:
        # Replaced since the sensor hashed it: the sensor sees the new content as a new video and
        # scores it once; scoring the new bytes under the old key would mislabel the report.
        context.log.info(f"{os.path.basename(path)} changed since it was queued; its new content is scored separately")
        context.add_output_metadata({"status": "replaced"})
        return {**row, "status": "replaced", "scored_at": row["scored_at"].isoformat()}
    try:
        report, extras = score_video(path, exercise, root=str(paths.base), settings=ScoreSettings(fps=config.fps))
        stem = f"{Path(path).stem}_{key[:8]}"
        json_path, html_path = paths.reports_dir / f"{stem}.json", paths.reports_dir / f"{stem}.html"
        write_json(json_path, {**report, "video_sha256": key})
        write_text(html_path, render_html(report, extras))
        row.update(exercise=report["exercise"], overall_score=report["overall_score"], sets=len(report["sets"]),
                   reps=sum(len(s["reps"]) for s in report["sets"]), json_path=str(json_path),
                   html_path=str(html_path), model=report["model"]["ref"])
        context.add_output_metadata({"overall_score": report["overall_score"], "sets": row["sets"], "reps": row["reps"],
                                     "report": dg.MetadataValue.path(str(html_path)),
                                     "issues": dg.MetadataValue.md("\n".join(
                                         f"- {i['timestamp']} {i['issue']}" for s in report["sets"]
                                         for i in s["issues"]) or "none")})
    except (ScoreError, VideoError, KeyError) as exc:
        row.update(status="failed", reason=str(exc).strip("'\""))
        context.log.warning(f"could not score {os.path.basename(path)}: {row['reason']}")
        context.add_output_metadata({"status": "failed", "reason": row["reason"]})
    # One row per video content: a second run for the same video replaces the first one's row.
    duckdb.metrics_store().append("scored_videos", pd.DataFrame([row]).astype(
        {"overall_score": "Int64", "sets": "Int64", "reps": "Int64"}), replace_key="video_sha256")
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}

import errno
import json
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pandas as pd

from formclip_pipeline.core import environment
from formclip_pipeline.core.files import write_json, write_text
from formclip_pipeline.core.overlay import write_overlay
from formclip_pipeline.core.report import relative_src, render_html
from formclip_pipeline.core.errors import ScoreError
from formclip_pipeline.core.registry import LoadedModels
from formclip_pipeline.core.score import score_video
from formclip_pipeline.assets.config import dagster_config
from formclip_pipeline.core.settings import ScoringSettings
from formclip_pipeline.core.video import VideoError, file_sha256
from formclip_pipeline.partitions import incoming_videos
from formclip_pipeline.resources import DuckDBStore, FormClipPaths

# video_report's backfill_policy is a beta parameter, used knowingly: Dagster is pinned
# (pyproject.toml), so it cannot change under us. Its notice came out at every load of the
# definitions (each `formclip demo`, each `dagster dev` reload) and asked nothing of the user.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy` of function `asset` is currently in beta",
                        category=dg.BetaWarning)

# What the sensor tells a run about its videos: {partition key: {"path": ..., "exercise": ... or null}}.
VIDEOS_TAG = "formclip/videos"


def videos_tag(videos: dict[str, tuple[str, str | None]]) -> dict[str, str]:
    """The run tag for videos given as {partition key: (path, exercise or None)}."""
    return {VIDEOS_TAG: json.dumps({k: {"path": p, "exercise": e} for k, (p, e) in videos.items()})}


def _plain(value):
    """A row's value as JSON has it (rows read back from DuckDB carry pandas' and numpy's types)."""
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.isoformat()
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


ScoringConfig = dagster_config(ScoringSettings, "ScoringConfig")
# A report is named after its video, cut to this many bytes: a file name stops at 255, and the
# temporary name it has while being written is longer. The content hash after it keeps two long
# names that begin alike apart.
REPORT_NAME_BYTES = 100


def report_stem(path: str, key: str) -> str:
    """The name (without extension) of a video's reports: its own name, cut short at a whole
    character, then the first 8 characters of its content hash."""
    name = Path(path).stem.encode("utf-8", "surrogateescape")[:REPORT_NAME_BYTES].decode("utf-8", "ignore")
    return f"{name}_{key[:8]}"


def _score_one(context, key: str, video: dict, paths: FormClipPaths, models: LoadedModels,
               settings: ScoringSettings) -> dict:
    path, exercise = video["path"], video.get("exercise")
    row = {"video_sha256": key, "path": path, "exercise": exercise, "status": "ok", "reason": None,
           "overall_score": None, "sets": None, "reps": None, "json_path": None, "html_path": None,
           "model": None, "camera_view": None, "scored_at": datetime.now(timezone.utc)}
    try:
        if Path(path).exists() and file_sha256(path)[:16] != key:
            # Replaced since the sensor hashed it: the sensor sees the new content as a new video and
            # scores it once; scoring the new bytes under the old key would mislabel the report.
            context.log.info(f"{os.path.basename(path)} changed since it was queued; its new content is scored "
                             f"separately")
            return {**row, "status": "replaced"}
        report, extras = score_video(path, exercise, settings=settings, models=models)
        stem = report_stem(path, key)
        json_path, html_path = paths.reports_dir / f"{stem}.json", paths.reports_dir / f"{stem}.html"
        write_json(json_path, {**report, "video_sha256": key})
        overlay_src = None
        if environment.overlay():
            overlay_path = paths.reports_dir / f"{stem}.mp4"
            written = write_overlay(path, overlay_path, report, extras)
            overlay_src = relative_src(overlay_path, html_path)
            context.log.info(f"{os.path.basename(path)}: overlay {overlay_path.name}, {written['frames']} frames in "
                             f"{written['seconds']} s")
        write_text(html_path, render_html(report, extras, overlay_src))
        row.update(exercise=report["exercise"], overall_score=report["overall_score"], sets=len(report["sets"]),
                   reps=sum(len(s["reps"]) for s in report["sets"]), json_path=str(json_path),
                   html_path=str(html_path), model=report["model"]["ref"], camera_view=report["camera"]["view"])
        context.log.info(f"{os.path.basename(path)}: score {report['overall_score']}, {row['reps']} reps, "
                         f"camera {row['camera_view'] or 'view not read'}; "
                         + ("; ".join(f"{i['timestamp']} {i['issue']}" for s in report["sets"] for i in s["issues"])
                            or "no issues"))
    except (ScoreError, VideoError, KeyError) as exc:
        row.update(status="failed", reason=str(exc).strip("'\""))
        context.log.warning(f"could not score {os.path.basename(path)}: {row['reason']}")
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise  # transient (a file still locked by its copier, a busy disk): the run is retried
        row.update(status="failed", reason=f"{os.path.basename(path)}: its name, or a path made from it, is too "
                                           f"long for the file system; give the video a shorter name")
        context.log.warning(f"could not score {os.path.basename(path)}: {row['reason']}")
    return row


@dg.asset(
    partitions_def=incoming_videos,
    group_name="scoring",
    kinds={"ffmpeg", "duckdb", "html"},
    # A sensor tick's new videos are one run: imports, registry lookup and model load are paid once.
    backfill_policy=dg.BackfillPolicy.single_run(),
    # Transient trouble (a file still locked by the copier, a busy disk: OSError) raises once the
    # others are scored and is retried with backoff; a video that cannot be scored is a permanent,
    # recorded failure and is not retried.
    retry_policy=dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL),
    description="Score of each dropped-in video (partition = its content hash): sets, reps, 0-100 form score, "
                "timestamped issues and advice, as JSON and a self-contained HTML page in data/reports/, "
                "and a row in DuckDB table scored_videos. A broken video becomes a recorded failure and "
                "the others in its run go on.",
)
def video_report(context: dg.AssetExecutionContext, config: ScoringConfig, paths: FormClipPaths,
                 duckdb: DuckDBStore) -> dict:
    videos = json.loads(context.run.tags.get(VIDEOS_TAG) or "{}")
    keys = list(context.partition_keys)
    unknown = [k for k in keys if k not in videos]
    if unknown:
        raise dg.Failure(f"the run's {VIDEOS_TAG} tag names no video for partition {unknown[0]}; launch it from the sensor")
    metrics = duckdb.metrics_store()
    done: dict[str, dict] = {}
    if context.retry_number > 0 and Path(metrics.path).exists():
        # A retry after a transient error: the videos an earlier attempt scored keep their rows.
        listed = ", ".join(f"'{k}'" for k in keys)
        try:
            earlier = metrics.query(f"select * from scored_videos where video_sha256 in ({listed})")
            done = {r["video_sha256"]: r for r in earlier.to_dict("records")}
        except Exception:  # no table yet
            done = {}
    models, rows, transient = LoadedModels(root=str(paths.base)), {}, []
    settings = ScoringSettings(**config.model_dump())
    for i, key in enumerate(keys, 1):
        if key in done:
            rows[key] = done[key]
            continue
        try:
            rows[key] = _score_one(context, key, videos[key], paths, models, settings)
        except OSError as exc:
            transient.append(exc)
            context.log.warning(f"{os.path.basename(videos[key]['path'])} could not be read ({exc}); retrying the run")
            continue
        if rows[key]["status"] != "replaced":
            # One row per video content: a second run for the same video replaces the first one's row.
            metrics.append("scored_videos", pd.DataFrame([rows[key]]).astype(
                {"overall_score": "Int64", "sets": "Int64", "reps": "Int64"}), replace_key="video_sha256")
        if len(keys) > 1:
            context.log.info(f"scored {i}/{len(keys)}")
    if transient:
        raise transient[0]
    out = {k: {c: _plain(v) for c, v in row.items()} for k, row in rows.items()}
    statuses = pd.Series([r["status"] for r in out.values()]).value_counts().to_dict()
    context.add_output_metadata({
        "videos": len(keys), **{f"{status} videos": int(n) for status, n in statuses.items()},
        "scores": dg.MetadataValue.md("\n".join(
            f"- {Path(r['path']).name}: {r['overall_score'] if r['status'] == 'ok' else r['status']}"
            + (f" ({r['reason']})" if r.get("reason") else "") for r in out.values())),
        **({"report": dg.MetadataValue.path(out[keys[0]]["html_path"])} if len(keys) == 1 and out[keys[0]]["html_path"] else {}),
    })
    # One partition: its row; several: {partition key: row}, which the IO manager files per partition.
    return out[keys[0]] if len(keys) == 1 else out

"""`make bench`, cluster part: what running beyond one process buys on this machine. Prints figures; asserts nothing.

- The watched folder: videos per minute for N dropped ten-second clips, scored one run per video
  (as before: each run a fresh process paying imports, registry lookup and model load) against
  the sensor's batches (one run for the tick's videos). Needs a squat champion (make demo).
- Celery: wall time of the five-exercise demo pipeline through 1 and through 2 dagster-celery
  workers (Redis broker and PostgreSQL instance storage started here), and their ratio.
- DDP: seconds per epoch of `flyp` fine-tuning with 1 and with 2 processes under torchrun (gloo).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from formclip_pipeline.core.synth.generate import VideoSpec, render_video
from formclip_pipeline.core.video import ffmpeg_exe, file_sha256

SCORE_RUN = """
import json, sys
import dagster as dg
from formclip_pipeline.assets.scoring.video_report import video_report, videos_tag
from formclip_pipeline.partitions import incoming_videos
from formclip_pipeline.resources import DuckDBStore, FormClipPaths, ParquetJsonIOManager
root, videos = sys.argv[1], json.loads(sys.argv[2])
keys = list(videos)
instance = dg.DagsterInstance.ephemeral()
instance.add_dynamic_partitions(incoming_videos.name, keys)
tags = {**videos_tag({k: (p, "squat") for k, p in videos.items()}),
        "dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
result = dg.materialize([video_report], instance=instance, tags=tags, resources={
    "paths": FormClipPaths(root=root), "duckdb": DuckDBStore(root=root), "io_manager": ParquetJsonIOManager(root=root)})
assert result.success
"""


def dropped_clips(tmp: Path, n: int) -> dict[str, str]:
    """n ten-second 720p squat clips with distinct contents (3 renders, remuxed with their own metadata)."""
    sources = [render_video(VideoSpec("squat", cls, 990 + i, f"src{i}", sets=(1, 1), reps=(3, 3), size=(1280, 720),
                                      fps=30), tmp)["video"] for i, cls in enumerate(["good_form", "partial_depth", "good_form"])]
    clips = {}
    for i in range(n):
        out = tmp / f"drop {i:03d}.mp4"
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", sources[i % 3], "-t", "10",
                        "-c", "copy", "-metadata", f"comment=drop {i}", str(out)], check=True)
        clips[file_sha256(out)[:16]] = str(out)
    return clips


def watched_folder(tmp: Path, root: str, n: int = 50) -> dict | None:
    from formclip_pipeline.core.errors import ScoreError
    from formclip_pipeline.core.registry import resolve_model

    try:
        resolve_model(None, "squat", root)
    except ScoreError:
        return None
    clips = dropped_clips(tmp, n)
    out = {"clips": n}
    for mode, batches in (("one_run_per_video", [{k: p} for k, p in clips.items()]), ("one_run_per_tick", [clips])):
        home = tmp / mode
        (home / "data").mkdir(parents=True)
        shutil.copytree(Path(root) / "mlruns", home / "mlruns")  # the same champions, a fresh DuckDB each
        t0 = time.perf_counter()
        for batch in batches:
            subprocess.run([sys.executable, "-c", SCORE_RUN, str(home), json.dumps(batch)], check=True,
                           capture_output=True)
        seconds = time.perf_counter() - t0
        out[mode] = {"runs": len(batches), "seconds": round(seconds, 1), "videos_per_minute": round(n / seconds * 60, 1)}
    out["speed-up"] = round(out["one_run_per_tick"]["videos_per_minute"] / out["one_run_per_video"]["videos_per_minute"], 2)
    return out


TRAINING_SELECTION = ("raw_videos,extracted_frames,pose_landmarks,frame_annotations,validation_report,"
                      "finetuned_checkpoint,evaluation_metrics")


def celery_demo(tmp: Path, videos_per_class: int, epochs: int) -> dict:
    """The demo's training pipeline for all five exercises through Celery workers, 1 then 2."""
    from formclip_pipeline.catalog import exercise_names
    from formclip_pipeline_tests.servers import REPO, celery_worker, postgres_server, redis_server

    videos = tmp / "celery_videos"
    subprocess.run([str(Path(sys.executable).with_name("formclip")), "synth", "--out", str(videos),
                    "--videos-per-class", str(videos_per_class), "--sets", "1-1", "--reps", "3-5", "--quiet"],
                   check=True)  # the demo's videos: one set of 3-5 reps
    config = {"ops": {"finetuned_checkpoint": {"config": {"epochs": epochs}}}}
    out = {"videos": sum(1 for _ in videos.rglob("*.mp4")), "exercises": len(exercise_names())}
    for workers in (1, 2):
        home, dagster_home = tmp / f"celery_{workers}", tmp / f"celery_{workers}_dagster"
        shutil.copytree(videos, home / "data" / "training_data")
        dagster_home.mkdir()
        with redis_server() as broker, postgres_server() as postgres:
            (dagster_home / "dagster.yaml").write_text(f"storage:\n  postgres:\n    postgres_url: {postgres}\n"
                                                       f"telemetry:\n  enabled: false\n")
            env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "FORMCLIP_HOME": str(home),
                   "FORMCLIP_EXECUTOR": "celery", "FORMCLIP_CELERY_BROKER": broker}
            from contextlib import ExitStack

            with ExitStack() as stack:
                for w in range(workers):
                    stack.enter_context(celery_worker(["dagster-celery", "worker", "start", "-A", "dagster_celery.app",
                                                      "-y", "deploy/celery.yaml", "-q", "dagster,gpu", "-n",
                                                      f"bench{w}", "--", "--concurrency=1"], env))
                t0 = time.perf_counter()
                launches = [subprocess.Popen([str(Path(sys.executable).with_name("dagster")), "asset", "materialize",
                                              "-m", "formclip_pipeline.definitions", "--select", TRAINING_SELECTION,
                                              "--partition", ex, "--config-json", json.dumps(config)],
                                             cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                            for ex in exercise_names()]
                codes = [p.wait() for p in launches]
                out[f"{workers}_worker_s"] = round(time.perf_counter() - t0, 1)
                out[f"{workers}_worker_failed_runs"] = sum(c != 0 for c in codes)
    out["ratio_1_over_2"] = round(out["1_worker_s"] / out["2_worker_s"], 2)
    return out


def ddp_epochs(tmp: Path, epochs: int = 2) -> dict:
    """flyp on the demo's squat frames: seconds per epoch with 1 and 2 processes (gloo on the CPU)."""
    from formclip_pipeline.core.annotate import template_annotations
    from formclip_pipeline.core.distributed import train_distributed
    from formclip_pipeline.core.frames import extract_dataset, video_manifest
    from formclip_pipeline.core.runs import train_run
    from formclip_pipeline.core.store import Tracker
    from formclip_pipeline.core.settings import TrainSettings

    videos = tmp / "ddp_videos"
    subprocess.run([str(Path(sys.executable).with_name("formclip")), "synth", "--out", str(videos),
                    "--videos-per-class", "2", "--exercises", "squat", "--quiet"], check=True)
    frames, _, _ = extract_dataset(video_manifest(videos, "squat"), 25, 1.0, 1.0, 0, pose_fps=0)
    ann = template_annotations(frames)
    config = TrainSettings(base_model="formclip-tiny", strategy="flyp", epochs=epochs, batch_size=32,
                           learning_rate=1e-4)
    one = train_run(frames, ann, "squat", config, Tracker.at_home(tmp / "ddp1"), tmp / "ddp1" / "models", log=lambda _: None)
    two = train_distributed(frames, ann, "squat", config, Tracker.at_home(tmp / "ddp2"), tmp / "ddp2" / "models", 2,
                            log=lambda _: None)
    per_epoch = {n: round(sum(e["seconds"] for e in r["epochs"]) / len(r["epochs"]), 2) for n, r in ((1, one), (2, two))}
    return {"train_frames": int((frames["split"] == "train").sum()), "epochs": epochs,
            "1_process_s_per_epoch": per_epoch[1], "2_process_s_per_epoch": per_epoch[2],
            "ratio_1_over_2": round(per_epoch[1] / per_epoch[2], 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["all", "watched_folder", "celery", "ddp"], default="all")
    ap.add_argument("--clips", type=int, default=50)
    ap.add_argument("--videos-per-class", type=int, default=4, help="the Celery demo's videos per class")
    ap.add_argument("--epochs", type=int, default=6, help="the Celery demo's training epochs")
    args = ap.parse_args()
    root = os.environ.get("FORMCLIP_HOME", os.getcwd())
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("all", "watched_folder"):
            print(f"watched folder, {args.clips} dropped ten-second clips:",
                  watched_folder(Path(tmp), root, args.clips) or "no squat champion here (run make demo first)")
        if args.part in ("all", "ddp"):
            print("DDP fine-tuning, 1 against 2 processes:", ddp_epochs(Path(tmp)))
        if args.part in ("all", "celery"):
            print("five-exercise demo through Celery workers:", celery_demo(Path(tmp), args.videos_per_class, args.epochs))


if __name__ == "__main__":
    main()

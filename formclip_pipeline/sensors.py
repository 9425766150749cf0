"""Watch the incoming folder and score each new or changed video once it has finished arriving."""
from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from formclip_pipeline.assets.scoring.video_report import EXERCISE_TAG, VIDEO_PATH_TAG, video_report
from formclip_pipeline.catalog import exercise_names
from formclip_pipeline.core import environment
from formclip_pipeline.core.video import file_sha256
from formclip_pipeline.partitions import incoming_videos
from formclip_pipeline.resources import FormClipPaths

score_video_job = dg.define_asset_job("score_video", selection=[video_report], partitions_def=incoming_videos,
                                      description="Score one dropped-in video.")
PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload", ".download", ".partial")


def incoming_dir(paths: FormClipPaths) -> Path:
    return environment.incoming_dir(paths.base)


def candidates(folder: Path) -> dict[str, tuple[int, int]]:
    """Files under the folder (one level of <exercise>/ subfolders) with (size, mtime_ns)."""
    out = {}
    if not folder.exists():
        return out
    for p in list(folder.iterdir()) + [q for d in folder.iterdir() if d.is_dir() for q in d.iterdir()]:
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(PARTIAL_SUFFIXES):
            st = p.stat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


@dg.sensor(job=score_video_job, minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Scores videos dropped into data/incoming/ (or <exercise>/ subfolders of it). A file is "
                       "scored once its size and modification time have held still for one tick; the same "
                       "content is never scored twice.")
def incoming_video_sensor(context: dg.SensorEvaluationContext, paths: FormClipPaths):
    folder = incoming_dir(paths)
    seen = candidates(folder)
    # Cursor: path -> [size, mtime_ns, content key once hashed]. A file is ready when its size and
    # mtime match the previous tick; an unchanged file is never hashed twice.
    previous = json.loads(context.cursor) if context.cursor else {}
    memory, requests, new_keys, skipped, waiting = {}, [], [], 0, 0
    for path, (size, mtime) in sorted(seen.items()):
        before = previous.get(path)
        if not before or before[:2] != [size, mtime]:
            memory[path] = [size, mtime, None]
            waiting += 1
            continue
        key = before[2]
        if key is None:
            try:
                key = file_sha256(path)[:16]
            except OSError:
                memory[path] = [size, mtime, None]  # vanished or locked: the next tick tries again
                continue
            if key in new_keys or context.instance.has_dynamic_partition(incoming_videos.name, key):
                skipped += 1
            else:
                new_keys.append(key)
                parent = Path(path).parent.name
                tags = {VIDEO_PATH_TAG: path, **({EXERCISE_TAG: parent} if parent in exercise_names() else {})}
                requests.append(dg.RunRequest(run_key=key, partition_key=key, tags=tags))
        else:
            skipped += 1
        memory[path] = [size, mtime, key]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[incoming_videos.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps(memory),
        skip_reason=None if requests else dg.SkipReason(
            f"{len(seen)} files in {folder}: {waiting} still arriving or new, {skipped} already scored"),
    )

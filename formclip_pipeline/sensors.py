"""Watch the incoming folder and score each new or changed video once it has finished arriving.

The new videos a tick finds are scored in one run (in runs of at most MAX_VIDEOS_PER_RUN), so the
imports, the registry lookup and the model load are paid once for them all; each video is still
its own partition, and a broken one is a recorded failure that does not stop the others."""
from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from formclip_pipeline.assets.scoring.video_report import video_report, videos_tag
from formclip_pipeline.catalog import exercise_names
from formclip_pipeline.core import environment
from formclip_pipeline.core.video import VideoError, file_sha256
from formclip_pipeline.partitions import incoming_videos
from formclip_pipeline.resources import FormClipPaths

score_video_job = dg.define_asset_job("score_video", selection=[video_report], partitions_def=incoming_videos,
                                      description="Score dropped-in videos, one partition each.")
MAX_VIDEOS_PER_RUN = 50  # a run killed outright (out of memory, a lost node) takes at most this many back to the queue
PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload", ".download", ".partial")
REFUSED = "refused"  # in the cursor instead of a content key: a file too large to hash, until it changes


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
    memory, new_videos, skipped, waiting, refused = {}, {}, 0, 0, 0
    for path, (size, mtime) in sorted(seen.items()):
        before = previous.get(path)
        if not before or before[:2] != [size, mtime]:
            memory[path] = [size, mtime, None]
            waiting += 1
            continue
        key = before[2]
        if key == REFUSED:
            memory[path] = before
            refused += 1
            continue
        if key is None:
            try:
                key = file_sha256(path)[:16]
            except VideoError as exc:  # too large to hash: said once, not read at all
                context.log.warning(f"not scoring {exc}")
                memory[path] = [size, mtime, REFUSED]
                refused += 1
                continue
            except OSError:
                memory[path] = [size, mtime, None]  # vanished or locked: the next tick tries again
                continue
            if key in new_videos or context.instance.has_dynamic_partition(incoming_videos.name, key):
                skipped += 1
            else:
                parent = Path(path).parent.name
                new_videos[key] = (path, parent if parent in exercise_names() else None)
        else:
            skipped += 1
        memory[path] = [size, mtime, key]
    # Added in this order, the new keys are a contiguous range of the dynamic partitions: one run each batch.
    keys = list(new_videos)
    requests = []
    for i in range(0, len(keys), MAX_VIDEOS_PER_RUN):
        batch = keys[i:i + MAX_VIDEOS_PER_RUN]
        requests.append(dg.RunRequest(run_key="-".join([batch[0], batch[-1], str(len(batch))]), tags={
            "dagster/asset_partition_range_start": batch[0], "dagster/asset_partition_range_end": batch[-1],
            **videos_tag({k: new_videos[k] for k in batch})}))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[incoming_videos.build_add_request(keys)] if keys else [],
        cursor=json.dumps(memory),
        skip_reason=None if requests else dg.SkipReason(
            f"{len(seen)} files in {folder}: {waiting} still arriving or new, {skipped} already scored"
            + (f", {refused} too large to score (named in the sensor's log)" if refused else "")),
    )

"""Sampling a video for scoring: frames on a regular time grid, decoded once, with the lifter's pose
read on each and the image model fed on a thread of its own while decoding goes on; and which of the
sampled frames the image model reads."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from formclip_pipeline.core.settings import ScoringSettings
from formclip_pipeline.core.video import VideoError, decode, letterbox, probe


def image_step(sampled_fps: float, image_fps: float, frames: float = float("inf"), min_frames: int = 1) -> int:
    """The image model reads every this-many-th sampled frame: `image_fps` a second, but at least
    `min_frames` of the video's `frames` (1 when it asks for as many or more)."""
    return max(1, min(int(round(sampled_fps / image_fps)), int(frames // max(min_frames, 1))))


def image_frames_in(lo: int, hi: int, step: int, n: int) -> np.ndarray:
    """Indices, among the frames the image model read (sampled frames 0, step, 2 step, ...), of those in
    sampled frames [lo, hi); a stretch too short to hold one gets the nearest."""
    count = (n + step - 1) // step
    first, last = -(-lo // step), -(-hi // step)
    if last > first:
        return np.arange(first, min(last, count))
    return np.array([min(count - 1, int(round((lo + hi - 1) / 2 / step)))])


def spread_to_frames(image_proba: np.ndarray, n: int, step: int) -> np.ndarray:
    """Per-sampled-frame rows from rows for every step-th frame: each frame takes its nearest's."""
    return image_proba[np.minimum(np.rint(np.arange(n) / step).astype(int), len(image_proba) - 1)]


def sample_video(path: str, settings: ScoringSettings, on_batch=None, batch: int = 8,
                 poses_out: list | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Frames on the sampling grid; `on_batch` sees the image model's frames (every
    `info["image_step"]`-th, see `image_step`) in batches, on a thread of its own, while decoding goes on.

    With `poses_out` (a list), BlazePose also reads every sampled frame, tracking the lifter from
    one to the next, and one pose row per frame is appended to it. The video is then decoded at the
    pose model's size and each frame letterboxed for CLIP, so it is still decoded once.

    With a model to run, the cores are split rather than shared: ffmpeg decodes on one thread and
    torch computes on the others until the last frame is decoded and read, then torch takes every
    core. Shared, both oversubscribe the cores and torch's threads wait on each other; on 2 cores that
    made decoding and ViT-B/32 together slower than the two run one after the other. BlazePose runs
    on one core and lets go of the interpreter while it does, so the model's thread computes beside it.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import torch

    info = probe(path)  # which refuses a video longer than video.MAX_DURATION_S
    fps = min(settings.fps, settings.max_frames / max(info.duration_s, 1e-3))
    step = image_step(fps, settings.image_fps, fps * info.duration_s, settings.min_image_frames)
    notes: list[str] = []
    torch_threads = torch.get_num_threads()
    split = on_batch is not None and torch_threads > 1
    model_threads = [torch_threads - 1 if split else torch_threads]  # what the model's thread uses next
    decoded = threading.Event()
    times, frames, done = [], [], 0
    pending: list = []
    worker = ThreadPoolExecutor(1, thread_name_prefix="formclip-image-model") if on_batch else None

    def run_model(image_frames: np.ndarray) -> None:
        # Set on the model's own thread: under OpenMP a thread count belongs to the thread that sets it.
        torch.set_num_threads(model_threads[0])
        on_batch(image_frames)

    def waiting() -> range:  # indices of the image model's frames decoded and not yet handed over
        return range(-(-done // step) * step, len(frames), step)

    def hand_over() -> None:
        nonlocal done
        picked = [frames[i] for i in waiting()]
        done = len(frames)
        if picked:
            pending.append(worker.submit(run_model, np.stack(picked)))
        for f in [f for f in pending if f.done()]:
            f.result()  # a failed model stops the decoding now, with its own error
            pending.remove(f)

    estimator = None
    if poses_out is not None:
        from formclip_pipeline.core.pose import POSE_FRAME_SIDE, BlazePose, pose_row

        estimator = BlazePose()
    size = POSE_FRAME_SIDE if estimator else settings.frame_size
    # Without a pose model to wait for, the decoder is never made to wait for the image model: the
    # frames are all kept anyway, and max_frames bounds both.
    buffer = settings.max_frames if split and estimator is None else 64
    try:
        for t, f in decode(path, size, fps, info, threads=1 if split else None,
                           buffer=buffer, finished=decoded, keep_aspect=estimator is not None):
            if len(frames) >= settings.max_frames:
                notes.append(f"stopped after {settings.max_frames} sampled frames ({t:.0f} s): the video "
                                  f"holds more than the {info.duration_s:.0f} s its header claims")
                break
            if estimator is not None:
                poses_out.append({"frame_index": len(times), "timestamp": round(float(t), 3), **pose_row(estimator(f), f)})
                f = letterbox(f, settings.frame_size)
            times.append(t)
            frames.append(f)
            if split and decoded.is_set() and estimator is None:
                model_threads[0] = torch_threads
            if on_batch and len(waiting()) >= batch:
                hand_over()
        model_threads[0] = torch_threads
        if on_batch and len(waiting()):
            hand_over()
        for f in pending:
            f.result()
        if fps < settings.fps:
            notes.append(f"sampled {fps:.2f} frames a second instead of {settings.fps:g}, to stay within "
                              f"{settings.max_frames} frames")
    finally:
        if worker is not None:
            for f in pending:
                f.cancel()
            worker.shutdown(wait=True)
        torch.set_num_threads(torch_threads)
        if estimator is not None:
            estimator.close()
    if not frames:
        raise VideoError(f"{Path(path).name}: no frame could be decoded")
    # One array, filled frame by frame as the list lets go: np.stack would hold both at once.
    out = np.empty((len(frames), *frames[0].shape), np.uint8)
    for i in range(len(frames)):
        out[i], frames[i] = frames[i], None
    return np.array(times), out, {**info.to_dict(), "sampled_fps": fps, "image_step": step, "notes": notes}

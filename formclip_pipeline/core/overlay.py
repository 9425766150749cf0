"""The scored video with what scoring saw drawn on it: the lifter's skeleton, the reps counted so far,
the exercise's main joint angle, and each flagged rep's fault in a red banner while it lasts.

The source is decoded once, frame by frame at its own frame rate, drawn on and piped to an H.264
encoder, so no more than a few frames are ever held. Poses were read only on the sampled frames
(8 a second): between two samples the skeleton and the angle are interpolated, so they move as
smoothly as the lifter; next to a frame where the lifter was not found, the nearer sample is held.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from formclip_pipeline.catalog import GOOD_CLASS, get_exercise
from formclip_pipeline.core.measures import MEASURES
from formclip_pipeline.core.report import FAULT_COLOUR, draw_skeleton
from formclip_pipeline.core.score import UNSURE, fault_words
from formclip_pipeline.core.video import VideoError, VideoWriter, decode, fit_size, probe

# The overlay is for watching in a browser beside the report: 720p shows the skeleton plainly, and
# drawing and encoding a 4K phone video frame by frame would take many times longer for nothing seen.
MAX_SIDE = 1280
# Frames decoded ahead of the drawing: enough to keep ffmpeg busy, few enough that 720p holds 22 MB.
DECODE_BUFFER = 8


def check_overlay_path(video: str | os.PathLike, overlay: str | os.PathLike) -> None:
    """Refuse to write the overlay over the video it is drawn from, before any scoring is done."""
    if Path(overlay).resolve() == Path(video).resolve():
        raise VideoError(f"{Path(video).name}: the overlay would replace the video it is drawn from; "
                         f"name another file")


def _at(times: np.ndarray, values: np.ndarray, t: float) -> np.ndarray:
    """`values` (one row per sampled time) at time t: between two samples read, the line between them;
    next to one where nothing was read (NaN), the nearer of the two as it is."""
    i = int(np.searchsorted(times, t))
    if i <= 0:
        return values[0]
    if i >= len(times):
        return values[-1]
    before, after = values[i - 1], values[i]
    w = (t - times[i - 1]) / (times[i] - times[i - 1])
    if np.isnan(before).any() or np.isnan(after).any():
        return before if w < 0.5 else after
    return before + (after - before) * w


def _flagged_reps(report: dict) -> list[tuple[float, float, str]]:
    """(start, end, banner text) of each rep the verdict or the coach's checks flagged."""
    return [(r["start"], r["end"], f"Rep {r['rep_number']}: {fault_words(report['exercise'], r)}")
            for s in report["sets"] for r in s["reps"] if r["form_class"] not in (GOOD_CLASS, UNSURE)]


def _rep_count(report: dict, t: float) -> str:
    """The reps finished by time t, in the set under way (or the last one finished)."""
    sets = report["sets"]
    current = next((s for s in reversed(sets) if s["start"] <= t), None)
    if current is None:
        return "Reps 0"
    done = sum(1 for r in current["reps"] if r["end"] <= t)
    return f"Reps {done}" + (f" (set {current['set_number']} of {len(sets)})" if len(sets) > 1 else "")


def _angle_text(name: str, value: float) -> str:
    what = name.replace("_", " ")
    if not np.isfinite(value):
        return f"{what} unseen"
    return f"{what} {value:.0f}\N{DEGREE SIGN}" if MEASURES[name].unit == "deg" else f"{what} {value:.2f}"


def write_overlay(video: str | os.PathLike, out: str | os.PathLike, report: dict, extras: dict,
                  progress=None) -> dict:
    """Write `out`, an H.264 MP4 (yuv420p, moov atom first so a browser plays it while loading) of
    `video` at its own frame rate, at most MAX_SIDE pixels on its long side, with what `score_video`
    (`report`, `extras`) found drawn on every frame. `progress(frames_done, frames_expected)` is
    called as it goes. Returns the frames written, the size and the seconds it took."""
    from PIL import Image, ImageDraw, ImageFont

    check_overlay_path(video, out)
    t0 = time.perf_counter()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    info = probe(video)
    width, height = fit_size(info, MAX_SIDE)
    times = np.asarray(extras["times"], np.float64)
    landmarks, pose_size = extras.get("landmarks"), extras.get("pose_frame_size")
    kx, ky = (width / pose_size[0], height / pose_size[1]) if pose_size else (1.0, 1.0)

    def to_frame(x: float, y: float) -> tuple[float, float]:  # the pose frame's pixels to the overlay's
        return x * kx, y * ky

    tracked = landmarks is not None and len(landmarks) > 0 and pose_size is not None
    angle_name = get_exercise(report["exercise"]).primary_measure
    measures = extras.get("measures")
    angle = measures[angle_name].to_numpy(np.float64) if measures is not None and angle_name in measures else None
    flagged = _flagged_reps(report)
    # Sized to the frame, so the marks read alike on a phone's portrait video and a landscape one.
    unit = min(width, height)
    font = ImageFont.load_default(size=max(12, unit // 22))
    line = max(3, unit // 160)
    pad = max(4, unit // 60)
    expected = max(1, int(round(info.duration_s * info.fps)))
    written = 0
    with VideoWriter(out, width, height, info.fps) as writer:
        for t, frame in decode(video, MAX_SIDE, info.fps, info, buffer=DECODE_BUFFER, keep_aspect=True):
            img = Image.fromarray(frame)
            draw = ImageDraw.Draw(img)
            if tracked:
                pose = _at(times, landmarks, t)
                if not np.isnan(pose).all():
                    draw_skeleton(draw, pose, to_frame, width=line)
            lines = [_rep_count(report, t)]
            if angle is not None:
                lines.append(_angle_text(angle_name, float(_at(times, angle, t))))
            text = "\n".join(lines)
            left, top, right, bottom = draw.multiline_textbbox((pad, pad), text, font=font, spacing=pad // 2)
            margin = pad // 2
            draw.rectangle([left - margin, top - margin, right + margin, bottom + margin], fill=(32, 33, 36))
            draw.multiline_text((pad, pad), text, font=font, fill=(255, 255, 255), spacing=pad // 2)
            banner = next((words for start, end, words in flagged if start <= t <= end), None)
            if banner is not None:
                banner_top = height - font.size - 2 * pad
                draw.rectangle([0, banner_top, width, height], fill=FAULT_COLOUR)
                draw.text((pad, banner_top + pad), banner, font=font, fill=(255, 255, 255))
            writer.write(np.asarray(img))
            written += 1
            if progress is not None:
                progress(written, max(expected, written))
    return {"path": str(out), "frames": written, "fps": info.fps, "width": width, "height": height,
            "seconds": round(time.perf_counter() - t0, 2)}

"""The captioned frames pretraining learns from: random lifters, each filmed once, rendered straight to
memory (no video encoding) and captioned from the generator's pose truth (core.captions).

Apart from core.pretrain so that the processes rendering a corpus import neither torch nor the model.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from formclip_pipeline.catalog import VIEWS, exercise_names, get_exercise
from formclip_pipeline.core.captions import caption
from formclip_pipeline.core.parallel import processes

from . import kinematics, render
from .generate import _rng, choose_view

PRETRAIN_SIZES = [(224, 126), (192, 108), (126, 224), (108, 192)]


def _letterbox(frame: np.ndarray, size: int) -> np.ndarray:
    """Pad to a square and resize, as frame extraction does for real videos."""
    from PIL import Image

    h, w = frame.shape[:2]
    s = max(h, w)
    canvas = np.zeros((s, s, 3), np.uint8)
    canvas[(s - h) // 2:(s - h) // 2 + h, (s - w) // 2:(s - w) // 2 + w] = frame
    return np.asarray(Image.fromarray(canvas).resize((size, size), Image.BILINEAR))


def _render_clip(job: tuple[int, int, int, int]) -> tuple[list[np.ndarray], list[str], str]:
    """One random lifter filmed once: `frames` captioned frames of clip `index` of the corpus `seed`."""
    index, frames, size, seed = job
    rng = _rng("pretrain", seed, index)
    names = exercise_names()
    ex = names[int(rng.integers(0, len(names)))]
    classes = get_exercise(ex).class_names
    form_class = classes[int(rng.integers(0, len(classes)))]
    view = choose_view(rng, ex, form_class, VIEWS) if rng.random() < 0.7 else VIEWS[int(rng.integers(0, 3))]
    body = kinematics.Body.sample(rng)
    scene = render.make_scene(rng, ex, view, body, size=PRETRAIN_SIZES[int(rng.integers(0, len(PRETRAIN_SIZES)))])
    fault = None if form_class == "good_form" else form_class
    severity = float(rng.uniform(0, 1))
    images, captions = [], []
    for _ in range(frames):
        depth = float(rng.uniform(0, 1)) ** 0.7
        asc = bool(rng.random() < 0.5)
        f = fault if rng.random() < 0.8 else None
        pose = kinematics.POSERS[ex](body, depth, asc, f, severity)
        frame = render.draw_pose(scene, body, pose, rng.normal(0, scene.shake_amp, 3), rng)
        images.append(_letterbox(frame, size))
        captions.append(caption(ex, depth, asc, kinematics.measures(pose), view, body.height))
    return images, captions, ex


def render_corpus(n_clips: int, frames_per_clip: int = 8, size: int = 96, seed: int = 0,
                  progress: Callable[[int], None] | None = None,
                  workers: int = 1) -> tuple[np.ndarray, list[str], list[str]]:
    """Frames, captions and exercise names for `n_clips` random lifters, each filmed once; each clip
    has its own random stream, so the corpus is the same on any number of `workers`."""
    images, captions, exercises = [], [], []
    with processes(workers) as pool:
        jobs = [(c, frames_per_clip, size, seed) for c in range(n_clips)]
        chunks = {"chunksize": 25} if workers > 1 else {}
        for c, (clip_images, clip_captions, ex) in enumerate(pool.map(_render_clip, jobs, **chunks), 1):
            images += clip_images
            captions += clip_captions
            exercises += [ex] * len(clip_images)
            if progress and c % 100 == 0:
                progress(c)
    return np.stack(images), captions, exercises

"""Pretrain the offline base model, formclip-tiny, contrastively on synthetic frames.

Fine-tuning a randomly initialised CLIP makes zero-shot, linear-probe, LP-FT and WiSE-FT
meaningless, and OpenAI's weights cannot be downloaded here. So the default offline base is a small
CLIP pretrained the way CLIP was, on image/caption pairs, where frames are rendered straight to
memory (no video encoding) and captions are written from the generator's pose truth: exercise,
phase, joint-angle bins, torso lean, back shape, knee tracking, bar position and camera view.
Seeds live in their own namespace ("pretrain"), disjoint from every dataset `formclip synth` makes.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from formclip_pipeline.catalog import VIEWS, exercise_names, get_exercise
from formclip_pipeline.core.synth import kinematics, render
from formclip_pipeline.core.synth.generate import _rng, choose_view

PRETRAIN_SIZES = [(224, 126), (192, 108), (126, 224), (108, 192)]


def _bin(value: float, edges: list[tuple[float, str]], last: str) -> str:
    for edge, name in edges:
        if value < edge:
            return name
    return last


def caption(exercise: str, depth: float, ascending: bool, m: dict, view: str, body_height: float) -> str:
    """Describe a pose in words, from measurements only (never from the fault's name)."""
    name = get_exercise(exercise).display_name.lower()
    phase = "at the start" if depth < 0.1 else "at the end of the rep" if depth > 0.9 else \
        ("coming back up" if ascending else "going down") if exercise in ("squat", "deadlift", "bench_press") else \
        ("returning" if ascending else "pulling" if exercise == "row" else "pressing")
    knees = _bin(m["knee_angle"], [(75, "knees deeply bent"), (110, "knees bent past ninety"),
                                   (150, "knees half bent")], "legs straight")
    lean = _bin(abs(m["torso_lean"]), [(12, "torso upright"), (35, "torso leaning a little"),
                                       (60, "torso leaning forward")], "torso nearly horizontal")
    if exercise == "bench_press":
        lean = "lying on a bench"
    elif m["torso_lean"] < -8:
        lean = "leaning back"
    back = _bin(m["spine_flexion"], [(10, "neutral back"), (22, "slightly rounded back")], "rounded back")
    tracking = "knees caving inward" if m["knee_gap_ratio"] < 0.8 and exercise == "squat" else "knees over toes"
    elbows = _bin(m["elbow_angle"], [(70, "elbows sharply bent"), (120, "elbows bent"),
                                     (155, "elbows nearly straight")], "elbows locked")
    parts = [name, phase, knees, lean, back, tracking, elbows]
    if "bar_height" in m:
        rel = m["bar_height"] / body_height
        bar = _bin(rel, [(0.2, "bar on the floor"), (0.5, "bar at the knees"), (0.65, "bar at the hips"),
                         (0.85, "bar at the chest"), (1.0, "bar at the shoulders")], "bar overhead")
        if m.get("bar_forward", 0.0) > 0.28 and exercise in ("deadlift", "ohp"):
            bar += " and forward"
        parts.append(bar)
    if exercise == "bench_press" and m.get("shoulder_abduction", 0) > 70:
        parts.append("elbows flared wide")
    parts.append(f"{view} view")
    return ", ".join(parts)


def _letterbox(frame: np.ndarray, size: int) -> np.ndarray:
    """Pad to a square and resize, as frame extraction does for real videos."""
    from PIL import Image

    h, w = frame.shape[:2]
    s = max(h, w)
    canvas = np.zeros((s, s, 3), np.uint8)
    canvas[(s - h) // 2:(s - h) // 2 + h, (s - w) // 2:(s - w) // 2 + w] = frame
    return np.asarray(Image.fromarray(canvas).resize((size, size), Image.BILINEAR))


def render_corpus(n_clips: int, frames_per_clip: int = 8, size: int = 96, seed: int = 0,
                  progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, list[str], list[str]]:
    """Frames, captions and exercise names for `n_clips` random lifters, each filmed once."""
    images, captions, exercises = [], [], []
    names = exercise_names()
    for c in range(n_clips):
        rng = _rng("pretrain", seed, c)
        ex = names[int(rng.integers(0, len(names)))]
        classes = get_exercise(ex).class_names
        form_class = classes[int(rng.integers(0, len(classes)))]
        view = choose_view(rng, ex, form_class, VIEWS) if rng.random() < 0.7 else VIEWS[int(rng.integers(0, 3))]
        body = kinematics.Body.sample(rng)
        scene = render.make_scene(rng, ex, view, body, size=PRETRAIN_SIZES[int(rng.integers(0, len(PRETRAIN_SIZES)))])
        fault = None if form_class == "good_form" else form_class
        severity = float(rng.uniform(0, 1))
        for _ in range(frames_per_clip):
            depth = float(rng.uniform(0, 1)) ** 0.7
            asc = bool(rng.random() < 0.5)
            f = fault if rng.random() < 0.8 else None
            pose = kinematics.POSERS[ex](body, depth, asc, f, severity)
            frame = render.draw_pose(scene, body, pose, rng.normal(0, scene.shake_amp, 3), rng)
            images.append(_letterbox(frame, size))
            captions.append(caption(ex, depth, asc, kinematics.measures(pose), view, body.height))
            exercises.append(ex)
        if progress and (c + 1) % 100 == 0:
            progress(c + 1)
    return np.stack(images), captions, exercises


def pretrain(clip, images: np.ndarray, captions: list[str], epochs: int = 6, batch_size: int = 128,
             lr: float = 5e-4, weight_decay: float = 0.1, seed: int = 0,
             log: Callable[[str], None] = print) -> list[float]:
    """CLIP's symmetric contrastive loss; identical captions in a batch count as positives of each other."""
    from formclip_pipeline.core import model as M

    torch.manual_seed(seed)
    model = clip.model
    model.train()
    pixels = M.preprocess(images, clip)
    uniq = {c: i for i, c in enumerate(dict.fromkeys(captions))}
    cap_ids = torch.tensor([uniq[c] for c in captions])
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = max(1, epochs * math.ceil(len(images) / batch_size))
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        order = torch.randperm(len(images), generator=gen)
        epoch_losses = []
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            if len(idx) < 2:
                continue
            img = M.image_features(model, pixels[idx])
            txt = M.text_features(model, clip.processor, [captions[j] for j in idx.tolist()])
            logits = model.logit_scale.exp() * img @ txt.T
            same = (cap_ids[idx][:, None] == cap_ids[idx][None, :]).float()
            target = same / same.sum(1, keepdim=True)
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            epoch_losses.append(loss.item())
        losses.append(float(np.mean(epoch_losses)))
        log(f"pretrain epoch {epoch}/{epochs}: contrastive loss {losses[-1]:.3f} ({time.perf_counter() - t0:.0f} s)")
    model.eval()
    return losses


def exercise_prompts() -> tuple[list[str], list[str]]:
    names = exercise_names()
    return names, [get_exercise(n).display_name.lower() for n in names]


@torch.no_grad()
def recognise_exercise(clip, frames: np.ndarray) -> tuple[str, float, dict[str, float]]:
    """Zero-shot exercise recognition: mean prompt probability over the frames."""
    from formclip_pipeline.core import model as M

    names, prompts = exercise_prompts()
    feats = torch.as_tensor(M.embed_images(clip, frames))
    text = M.text_features(clip.model, clip.processor, prompts)
    proba = (clip.model.logit_scale.exp() * feats @ text.T).softmax(-1).mean(0).numpy()
    best = int(proba.argmax())
    return names[best], float(proba[best]), {n: float(p) for n, p in zip(names, proba)}


def pretrain_base(out_dir, clips: int = 2500, frames_per_clip: int = 8, epochs: int = 6, batch_size: int = 64,
                  lr: float = 1e-3, seed: int = 0, log: Callable[[str], None] = print) -> dict:
    """Build a small CLIP from config, pretrain it on a fresh synthetic corpus, save it for from_pretrained.

    Returns figures: corpus size, seconds, final loss, and zero-shot exercise recognition on
    held-out synthetic frames (seed namespace disjoint from the corpus) against 1/5 chance.
    """
    from pathlib import Path

    from formclip_pipeline.core import model as M

    t0 = time.perf_counter()
    tmp_base = Path(out_dir).with_name(Path(out_dir).name + ".init")
    M.build_tiny(tmp_base, seed=seed)
    clip = M.load_clip(str(tmp_base))
    images, captions, _ = render_corpus(clips, frames_per_clip, clip.image_size, seed=seed,
                                        progress=lambda n: log(f"rendered {n}/{clips} clips"))
    render_s = time.perf_counter() - t0
    held, _, held_ex = render_corpus(max(50, clips // 20), 4, clip.image_size, seed=seed + 10_000)

    def zero_shot() -> float:
        hits = [recognise_exercise(clip, held[i:i + 4])[0] == held_ex[i] for i in range(0, len(held), 4)]
        return float(np.mean(hits))

    before = zero_shot()
    losses = pretrain(clip, images, captions, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, log=log)
    after = zero_shot()
    clip.meta = {"kind": "base", "name": "formclip-tiny-pretrained", "corpus_frames": len(images),
                 "epochs": epochs, "final_loss": losses[-1] if losses else None,
                 "zero_shot_exercise_accuracy": after}
    M.save_checkpoint(clip, out_dir, clip.meta)
    import shutil

    shutil.rmtree(tmp_base, ignore_errors=True)
    return {"frames": len(images), "render_s": round(render_s, 1), "total_s": round(time.perf_counter() - t0, 1),
            "losses": [round(x, 3) for x in losses], "zero_shot_exercise_before": before,
            "zero_shot_exercise_after": after, "chance": 1 / len(exercise_names())}

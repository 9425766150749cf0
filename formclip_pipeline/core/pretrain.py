"""Pretrain the offline base model, formclip-tiny, contrastively on synthetic frames.

Fine-tuning a randomly initialised CLIP makes zero-shot, linear-probe, LP-FT and WiSE-FT
meaningless, and OpenAI's weights cannot be downloaded here. So the default offline base is a small
CLIP pretrained the way CLIP was, on image/caption pairs, where frames are rendered straight to
memory (no video encoding) and captions are written from the generator's pose truth: exercise,
phase, joint-angle bins, torso lean, back shape, knee tracking, bar position and camera view.
Seeds live in their own namespace ("pretrain"), disjoint from every dataset `formclip synth` makes.
"""
from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np
import torch

from formclip_pipeline.catalog import exercise_names
from formclip_pipeline.core import model as M
from formclip_pipeline.core.captions import drop_attributes
from formclip_pipeline.core.loop import CaptionContrast, Loop, LoopSettings, training_device
from formclip_pipeline.core.recognise import image_exercise_proba
from formclip_pipeline.core.settings import PretrainSettings
from formclip_pipeline.core.synth.corpus import render_corpus


def pretrain(clip, images: np.ndarray, captions: list[str], epochs: int = PretrainSettings.epochs,
             batch_size: int = PretrainSettings.batch_size, lr: float = PretrainSettings.learning_rate,
             weight_decay: float = 0.1, seed: int = PretrainSettings.seed,
             log: Callable[[str], None] = print) -> list[float]:
    """CLIP's symmetric contrastive loss; identical captions in a batch count as positives of each other."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    clip.model.to(training_device())
    loss = CaptionContrast(clip, M.preprocess(images, clip), captions, vary=lambda c: drop_attributes(c, rng))
    loop = Loop(loss, len(images), LoopSettings(epochs, batch_size, lr, weight_decay, warmup_fraction=0.05, seed=seed),
                min_batch=2)
    losses = []
    for epoch in range(1, epochs + 1):
        mean, seconds = loop.run_epoch()
        losses.append(mean)
        log(f"pretrain epoch {epoch}/{epochs}: contrastive loss {mean:.3f} ({seconds:.0f} s)")
    clip.model.to("cpu")
    return losses


def pretrain_base(out_dir, config: PretrainSettings = PretrainSettings(), log: Callable[[str], None] = print) -> dict:
    """Build a small CLIP from config, pretrain it on a fresh synthetic corpus, save it for from_pretrained.

    Returns figures: corpus size, seconds, final loss, and zero-shot exercise recognition on
    held-out synthetic frames (seed namespace disjoint from the corpus) against 1/5 chance.
    """
    from pathlib import Path

    t0 = time.perf_counter()
    tmp_base = Path(out_dir).with_name(Path(out_dir).name + ".init")
    M.build_tiny(tmp_base, seed=config.seed)
    clip = M.load_checkpoint(str(tmp_base))
    workers = min(2, os.cpu_count() or 1)
    images, captions, _ = render_corpus(config.clips, config.frames_per_clip, clip.image_size, seed=config.seed,
                                        progress=lambda n: log(f"rendered {n}/{config.clips} clips"), workers=workers)
    render_s = time.perf_counter() - t0
    # Held-out lifters for the zero-shot figure; a different seed namespace from the corpus.
    held, _, held_ex = render_corpus(200, 4, clip.image_size, seed=config.seed + 10_000, workers=workers)

    def zero_shot() -> float:
        hits = [max((p := image_exercise_proba(clip, held[i:i + 4])), key=p.get) == held_ex[i]
                for i in range(0, len(held), 4)]
        return float(np.mean(hits))

    before = zero_shot()
    losses = pretrain(clip, images, captions, epochs=config.epochs, batch_size=config.batch_size,
                      lr=config.learning_rate, seed=config.seed, log=log)
    after = zero_shot()
    clip.meta = {"kind": "base", "name": "formclip-tiny-pretrained", "corpus_frames": len(images),
                 "config": config.__dict__, "final_loss": losses[-1] if losses else None,
                 "zero_shot_exercise_accuracy": after}
    M.save_checkpoint(clip, out_dir, clip.meta)
    import shutil

    shutil.rmtree(tmp_base, ignore_errors=True)
    return {"frames": len(images), "render_s": round(render_s, 1), "total_s": round(time.perf_counter() - t0, 1),
            "losses": [round(x, 3) for x in losses], "zero_shot_exercise_before": before,
            "zero_shot_exercise_after": after, "chance": 1 / len(exercise_names())}


def describe_pretraining(figures: dict) -> str:
    return (f"pretrained on {figures['frames']} frames in {figures['total_s']:.0f} s: contrastive loss "
            f"{figures['losses'][0]:.3f} -> {figures['losses'][-1]:.3f}; zero-shot exercise recognition on held-out "
            f"lifters {figures['zero_shot_exercise_before']:.2f} -> {figures['zero_shot_exercise_after']:.2f} "
            f"(chance {figures['chance']:.2f})")

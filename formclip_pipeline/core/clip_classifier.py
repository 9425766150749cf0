"""The CLIP form classifier that scoring uses: a CLIP model and how it turns image features into
class probabilities (its class prompts, or a linear head), saved as a checkpoint folder and loaded
from one. Training it is core.train's."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from formclip_pipeline.catalog import get_exercise
from formclip_pipeline.core import bases as B
from formclip_pipeline.core import model as M
from formclip_pipeline.core.classifier import FrameJudgement
from formclip_pipeline.core.sampling import spread_to_frames

HEAD_FILE = "classifier_head.safetensors"


@dataclass
class Classifier:
    """A CLIP model plus how it turns image features into class probabilities."""
    clip: M.LoadedClip
    exercise: str
    labels: list[str]
    prompts: list[str]
    multi_class: bool
    head: tuple[torch.Tensor, torch.Tensor] | None = None  # (weight CxD, bias C): linear_probe, lp_ft
    wise_alpha: float | None = None

    reads_joints = False  # judged from the image alone

    @property
    def strategy(self) -> str | None:
        return self.clip.meta.get("strategy")

    def image_model(self):
        """Its own probabilities over `labels`, for the frames the image model reads."""
        return self.predictor()

    def judge_frames(self, measures: pd.DataFrame, times: np.ndarray, step: int, spans: list,
                     image_out: np.ndarray | None, read_poorly: tuple[str, ...] = ()) -> FrameJudgement:
        """The image model's probabilities, each sampled frame taking those of the nearest frame it read."""
        return FrameJudgement(spread_to_frames(image_out, len(times), step), self.labels, lambda p: p)

    @torch.no_grad()
    def class_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight CxD, bias C) that turn image features into logits: the head, or the scaled prompt features."""
        if self.head is not None:
            return self.head
        text = M.text_features(self.clip.model, self.clip.processor, self.prompts)
        return self.clip.model.logit_scale.exp() * text, torch.zeros(len(self.labels), device=text.device)

    @torch.no_grad()
    def logits_from_features(self, feats: torch.Tensor) -> torch.Tensor:
        w, b = self.class_weights()
        return feats @ w.T + b

    def predictor(self, batch_size: int = 64):
        """frames -> class probabilities, with the class side computed once, for many calls on a fixed model."""
        self.clip.model.eval()
        w, b = self.class_weights()

        @torch.no_grad()
        def predict(frames: np.ndarray) -> np.ndarray:
            out = [(M.image_features(self.clip.model, M.preprocess(frames[i:i + batch_size], self.clip)) @ w.T + b)
                   .softmax(-1) for i in range(0, len(frames), batch_size)]
            return torch.cat(out).numpy() if out else np.zeros((0, len(self.labels)), np.float32)

        return predict

    def predict_proba(self, frames: np.ndarray, batch_size: int = 64) -> np.ndarray:
        return self.predictor(batch_size)(frames)

    def save(self, path, extra_meta: dict) -> None:
        from safetensors.torch import save_file

        meta = {"kind": "formclip-classifier", "exercise": self.exercise, "labels": self.labels,
                "prompts": self.prompts, "multi_class": self.multi_class, "wise_alpha": self.wise_alpha, **extra_meta}
        M.save_checkpoint(self.clip, path, meta)
        if self.head is not None:
            from formclip_pipeline.core.files import atomic_path

            with atomic_path(f"{path}/{HEAD_FILE}") as tmp:
                save_file({"weight": self.head[0].contiguous(), "bias": self.head[1].contiguous()}, str(tmp))


def load_classifier(path: str) -> Classifier:
    from pathlib import Path

    from safetensors.torch import load_file

    clip = B.load_clip(path)
    meta = clip.meta
    if meta.get("kind") != "formclip-classifier":
        raise M.ModelError(f"{path} is a CLIP model but not a FormClip classifier (no class prompts in {M.FORMCLIP_META})")
    head = None
    if (Path(clip.source) / HEAD_FILE).exists():
        t = load_file(str(Path(clip.source) / HEAD_FILE))
        head = (t["weight"], t["bias"])
    return Classifier(clip, meta["exercise"], meta["labels"], meta["prompts"], meta["multi_class"], head)


def zero_shot_classifier(base_model: str, exercise: str, multi_class: bool) -> Classifier:
    """The base model judged by its similarity to the catalogue's class prompts: no training."""
    ex = get_exercise(exercise)
    return Classifier(B.load_clip(base_model), exercise, ex.labels(multi_class), ex.prompts(multi_class), multi_class)

"""What scoring asks of a form classifier, whichever kind it is: the CLIP classifier of the image
strategies (core.clip_classifier) and the pose classifier of the joint strategies (core.pose_classifier) both
answer it, so scoring never asks which kind it holds."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class FrameJudgement:
    """A classifier's word on each sampled frame of a video."""
    proba: np.ndarray                      # one row per sampled frame, over `columns`
    columns: list[str]                     # the head's form classes, or its labels
    to_labels: Callable[[np.ndarray], np.ndarray]  # rows over `columns` -> rows over the classifier's labels
    reference: dict | None = None          # how far the video is from the fit videos (core.familiarity)
    against_good_form: dict | None = None  # where its measures stand against the good-form fit videos


class FormClassifier(Protocol):
    exercise: str
    labels: list[str]
    multi_class: bool

    @property
    def strategy(self) -> str | None: ...

    @property
    def reads_joints(self) -> bool:
        """Whether it judges from the lifter's joints, and so needs the lifter found in most frames."""

    def image_model(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """What it needs computed on the frames the image model reads (every `step`-th sampled
        frame) while the video decodes: its class probabilities, image embeddings, or nothing."""

    def judge_frames(self, measures: pd.DataFrame, times: np.ndarray, step: int, spans: list,
                     image_out: np.ndarray | None, read_poorly: tuple[str, ...]) -> FrameJudgement:
        """Its word on each sampled frame, from the video's measures, reps and `image_out` (what
        `image_model` returned, stacked), leaving out measures the camera's view reads poorly."""

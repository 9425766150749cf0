"""Checks on the training data that decide whether training may start.

Each finding is a row: check, severity (error stops training, warning lets it go on), value, message.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from formclip_pipeline.catalog import get_exercise

REPORT_COLUMNS = ["exercise", "check", "severity", "passed", "value", "message"]


@dataclass(frozen=True)
class Thresholds:
    max_missing_description_fraction: float = 0.0
    min_videos_per_class: int = 1
    max_class_imbalance: float = 10.0  # largest class / smallest class, in frames


def validate(annotations: pd.DataFrame, exercise: str, thresholds: Thresholds = Thresholds()) -> pd.DataFrame:
    rows = []

    def add(check, severity, passed, value, message):
        rows.append({"exercise": exercise, "check": check, "severity": "info" if passed else severity,
                     "passed": bool(passed), "value": float(value), "message": message})

    n = len(annotations)
    add("frames_present", "error", n > 0, n, f"{n} annotated frames" if n else "no frames were extracted")
    desc = annotations["description"] if n else pd.Series(dtype=str)
    missing = int((desc.isna() | (desc.astype(str).str.strip() == "")).sum()) if n else 0
    frac = missing / n if n else 0.0
    add("missing_descriptions", "error", frac <= thresholds.max_missing_description_fraction, missing,
        f"{missing} of {n} frames have no description")
    classes = get_exercise(exercise).class_names
    for cls in classes:
        vids = annotations.loc[annotations["form_class"] == cls, "video_sha256"].nunique() if n else 0
        train_vids = annotations.loc[(annotations["form_class"] == cls) & (annotations["split"] == "train"),
                                     "video_sha256"].nunique() if n else 0
        add(f"videos_per_class:{cls}", "error", train_vids >= thresholds.min_videos_per_class, vids,
            f"{cls}: {vids} videos ({train_vids} in the training split)")
    counts = annotations["form_class"].value_counts() if n else pd.Series(dtype=int)
    present = counts[counts > 0]
    ratio = float(present.max() / present.min()) if len(present) else 0.0
    add("class_balance", "warning", ratio <= thresholds.max_class_imbalance, ratio,
        "frames per class: " + ", ".join(f"{k}={v}" for k, v in counts.items()) + f" (largest/smallest {ratio:.1f})")
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def blocking_errors(report: pd.DataFrame) -> pd.DataFrame:
    return report[(~report["passed"]) & (report["severity"] == "error")]

"""Classification metrics at frame and video level (frames pooled per video).

Neighbouring frames are near-duplicates, so the video-level numbers are the honest ones; frame
numbers are kept because the seed reported them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score,
                             precision_recall_fscore_support)

from formclip_pipeline.catalog import BAD_CLASS, GOOD_CLASS, binary_label, called, to_label


def scores(y_true: list[str], y_pred: list[str], labels: list[str]) -> dict:
    if not y_true:
        return {"n": 0}
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    pc, rc, fc, sc = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    present = [l for l in labels if l in set(y_true)]
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)) if present else float("nan"),
        "precision": float(p),
        "recall": float(r),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present or labels, average="macro", zero_division=0)),
        "per_class": {l: {"precision": float(pc[i]), "recall": float(rc[i]), "f1": float(fc[i]), "support": int(sc[i])}
                      for i, l in enumerate(labels)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def evaluate_predictions(frames: pd.DataFrame, proba: np.ndarray, labels: list[str], multi_class: bool) -> dict:
    """Frame- and video-level metrics from per-frame class probabilities."""
    truth = [to_label(c, multi_class) for c in frames["form_class"]]
    pred = [labels[i] for i in called(proba, labels)] if len(proba) else []
    out = {"labels": labels, "frame": scores(truth, pred, labels)}
    vids = pd.DataFrame(proba, columns=labels)
    vids["video"] = frames["video_sha256"].to_numpy()
    vids["truth"] = truth
    vids["origin"] = frames["origin"].to_numpy() if "origin" in frames else None
    pooled = vids.groupby("video").agg({**{l: "mean" for l in labels}, "truth": "first", "origin": "first"})
    v_pred = [labels[i] for i in called(pooled[labels].to_numpy(), labels)] if len(pooled) else []
    out["video"] = video_scores(pooled["truth"].tolist(), v_pred, pooled["origin"].tolist(), labels)
    return out


BINARY_LABELS = [GOOD_CLASS, BAD_CLASS]


def video_scores(truth: list[str], pred: list[str], origins: list, labels: list[str]) -> dict:
    """Scores of one verdict a video, by origin where real videos are among them; for a model that
    names faults, also under "good_or_bad" those of its good-or-bad call, the figure every model
    gives and the one the champion gate compares (`gate_score`)."""
    out = {**scores(truth, pred, labels), **by_origin(truth, pred, origins, labels)}
    if labels != BINARY_LABELS and GOOD_CLASS in labels:
        good_or_bad = [binary_label(t) for t in truth], [binary_label(p) for p in pred]
        out["good_or_bad"] = {**scores(*good_or_bad, BINARY_LABELS), **by_origin(*good_or_bad, origins, BINARY_LABELS)}
    return out


def by_origin(truth: list[str], pred: list[str], origins: list, labels: list[str]) -> dict:
    """{"by_origin": {"real": scores, "synthetic": scores}} over the videos of each origin, when the
    test videos hold real ones: a figure on rendered lifters says little about filmed ones."""
    if "real" not in origins:
        return {}
    return {"by_origin": {o: scores([t for t, g in zip(truth, origins) if g == o],
                                    [p for p, g in zip(pred, origins) if g == o], labels)
                          for o in ("real", "synthetic") if o in origins}}


def gate_score(video_metrics: dict) -> tuple[float, str]:
    """The balanced accuracy of the good-or-bad call a model is promoted on, which a model naming
    faults and a binary one both make, and over which videos: the real test videos where there are
    any (users film real lifters), else all of them."""
    video_metrics = video_metrics.get("good_or_bad", video_metrics)
    real = video_metrics.get("by_origin", {}).get("real")
    if real and real.get("n"):
        return real.get("balanced_accuracy", float("nan")), "real test videos"
    return video_metrics.get("balanced_accuracy", float("nan")), "test videos"


METRIC_COLUMNS = ["exercise", "strategy", "level", "class_name", "metric", "value", "run_id"]


def levels(metrics: dict) -> list[tuple[str, dict]]:
    """(level, scores) of a model's metrics: its frames, its videos, and its videos' good-or-bad call
    (empty for a binary model, whose video scores are that call)."""
    video = metrics.get("video", {})
    return [("frame", metrics.get("frame", {})), ("video", video), ("video_good_or_bad", video.get("good_or_bad", {}))]


def flat_rows(metrics: dict, exercise: str, strategy: str, run_id: str | None = None) -> pd.DataFrame:
    """Long-format rows for Parquet and DuckDB: overall metrics (class_name "all") and one row per
    class and metric (precision, recall, f1, support), at the level of frames, of videos, and of the
    videos' good-or-bad call where the model names faults."""
    rows = []
    for level, m in levels(metrics):
        for key in ("n", "accuracy", "balanced_accuracy", "precision", "recall", "macro_f1"):
            if key in m:
                rows.append({"exercise": exercise, "strategy": strategy, "level": level, "class_name": "all",
                             "metric": key, "value": float(m[key]), "run_id": run_id})
        for class_name, per in m.get("per_class", {}).items():
            for key, value in per.items():
                rows.append({"exercise": exercise, "strategy": strategy, "level": level, "class_name": class_name,
                             "metric": key, "value": float(value), "run_id": run_id})
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def confusion_png(metrics: dict, path: str | Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = metrics["labels"]
    cm = np.array(metrics["video"].get("confusion") or np.zeros((len(labels), len(labels))))
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(labels), 1 + 0.8 * len(labels)))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", color="black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path

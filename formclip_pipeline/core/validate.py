"""Checks on the training data that decide whether training may start.

Each finding is a row: check, severity (error stops training, warning lets it go on), value, message.
"""
from __future__ import annotations


import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from formclip_pipeline.catalog import get_exercise
from formclip_pipeline.core.settings import ValidationSettings

REPORT_COLUMNS = ["exercise", "check", "severity", "passed", "value", "message"]




def dhash(image: bytes, size: int = 8) -> int | None:
    """Difference hash: 64 bits that survive re-encoding and small resizes; None if not an image."""
    from formclip_pipeline.core.frames import open_image

    try:
        img = open_image(image).convert("L").resize((size + 1, size), Image.BILINEAR)
    except (UnidentifiedImageError, OSError, ValueError):  # ValueError: frames.ImageTooLarge among others
        return None
    a = np.asarray(img, dtype=np.int16)
    bits = (a[:, 1:] > a[:, :-1]).flatten()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def validate(annotations: pd.DataFrame, exercise: str, thresholds: ValidationSettings = ValidationSettings(),
             frames: pd.DataFrame | None = None) -> pd.DataFrame:
    """Findings for one exercise. `frames` (with image bytes and views) enables the image checks."""
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
    if n and "source" in annotations:
        drafts = int((annotations["source"] == "ai_draft").sum())
        add("unreviewed_ai_drafts", "warning", drafts == 0, drafts,
            f"{drafts} descriptions are AI drafts nobody has accepted yet")
    ex = get_exercise(exercise)
    for cls in ex.class_names:
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
    if n:
        names = annotations.drop_duplicates(["video_sha256", "source_video", "form_class"])
        classes_per_video = names.groupby("video_sha256")["form_class"].nunique()
        cross = classes_per_video[classes_per_video > 1]
        add("same_video_in_two_classes", "error", len(cross) == 0, len(cross),
            f"{len(cross)} videos appear under two classes with the same content (contradictory labels)" +
            (": " + ", ".join(sorted(names[names['video_sha256'].isin(cross.index)]['source_video'].unique()))
             if len(cross) else ""))
        names_per_video = names.groupby("video_sha256")["source_video"].nunique()
        renamed = names_per_video[names_per_video > 1]
        add("same_video_under_two_names", "warning", len(renamed) == 0, len(renamed),
            f"{len(renamed)} videos were uploaded twice under different names")
    if frames is not None and len(frames):
        hashes = [dhash(b) for b in frames["image"]]
        bad = sum(h is None for h in hashes)
        add("invalid_images", "error", bad <= thresholds.max_invalid_images, bad,
            f"{bad} frames are not readable images")
        df = pd.DataFrame({"hash": hashes, "video": frames["video_sha256"].to_numpy(),
                           "split": frames["split"].to_numpy()}).dropna()
        per_hash = df.groupby("hash").agg(videos=("video", "nunique"), splits=("split", "nunique"))
        dup_hashes = per_hash[per_hash["videos"] > 1]
        dup_frames = int(df["hash"].isin(dup_hashes.index).sum())
        leaks = int((dup_hashes["splits"] > 1).sum())
        frac = dup_frames / max(len(df), 1)
        add("duplicate_frames", "warning", frac <= thresholds.max_duplicate_frame_fraction, dup_frames,
            f"{dup_frames} frames look identical to a frame of another video (perceptual hash); "
            f"{leaks} such groups straddle splits and would leak test data into training")
        if "view" in frames and frames["view"].notna().any():
            vids = frames.drop_duplicates("video_sha256")
            uncovered = []
            for cls in ex.classes:
                seen = set(vids.loc[vids["form_class"] == cls.name, "view"].dropna())
                if cls.is_fault and seen and not (seen & set(cls.views)):
                    uncovered.append(f"{cls.name} (filmed {', '.join(sorted(seen))}; visible from {', '.join(cls.views)})")
            add("camera_view_coverage", "warning", not uncovered, len(uncovered),
                "every fault is filmed from a view where it shows" if not uncovered else
                "faults never filmed from a view where they show: " + "; ".join(uncovered))
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def blocking_errors(report: pd.DataFrame) -> pd.DataFrame:
    return report[(~report["passed"]) & (report["severity"] == "error")]


def summary(report: pd.DataFrame) -> str:
    lines = []
    for rec in report.itertuples():
        mark = {"error": "ERROR", "warning": "WARN ", "info": "ok   "}[rec.severity]
        lines.append(f"{mark} {rec.check}: {rec.message}")
    return "\n".join(lines)

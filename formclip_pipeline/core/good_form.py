"""Where a video's measures stand against the good-form videos a pose model was fitted on.

A verdict alone cannot be checked; "trunk lean at depth 57.0 degrees, where the model's good-form
videos leant 31.3 to 40.9" can. A coach reading it can tell a real fault from a model whose idea of
good form is narrower than theirs (a model fitted on synthetic lifters knows only the renderer's good
form). So the checkpoint keeps, per feature, the range its good-form fit videos spanned (10th to
90th percentile), and a report cites the few measures that lie furthest outside it.

The same good-form videos give each measure a line against the camera's angle, so a head can read a
video's measures against good form as it looks from where that video was filmed (`against_angle`).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from formclip_pipeline.core.features import in_words
from formclip_pipeline.core.measures import MEASURES, measure_of

LOW, HIGH, COUNT = "good_form_low", "good_form_high", "good_form_videos"
PERCENTILES = (10, 90)
MIN_VIDEOS = 3  # fewer good-form videos than this reading a feature say nothing about its range
# Cited when beyond the range by at least this share of its width: by construction a tenth of the
# good-form videos lie just past each end.
CITED_BEYOND = 0.5
MOST_CITED = 3
# The narrowest a range is taken to be: a measure every good-form video read the same (the hip at
# its highest when standing) is not "outside" by a hair.
TEMPO_FLOOR = {"rep_seconds": 0.2}


def ranges(X: np.ndarray, is_good: np.ndarray) -> dict[str, np.ndarray]:
    """Arrays to save beside a head: each feature's range over the good-form rows of X (NaN where
    fewer than MIN_VIDEOS of them read it), and how many good-form videos there were."""
    good = X[np.asarray(is_good, bool)]
    read = (~np.isnan(good)).sum(0) if len(good) else np.zeros(X.shape[1], int)
    low = np.full(X.shape[1], np.nan)
    high = np.full(X.shape[1], np.nan)
    enough = read >= MIN_VIDEOS
    if enough.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            low[enough], high[enough] = np.nanpercentile(good[:, enough], PERCENTILES, axis=0)
    return {LOW: low, HIGH: high, COUNT: np.array([float(len(good))])}


def has_ranges(head: dict) -> bool:
    """Whether the head knows any feature's good-form range (a checkpoint saved before they were
    kept, or fitted on fewer than MIN_VIDEOS good-form videos, knows none)."""
    return LOW in head and not np.isnan(head[LOW]).all()


def narrowest(feature: str) -> float:
    """The least a feature's spread is taken to be, in its own units: a twentieth of its measure's scale
    (5 degrees, 0.05 of a ratio), or TEMPO_FLOOR's."""
    measure = measure_of(feature)
    return 0.05 * MEASURES[measure].scale if measure else TEMPO_FLOOR.get(feature, 0.05)


def _digits(feature: str) -> int:
    measure = measure_of(feature)
    return MEASURES[measure].digits if measure else 2


def outside(head: dict, features: dict, names: list[str], most: int = MOST_CITED,
            read_poorly: tuple[str, ...] = ()) -> dict:
    """{"good_form_videos": n, "outside": [...]}: the features of `names` (the head's, in its order)
    furthest outside the good-form range, most first, each with its value, the range and a sentence.
    Features of the measures in `read_poorly` (those the camera's view reads poorly) are not cited."""
    cited = []
    for name, low, high in zip(names, head[LOW], head[HIGH]):
        words = in_words(name)
        value = features.get(name)
        if words is None or value is None or np.isnan(value) or np.isnan(low) or measure_of(name) in read_poorly:
            continue
        width = max(float(high - low), narrowest(name))
        beyond = (value - high) / width if value > high else (low - value) / width if value < low else 0.0
        if beyond < CITED_BEYOND:
            continue
        d = _digits(name)
        what, unit = words
        spaced = f" {unit}" if unit else ""
        cited.append({"feature": name, "what": what, "unit": unit, "value": round(float(value), d),
                      "good_form_range": [round(float(low), d), round(float(high), d)],
                      "beyond": round(float(beyond), 2),
                      "text": f"{what} {value:.{d}f}{spaced} (the model's good-form videos: {low:.{d}f} to "
                              f"{high:.{d}f})"})
    cited.sort(key=lambda c: -c["beyond"])
    return {"good_form_videos": int(head[COUNT][0]), "outside": cited[:most]}


# Each fault is filmed from the views that show it, good form from every view, so a head fitted on
# the measures as read learns the camera's angle as a cue to good form: a good-form press filmed
# side-on, where the faults were filmed, reads like a fault. So the head also reads each feature's
# distance from what the good-form fit videos read at the same camera angle (a straight line in
# camera_frontality through them). On `make bench`'s split that took the overhead press from 0.63 to
# 0.96 binary balanced accuracy and the squat from 0.91 to 0.97; nested cross-validation over all the
# cached videos gained 0.02 on the squat, the row and the press and lost 0.03-0.04 on the deadlift
# and the bench press, which BlazePose reads worst (docs/benchmarks.md).
AT_ANGLE = "_against_good_form_at_angle"
ANGLE_INTERCEPT, ANGLE_SLOPE, ANGLE_DEFAULT = "at_angle_intercept", "at_angle_slope", "at_angle_frontality"
FRONTALITY = "camera_frontality_median"


def at_angle(feature: str) -> str:
    return feature + AT_ANGLE


def is_at_angle(feature: str) -> bool:
    return feature.endswith(AT_ANGLE)


def as_read(feature: str) -> str:
    """The measure's own feature behind one read against good form at the camera's angle."""
    return feature.removesuffix(AT_ANGLE)


def frontality(X: pd.DataFrame, default: float = np.nan) -> np.ndarray:
    """The camera's angle to the lifter per row (camera_frontality's median, 0 side-on to about 0.7
    facing), clipped to [0, 1]: a lifter lying down reads far above 1 from the feet's end."""
    values = X[FRONTALITY].to_numpy(np.float64) if FRONTALITY in X else np.full(len(X), np.nan)
    return np.clip(np.where(np.isnan(values), default, values), 0.0, 1.0)


def angle_lines(X: pd.DataFrame, is_good: np.ndarray, angle: np.ndarray) -> dict[str, np.ndarray]:
    """Per column of X, the straight line through the good-form rows' values against the camera's
    angle (a nearly unregularised least-squares fit; a flat line at their median where fewer than
    MIN_VIDEOS read the column), and the angle taken for a video whose angle is unread."""
    good = np.asarray(is_good, bool)
    default = float(np.nanmedian(angle)) if np.isfinite(angle).any() else 0.5
    x = np.where(np.isnan(angle), default, angle)[good]
    intercept, slope = np.zeros(X.shape[1]), np.zeros(X.shape[1])
    for j, column in enumerate(X.to_numpy(np.float64)[good].T):
        read = ~np.isnan(column)
        if read.sum() >= MIN_VIDEOS:
            D = np.c_[np.ones(read.sum()), x[read]]
            intercept[j], slope[j] = np.linalg.solve(D.T @ D + 1e-3 * np.eye(2), D.T @ column[read])
        elif read.any():
            intercept[j] = float(np.median(column[read]))
    return {ANGLE_INTERCEPT: intercept, ANGLE_SLOPE: slope, ANGLE_DEFAULT: np.array([default])}


def against_angle(X: pd.DataFrame, columns: list[str], lines: dict[str, np.ndarray], angle: np.ndarray) -> pd.DataFrame:
    """X with, for each of `columns` (each with its line in `lines`, in that order), its distance
    from the good-form line at the row's camera angle, as a column named at_angle(column)."""
    predicted = lines[ANGLE_INTERCEPT][None, :] + np.outer(angle, lines[ANGLE_SLOPE])
    read = X.reindex(columns=columns).to_numpy(np.float64)
    return X.join(pd.DataFrame(read - predicted, index=X.index, columns=[at_angle(c) for c in columns]))

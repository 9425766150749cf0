"""Where a video's measures stand against the good-form videos a pose model was fitted on.

A verdict alone cannot be checked; "trunk lean at depth 57.0 degrees, where the model's good-form
videos leant 31.3 to 40.9" can. A coach reading it can tell a real fault from a model whose idea of
good form is narrower than theirs (a model fitted on synthetic lifters knows only the renderer's good
form). So the checkpoint keeps, per feature, the range its good-form fit videos spanned (10th to
90th percentile), and a report cites the few measures that lie furthest outside it.
"""
from __future__ import annotations

import warnings

import numpy as np

from formclip_pipeline.core.measures import MEASURES, in_words, measure_of

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


def _floor(feature: str) -> float:
    measure = measure_of(feature)
    return 0.05 * MEASURES[measure].scale if measure else TEMPO_FLOOR.get(feature, 0.05)


def _digits(feature: str) -> int:
    measure = measure_of(feature)
    return MEASURES[measure].digits if measure else 2


def outside(head: dict, features: dict, names: list[str], most: int = MOST_CITED) -> dict:
    """{"good_form_videos": n, "outside": [...]}: the features of `names` (the head's, in its order)
    furthest outside the good-form range, most first, each with its value, the range and a sentence."""
    cited = []
    for name, low, high in zip(names, head[LOW], head[HIGH]):
        words = in_words(name)
        value = features.get(name)
        if words is None or value is None or np.isnan(value) or np.isnan(low):
            continue
        width = max(float(high - low), _floor(name))
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

"""The features of a stretch of frames (a video or a rep) that the pose heads, recognition and the
report read: each measure's summaries (`summarise`), the reps' tempo and profile, and each feature
in words for people reading a report (`in_words`)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from formclip_pipeline.core.measures import MEASURES, measure_of
from formclip_pipeline.core.reps import Reps, rep_profile, tempo


# The summaries of a measure, each with its words for people reading a report.
STAT_WORDS = {"low": "at its lowest", "median": "median", "high": "at its highest", "range": "range",
              "speed": "speed", "at_depth": "at depth"}
STATS = tuple(STAT_WORDS)


def summarise(measures: pd.DataFrame, times: np.ndarray, primary: str | None = None,
              depth_measure: str | None = None) -> dict[str, float]:
    """Features of a stretch of frames (a video or a rep): per measure its low (5th percentile),
    median, high (95th) and range, how fast it changes (90th percentile of degrees or ratio per
    second), and its median `at_depth`: over the frames where `depth_measure` (by default the
    exercise's primary measure) is in the far 40% of its range (the bottom of a squat, the bar at the
    chest), where most faults show. NaN where the measure was never seen."""
    out: dict[str, float] = {}
    times = np.asarray(times, np.float64)
    depth = np.zeros(len(measures), bool)
    depth_measure = depth_measure or primary
    if depth_measure is not None and depth_measure in measures and measures[depth_measure].notna().any():
        p = measures[depth_measure].to_numpy(np.float64)
        lo, hi = np.nanpercentile(p, [5, 95])
        depth = p >= lo + 0.6 * (hi - lo)
    for name in measures.columns:
        v = measures[name].to_numpy(np.float64)
        ok = ~np.isnan(v)
        if ok.sum() == 0:
            lo = mid = hi = speed = np.nan
        else:
            lo, mid, hi = np.percentile(v[ok], [5, 50, 95])
            both = ok[1:] & ok[:-1]
            dt = np.diff(times)
            rate = np.abs(np.diff(v))[both] / np.maximum(dt[both], 1e-3)
            speed = float(np.percentile(rate, 90)) if len(rate) else np.nan
        at_depth = v[depth & ok]
        out.update({f"{name}_low": lo, f"{name}_median": mid, f"{name}_high": hi, f"{name}_range": hi - lo,
                    f"{name}_speed": speed, f"{name}_at_depth": float(np.median(at_depth)) if len(at_depth) else np.nan})
    if primary is not None and primary in measures:
        reps = Reps.of(measures[primary].to_numpy(np.float64), times, MEASURES[primary].scale)
        out.update(tempo(reps))
        out.update(rep_profile(measures, reps))
    return out


# A tempo feature in words, for people reading a report: (what, unit).
TEMPO_WORDS = {"rep_seconds": ("time per rep", "s"),
               "descent_share": ("share of each rep spent moving to its far end", ""),
               "far_end_share": ("share of each rep spent at its far end", "")}


def in_words(feature: str) -> tuple[str, str] | None:
    """("trunk lean at depth", "degrees") for "trunk_lean_at_depth"; ("time per rep", "s") for the
    tempo; None for a feature that is neither (the reps' profile, image embeddings)."""
    if feature in TEMPO_WORDS:
        return TEMPO_WORDS[feature]
    measure = measure_of(feature)
    stat = feature[len(measure) + 1:] if measure else None
    if stat not in STAT_WORDS:
        return None
    unit = "degrees" if MEASURES[measure].unit == "deg" else ""
    if stat == "speed":
        unit = f"{unit}/s"
    return f"{measure.replace('_', ' ')} {STAT_WORDS[stat]}", unit

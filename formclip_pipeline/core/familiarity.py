"""Is a video like the videos a model was trained on? If not, its verdict is not to be trusted.

A model trained on synthetic lifters has no idea what it does not know: shown a real bench press,
or a squat to a model of the deadlift, it still puts most of its probability somewhere. So the
checkpoint keeps a reference of its fit videos' features (standardised), and a new video is
"unlike the training videos" when any of these holds:

- its features are further from the nearest fit video than `RADIUS_FACTOR` times the distance
  that 95% of fit videos have to their own nearest neighbour (leave one out), measured separately
  for the pose summaries and for the image embeddings, since one has far more dimensions;
- more than `MAX_UNREAD_SHARE` of the measures the exercise is judged by (the catalogue's, among
  those seen in most fit videos) could not be read in it (a close-up that hides the knees). Only
  those count: a side view that hides the far arm of a squatter hides nothing a squat is judged by.

Distances are root-mean-square over features, so a group's figure does not grow with its size.
"""
from __future__ import annotations

import warnings

import numpy as np

from formclip_pipeline.core.measures import measure_of

RADIUS_FACTOR = 2.0
MAX_UNREAD_SHARE = 0.3
SEEN_IN_MOST = 0.9  # a measure the fit videos showed this often is one the model relies on
PREFIX = "familiar_"


def _groups(feature_names: list[str]) -> dict[str, np.ndarray]:
    image = np.array([n.startswith("clip_") for n in feature_names])
    return {k: idx for k, idx in (("pose", np.flatnonzero(~image)), ("image", np.flatnonzero(image))) if len(idx)}


def _rms_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """RMS distance of every row of A to every row of B."""
    d2 = (A ** 2).sum(1)[:, None] + (B ** 2).sum(1)[None, :] - 2 * A @ B.T
    return np.sqrt(np.maximum(d2, 0.0) / A.shape[1])


def reference(X: np.ndarray, feature_names: list[str]) -> dict[str, np.ndarray]:
    """What a checkpoint keeps of its fit videos (rows of X, NaN where a measure was never seen), as
    arrays to be saved beside its head."""
    seen = (~np.isnan(X)).mean(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a measure no fit video showed: its median is NaN
        medians = np.nanmedian(X, 0)
    medians = np.where(np.isnan(medians), 0.0, medians)
    A = np.where(np.isnan(X), medians, X)
    center, scale = A.mean(0), A.std(0)
    scale = np.where(scale < 1e-6, 1.0, scale)
    Z = (A - center) / scale
    ref = {f"{PREFIX}medians": medians, f"{PREFIX}center": center, f"{PREFIX}scale": scale,
           f"{PREFIX}seen": seen, f"{PREFIX}Z": Z}
    for group, idx in _groups(feature_names).items():
        if len(Z) < 3:
            radius = np.inf  # too few videos to say what "far" is
        else:
            d = _rms_distances(Z[:, idx], Z[:, idx])
            np.fill_diagonal(d, np.inf)
            radius = RADIUS_FACTOR * float(np.percentile(d.min(1), 95))
        ref[f"{PREFIX}radius_{group}"] = np.array([radius])
    return ref


def has_reference(arrays: dict) -> bool:
    return f"{PREFIX}Z" in arrays


def check(arrays: dict[str, np.ndarray], x: np.ndarray, feature_names: list[str],
          judged_by: set[str] | None = None) -> dict:
    """Whether one video's features `x` (in `feature_names` order, NaN where unread) are like the fit
    videos': {"familiar": bool, "distance": {group: (distance, limit)}, "reasons": [sentences]}.
    `judged_by` names the measures whose absence counts (default: every measure)."""
    seen, medians = arrays[f"{PREFIX}seen"], arrays[f"{PREFIX}medians"]
    z = (np.where(np.isnan(x), medians, x) - arrays[f"{PREFIX}center"]) / arrays[f"{PREFIX}scale"]
    Z = arrays[f"{PREFIX}Z"]
    reasons, distances = [], {}
    for group, idx in _groups(feature_names).items():
        limit = float(arrays[f"{PREFIX}radius_{group}"][0])
        d = float(_rms_distances(z[None, idx], Z[:, idx]).min())
        distances[group] = {"distance": round(d, 2), "limit": round(limit, 2)}
        if d > limit:
            what = "pose measures" if group == "pose" else "images"
            reasons.append(f"its {what} are {d / limit * RADIUS_FACTOR:.1f} times further from the nearest "
                           f"training video than training videos are from each other")
    def counts(name: str | None) -> bool:
        return name is not None and (judged_by is None or name in judged_by)

    # A measure is unread when none of its features could be computed: one rep too short for its
    # profile, say, still shows the measure in its summaries.
    relied = {measure_of(n) for n, s in zip(feature_names, seen) if s >= SEEN_IN_MOST and counts(measure_of(n))}
    read = {measure_of(n) for n, v in zip(feature_names, x) if not np.isnan(v)}
    unread = sorted(relied - read)
    if relied and len(unread) > MAX_UNREAD_SHARE * len(relied):
        reasons.append(f"{len(unread)} of the {len(relied)} body measures the exercise is judged by could not be "
                       f"read ({', '.join(unread)})")
    return {"familiar": not reasons, "distance": distances, "reasons": reasons}

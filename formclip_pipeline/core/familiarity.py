"""Is a video like the videos a model was trained on? If not, its verdict is not to be trusted.

A model trained on synthetic lifters has no idea what it does not know: shown a real bench press,
or a squat to a model of the deadlift, it still puts most of its probability somewhere. So the
checkpoint keeps a reference of its fit videos' features (standardised), and a new video is
"unlike the training videos" when any of these holds:

- its features are further from the nearest fit video than `RADIUS_FACTOR` times the distance
  that 95% of fit videos have to their own nearest neighbour (leave one out), measured separately
  for the pose summaries and for the image embeddings, since one has far more dimensions;
- one of its pose features lies further outside the range the fit videos spanned than
  `OUTSIDE_BY` times that feature's spread over them: a distance over a hundred features hides one
  that far out, and a head reads such a feature as if it were at the edge of what it saw;
- more than `MAX_UNREAD_SHARE` of the measures the exercise is judged by (the catalogue's, among
  those seen in most fit videos) could not be read in it (a close-up that hides the knees). Only
  those count: a side view that hides the far arm of a squatter hides nothing a squat is judged by.

Distances are root-mean-square over features, so a group's figure does not grow with its size.
"""
from __future__ import annotations

import warnings

import numpy as np

from formclip_pipeline.core.good_form import as_read, is_at_angle, narrowest
from formclip_pipeline.core.features import in_words
from formclip_pipeline.core.measures import measure_of

RADIUS_FACTOR = 2.0
# Spreads (standard deviations over the fit videos, good_form.narrowest at the least) beyond the
# furthest fit video. On 32 unseen synthetic bench presses, against a head fitted on 80, the furthest
# feature of each video lay at most 4.3 spreads outside (5 videos past 2). Of the six real development
# clips scored by the demo's champions, a press with flared elbows read its silhouette's top 5.5 spreads
# beyond, and an overhead press whose one rep took 3.9 s (the fit videos' 1.3-2.3 s) 5.9; the other
# four stayed within 2.8 (docs/benchmarks.md).
OUTSIDE_BY = 5.0
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
    reasons += _far_outside(arrays, x, feature_names)

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


def _far_outside(arrays: dict[str, np.ndarray], x: np.ndarray, feature_names: list[str]) -> list[str]:
    """A sentence for the pose feature furthest outside the fit videos' range, if it is OUTSIDE_BY
    spreads or more beyond it; none otherwise. A spread is the feature's standard deviation over the fit
    videos, and never less than good_form.narrowest: synthetic lifters all read some features alike,
    and a hundredth of a ratio past a range that narrow is no sign of a different kind of video."""
    Z, idx = arrays[f"{PREFIX}Z"], _groups(feature_names).get("pose")
    if len(Z) < 3 or idx is None:
        return []
    center, scale = arrays[f"{PREFIX}center"][idx], arrays[f"{PREFIX}scale"][idx]
    low, high = center + scale * Z[:, idx].min(0), center + scale * Z[:, idx].max(0)
    spread = np.maximum(scale, [narrowest(as_read(feature_names[j])) for j in idx])
    with np.errstate(invalid="ignore"):
        beyond = np.maximum(x[idx] - high, low - x[idx]) / spread
    beyond = np.where(np.isnan(beyond), 0.0, beyond)  # an unread feature is no distance away
    worst = int(np.argmax(beyond))
    if beyond[worst] < OUTSIDE_BY:
        return []
    name = feature_names[idx[worst]]
    words = in_words(as_read(name))
    what = (words[0] if words else as_read(name).replace("_", " ")) + (
        " against good form at this camera angle" if is_at_angle(name) else "")
    return [f"its {what} reads {x[idx[worst]]:.2f}, {beyond[worst]:.1f} spreads beyond every training video's "
            f"({low[worst]:.2f} to {high[worst]:.2f})"]

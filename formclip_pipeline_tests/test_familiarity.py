"""Whether a video is like a model's training videos: near ones pass, far or half-unread ones do not."""
from __future__ import annotations

import numpy as np

from formclip_pipeline.core.familiarity import check, reference

NAMES = [f"{m}_{s}" for m in ("knee_flexion", "hip_flexion", "trunk_lean", "elbow_flexion")
         for s in ("low", "median", "high")] + \
    ["rep_seconds", "clip_0", "clip_1"]


def _fit_videos(n: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(loc=50, scale=10, size=(n, len(NAMES)))


def test_videos_drawn_like_the_fit_videos_are_familiar_and_far_ones_are_not():
    X = _fit_videos()
    ref = reference(X, NAMES)
    unseen = _fit_videos(200, seed=1)
    familiar = [check(ref, x, NAMES)["familiar"] for x in unseen]
    assert np.mean(familiar) >= 0.95
    far = X[0].copy()
    far[:12] += 80  # every body measure eight spreads away
    verdict = check(ref, far, NAMES)
    assert not verdict["familiar"]
    assert verdict["distance"]["pose"]["distance"] > verdict["distance"]["pose"]["limit"]
    assert any("pose measures" in r for r in verdict["reasons"])


def test_image_embeddings_are_judged_apart_from_the_pose():
    X = _fit_videos()
    ref = reference(X, NAMES)
    odd_image = X[3].copy()
    odd_image[-2:] += 200
    verdict = check(ref, odd_image, NAMES)
    assert verdict["distance"]["pose"]["distance"] <= verdict["distance"]["pose"]["limit"]
    assert not verdict["familiar"] and any("images" in r for r in verdict["reasons"])


def test_a_video_hiding_most_measures_the_model_relies_on_is_not_familiar():
    X = _fit_videos()
    ref = reference(X, NAMES)
    close_up = X[5].copy()
    close_up[:6] = np.nan  # knees and hips out of frame; missing values alone add no distance
    verdict = check(ref, close_up, NAMES)
    assert not verdict["familiar"]
    assert any("hip_flexion" in r and "knee_flexion" in r and "could not be read" in r for r in verdict["reasons"])
    one_gap = X[5].copy()
    one_gap[:3] = np.nan  # one measure of four unread stays within MAX_UNREAD_SHARE
    assert check(ref, one_gap, NAMES)["familiar"]
    half_read = X[5].copy()
    half_read[[0, 3, 6]] = np.nan  # knee, hip and trunk each missing a feature (a rep too short for one)
    assert check(ref, half_read, NAMES)["familiar"]


def test_only_the_measures_the_exercise_is_judged_by_must_be_read():
    X = _fit_videos()
    ref = reference(X, NAMES)
    arms_hidden = X[5].copy()
    arms_hidden[6:12] = np.nan  # trunk lean and elbow unread: half the measures the model learned from
    assert not check(ref, arms_hidden, NAMES)["familiar"]
    # Judged by the legs alone, hiding the trunk and arms hides nothing that counts.
    assert check(ref, arms_hidden, NAMES, {"knee_flexion", "hip_flexion", "wrist_height"})["familiar"]
    # Judged by the elbow too, it does; the sentence counts only what the exercise is judged by.
    verdict = check(ref, arms_hidden, NAMES, {"knee_flexion", "elbow_flexion"})
    assert not verdict["familiar"] and any("1 of the 2" in r and "elbow_flexion" in r for r in verdict["reasons"])


def test_a_measure_the_fit_videos_never_showed_is_not_required():
    X = _fit_videos()
    X[:, 6:9] = np.nan  # trunk lean never read in training
    ref = reference(X, NAMES)
    x = _fit_videos(1, seed=2)[0]
    x[6:9] = np.nan
    assert check(ref, x, NAMES)["familiar"]


def test_one_measure_far_beyond_every_fit_video_is_not_familiar_and_is_named():
    """Eight spreads past the furthest fit video in one of a head's many features barely moves the
    distance over all of them, yet the head reads that feature as if it sat at the edge of its fit
    videos; the reason names it, in words, with the range the fit videos spanned. Three spreads past is
    within reach of an unseen lifter."""
    from formclip_pipeline.core.features import STATS
    from formclip_pipeline.core.measures import MEASURE_NAMES

    names = [f"{m}_{s}" for m in MEASURE_NAMES for s in STATS]
    rng = np.random.default_rng(0)
    X = rng.normal(loc=50, scale=10, size=(40, len(names)))
    ref = reference(X, names)
    high = names.index("knee_flexion_high")
    one_off = X[7].copy()
    one_off[high] = X[:, high].max() + 8 * X[:, high].std()
    verdict = check(ref, one_off, names)
    assert verdict["distance"]["pose"]["distance"] <= verdict["distance"]["pose"]["limit"]
    assert not verdict["familiar"]
    assert any(r.startswith("its knee flexion at its highest reads") and "spreads beyond every training video" in r
               for r in verdict["reasons"]), verdict["reasons"]
    near = X[7].copy()
    near[high] = X[:, high].max() + 3 * X[:, high].std()
    assert check(ref, near, names)["familiar"]

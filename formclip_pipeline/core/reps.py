"""Sets and reps from the video itself, for any exercise.

Each frame becomes a small feature vector: the lifter's joint measures where BlazePose tracks them
(`joint_features`), else the pixels (`motion_features`). The video's main direction of
change separates work from rest: its local spread is large while the lifter cycles through reps and
small while they stand, so rest pauses split sets. Within a set the frames are projected on the
set's own main direction, the repetition period is read from the self-similarity of the set's
leading components (their autocorrelation, the diagonals of RepNet's temporal self-similarity
matrix), and each rep is one cycle between two returns to the start position.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from formclip_pipeline.core.measures import MEASURES


@dataclass(frozen=True)
class RepSpan:
    set_number: int
    rep_number: int
    start: int  # frame index on the sampling grid, inclusive
    end: int  # exclusive


@dataclass(frozen=True)
class RepSettings:
    min_rest_s: float = 2.2  # stillness this long ends a set
    min_set_s: float = 2.0
    min_period_s: float = 0.8
    max_period_s: float = 7.0
    window_s: float = 1.5  # window over which activity is measured
    activity_fraction: float = 0.3  # of the busiest windows' activity: below it the lifter is resting
    period_components: int = 5  # principal components of a set the period is read from
    peak_fraction: float = 0.7  # of the highest autocorrelation peak that the period's peak must reach
    min_rep_gap: float = 0.7  # of the period, between two rep peaks


def motion_features(frames: np.ndarray, size: int = 20, batch: int = 64) -> np.ndarray:
    """Per-frame features for counting: the frame pooled to size x size grey levels, standardised.

    Pooling averages away sensor noise and a few pixels of camera shake; standardising each frame
    removes lighting flicker. On 21 synthetic test videos these counted reps within one on 86%
    of videos where the small CLIP's embeddings managed 24%: an untrained image tower's features
    follow the shake and the noise, not the body.

    Each frame's features are its own, so frames are pooled `batch` at a time: in floats, all of
    scoring's 2,400 kept frames at once took 1.4 GB beside their 361 MB of bytes, and a 6-minute
    clip's `formclip score` peaked at 3.3 GB.
    """
    import torch
    import torch.nn.functional as F

    out = np.empty((len(frames), size * size), np.float32)
    for i in range(0, len(frames), batch):
        x = torch.as_tensor(frames[i:i + batch]).permute(0, 3, 1, 2).float().mean(1, keepdim=True)
        out[i:i + batch] = F.interpolate(x, size=(size, size), mode="area").flatten(1).numpy()
    return (out - out.mean(1, keepdims=True)) / (out.std(1, keepdims=True) + 1e-6)


def joint_features(measures, min_tracked: float = 0.6, min_amplitude: float = 0.15,
                   leave_out: tuple[str, ...] = ("camera_frontality", "back_rounding", "silhouette_top_width",
                                                 "silhouette_drop"),
                   ) -> np.ndarray | None:
    """Per-frame features for counting from the lifter's joints: every measure seen in at least
    `min_tracked` of the samples (short gaps filled) that moves by at least `min_amplitude` of its
    scale (15 degrees, or 0.15 of a ratio), standardised; None when none does. Standardising a joint
    that only jitters would turn its noise into reps. Left out are the camera's angle and the back's
    rounding, which do not move with the reps, and the silhouette's width and drop, which are not a
    joint's and take in the bar and the bench wherever the mask does.

    `count_reps` reads them as it reads pixels. All the joints rather than the exercise's main angle
    alone: a lying lifter's elbows come and go for seconds at a time, and one angle's gap then reads as a
    rest between sets, while the wrists and shoulders still show the reps. On 21 synthetic development
    videos (seed 9001, one per class) this counted within one on 20 where peaks of the main angle did
    on 17 (normalised MAE 0.018 against 0.138; pixels 0.064). Where a lying lifter's joints are read
    badly it loses reps, so `score.find_reps` weighs its count against the pixels' (docs/benchmarks.md).
    """
    columns = []
    for name in measures.columns:
        if name in leave_out:
            continue
        v = measures[name].to_numpy(np.float64)
        if np.mean(~np.isnan(v)) < min_tracked:
            continue
        v = pd.Series(v).interpolate(limit_direction="both").to_numpy()
        low, high = np.percentile(v, [3, 97])
        if (high - low) / MEASURES[name].scale >= min_amplitude:
            columns.append((v - v.mean()) / v.std())
    return np.stack(columns, axis=1) if columns else None


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or len(x) < 3:
        return x.astype(float)
    k = np.hanning(width + 2)[1:-1]
    k /= k.sum()
    pad = width // 2
    xp = np.pad(x.astype(float), (pad, width - 1 - pad), mode="edge")
    return np.convolve(xp, k, mode="valid")


def _rolling_std(x: np.ndarray, width: int) -> np.ndarray:
    pad = width // 2
    xp = np.pad(x, (pad, width - 1 - pad), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(xp, width)
    return windows.std(axis=1)


def active_segments(feats: np.ndarray, fps: float, s: RepSettings = RepSettings()) -> list[tuple[int, int]]:
    """Runs of repeated movement separated by at least `min_rest_s` of stillness.

    Activity is the local spread of the video's main direction of change: large while the lifter
    cycles through reps, small while standing, whatever the camera shake adds frame to frame.
    """
    if len(feats) < 4:
        return []
    _, x, vt = _principal_axes(feats)
    sig = _smooth(x @ vt[0], max(1, int(round(fps * 0.3))))
    spread = _rolling_std(sig, max(3, int(round(fps * s.window_s))))
    if spread.max() <= 0:
        return []
    active = spread > s.activity_fraction * np.quantile(spread, 0.95)
    segs, start = [], None
    for i, a in enumerate(np.append(active, False)):
        if a and start is None:
            start = i
        elif not a and start is not None:
            segs.append([start, i])
            start = None
    merged: list[list[int]] = []
    for seg in segs:
        if merged and (seg[0] - merged[-1][1]) / fps < s.min_rest_s:
            merged[-1][1] = seg[1]
        else:
            merged.append(seg)
    return [(a, b) for a, b in merged if (b - a) / fps >= s.min_set_s]


def repetition_period(x: np.ndarray, fps: float, s: RepSettings) -> float | None:
    """The repetition period of a (frames x components) signal, from its autocorrelation.

    The autocorrelation is summed over components, so a pose seen twice per rep in one direction
    (going down and coming up pass through it) is told apart by the others. The period is the first
    peak that reaches `peak_fraction` of the highest one: the first peak above a fixed level picked
    half periods whenever a weak echo came before the true one.
    """
    x = x - x.mean(0)
    n = len(x)
    if n < 4 or np.allclose(x, 0):
        return None
    ac = np.array([float((x[:n - lag] * x[lag:]).sum()) for lag in range(n)])
    ac /= ac[0] + 1e-12
    lo, hi = max(2, int(s.min_period_s * fps)), min(n - 1, int(s.max_period_s * fps))
    if hi <= lo:
        return None
    peaks = [i for i in range(lo, hi) if ac[i] >= ac[i - 1] and ac[i] >= ac[i + 1] and ac[i] > 0.05]
    if not peaks:
        return None
    top = max(ac[i] for i in peaks)
    return next(i for i in peaks if ac[i] >= s.peak_fraction * top) / fps


def _principal_axes(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, centred frames, principal axes as rows, leading first) of a run of frame features."""
    mean = emb.mean(0)
    x = emb - mean
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return mean, x, vt


def rhythm_breaks(spans: list[RepSpan]) -> float:
    """Share of rep-to-rep intervals, within sets of three reps or more, that break the set's rhythm:
    shorter than 0.6 or longer than 1.5 of its median interval. A rep counted twice leaves half an
    interval, a rep missed a double one; a lifter's reps within a set come at a steady pace."""
    breaks = intervals = 0
    for set_no in {x.set_number for x in spans}:
        starts = np.sort([x.start for x in spans if x.set_number == set_no])
        if len(starts) < 3:
            continue
        gaps = np.diff(starts)
        med = np.median(gaps)
        breaks += int(np.sum((gaps < 0.6 * med) | (gaps > 1.5 * med)))
        intervals += len(gaps)
    return breaks / intervals if intervals else 0.0


def _main_direction(x: np.ndarray, axis: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Centred frames `x` projected on their first principal `axis`, signed so that the start
    position (`rest`, centred alike) is low."""
    sig = x @ axis
    return sig if (rest @ axis).mean() <= np.median(sig) else -sig


def count_reps(emb: np.ndarray, fps: float, s: RepSettings = RepSettings()) -> list[RepSpan]:
    """Rep spans over the whole video, numbered per set."""
    out: list[RepSpan] = []
    set_no = 0
    pad = int(round(0.5 * fps))
    segments = [(a, b, max(0, a - pad), min(len(emb), b + pad)) for a, b in active_segments(emb, fps, s)]
    axes = [_principal_axes(emb[lo:hi]) for _, _, lo, hi in segments]
    periods = [repetition_period(x @ vt[:s.period_components].T, fps, s) for _, x, vt in axes]
    # One lifter keeps one rhythm: a set too short or too noisy to show its own period (a lone rep,
    # three reps of a lying lifter's jittery elbows) takes the others' rather than being dropped.
    known = [p for p in periods if p is not None]
    for (a, b, lo, hi), (mean, x, vt), period in zip(segments, axes, periods):
        period = period if period is not None else float(np.median(known)) if known else None
        if period is None:
            continue
        rest = np.concatenate([emb[lo:a + 1], emb[max(lo, b - 1):hi]]) - mean
        sig = _smooth(_main_direction(x, vt[0], rest), max(1, int(round(fps * 0.25))))
        # Rep peaks: maxima at least `min_rep_gap` of a period apart and clearly above the start level.
        span = sig.max() - sig.min()
        min_gap = max(1, int(s.min_rep_gap * period * fps))
        cands = [i for i in range(1, len(sig) - 1) if sig[i] >= sig[i - 1] and sig[i] >= sig[i + 1]
                 and sig[i] > sig.min() + 0.45 * span]
        peaks: list[int] = []
        for i in sorted(cands, key=lambda i: -sig[i]):
            if all(abs(i - p) >= min_gap for p in peaks):
                peaks.append(i)
        peaks.sort()
        if not peaks:
            continue
        set_no += 1
        # Boundaries: the lowest point between neighbouring peaks, and half a period outside the ends.
        half = int(round(period * fps / 2))
        bounds = [max(0, peaks[0] - half)]
        for p, q in zip(peaks, peaks[1:]):
            bounds.append(p + int(np.argmin(sig[p:q + 1])))
        bounds.append(min(len(sig), peaks[-1] + half))
        for r, (u, v) in enumerate(zip(bounds, bounds[1:]), start=1):
            out.append(RepSpan(set_no, r, lo + u, lo + v))
    return out


@dataclass(frozen=True)
class JointRepSettings:
    min_tracked: float = 0.6  # of the sampled frames with the primary measure seen, else fall back to pixels
    min_amplitude: float = 0.15  # of the measure's scale (degrees/100 for angles): less is no movement
    peak_height: float = 0.5  # of the set's range above its low: how far a rep must go
    rise_fraction: float = 0.3  # of the range: below it the lifter is back at the start position
    min_period_s: float = 0.8
    min_rest_s: float = 2.2  # from one rep's end to the next one's start, this long splits sets


def count_reps_from_angle(signal: np.ndarray, fps: float, scale: float = 100.0,
                          s: JointRepSettings = JointRepSettings()) -> list[RepSpan] | None:
    """Reps as excursions of the exercise's primary joint measure (knee flexion in a squat, hip
    flexion in a deadlift, wrist height in a press), or None when the joint is not tracked well
    enough to count by (the caller then counts from pixels).

    Each rep is a peak that rises at least `peak_height` of the measure's range above its low, with
    the start position (below `rise_fraction` of the range) reached between two peaks; the rep
    runs from the last start-position frame before its peak to the first one after.
    `scale` puts the measure's units on a common footing: 100 for degrees, 1 for ratios.
    """
    from scipy.signal import find_peaks

    x = np.asarray(signal, np.float64)
    seen = ~np.isnan(x)
    if len(x) < 4 or seen.mean() < s.min_tracked:
        return None
    x = np.interp(np.arange(len(x)), np.flatnonzero(seen), x[seen])
    x = _smooth(x, max(1, int(round(fps * 0.3))))
    lo, hi = np.percentile(x, [3, 97])
    if (hi - lo) / scale < s.min_amplitude:
        return []
    u = (x - lo) / (hi - lo)
    peaks, _ = find_peaks(u, height=s.peak_height, prominence=s.peak_height,
                          distance=max(1, int(s.min_period_s * fps * 0.7)))
    spans: list[tuple[int, int]] = []
    low = u < s.rise_fraction
    for k, p in enumerate(peaks):
        prev_p = peaks[k - 1] if k else -1
        next_p = peaks[k + 1] if k + 1 < len(peaks) else len(u)
        before = np.flatnonzero(low[prev_p + 1:p])
        after = np.flatnonzero(low[p + 1:next_p])
        # Without a return to the start position between two peaks, the lowest point splits them.
        start = prev_p + 1 + (before[-1] if len(before) else int(np.argmin(u[prev_p + 1:p + 1])))
        end = p + 2 + (after[0] if len(after) else int(np.argmin(u[p + 1:next_p])) if next_p > p + 1 else -1)
        spans.append((int(start), int(min(end, len(u)))))
    out: list[RepSpan] = []
    set_no, rep_no, last_end = 0, 0, None
    for start, end in spans:
        if last_end is None or (start - last_end) / fps >= s.min_rest_s:
            set_no, rep_no = set_no + 1, 0
        rep_no += 1
        out.append(RepSpan(set_no, rep_no, start, end))
        last_end = end
    return out


def joint_reps(measures, primary: str, fps: float) -> list[RepSpan]:
    """Reps from the lifter's joints (a frame of `measures` per sampled frame); empty when the lift's
    primary measure is not tracked well enough.

    The period of all the joints that move comes first (`joint_features`); a lone rep has no period
    to read, so where that finds none, the primary measure's excursions count."""
    from formclip_pipeline.core.measures import MEASURES

    settings = JointRepSettings()
    if measures[primary].notna().mean() < settings.min_tracked:
        return []
    joints = joint_features(measures, settings.min_tracked, settings.min_amplitude)
    spans = count_reps(joints, fps) if joints is not None else []
    return spans or count_reps_from_angle(measures[primary].to_numpy(), fps, MEASURES[primary].scale, settings) or []


@dataclass(frozen=True)
class Reps:
    """The reps of a stretch, found on its primary measure (gaps filled), on the sampling grid."""
    spans: list
    signal: np.ndarray
    fps: float

    @staticmethod
    def of(signal: np.ndarray, times: np.ndarray, scale: float = 100.0) -> "Reps":
        if len(times) < 4:
            return Reps([], np.asarray(signal, np.float64), 0.0)
        fps = 1.0 / float(np.median(np.diff(times)))
        x = pd.Series(np.asarray(signal, np.float64)).interpolate(limit_direction="both").to_numpy()
        return Reps(count_reps_from_angle(signal, fps, scale) or [], x, fps)

    def each(self):
        """(start, far end, end, excursion) of each rep long enough to have a shape: frame indices,
        and its primary measure scaled to 0 at its lowest and 1 at its far end."""
        for s in self.spans:
            rep = self.signal[s.start:s.end]
            if len(rep) < 3 or np.isnan(rep).any() or rep.max() <= rep.min():
                continue
            yield s.start, s.start + int(np.argmax(rep)), s.end, (rep - rep.min()) / (rep.max() - rep.min())


def tempo(reps: Reps) -> dict[str, float]:
    """How the reps of a stretch are paced, from the primary measure: median rep length in seconds,
    the share of each rep spent getting to its far end (a controlled squat takes about half, a dive
    and bounce about a third), and the share spent near the far end (a pause at the bottom)."""
    lengths, descents, far = [], [], []
    for start, peak, end, u in reps.each():
        lengths.append((end - start) / reps.fps)
        descents.append((peak - start) / (end - start - 1))
        far.append(float(np.mean(u >= 0.85)))
    if not lengths:
        return {"rep_seconds": np.nan, "descent_share": np.nan, "far_end_share": np.nan}
    return {"rep_seconds": float(np.median(lengths)), "descent_share": float(np.median(descents)),
            "far_end_share": float(np.median(far))}


PROFILE_POINTS = (30, 60, 90)  # percent of the way from the start position to the far end
PROFILE_LEGS = ("out", "back")  # to the rep's far end, and back from it
PROFILE_KINDS = (*PROFILE_LEGS, "back_minus_out")


def is_rep_profile(feature: str) -> bool:
    """Whether a feature name is one of `rep_profile`'s ("hip_flexion_back_minus_out_60")."""
    return any(feature.endswith(f"_{kind}_{pct}") for kind in PROFILE_KINDS for pct in PROFILE_POINTS)


def rep_profile(measures: pd.DataFrame, reps: Reps) -> dict[str, float]:
    """Each measure read on the way out to the rep's far end and on the way back, at the same points
    of the primary measure's excursion, and the difference (back minus out); medians over the reps.

    Faults of timing are faults of shape: hips that shoot up in a deadlift straighten the knees on
    the way back while the hips are still bent, where the way out bent both together; a bar that
    drifts forward is ahead of the lifter at mid-range, not at the ends. With the pose head choosing
    whether to read it, nested cross-validation over 112 synthetic deadlifts moved the binary
    balanced accuracy from 0.55 to 0.64 and macro-F1 from 0.47 to 0.51 (docs/benchmarks.md). NaN
    where the stretch shows no whole rep."""
    columns = {name: measures[name].to_numpy(np.float64) for name in measures.columns}
    per_rep = []
    for start, peak, end, u in reps.each():
        row = {}
        for name, values in columns.items():
            v = values[start:end]
            for leg, sl in zip(PROFILE_LEGS, (slice(0, peak - start + 1), slice(peak - start, end - start))):
                uu, vv = u[sl], v[sl]
                ok = ~np.isnan(vv)
                order = np.argsort(uu[ok], kind="stable")
                for pct in PROFILE_POINTS:
                    row[f"{name}_{leg}_{pct}"] = (float(np.interp(pct / 100, uu[ok][order], vv[ok][order]))
                                                  if ok.sum() >= 2 else np.nan)
            for pct in PROFILE_POINTS:
                row[f"{name}_back_minus_out_{pct}"] = row[f"{name}_back_{pct}"] - row[f"{name}_out_{pct}"]
        per_rep.append(row)
    if not per_rep:
        return {f"{name}_{kind}_{pct}": np.nan for name in measures.columns
                for kind in PROFILE_KINDS for pct in PROFILE_POINTS}
    return pd.DataFrame(per_rep).median().to_dict()

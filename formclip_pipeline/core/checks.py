"""Coaches' lines for faults, read on each rep against the lifter's own body.

A learned head knows good form only as wide as the good-form videos it was fitted on, and the
renderer draws one good form where real lifters show many: on real lifters it called nearly every
lift bad. A coach judges the faults they can measure against a line instead ("hip crease below the
top of the knee", "heels stay down"), the same for every lifter. The catalogue gives each such line
(`catalog.Check`: the value, the fault line, the clear line, the views that read it, the source);
this module reads each rep's value and judges it. Values are read against the lifter's own body:
lengths in their own thigh or shin lengths, heights against their own standing pose in the same
rep, the hip's opening against their own knee's.

`judge_reps` is the checks' word; `judged_proba` lets it overrule the head on the faults it measures and
leaves the faults it cannot measure (a bounce, a bar drifting) to the head.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from formclip_pipeline.catalog import GOOD_CLASS, Check, get_exercise
from formclip_pipeline.core.measures import MEASURES
from formclip_pipeline.core.pose import INDEX

# The far end of a rep (the bottom of a squat, the start of a deadlift) is read as the median over
# this many frames either side of the deepest frame: one frame alone carries BlazePose's jitter.
FAR_END_HALF_WINDOW = 1
# A video where no rep was counted is read as one stretch when its primary measure moves at least
# this much (degrees): a one-rep clip (floor, lockout, floor) has no rhythm to count reps by.
ONE_STRETCH_MIN_RANGE = 30.0
# Past the fault line by this many widths of the borderline band, a fault is plain to see.
PLAIN_BEYOND = 1.0


@dataclass(frozen=True)
class Stretch:
    """A rep's frames on the sampling grid: its start, its far end and its end (exclusive), and the
    frame where it stands at its start position (the primary measure at its lowest). A rep whose
    primary measure was never seen is kept, unread, so that the stretches stay one per rep."""
    start: int
    far: int
    end: int
    rest: int
    read: bool = True


def _window(series: np.ndarray, at: int) -> float:
    part = series[max(0, at - FAR_END_HALF_WINDOW):at + FAR_END_HALF_WINDOW + 1]
    part = part[np.isfinite(part)]
    return float(np.median(part)) if len(part) else np.nan


def _at_far_end(measure: str):
    def read(series: pd.DataFrame, s: Stretch) -> float:
        return _window(series[measure].to_numpy(np.float64), s.far)
    return read


def _rep_high(measure: str, pct: float):
    def read(series: pd.DataFrame, s: Stretch) -> float:
        v = series[measure].to_numpy(np.float64)[s.start:s.end]
        v = v[np.isfinite(v)]
        return float(np.percentile(v, pct)) if len(v) else np.nan
    return read


def _shin_length(image: np.ndarray, side: str) -> float:
    """The shin's full image length (95th percentile over the video): its length seen square-on."""
    knee, ankle = image[:, INDEX[f"{side}_knee"], :2], image[:, INDEX[f"{side}_ankle"], :2]
    length = np.linalg.norm(knee - ankle, axis=1)
    seen = (image[:, INDEX[f"{side}_knee"], 2] >= 0.5) & (image[:, INDEX[f"{side}_ankle"], 2] >= 0.5)
    return float(np.percentile(length[seen], 95)) if seen.sum() >= 3 else np.nan


def heel_height(image: np.ndarray) -> np.ndarray:
    """Per frame, the heels above the toes in the image, in the lifter's own shin lengths (averaged over
    the feet seen; NaN where neither is). Flat on the floor it reads whatever the camera's angle makes
    of a flat foot, so only its change from the lifter's own standing pose says the heel rose."""
    values = []
    for side in ("left", "right"):
        heel, toe = INDEX[f"{side}_heel"], INDEX[f"{side}_foot_index"]
        seen = (image[:, heel, 2] >= 0.5) & (image[:, toe, 2] >= 0.5)
        shin = _shin_length(image, side)
        values.append(np.where(seen, (image[:, toe, 1] - image[:, heel, 1]) / shin, np.nan))
    stacked = np.stack(values)
    out = np.full(len(image), np.nan)
    seen = np.isfinite(stacked).any(0)
    out[seen] = np.nanmean(stacked[:, seen], axis=0)
    return out


def _heel_rise_from_start(series: pd.DataFrame, s: Stretch) -> float:
    h = series["heel_height"].to_numpy(np.float64)
    return _window(h, s.far) - _window(h, s.rest)


def _hip_share_at_half_knee(series: pd.DataFrame, s: Stretch) -> float:
    """On the way up from the far end, the share of the hip's opening done when the knee has
    straightened half of its way: about a half when hips and shoulders rise together, far less when the
    hips shoot up first. NaN when either joint moves less than 10 degrees on the way up."""
    knee = series["knee_flexion"].to_numpy(np.float64)[s.far:s.end]
    hip = series["hip_flexion"].to_numpy(np.float64)[s.far:s.end]
    if len(knee) < 3 or not (np.isfinite(knee).all() and np.isfinite(hip).all()):
        return np.nan
    knee_way, hip_way = knee[0] - knee.min(), hip[0] - hip.min()
    if knee_way < 10 or hip_way < 10:
        return np.nan
    half = int(np.argmax(knee <= knee[0] - knee_way / 2))
    return float((hip[0] - hip[half]) / hip_way)


# Each value a check can name: how it is read on a rep (from the video's measures and its heel height,
# one column each, and the rep's stretch), what it is in words, and its unit.
VALUES = {
    "hip_below_knee_deepest": (_rep_high("hip_below_knee", 95), "hip below the knee at the deepest",
                               "thigh lengths"),
    "trunk_lean_at_far_end": (_at_far_end("trunk_lean"), "trunk lean at the bottom", "degrees"),
    "neck_trunk_angle_at_far_end": (_at_far_end("neck_trunk_angle"), "head dropped off the trunk line at the bottom",
                                    "degrees"),
    "knee_gap_ratio_at_far_end": (_at_far_end("knee_gap_ratio"), "knee gap over ankle gap at the bottom", ""),
    "back_rounding_rep_high": (_rep_high("back_rounding", 80), "back's bow while hinged", "degrees"),
    "heel_rise_from_start": (_heel_rise_from_start, "heels risen from standing at the bottom", "shin lengths"),
    "hip_share_at_half_knee": (_hip_share_at_half_knee, "share of the hip's opening done when the knees are half "
                                                        "straight", ""),
}


def stretches(exercise: str, measures: pd.DataFrame, spans: list) -> list[Stretch]:
    """The reps as stretches to read; a video whose reps were not counted but whose primary measure
    moves through a rep's range is one stretch."""
    primary = measures[get_exercise(exercise).primary_measure].to_numpy(np.float64)
    bounds = [(s.start, s.end) for s in spans]
    if not bounds and np.isfinite(primary).sum() >= 3:
        lo, hi = np.nanpercentile(primary, [5, 95])
        if hi - lo >= ONE_STRETCH_MIN_RANGE * MEASURES[get_exercise(exercise).primary_measure].scale / 100:
            bounds = [(0, len(primary))]
    out = []
    for start, end in bounds:
        part = primary[start:end]
        if np.isfinite(part).any():
            out.append(Stretch(start, start + int(np.nanargmax(part)), end, start + int(np.nanargmin(part))))
        else:
            out.append(Stretch(start, start, end, start, read=False))
    return out


def judge_pose_table(exercise: str, poses: pd.DataFrame) -> dict:
    """`judge_reps` on one video's pose table (its sampled frames in time order), the reps counted from
    the joints and the view read from the pose: the checks as evaluation reads a test video."""
    from formclip_pipeline.core.measures import smoothed_measures
    from formclip_pipeline.core.pose import Silhouettes, stack_landmarks
    from formclip_pipeline.core.reps import joint_reps
    from formclip_pipeline.core.views import camera_view

    image, world, _ = stack_landmarks(poses)
    measures = smoothed_measures(image, world, Silhouettes.of(poses))
    times = poses["timestamp"].to_numpy(np.float64)
    fps = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    spans = joint_reps(measures, get_exercise(exercise).primary_measure, fps)
    return judge_reps(exercise, measures, image, spans, camera_view(exercise, world)["view"])


def judged_proba(exercise: str, proba: np.ndarray, columns: list[str], to_labels, labels: list[str],
                 judged: dict, index: int | None = None) -> np.ndarray:
    """Rows of the head's probabilities over `columns` (its form classes, or its labels) as
    probabilities over `labels` with the checks' word on one rep (its index) or the video taken in:
    the faults they clear go back to good form, the faults they find hold their share."""
    words = fault_word(exercise, statuses(judged, index))
    return hold_faults(to_labels(clear_faults(proba, columns, words)), labels, found_faults(exercise, judged, index))


def _text(check: Check, value: float) -> str:
    _, words, unit = VALUES[check.value]
    digits = 2 if unit not in ("degrees",) else 0
    line = "over" if check.fault_when == "above" else "under"
    return f"{words} {value:.{digits}f}{' ' + unit if unit else ''} (the line: {line} {check.fault_at:g})"


def judge_reps(exercise: str, measures: pd.DataFrame, image: np.ndarray, spans: list, view: str | None) -> dict:
    """Every check of the exercise on every rep.

    Returns {"checks": [one dict per check: name, fault, status over the video (from the median of
    its reps' values), value, text, reps at fault, whether the view reads it], "reps": [per rep, the
    statuses by check name], "stretches": the reps read, "view": the view}. A check the camera's view does not read is
    "unseen"; one whose value no rep read is "unread"."""
    ex = get_exercise(exercise)
    parts = stretches(exercise, measures, spans)
    series = measures.assign(heel_height=heel_height(image)) if len(parts) else measures
    out, per_rep = [], [dict() for _ in parts]
    for check in ex.checks:
        read, _, unit = VALUES[check.value]
        values = np.array([read(series, s) if s.read else np.nan for s in parts], np.float64)
        seen = view is None or view in check.views
        value = float(np.nanmedian(values)) if np.isfinite(values).any() else np.nan
        status = check.status(value) if seen else "unseen"
        for i, v in enumerate(values):
            per_rep[i][check.name] = (check.status(v) if seen else "unseen", None if np.isnan(v) else float(v))
        entry = {"name": check.name, "fault": check.fault, "status": status,
                 "value": None if np.isnan(value) else round(value, 3), "unit": unit,
                 "fault_at": check.fault_at, "clear_at": check.clear_at,
                 "reps_at_fault": [i + 1 for i, v in enumerate(values) if seen and check.status(v) == "fault"],
                 "plain": bool(status == "fault" and check.beyond(value) >= PLAIN_BEYOND)}
        if not np.isnan(value):
            entry["text"] = _text(check, value)
        if not seen:
            entry["text"] = f"not read from a {view} view"
        out.append(entry)
    return {"checks": out, "reps": per_rep, "stretches": parts, "view": view}


def fault_word(exercise: str, statuses: dict[str, str]) -> dict[str, str]:
    """Per fault the checks read, their word on one stretch (statuses by check name): "fault" if any
    of its checks is past its line, "clear" if every check of it that the view reads is clear (and
    may clear it, `Check.clears`), else "open" (borderline, unread or unseen: the head keeps it)."""
    by_fault: dict[str, list[str]] = {}
    for check in get_exercise(exercise).checks:
        if check.name in statuses:
            status = statuses[check.name]
            by_fault.setdefault(check.fault, []).append("open" if status == "clear" and not check.clears else status)
    word = {}
    for fault, found in by_fault.items():
        read = [s for s in found if s != "unseen"]
        word[fault] = "fault" if "fault" in read else "clear" if read and all(s == "clear" for s in read) else "open"
    return word


def fault_strength(beyond: float) -> float:
    """The least share of a rep's probability a check's fault takes: 0.6 on the line, 0.95 when plain."""
    return 0.6 + 0.35 * float(np.clip(beyond / PLAIN_BEYOND, 0.0, 1.0))


def clear_faults(proba: np.ndarray, columns: list[str], words: dict[str, str]) -> np.ndarray:
    """Rows of probabilities over `columns` (form classes) with each fault the checks clear taken back
    to good form: the head's doubt about a fault the coach's line clears is the head's narrow idea of
    good form. Faults the checks leave open stay with the head."""
    p = np.array(proba, np.float64, copy=True)
    if GOOD_CLASS not in columns:
        return p
    good = columns.index(GOOD_CLASS)
    for fault, word in words.items():
        if word == "clear" and fault in columns:
            k = columns.index(fault)
            p[..., good] += p[..., k]
            p[..., k] = 0.0
    return p


def hold_faults(proba: np.ndarray, labels: list[str], found: dict[str, float]) -> np.ndarray:
    """Rows of probabilities over `labels` (form classes, or good_form / bad_form) with the faults the
    checks find (fault -> how far past its line) holding at least `fault_strength` of each row: on the
    fault's own label where there is one, else on the bad side as a whole."""
    p = np.array(proba, np.float64, copy=True)
    if not found or GOOD_CLASS not in labels:
        return p
    good = labels.index(GOOD_CLASS)
    fault, beyond = max(found.items(), key=lambda kv: kv[1])
    want = fault_strength(beyond)
    k = labels.index(fault) if fault in labels else None
    for row in p.reshape(-1, p.shape[-1]):
        if k is not None:
            if row[k] < want:
                rest = row.sum() - row[k]
                row[[j for j in range(len(row)) if j != k]] *= (1 - want) / rest if rest > 0 else 0.0
                row[k] = want
        elif row[good] > 1 - want:
            bad = [j for j in range(len(row)) if j != good]
            spare = row[good] - (1 - want)
            share = row[bad] / row[bad].sum() if row[bad].sum() > 0 else np.full(len(bad), 1 / len(bad))
            row[bad] += spare * share
            row[good] = 1 - want
    return p


def found_faults(exercise: str, judged: dict, index: int | None = None) -> dict[str, float]:
    """Faults the checks find on one rep (its index among the stretches) or, with no index, over the
    video (each check's median over the reps), each with how far past its line it lies."""
    ex = get_exercise(exercise)
    out: dict[str, float] = {}
    for check in ex.checks:
        entry = next(c for c in judged["checks"] if c["name"] == check.name)
        if index is None:
            status, value = entry["status"], entry["value"]
        elif index < len(judged["reps"]):
            status, value = judged["reps"][index][check.name]
        else:
            continue
        if status == "fault":
            out[check.fault] = max(out.get(check.fault, -np.inf), check.beyond(value))
    return out


def statuses(judged: dict, index: int | None = None) -> dict[str, str]:
    """Check name -> status on one rep, or over the video."""
    if index is None:
        return {c["name"]: c["status"] for c in judged["checks"]}
    if index >= len(judged["reps"]):
        return {}
    return {name: status for name, (status, _) in judged["reps"][index].items()}


def rep_evidence(exercise: str, judged: dict, index: int, fault: str) -> str:
    """The readings of one rep's checks past their line for `fault`, in words."""
    texts = []
    for check in get_exercise(exercise).checks:
        status, value = judged["reps"][index].get(check.name, ("unread", None))
        if check.fault == fault and status == "fault":
            texts.append(_text(check, value))
    return "; ".join(texts)

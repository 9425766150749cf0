"""Which exercise a video shows, from the lifter's joints and the image together.

The joints carry most of it: a squat is an upright trunk over knees that bend through a wide range,
a deadlift a bar in hanging arms with a hip that hinges, a bench press a lying trunk under pressing
arms. Each exercise's `pose_signature` in the catalogue says where a video's summarised measures
usually lie; a measure outside its range costs half its squared distance in units of `TOLERANCE`
(15 degrees, or 0.15 for ratios), at most `MAX_COST` so that one badly read joint cannot outvote the
others; a measure never seen costs `UNREAD_COST`, so that an exercise is not favoured for having
less of its signature checked. The costs become probabilities with a softmax. The image model's zero-shot probabilities then weigh in with a
much smaller weight: it tells scenes apart (a bench, a rack) but was trained on synthetic renders, and
on real footage it is often confidently wrong, where the joints are not.

The softmax names the nearest lift however far it is, so the joints are also asked whether any lift
fits at all (`not_a_lift`): otherwise a push-up, whose legs lie out behind the lifter where every
lift in the catalogue stands or lies face up, comes out a row at 84-95%, and a held yoga pose a row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from formclip_pipeline.catalog import VIEWS, exercise_names, get_exercise
from formclip_pipeline.core.features import summarise
from formclip_pipeline.core.measures import MEASURES, measure_of

TOLERANCE = 0.15  # of a measure's scale (core.measures.Measure.scale): 15 degrees, or 0.15
MAX_COST = 4.5  # what a measure three tolerances or more outside its range costs
UNREAD_COST = 1.0  # a signature measure that could not be read: neither confirmed nor ruled out
# The image model's log-probabilities count a tenth as much as the joints'. Alone it names the lift
# of 57% of synthetic videos against the joints' 96%, and together they name 96% at a weight of 0.1
# as at 0.5 (588 videos, docs/benchmarks.md); at 0.5 one confidently wrong image outvoted the joints
# on real clips the joints read right.
IMAGE_WEIGHT = 0.1
MIN_LIFTER_FOUND = 0.5  # below this share of frames with the lifter, the joints are not used
# No lift of the catalogue fits when even the nearest one's misses among the measures read cost this
# much (one measure three tolerances out, or several adding up to as much), or when every lift's reps
# move some joint through a range that the video falls short of by STILL_BY tolerances or more. On 38
# real and 35 rendered lifts the nearest lift's misses cost at most 2.7 and no lift's motion fell
# short by more than 0.05 tolerances; rendered push-ups and planks cost 4.5 or more, and held poses
# fell short by 1.05 to 1.3 (docs/guide.md). A lift with one joint misread that badly is taken for no
# lift too, and the user is asked for --exercise, as when the joints cannot decide between lifts.
NO_LIFT_COST = MAX_COST
STILL_BY = 1.0
# The moment a signature's `_at_depth` summaries are read at: the far 40% of the hip's bend. Every
# standing lift bends there, and it is where lifts that look alike standing differ most: at the
# bottom of a deadlift the hands hang at the shins, at the bottom of a squat they hold the bar at
# the shoulders, the chest or out in front. A video's highest wrist (95th percentile) could not tell
# them apart: a wrist misread for a few frames of a deadlift put it at the shoulders, and 5 of 28 real
# development deadlifts were taken for squats (docs/benchmarks.md).
DEPTH_MEASURE = "hip_flexion"


def recognition_summary(measures: pd.DataFrame, times: np.ndarray) -> dict[str, float]:
    """The summary of a whole video's measures that `recognise` reads, its `_at_depth` values taken
    where the hip is most bent (DEPTH_MEASURE), since the exercise, and so its primary measure, is
    not known yet."""
    return summarise(measures, times, depth_measure=DEPTH_MEASURE)


@dataclass(frozen=True)
class Recognition:
    exercise: str
    confidence: float
    scores: dict[str, float]             # combined probability per exercise
    from_pose: dict[str, float] | None   # probabilities from the joints alone (None: lifter not tracked)
    from_image: dict[str, float] | None  # zero-shot probabilities from the image model alone
    outside: dict[str, list[str]]        # per exercise, the signature measures outside their range
    not_a_lift: str | None = None        # why the joints show none of the catalogue's lifts (None: one fits)

    def to_dict(self) -> dict:
        return {"exercise": self.exercise, "confidence": round(self.confidence, 3),
                "scores": {k: round(v, 3) for k, v in self.scores.items()},
                **({"from_pose": {k: round(v, 3) for k, v in self.from_pose.items()}} if self.from_pose else {}),
                **({"from_image": {k: round(v, 3) for k, v in self.from_image.items()}} if self.from_image else {}),
                "signature_misses": self.outside[self.exercise],
                **({"not_a_lift": self.not_a_lift} if self.not_a_lift else {})}


def _softmax(costs: dict[str, float]) -> dict[str, float]:
    z = -np.array(list(costs.values()))
    p = np.exp(z - z.max())
    return dict(zip(costs, (p / p.sum()).tolist()))


def pose_signature_costs(summary: dict[str, float]) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Per exercise, the cost of the video's measure summary against the exercise's signature, and
    which summaries fell outside their range (written "trunk_lean_median 72.0 (usual 0-50)")."""
    costs, outside = {}, {}
    for name in exercise_names():
        cost, misses = 0.0, []
        for key, lo, hi in get_exercise(name).pose_signature:
            measure = measure_of(key)
            if measure is None:
                raise ValueError(f"pose_signature of {name} names {key!r}, which is no measure summary "
                                 f"(a measure of core.measures followed by _low, _median, _high or _range)")
            value = summary.get(key, np.nan)
            if value is None or np.isnan(value):
                cost += UNREAD_COST
                continue
            off = max(lo - value, value - hi, 0.0) / (TOLERANCE * MEASURES[measure].scale)
            cost += min(0.5 * off ** 2, MAX_COST)
            if off > 0:
                d = MEASURES[measure].digits
                misses.append(f"{key} {value:.{d}f} (usual {lo:g} to {hi:g})")
        costs[name], outside[name] = cost, misses
    return costs, outside


def not_a_lift(summary: dict[str, float]) -> str | None:
    """Why a video's measure summary is none of the catalogue's lifts, in words, or None where one fits.

    A lift fits when its signature's misses among the measures read (those never read count for
    nothing here) cost less than NO_LIFT_COST, and the video moves each joint its signature's ranges
    (`_range`) ask for to within STILL_BY tolerances of the range."""
    names = exercise_names()
    missed, short, misses, stills = {}, {}, {}, {}
    for name in names:
        cost, shortfalls, misses[name], stills[name] = 0.0, [], [], []
        for key, lo, hi in get_exercise(name).pose_signature:
            value = summary.get(key, np.nan)
            if value is None or np.isnan(value):
                continue
            measure = MEASURES[measure_of(key)]
            off = max(lo - value, value - hi, 0.0) / (TOLERANCE * measure.scale)
            cost += min(0.5 * off ** 2, MAX_COST)
            if off > 0:
                misses[name].append(f"{key} {value:.{measure.digits}f} where it is usually {lo:g} to {hi:g}")
            if key.endswith("_range"):
                shortfalls.append(max(lo - value, 0.0) / (TOLERANCE * measure.scale))
                if value < lo:
                    stills[name].append(f"{key} {value:.{measure.digits}f} where its reps take {lo:g} or more")
        missed[name] = cost
        if shortfalls:
            short[name] = max(shortfalls)
    lifts = ", ".join(get_exercise(n).display_name.lower() for n in names[:-1]) + \
        f" or {get_exercise(names[-1]).display_name.lower()}"
    if short and min(short.values()) >= STILL_BY:
        nearest = min(short, key=short.get)
        return (f"the lifter holds still, where a {lifts} is done in reps (the nearest, the "
                f"{get_exercise(nearest).display_name.lower()}, has {'; '.join(stills[nearest])})")
    if min(missed.values()) >= NO_LIFT_COST:
        nearest = min(missed, key=missed.get)
        return (f"the lifter's body is in the shape of no {lifts} (the nearest, the "
                f"{get_exercise(nearest).display_name.lower()}, has {'; '.join(misses[nearest])})")
    return None


def exercise_prompts(name: str) -> list[str]:
    """Prompts for one exercise, averaged as CLIP's prompt ensembles are: the name, and the name per view."""
    display = get_exercise(name).display_name.lower()
    return [display] + [f"{display}, {view} view" for view in VIEWS]


def exercise_text_features(clip):
    import torch
    import torch.nn.functional as F

    from formclip_pipeline.core import model as M

    names = exercise_names()
    with torch.no_grad():
        rows = [M.text_features(clip.model, clip.processor, exercise_prompts(n)).mean(0) for n in names]
    return names, F.normalize(torch.stack(rows), dim=-1)


def image_exercise_proba(clip, frames: np.ndarray) -> dict[str, float]:
    """Zero-shot exercise probabilities from a CLIP: mean prompt probability over the frames."""
    import torch

    from formclip_pipeline.core import model as M

    with torch.no_grad():
        return exercise_proba_of_embeddings(clip, M.embed_images(clip, frames))


def exercise_proba_of_embeddings(clip, embeddings: np.ndarray) -> dict[str, float]:
    """`image_exercise_proba` from the frames' unit image embeddings under the same CLIP."""
    import torch

    names, text = exercise_text_features(clip)
    with torch.no_grad():
        proba = (clip.model.logit_scale.exp() * torch.as_tensor(embeddings) @ text.T).softmax(-1).mean(0).numpy()
    return {n: float(p) for n, p in zip(names, proba)}


def recognise(summary: dict[str, float] | None, lifter_found: float,
              image_proba: dict[str, float] | None) -> Recognition:
    """The exercise from the joints' summary (used when the lifter was found in at least
    MIN_LIFTER_FOUND of the frames) and the image model's probabilities, either of which may be
    missing but not both."""
    names = exercise_names()
    from_pose, outside = None, {n: [] for n in names}
    log_p = np.zeros(len(names))
    if summary is not None and lifter_found >= MIN_LIFTER_FOUND:
        costs, outside = pose_signature_costs(summary)
        from_pose = _softmax(costs)
        log_p -= np.array([costs[n] for n in names])
    if image_proba is not None:
        log_p += IMAGE_WEIGHT * np.log(np.clip([image_proba[n] for n in names], 1e-6, 1.0))
    if from_pose is None and image_proba is None:
        raise ValueError("exercise recognition needs the lifter's joints or the image model's probabilities")
    scores = _softmax(dict(zip(names, (-log_p).tolist())))
    best = max(scores, key=scores.get)
    return Recognition(best, scores[best], scores, from_pose, image_proba, outside,
                       not_a_lift(summary) if from_pose is not None else None)

"""Captions of synthetic frames in words, from the pose's measurements only (never from the fault's
name): what pretraining contrasts images with, and the phrases the small tokenizer learns whole."""
from __future__ import annotations

import numpy as np

from formclip_pipeline.catalog import VIEWS, exercise_names, get_exercise

KNEE_BINS = [(75, "knees deeply bent"), (110, "knees bent past ninety"), (150, "knees half bent")], "legs straight"
LEAN_BINS = [(12, "torso upright"), (35, "torso leaning a little"), (60, "torso leaning forward")], "torso nearly horizontal"
BACK_BINS = [(10, "neutral back"), (22, "slightly rounded back")], "rounded back"
ELBOW_BINS = [(70, "elbows sharply bent"), (120, "elbows bent"), (155, "elbows nearly straight")], "elbows locked"
BAR_BINS = [(0.2, "bar on the floor"), (0.5, "bar at the knees"), (0.65, "bar at the hips"),
            (0.85, "bar at the chest"), (1.0, "bar at the shoulders")], "bar overhead"
PHASES = ["at the start", "at the end of the rep", "coming back up", "going down", "returning", "pulling", "pressing"]
OTHER_PHRASES = ["lying on a bench", "leaning back", "knees caving inward", "knees over toes", "and forward",
                 "elbows flared wide"]


def caption_phrases() -> list[str]:
    """Every phrase a caption can hold, so the tokenizer learns them as whole words."""
    bins = [KNEE_BINS, LEAN_BINS, BACK_BINS, ELBOW_BINS, BAR_BINS]
    phrases = [name for edges, last in bins for name in [*(n for _, n in edges), last]]
    names = [get_exercise(n).display_name.lower() for n in exercise_names()]
    return names + phrases + PHASES + OTHER_PHRASES + [f"{v} view" for v in VIEWS]


def _bin(value: float, bins) -> str:
    edges, last = bins
    for edge, name in edges:
        if value < edge:
            return name
    return last


def caption(exercise: str, depth: float, ascending: bool, m: dict, view: str, body_height: float) -> str:
    """Describe a pose in words, from measurements only (never from the fault's name)."""
    name = get_exercise(exercise).display_name.lower()
    phase = "at the start" if depth < 0.1 else "at the end of the rep" if depth > 0.9 else \
        ("coming back up" if ascending else "going down") if exercise in ("squat", "deadlift", "bench_press") else \
        ("returning" if ascending else "pulling" if exercise == "row" else "pressing")
    knees = _bin(m["knee_angle"], KNEE_BINS)
    lean = _bin(abs(m["torso_lean"]), LEAN_BINS)
    if exercise == "bench_press":
        lean = "lying on a bench"
    elif m["torso_lean"] < -8:
        lean = "leaning back"
    back = _bin(m["spine_flexion"], BACK_BINS)
    tracking = "knees caving inward" if m["knee_gap_ratio"] < 0.8 and exercise == "squat" else "knees over toes"
    elbows = _bin(m["elbow_angle"], ELBOW_BINS)
    parts = [name, phase, knees, lean, back, tracking, elbows]
    if "bar_height" in m:
        bar = _bin(m["bar_height"] / body_height, BAR_BINS)
        if m.get("bar_forward", 0.0) > 0.28 and exercise in ("deadlift", "ohp"):
            bar += " and forward"
        parts.append(bar)
    if exercise == "bench_press" and m.get("shoulder_abduction", 0) > 70:
        parts.append("elbows flared wide")
    parts.append(f"{view} view")
    return ", ".join(parts)


def drop_attributes(full: str, rng: np.random.Generator) -> str:
    """A shorter caption: web captions name some of what is in a picture, rarely all of it.

    Half the time the caption stays whole; otherwise each attribute after the exercise's name is
    kept with probability 1/2 (the name itself with 9/10), so short prompts such as the bare
    exercise name, which zero-shot recognition uses, are in the training distribution.
    """
    if rng.random() < 0.5:
        return full
    parts = full.split(", ")
    kept = [parts[0]] if rng.random() < 0.9 else []
    kept += [p for p in parts[1:] if rng.random() < 0.5]
    return ", ".join(kept or parts[:1])

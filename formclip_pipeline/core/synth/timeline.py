"""When each rep happens: idle lead-in, sets of reps with tempo variation, rest pauses, idle tail.

The timeline is continuous; `sample` turns it into one (depth, ascending, fault, label) per frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from formclip_pipeline.catalog import GOOD_CLASS

IDLE = "idle"
BOUNCY_FAULTS = {"bouncing", "bounce_off_chest"}


@dataclass(frozen=True)
class Rep:
    set_number: int
    rep_number: int  # 1-based within its set
    start_s: float
    end_s: float
    fault: str | None


@dataclass
class Timeline:
    duration_s: float
    reps: list[Rep] = field(default_factory=list)

    def rep_at(self, t: float) -> Rep | None:
        for rep in self.reps:
            if rep.start_s <= t < rep.end_s:
                return rep
        return None


def _ease(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * x)


def rep_depth(u: float, bouncy: bool) -> tuple[float, bool]:
    """Depth and direction at fraction `u` of one rep."""
    if bouncy:
        down = 0.36
        if u < down:
            return (u / down) ** 1.7, False  # accelerating drop
        x = (u - down) / (1 - down)
        rebound = 0.07 * math.sin(2.5 * 2 * math.pi * x) * math.exp(-6 * x)
        return max(0.0, min(1.0, 1 - _ease(x) - rebound)), True
    down, pause = 0.44, 0.08
    if u < down:
        return _ease(u / down), False
    if u < down + pause:
        return 1.0, False
    return 1 - _ease((u - down - pause) / (1 - down - pause)), True


def _faulty_reps(rng: np.random.Generator, n: int) -> list[bool]:
    """Which reps of a set show the fault: all of them, or a contiguous run of most of them."""
    if n <= 2 or rng.random() < 0.5:
        return [True] * n
    run = int(rng.integers(math.ceil(0.6 * n), n + 1))
    start = int(rng.integers(0, n - run + 1))
    return [start <= i < start + run for i in range(n)]


def plan(rng: np.random.Generator, form_class: str, sets: tuple[int, int] = (1, 3),
         reps: tuple[int, int] = (3, 12)) -> Timeline:
    fault = None if form_class == GOOD_CLASS else form_class
    n_sets = int(rng.integers(sets[0], sets[1] + 1))
    base_rep_s = float(rng.uniform(1.8, 3.0))
    t = float(rng.uniform(0.8, 2.0))
    out: list[Rep] = []
    for s in range(1, n_sets + 1):
        n_reps = int(rng.integers(reps[0], reps[1] + 1))
        shows = _faulty_reps(rng, n_reps) if fault else [False] * n_reps
        for r in range(n_reps):
            dur = base_rep_s * float(rng.uniform(0.85, 1.15))
            if fault in BOUNCY_FAULTS and shows[r]:
                dur *= 0.75
            out.append(Rep(s, r + 1, round(t, 4), round(t + dur, 4), fault if shows[r] else None))
            t += dur
        if s < n_sets:
            t += float(rng.uniform(3.0, 6.0))
    t += float(rng.uniform(0.8, 2.0))
    return Timeline(duration_s=t, reps=out)


@dataclass(frozen=True)
class FrameState:
    depth: float
    ascending: bool
    fault: str | None
    label: str
    rep: Rep | None


def sample(timeline: Timeline, fps: float, sway_phase: float = 0.0) -> list[FrameState]:
    n = int(round(timeline.duration_s * fps))
    states = []
    for i in range(n):
        t = i / fps
        rep = timeline.rep_at(t)
        if rep is None:
            # Breathing sway keeps idle frames from being pixel-identical.
            depth = 0.015 * (1 + math.sin(2 * math.pi * 0.3 * t + sway_phase))
            states.append(FrameState(depth, False, None, IDLE, None))
            continue
        u = (t - rep.start_s) / (rep.end_s - rep.start_s)
        depth, asc = rep_depth(u, bouncy=rep.fault in BOUNCY_FAULTS)
        states.append(FrameState(depth, asc, rep.fault, rep.fault or GOOD_CLASS, rep))
    return states

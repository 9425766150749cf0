"""The exercise catalogue: exercises, form classes, prompts, templates, issues and advice.

Everything that names an exercise or a fault reads it from `exercise_definitions.json`, the seed
guide's multi-class shape, so adding an exercise or a fault is a change to that one file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from formclip_pipeline.core import environment

GOOD_CLASS = "good_form"
BAD_CLASS = "bad_form"
DEFINITIONS_PATH = Path(__file__).with_name("exercise_definitions.json")
VIEWS = ("side", "front", "oblique")


@dataclass(frozen=True)
class FormClass:
    name: str
    description: str
    templates: tuple[str, ...]
    issue: str | None
    recommendation: str
    views: tuple[str, ...]  # camera views from which a coach can see this class
    measures: tuple[str, ...] = ()  # the pose measures (core.measures) by which a coach judges it

    @property
    def is_fault(self) -> bool:
        return self.name != GOOD_CLASS


@dataclass(frozen=True)
class Check:
    """A coach's line for one fault: the value a rep reads (core.checks names each), the line past
    which it is the fault, the line within which it is clearly not, and the views that read it.
    Between the two lines a rep is borderline: the check says neither."""
    name: str
    fault: str  # a form class of the exercise, or a fault of its own (then with its issue and advice)
    value: str
    fault_when: str  # "above" or "below": which side of `fault_at` is the fault
    fault_at: float
    clear_at: float
    views: tuple[str, ...]
    source: str
    issue: str | None = None
    recommendation: str | None = None
    # False for a check whose reading can show the fault but not rule it out: its "clear" leaves the
    # fault to the learned head.
    clears: bool = True

    def status(self, value: float) -> str:
        """"fault", "borderline", "clear", or "unread" for a NaN."""
        if value != value:
            return "unread"
        sign = 1.0 if self.fault_when == "above" else -1.0
        if sign * (value - self.fault_at) >= 0:
            return "fault"
        return "clear" if sign * (value - self.clear_at) <= 0 else "borderline"

    def beyond(self, value: float) -> float:
        """How far past the fault line the value lies, in widths of the borderline band (negative
        inside it): 1 is as far past the line as the clear line lies before it."""
        sign = 1.0 if self.fault_when == "above" else -1.0
        return sign * (value - self.fault_at) / abs(self.fault_at - self.clear_at)


@dataclass(frozen=True)
class Exercise:
    name: str
    display_name: str
    classes: tuple[FormClass, ...]
    primary_measure: str = "knee_flexion"  # the measure that goes through each rep, from start to far end
    # What the lift looks like in the joints, whatever the form: (video summary of a measure, its
    # usual low, its usual high), e.g. ("wrist_height_median", -2.0, -0.8) for a bar held in hanging
    # arms. Exercise recognition reads it (core.recognise).
    pose_signature: tuple[tuple[str, float, float], ...] = ()
    checks: tuple[Check, ...] = ()  # coaches' lines for faults, judged on each rep (core.checks)

    @property
    def judged_by(self) -> set[str]:
        """The measures the form classes name: what a coach judges this lift by."""
        return {m for c in self.classes for m in c.measures}

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def fault_names(self) -> list[str]:
        return [c.name for c in self.classes if c.is_fault]

    def form_class(self, name: str) -> FormClass:
        for c in self.classes:
            if c.name == name:
                return c
        raise KeyError(f"{name!r} is not a form class of {self.name}; known: {', '.join(self.class_names)}")

    def fault_issue(self, fault: str) -> str:
        """What a fault is called in a report, for a form class or a fault only a check names."""
        if fault in self.class_names:
            return self.form_class(fault).issue or fault.replace("_", " ")
        check = next((c for c in self.checks if c.fault == fault and c.issue), None)
        return check.issue if check else fault.replace("_", " ")

    def fault_advice(self, fault: str) -> str:
        if fault in self.class_names:
            return self.form_class(fault).recommendation
        check = next((c for c in self.checks if c.fault == fault and c.recommendation), None)
        return check.recommendation if check else ""

    def labels(self, multi_class: bool) -> list[str]:
        """Class labels for a classifier: the catalogue's classes, or good_form vs bad_form."""
        return self.class_names if multi_class else [GOOD_CLASS, BAD_CLASS]

    def prompts(self, multi_class: bool) -> list[str]:
        """One text prompt per label, in `labels` order; the text head of the classifier."""
        if multi_class:
            return [c.description for c in self.classes]
        bad = "; ".join(c.issue for c in self.classes if c.is_fault)
        return [self.form_class(GOOD_CLASS).description, f"{self.display_name.lower()} with bad form: {bad}"]


def binary_label(form_class: str) -> str:
    return GOOD_CLASS if form_class == GOOD_CLASS else BAD_CLASS


def to_label(form_class: str, multi_class: bool) -> str:
    return form_class if multi_class else binary_label(form_class)


def called(proba, labels: list[str], cut: float = 0.5):
    """The label each row of probabilities over `labels` calls, as indices: good form where its
    probability reaches `cut` (a half, once a model's own cut is taken in), else the likeliest of the others. With good and bad form as the
    labels this is the likelier; with named faults it keeps the good-or-bad call of the binary
    verdict, which a fault's share alone would not (good form at 0.40 against four faults at 0.15
    is a lift more likely faulty than not) and names the fault."""
    proba = np.atleast_2d(np.asarray(proba, dtype=float))
    if GOOD_CLASS not in labels or len(labels) < 2:
        return proba.argmax(1)
    good = labels.index(GOOD_CLASS)
    faults = proba.copy()
    faults[:, good] = -np.inf
    return np.where(proba[:, good] >= cut, good, faults.argmax(1))


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Exercise]:
    raw = json.loads(Path(path).read_text())
    exercises: dict[str, Exercise] = {}
    for name, spec in raw.items():
        classes = []
        for cname, cspec in spec["classes"].items():
            classes.append(
                FormClass(
                    name=cname,
                    description=cspec["description"],
                    templates=tuple(cspec.get("templates") or [cspec["description"]]),
                    issue=cspec.get("issue"),
                    recommendation=cspec.get("recommendation", ""),
                    views=tuple(cspec.get("views") or VIEWS),
                    measures=tuple(cspec.get("measures") or ()),
                )
            )
        if GOOD_CLASS not in [c.name for c in classes]:
            raise ValueError(f"exercise {name!r} in {path} has no {GOOD_CLASS!r} class")
        checks = tuple(_check(name, c, [k.name for k in classes], path) for c in spec.get("checks") or ())
        exercises[name] = Exercise(name=name, display_name=spec.get("display_name", name), classes=tuple(classes),
                                   checks=checks,
                                   primary_measure=spec.get("primary_measure", "knee_flexion"),
                                   pose_signature=tuple((k, float(lo), float(hi)) for k, (lo, hi)
                                                        in (spec.get("pose_signature") or {}).items()))
    return exercises


def _check(exercise: str, spec: dict, class_names: list[str], path: str) -> Check:
    where = f"check {spec.get('name')!r} of {exercise!r} in {path}"
    if spec.get("fault_when") not in ("above", "below"):
        raise ValueError(f"{where}: fault_when must be 'above' or 'below'")
    if spec["fault"] not in class_names and not (spec.get("issue") and spec.get("recommendation")):
        raise ValueError(f"{where}: {spec['fault']!r} is not a form class, so the check needs its own issue and "
                         f"recommendation")
    check = Check(name=spec["name"], fault=spec["fault"], value=spec["value"], fault_when=spec["fault_when"],
                  fault_at=float(spec["fault_at"]), clear_at=float(spec["clear_at"]),
                  views=tuple(spec.get("views") or VIEWS), source=spec.get("source", ""),
                  issue=spec.get("issue"), recommendation=spec.get("recommendation"),
                  clears=bool(spec.get("clears", True)))
    if check.status(check.clear_at) != "clear" or check.fault_at == check.clear_at:
        raise ValueError(f"{where}: clear_at must lie on the other side of fault_at from the fault")
    return check


def catalogue() -> dict[str, Exercise]:
    """The catalogue in force: FORMCLIP_DEFINITIONS overrides the packaged file."""
    return _load(str(environment.definitions_path(DEFINITIONS_PATH)))


def exercise_names() -> list[str]:
    return list(catalogue())


def get_exercise(name: str) -> Exercise:
    cat = catalogue()
    if name not in cat:
        raise KeyError(f"unknown exercise {name!r}; known: {', '.join(cat)}")
    return cat[name]

"""Which way the camera looks at the lifter, and which of the lift's faults that view can show.

A fault shows from some views and hides from others. Knees caving in move sideways, along the line
a camera at the lifter's side looks down; depth, a rounded back or a bar drifting forward move along
the line of a camera in front. The catalogue names the views each class shows from
(exercise_definitions.json, "views"). This module reads the view from the lifter's pose, so that a
report can say which faults it saw poorly and how to film them, rather than vouch for good form where
the camera could not see a fault.

The view is read from BlazePose's 3-D landmarks: how far the line through the hips and the line
through the shoulders turn out of the image plane. On the cached benchmark videos (112-140 a lift),
the median turn per video was 1-17 degrees for every upright lift filmed from the front, 10-65
from 45 degrees and 24-87 from the side (docs/benchmarks.md). The cuts below only claim the front or
the side where the two barely overlap; everything between is "oblique", which shows every fault in
the catalogue. A lifter lying down reads worst (bench presses from the feet's end spread over 4-86
degrees), as BlazePose reads that lifter worst in every other way too.
"""
from __future__ import annotations

import numpy as np

from formclip_pipeline.catalog import GOOD_CLASS, VIEWS, get_exercise
from formclip_pipeline.core.measures import FRONTAL
from formclip_pipeline.core.pose import INDEX

FACING_BELOW_DEG = 15.0  # a median turn under this: filmed from the front (or from behind)
SIDE_ON_ABOVE_DEG = 60.0  # over this: filmed from the side
MIN_FRAMES = 3  # frames with the lifter found, fewer and the view is not read

VIEW_WORDS = {"front": "from the front or behind", "side": "from the side", "oblique": "at about 45 degrees"}


def body_turn(world: np.ndarray) -> float | None:
    """The lifter's turn away from square to the camera, in degrees: 0 facing the camera (or with the
    back to it), 90 side-on. The median over frames and over the hip and shoulder lines of their angle
    out of the image plane; None when the lifter was found in fewer than MIN_FRAMES frames.

    `world` is N x 33 x 3 BlazePose world landmarks (x right, y down, z away from the camera), NaN
    where no lifter was found."""
    angles = []
    for part in ("hip", "shoulder"):
        across = world[:, INDEX[f"left_{part}"]] - world[:, INDEX[f"right_{part}"]]
        angles.append(np.degrees(np.arctan2(np.abs(across[:, 2]), np.abs(across[:, 0]))))
    stacked = np.concatenate(angles)
    read = stacked[np.isfinite(stacked)]
    return float(np.median(read)) if len(read) >= 2 * MIN_FRAMES else None


def view_of(turn: float | None) -> str | None:
    """"front", "side" or "oblique" for a body turn; None when it was not read."""
    if turn is None:
        return None
    return "front" if turn < FACING_BELOW_DEG else "side" if turn > SIDE_ON_ABOVE_DEG else "oblique"


def measures_read_poorly(view: str | None) -> tuple[str, ...]:
    """The measures this view reads poorly. From the side, the knees' gap and the elbows' flare move
    along the camera's line of sight, and only BlazePose's rough depth estimate reads them (a good
    side-on squat of the real development clips read a knee gap of 0.73, knees well inside the feet).
    The bar's distance ahead of the mid-foot is left unread from the front by the measure itself."""
    return FRONTAL if view == "side" else ()


def hidden_classes(exercise: str, view: str | None) -> list[str]:
    """The exercise's form classes that the catalogue does not list this view for: coaches judge
    them from other views, and the renderer films them only from those (none when the view is
    unknown: nothing is claimed then)."""
    if view is None:
        return []
    ex = get_exercise(exercise)
    return [c for c in ex.class_names if view not in ex.form_class(c).views]


def _listed(words: list[str], joiner: str = "or") -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {joiner} " + words[-1]


def camera_view(exercise: str, world: np.ndarray) -> dict:
    """The report's camera section: the view, the turn it was read from, which faults that view
    shows poorly and a sentence saying so, with the views that would show them."""
    turn = body_turn(world)
    view = view_of(turn)
    if view is None:
        return {"view": None, "body_turn_deg": None,
                "note": "The camera's view was not read (the lifter was found in too few frames), "
                        "so the report cannot say which faults it shows poorly."}
    ex = get_exercise(exercise)
    hidden = hidden_classes(exercise, view)
    out = {"view": view, "body_turn_deg": round(turn, 1), "shows_poorly": hidden}
    seen_as = f"Filmed {VIEW_WORDS[view]} (the lifter turned {turn:.0f} degrees from the camera)"
    if not hidden:
        out["note"] = f"{seen_as}: this view shows every fault the model knows."
        return out
    better = [v for v in VIEWS if v != view and all(v in ex.form_class(c).views for c in hidden)]
    issues = [ex.form_class(c).issue for c in hidden]
    out["note"] = (f"{seen_as}: this view shows {_listed(issues, 'and')} poorly, so a verdict on them is a guess"
                   + (f"; film {_listed([VIEW_WORDS[v] for v in better])} to have them judged." if better else "."))
    return out


def qualify(result: dict, exercise: str, camera: dict) -> dict:
    """The scored result told what its camera sees poorly: an issue of a class the view hides is
    marked and says so, a good-form verdict lists the faults it cannot vouch for, a verdict naming
    such a fault is not confident whatever its probability, and the camera's note joins the
    recommendations."""
    hidden = camera.get("shows_poorly") or []
    if not hidden:
        return result
    ex = get_exercise(exercise)
    for st in result["sets"]:
        for issue in st["issues"]:
            if issue["form_class"] in hidden:
                issue["view_hides_it"] = True
                issue["issue"] += (f"; a view {VIEW_WORDS[camera['view']]} shows this poorly, "
                                   f"so check it on another angle")
    verdict = result.get("verdict", {})
    if verdict.get("label") == GOOD_CLASS:
        verdict["shown_poorly"] = [ex.form_class(c).issue for c in hidden]
    elif verdict.get("label") in hidden and verdict.get("confident"):
        verdict.update(confident=False, reason=f"{ex.form_class(verdict['label']).issue} shows poorly from "
                                                f"{VIEW_WORDS[camera['view']]}")
    result["recommendations"].append(camera["note"])
    return result

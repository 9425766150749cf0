"""Reading the camera's view from the lifter's pose, and what a report says about faults that view shows poorly."""
import numpy as np
import pytest

from formclip_pipeline.core import views as V
from formclip_pipeline.core.pose import INDEX, N_LANDMARKS, stack_landmarks


def _shoulders_and_hips(yaw_deg: float, frames: int = 5) -> np.ndarray:
    """World landmarks of a lifter turned by yaw about the vertical (0: facing the camera, 90: side-on),
    hips 0.3 m and shoulders 0.4 m wide; every other landmark unread."""
    a = np.radians(yaw_deg)
    world = np.full((frames, N_LANDMARKS, 3), np.nan, np.float32)
    for part, half, height in (("hip", 0.15, 0.0), ("shoulder", 0.2, -0.5)):
        for side, x in (("left", half), ("right", -half)):
            world[:, INDEX[f"{side}_{part}"]] = (x * np.cos(a), height, -x * np.sin(a))
    return world


@pytest.mark.parametrize("yaw, turn, view", [(0, 0, "front"), (180, 0, "front"), (10, 10, "front"),
                                             (40, 40, "oblique"), (-45, 45, "oblique"), (90, 90, "side"),
                                             (-70, 70, "side"), (110, 70, "side")])
def test_the_body_turn_is_how_far_the_lifter_stands_from_square_to_the_camera(yaw, turn, view):
    """Facing the camera or with the back to it reads 0; either side, 90."""
    assert V.body_turn(_shoulders_and_hips(yaw)) == pytest.approx(turn, abs=0.01)
    assert V.view_of(V.body_turn(_shoulders_and_hips(yaw))) == view


def test_the_view_is_not_read_without_the_lifter():
    world = _shoulders_and_hips(90, frames=10)
    world[V.MIN_FRAMES - 1:] = np.nan
    assert V.body_turn(world) is None
    camera = V.camera_view("squat", world)
    assert camera["view"] is None and "not read" in camera["note"] and "shows_poorly" not in camera


def test_a_view_names_the_faults_it_shows_poorly_and_the_views_that_show_them():
    front = V.camera_view("squat", _shoulders_and_hips(3))
    assert front["view"] == "front"
    assert front["shows_poorly"] == ["partial_depth", "chest_collapse", "bouncing"]
    assert "shallow depth" in front["note"] and "film from the side or at about 45 degrees" in front["note"]
    side = V.camera_view("squat", _shoulders_and_hips(85))
    assert side["shows_poorly"] == ["knee_valgus"] and "from the front or behind" in side["note"]
    oblique = V.camera_view("squat", _shoulders_and_hips(45))
    assert oblique["shows_poorly"] == [] and "every fault" in oblique["note"]


def _scored(form_class: str, verdict: str, confident: bool = False) -> dict:
    issue = {"timestamp": "0:03", "issue": "Knees caving in on rep 2", "form_class": form_class, "reps": [2]}
    return {"sets": [{"issues": [issue] if form_class != "good_form" else []}], "recommendations": ["Keep at it."],
            "verdict": {"label": verdict, "confidence": 0.8, "confident": confident}}


def test_a_report_marks_what_its_view_shows_poorly_and_keeps_the_rest():
    side = V.camera_view("squat", _shoulders_and_hips(85))
    flagged = V.qualify(_scored("knee_valgus", "knee_valgus", confident=True), "squat", side)
    assert not flagged["verdict"]["confident"] and "from the side" in flagged["verdict"]["reason"]
    issue = flagged["sets"][0]["issues"][0]
    assert issue["view_hides_it"] and "shows this poorly" in issue["issue"]
    assert flagged["recommendations"] == ["Keep at it.", side["note"]]
    seen = V.qualify(_scored("partial_depth", "partial_depth", confident=True), "squat", side)
    assert "view_hides_it" not in seen["sets"][0]["issues"][0] and "shown_poorly" not in seen["verdict"]
    assert seen["verdict"]["confident"]
    good = V.qualify(_scored("good_form", "good_form"), "squat", V.camera_view("squat", _shoulders_and_hips(0)))
    assert good["verdict"]["shown_poorly"] == ["shallow depth", "chest collapsing forward",
                                               "bouncing out of the bottom"]
    oblique = V.camera_view("squat", _shoulders_and_hips(45))
    untouched = V.qualify(_scored("knee_valgus", "knee_valgus"), "squat", oblique)
    assert untouched == _scored("knee_valgus", "knee_valgus")


def test_blazepose_tells_the_synthetic_lifter_filmed_from_the_front_from_one_filmed_side_on(squat_frames, squat_poses):
    """Each rendered squat's view, read from BlazePose's landmarks: the front never reads as the side or
    the side as the front, and the turn grows from the front through 45 degrees to the side."""
    view_of_video = squat_frames.drop_duplicates("video_sha256").set_index("video_sha256")["view"]
    turns = {}
    for sha, poses in squat_poses.groupby("video_sha256"):
        turns[sha] = V.body_turn(stack_landmarks(poses)[1])
    read = {sha: V.view_of(t) for sha, t in turns.items()}
    by_view = {v: [turns[s] for s in view_of_video.index[view_of_video == v]] for v in ("front", "oblique", "side")}
    assert all(len(t) for t in by_view.values()), by_view
    assert all(read[s] != "side" for s in view_of_video.index[view_of_video == "front"])
    assert all(read[s] != "front" for s in view_of_video.index[view_of_video == "side"])
    assert np.median(by_view["front"]) < np.median(by_view["oblique"]) < np.median(by_view["side"])


def test_measures_a_view_reads_poorly_are_not_cited_against_good_form():
    """From the side the knees' gap is read from BlazePose's depth guess: a report filmed side-on cites
    the depth that lies outside the good-form range, not the gap; from the front it cites both."""
    from formclip_pipeline.core import good_form

    names = ["knee_gap_ratio_median", "knee_flexion_high"]
    head = {good_form.LOW: np.array([0.9, 130.0]), good_form.HIGH: np.array([1.1, 140.0]),
            good_form.COUNT: np.array([6.0])}
    video = {"knee_gap_ratio_median": 0.6, "knee_flexion_high": 115.0}
    assert V.measures_read_poorly("side") == ("knee_gap_ratio", "shoulder_abduction")
    side = good_form.outside(head, video, names, read_poorly=V.measures_read_poorly("side"))
    front = good_form.outside(head, video, names, read_poorly=V.measures_read_poorly("front"))
    assert [c["feature"] for c in side["outside"]] == ["knee_flexion_high"]
    assert {c["feature"] for c in front["outside"]} == set(names)

"""Exercise recognition from the joints and the image together."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from formclip_pipeline.catalog import exercise_names, get_exercise
from formclip_pipeline.core.recognise import (MAX_COST, UNREAD_COST, pose_signature_costs, recognise,
                                              recognition_summary)


def _typical(exercise: str) -> dict[str, float]:
    """A summary in the middle of every range of the exercise's signature."""
    return {key: (lo + hi) / 2 for key, lo, hi in get_exercise(exercise).pose_signature}


@pytest.mark.parametrize("exercise", exercise_names())
def test_a_lift_in_the_middle_of_its_signature_is_recognised_from_the_joints(exercise):
    rec = recognise(_typical(exercise), lifter_found=1.0, image_proba=None)
    assert rec.exercise == exercise and rec.confidence > 0.5
    assert rec.outside[exercise] == [] and rec.from_image is None


def test_one_badly_read_joint_costs_at_most_max_cost_and_an_unread_one_costs_the_same_for_all():
    summary = _typical("squat")
    summary["knee_flexion_range"] = 900.0  # a tracking glitch
    costs, outside = pose_signature_costs(summary)
    assert costs["squat"] == pytest.approx(MAX_COST)
    assert any(m.startswith("knee_flexion_range 900.0") for m in outside["squat"])
    costs, _ = pose_signature_costs({})
    assert all(c == pytest.approx(UNREAD_COST * len(get_exercise(e).pose_signature)) for e, c in costs.items())


def _hinge_reps(hands_at_depth: float, hands_standing: float, misread_high: int = 0) -> pd.DataFrame:
    """Four reps, 8 frames a second, of a lift that bends hip and knees alike and leans the trunk to
    60 degrees, with the hands (wrist height, in torso lengths above the shoulders) where the lift
    holds them at the bottom and standing, and `misread_high` standing frames whose wrists were read
    at the shoulders."""
    t = np.arange(0, 12, 1 / 8)
    bend = 0.5 - 0.5 * np.cos(2 * np.pi * t / 3)  # 0 standing, 1 at the bottom of each rep
    wrist = hands_standing + (hands_at_depth - hands_standing) * bend
    standing = np.flatnonzero(bend < 0.05)
    wrist[standing[:misread_high]] = 0.1
    return pd.DataFrame({"hip_flexion": 10 + 110 * bend, "knee_flexion": 5 + 100 * bend,
                         "trunk_lean": 5 + 55 * bend, "elbow_flexion": np.full(len(t), 10.0),
                         "wrist_height": wrist}), t


def test_where_the_hands_are_at_the_bottom_tells_a_deadlift_from_a_squat_whatever_a_few_misread_frames_say():
    deadlift, t = _hinge_reps(hands_at_depth=-1.05, hands_standing=-0.95, misread_high=6)
    squat, _ = _hinge_reps(hands_at_depth=0.0, hands_standing=-0.1)
    for measures, lift in ((deadlift, "deadlift"), (squat, "squat")):
        summary = recognition_summary(measures, t)
        assert summary["wrist_height_high"] > -0.2  # the misread frames reach the video's highest wrist
        rec = recognise(summary, 1.0, None)
        assert rec.exercise == lift, (lift, rec.scores, rec.outside)


def test_the_image_weighs_in_and_alone_still_answers():
    squat, image = _typical("squat"), {e: 0.02 for e in exercise_names()}
    image["ohp"] = 1 - 0.02 * (len(image) - 1)
    both = recognise(squat, 1.0, image)
    assert both.exercise == "squat" and both.from_image == image
    assert both.scores["ohp"] > recognise(squat, 1.0, None).scores["ohp"]
    assert recognise(squat, 0.1, image).exercise == "ohp"  # the lifter barely tracked: the image decides
    with pytest.raises(ValueError, match="needs the lifter's joints or the image"):
        recognise(None, 0.0, None)


def test_each_rendered_lift_is_recognised_from_its_joints(lifter_per_exercise):
    from formclip_pipeline.core.measures import smoothed_measures
    from formclip_pipeline.core.pose import stack_landmarks
    from formclip_pipeline.core.sampling import sample_video
    from formclip_pipeline.core.settings import ScoringSettings

    for exercise, video in lifter_per_exercise.items():
        rows: list[dict] = []
        times, _, _ = sample_video(video, ScoringSettings(), poses_out=rows)
        image, world, detected = stack_landmarks(pd.DataFrame(rows))
        rec = recognise(recognition_summary(smoothed_measures(image, world), times), float(np.mean(detected)), None)
        assert rec.exercise == exercise and rec.not_a_lift is None, (exercise, rec.scores, rec.outside, rec.not_a_lift)


@pytest.mark.parametrize("exercise", exercise_names())
def test_a_lift_in_the_middle_of_its_signature_is_a_lift(exercise):
    assert recognise(_typical(exercise), lifter_found=1.0, image_proba=None).not_a_lift is None


def test_a_held_pose_is_no_lift_whatever_its_shape():
    """An overhead press's shape with nothing moving (a yoga pose, arms up): every lift of the
    catalogue is done in reps, so a video whose joints hold still is none of them."""
    held = {**_typical("ohp"), **{key: 1.0 for e in exercise_names() for key, _, _ in get_exercise(e).pose_signature
                                  if key.endswith("_range")}}
    rec = recognise(held, lifter_found=1.0, image_proba=None)
    assert rec.not_a_lift.startswith("the lifter holds still") and rec.to_dict()["not_a_lift"] == rec.not_a_lift


def _pushup(body, depth: float):
    """A push-up as the renderer's kinematics would pose one (0: arms straight, 1: chest at the floor):
    face down on hands and toes, the body one straight line from the ankles to the shoulders. No lift
    of the catalogue is posed so, which is the point."""
    import math

    from formclip_pipeline.core.synth import kinematics as K

    line = body.shank + body.thigh + body.lumbar + body.thoracic
    ankle_y, top_y, bottom_y, ankle_z = 0.1, 0.06 + body.arm * 0.97, 0.14 + body.torso_depth, -0.9
    hand_z = ankle_z + line * math.cos(math.asin((top_y - ankle_y) / line))
    rise = math.asin((top_y + (bottom_y - top_y) * depth - ankle_y) / line)
    along = np.array([0.0, math.sin(rise), math.cos(rise)])  # from the ankles to the shoulders
    joints = {}
    for side, sign in (("l", 1.0), ("r", -1.0)):
        ankle = np.array([sign * body.hip_width / 2, ankle_y, ankle_z])
        joints.update({f"ankle_{side}": ankle, f"knee_{side}": ankle + body.shank * along,
                       f"hip_{side}": ankle + (body.shank + body.thigh) * along,
                       f"toe_{side}": ankle + np.array([0.0, -0.06, -0.02]),
                       f"heel_{side}": ankle - 0.1 * along + np.array([0.0, 0.05, 0.0])})
    pelvis = (joints["hip_l"] + joints["hip_r"]) / 2
    neck = pelvis + (body.lumbar + body.thoracic) * along
    joints.update(pelvis=pelvis, mid_spine=pelvis + body.lumbar * along, neck=neck,
                  head=neck + (body.neck + body.head_radius) * along)
    for side, sign in (("l", 1.0), ("r", -1.0)):
        shoulder = neck + np.array([sign * body.shoulder_width / 2, -0.03, 0.0])
        wrist = np.array([sign * body.shoulder_width * 0.6, 0.06, hand_z])
        joints.update({f"shoulder_{side}": shoulder, f"wrist_{side}": wrist,
                       f"elbow_{side}": K.two_link(shoulder, wrist, body.upper_arm, body.forearm,
                                                    np.array([sign * 0.5, 0.3, -1.0]))})
    return K.Pose(joints, None)


def _render_movement(path, depth_at, seconds: float = 8.0, fps: int = 15):
    """A side-on clip of `_pushup` at depth_at(t), drawn by the synthetic renderer."""
    from formclip_pipeline.core.synth import kinematics as K
    from formclip_pipeline.core.synth import render
    from formclip_pipeline.core.video import VideoWriter

    rng = np.random.default_rng(3)
    body = K.Body.sample(rng)
    scene = render.make_scene(rng, "bench_press", "side", body, size=(640, 360))  # framed for a lifter lying low
    with VideoWriter(path, *scene.size, fps) as writer:
        for i in range(int(seconds * fps)):
            writer.write(render.draw_pose(scene, body, _pushup(body, depth_at(i / fps)), np.zeros(3), rng))
    return path


@pytest.mark.parametrize("movement, depth_at, why", [
    ("push-up", lambda t: 0.5 - 0.5 * np.cos(np.pi * (t - 1.0)) if 1.0 < t < 7.0 else 0.0, "in the shape of no"),
    ("plank", lambda t: 0.0, "holds still")], ids=["push-up", "plank"])
def test_score_says_a_movement_outside_the_catalogue_is_no_lift_it_knows(movement, depth_at, why, tmp_path):
    """Without --exercise, a push-up (recognised as a row at 84-95% before) or a plank gets one sentence
    saying it is none of the lifts FormClip knows, and no report: no verdict on the nearest lift."""
    video = _render_movement(tmp_path / f"{movement}.mp4", depth_at)
    exe = Path(sys.executable).with_name("formclip")
    res = subprocess.run([str(exe), "score", str(video), "--json", "r.json"], cwd=tmp_path, capture_output=True,
                         text=True, env={**os.environ, "FORMCLIP_HOME": str(tmp_path / "home")})
    assert res.returncode == 2 and not (tmp_path / "r.json").exists(), res.stderr
    said = res.stderr.strip().splitlines()
    assert len(said) == 1 and f"{movement}.mp4 shows none of the lifts FormClip knows" in said[0], res.stderr
    assert why in said[0] and said[0].endswith("pass --exercise")

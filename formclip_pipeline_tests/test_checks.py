"""The coach's checks: the catalogue's lines, how a rep is read against them, and how their word
meets the learned head's."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from formclip_pipeline.catalog import BAD_CLASS, GOOD_CLASS, Check, catalogue, get_exercise
from formclip_pipeline.core import checks as C
from formclip_pipeline.core.measures import MEASURE_NAMES
from formclip_pipeline.core.pose import INDEX, N_LANDMARKS
from formclip_pipeline.core.reps import RepSpan
from formclip_pipeline.core.score import verdict


def test_every_check_reads_a_known_value_and_names_a_fault_a_report_can_word():
    checked = 0
    for ex in catalogue().values():
        for check in ex.checks:
            checked += 1
            assert check.value in C.VALUES, check.name
            assert ex.fault_issue(check.fault) and ex.fault_advice(check.fault), check.name
            assert check.source, f"{ex.name} {check.name} says where its line comes from"
            assert check.status(check.clear_at) == "clear" and check.status(check.fault_at) == "fault"
    assert checked >= 8


def test_a_check_reads_fault_borderline_and_clear_on_either_side_of_its_lines():
    above = Check("lean", "chest_collapse", "trunk_lean_at_far_end", "above", 60.0, 55.0, ("side",), "s")
    assert [above.status(v) for v in (70, 60, 57, 55, 30, np.nan)] == \
        ["fault", "fault", "borderline", "clear", "clear", "unread"]
    below = Check("depth", "partial_depth", "hip_below_knee_deepest", "below", -0.3, -0.15, ("side",), "s")
    assert [below.status(v) for v in (-0.5, -0.2, 0.1)] == ["fault", "borderline", "clear"]
    assert above.beyond(65.0) == pytest.approx(1.0) and below.beyond(-0.45) == pytest.approx(1.0)


def test_a_catalogue_check_without_words_for_its_own_fault_is_refused_by_name(tmp_path, monkeypatch):
    from formclip_pipeline.catalog import DEFINITIONS_PATH

    raw = json.loads(DEFINITIONS_PATH.read_text())
    raw["squat"]["checks"].append({"name": "toes_out", "fault": "toes_in", "value": "trunk_lean_at_far_end",
                                   "fault_when": "above", "fault_at": 1, "clear_at": 0})
    path = tmp_path / "defs.json"
    path.write_text(json.dumps(raw))
    monkeypatch.setenv("FORMCLIP_DEFINITIONS", str(path))
    with pytest.raises(ValueError, match="toes_out.*not a form class.*issue and recommendation"):
        catalogue()


def _squat(n_reps: int, depth: list[float], heel_rise: float = 0.0, frames_per_rep: int = 16):
    """Measures and landmarks of a squatter seen from the side: knee flexion 0 -> 110 -> 0 each rep,
    hip below the knee reaching `depth[i]` on rep i, heels lifting by `heel_rise` shin lengths at the bottom."""
    n = n_reps * frames_per_rep
    phase = np.sin(np.pi * (np.arange(n) % frames_per_rep) / frames_per_rep)
    rep = np.arange(n) // frames_per_rep
    measures = pd.DataFrame({m: np.full(n, np.nan) for m in MEASURE_NAMES})
    measures["knee_flexion"] = 110 * phase
    measures["hip_flexion"] = 120 * phase
    measures["trunk_lean"] = 10 + 30 * phase
    measures["neck_trunk_angle"] = 15.0
    measures["hip_below_knee"] = -1.0 + (np.array(depth)[rep] + 1.0) * phase
    image = np.zeros((n, N_LANDMARKS, 3), np.float32)
    image[..., 2] = 1.0  # every landmark seen
    for side in ("left", "right"):
        image[:, INDEX[f"{side}_knee"], :2] = [300, 300]
        image[:, INDEX[f"{side}_ankle"], :2] = [300, 400]  # a shin 100 px long
        image[:, INDEX[f"{side}_foot_index"], :2] = [330, 410]
        image[:, INDEX[f"{side}_heel"], :2] = np.c_[np.full(n, 280), 410 - 100 * heel_rise * phase]
    spans = [RepSpan(1, i + 1, i * frames_per_rep, (i + 1) * frames_per_rep) for i in range(n_reps)]
    return measures, image, spans


def test_each_rep_is_read_against_the_line_and_the_lifters_own_standing_feet():
    measures, image, spans = _squat(4, depth=[0.1, 0.05, -0.5, -0.45], heel_rise=0.2)
    judged = C.judge_reps("squat", measures, image, spans, "side")
    depth = next(c for c in judged["checks"] if c["name"] == "depth")
    assert depth["reps_at_fault"] == [3, 4]
    assert [judged["reps"][i]["depth"][0] for i in range(4)] == ["clear", "clear", "fault", "fault"]
    heels = next(c for c in judged["checks"] if c["name"] == "heels_down")
    assert heels["status"] == "fault" and heels["value"] == pytest.approx(0.2, abs=0.05)
    assert "the line: over 0.1" in heels["text"]
    found = C.found_faults("squat", judged, 2)
    assert set(found) == {"partial_depth", "knees_forward_heels_up"} and min(found.values()) >= C.PLAIN_BEYOND
    assert set(C.found_faults("squat", judged, 0)) == {"knees_forward_heels_up"}
    flat = C.judge_reps("squat", *_squat(4, depth=[0.1] * 4, heel_rise=0.0), "side")
    assert C.found_faults("squat", flat) == {}


def test_a_view_that_cannot_see_a_fault_leaves_it_unjudged():
    measures, image, spans = _squat(3, depth=[-0.6] * 3)
    judged = C.judge_reps("squat", measures, image, spans, "front")
    assert next(c for c in judged["checks"] if c["name"] == "depth")["status"] == "unseen"
    assert "partial_depth" not in C.found_faults("squat", judged)
    assert C.fault_word("squat", C.statuses(judged))["partial_depth"] == "open"


def test_a_one_rep_clip_with_no_rhythm_is_read_as_one_stretch():
    measures, image, _ = _squat(1, depth=[-0.6])
    judged = C.judge_reps("squat", measures, image, [], "side")
    assert len(judged["stretches"]) == 1
    assert next(c for c in judged["checks"] if c["name"] == "depth")["status"] == "fault"
    still = measures.assign(knee_flexion=5.0)
    assert C.judge_reps("squat", still, image, [], "side")["stretches"] == []


def test_a_cleared_fault_goes_back_to_good_form_and_a_found_one_holds_its_share():
    classes = get_exercise("squat").class_names  # good, partial_depth, knee_valgus, chest_collapse, bouncing
    head = np.array([[0.1, 0.05, 0.05, 0.7, 0.1]])
    cleared = C.clear_faults(head, classes, {"chest_collapse": "clear", "partial_depth": "open"})
    assert cleared[0, 0] == pytest.approx(0.8) and cleared[0, 3] == 0.0
    assert cleared.sum() == pytest.approx(1.0)
    kept = C.clear_faults(head, classes, {"chest_collapse": "open"})
    assert np.allclose(kept, head)
    binary = np.array([[0.9, 0.1]])
    held = C.hold_faults(binary, [GOOD_CLASS, BAD_CLASS], {"knees_forward_heels_up": 0.0})
    assert held[0, 0] == pytest.approx(0.4) and held.sum() == pytest.approx(1.0)
    plain = C.hold_faults(np.array([[0.9, 0.02, 0.02, 0.03, 0.03]]), classes, {"partial_depth": 2.0})
    assert plain[0, 1] == pytest.approx(0.95) and plain.sum() == pytest.approx(1.0)


def _verdict_on(judged, proba, familiar=True):
    times = np.arange(len(proba)) / 8.0
    sets = [{"start": 0.0, "end": float(times[-1])}]
    return verdict(proba, [GOOD_CLASS, BAD_CLASS], sets, times, 0.7, "squat", judged, familiar)


def test_a_verdict_is_confident_only_where_the_lines_earn_it():
    n = 48
    gross = C.judge_reps("squat", *_squat(3, depth=[-0.7] * 3), "side")
    said = _verdict_on(gross, np.tile([0.9, 0.1], (n, 1)), familiar=False)
    assert said["label"] == BAD_CLASS and said["confident"] and said["decided_by"] == "checks"
    near = C.judge_reps("squat", *_squat(3, depth=[-0.32] * 3), "side")
    said = _verdict_on(near, np.tile([0.9, 0.1], (n, 1)))
    assert said["label"] == BAD_CLASS and not said["confident"] and said["reason"].startswith("not sure")
    clean = C.judge_reps("squat", *_squat(3, depth=[0.1] * 3), "side")
    said = _verdict_on(clean, np.tile([0.2, 0.8], (n, 1)), familiar=False)
    assert said["label"] == GOOD_CLASS and not said["confident"] and "coach's lines alone" in said["reason"]
    borderline = C.judge_reps("squat", *_squat(3, depth=[-0.2] * 3), "side")
    assert _verdict_on(borderline, np.tile([0.2, 0.8], (n, 1)), familiar=False) is None
    said = _verdict_on(clean, np.tile([0.9, 0.1], (n, 1)))
    assert said["label"] == GOOD_CLASS and said["confident"]


def test_evaluation_judges_each_test_video_as_scoring_does_and_keeps_the_heads_figure(squat_frames, squat_poses):
    from formclip_pipeline.core.pose_classifier import evaluate_pose_classifier, train_pose_classifier

    clf, _ = train_pose_classifier(squat_poses, squat_frames, "squat", "pose", False, log=lambda _: None)
    out = evaluate_pose_classifier(clf, squat_poses, squat_frames)
    tested = squat_frames.loc[squat_frames["split"] == "test", "video_sha256"].nunique()
    assert out["video"]["n"] == out["head_only"]["n"] == tested
    # Each test video's checks are read from its own pose table, as scoring reads them.
    one = squat_poses[squat_poses["video_sha256"] == squat_poses["video_sha256"].iloc[0]].sort_values("timestamp")
    judged = C.judge_pose_table("squat", one)
    assert judged["stretches"] and {c["name"] for c in judged["checks"]} == {c.name for c in get_exercise("squat").checks}


def test_good_form_is_not_confident_while_any_line_the_view_reads_is_near():
    n = 48
    hips_near = C.judge_reps("deadlift", *_deadlift_near_hip_line(), "side")
    assert next(c for c in hips_near["checks"] if c["name"] == "hips_and_shoulders_together")["status"] == "borderline"
    times = np.arange(n) / 8.0
    said = verdict(np.tile([0.95, 0.05], (n, 1)), [GOOD_CLASS, BAD_CLASS], [{"start": 0.0, "end": float(times[-1])}],
                   times, 0.7, "deadlift", hips_near, True)
    assert said["label"] == GOOD_CLASS and not said["confident"] and "near the line" in said["reason"]


def _deadlift_near_hip_line(n_reps: int = 3, frames_per_rep: int = 16):
    """A deadlifter seen from the side whose hips open 45% of their way by the time the knees have
    straightened half of theirs (the hips-and-shoulders line: under 0.4 is the fault, 0.48 and over clear)."""
    n = n_reps * frames_per_rep
    k = np.arange(n) % frames_per_rep
    down = np.minimum(k, frames_per_rep - k) / (frames_per_rep / 2)  # 0 at lockout, 1 at the floor
    measures = pd.DataFrame({m: np.full(n, np.nan) for m in MEASURE_NAMES})
    measures["hip_flexion"] = 110 * down
    measures["knee_flexion"] = 80 * down
    up = k > frames_per_rep / 2
    # On the way up the hip opens more slowly than the knee straightens.
    measures.loc[up, "hip_flexion"] = 110 * np.sqrt(down[up])
    measures["trunk_lean"] = 15 + 40 * down
    measures["neck_trunk_angle"] = 15.0
    measures["back_rounding"] = np.where(down > 0.3, 10.0, np.nan)
    image = np.zeros((n, N_LANDMARKS, 3), np.float32)
    image[..., 2] = 1.0
    spans = [RepSpan(1, i + 1, i * frames_per_rep, (i + 1) * frames_per_rep) for i in range(n_reps)]
    return measures, image, spans


def test_a_rep_whose_main_joint_went_unseen_keeps_its_place_among_the_reps():
    measures, image, spans = _squat(3, depth=[0.1, 0.1, -0.6])
    measures.loc[16:31, "knee_flexion"] = np.nan  # the second rep's knee never seen
    judged = C.judge_reps("squat", measures, image, spans, "side")
    assert len(judged["stretches"]) == len(judged["reps"]) == 3
    assert judged["reps"][1]["depth"] == ("unread", None)
    assert C.found_faults("squat", judged, 2) == {"partial_depth": pytest.approx(2.0, abs=0.1)}


def test_a_lift_without_coachs_lines_keeps_the_heads_confidence_and_gets_no_verdict_from_lines_alone():
    n = 48
    measures, image, spans = _squat(3, depth=[0.1] * 3)
    judged = C.judge_reps("bench_press", measures, image, spans, "side")
    assert judged["checks"] == []
    times = np.arange(n) / 8.0
    sets = [{"start": 0.0, "end": float(times[-1])}]
    sure = verdict(np.tile([0.9, 0.1], (n, 1)), [GOOD_CLASS, BAD_CLASS], sets, times, 0.7, "bench_press", judged, True)
    assert sure["label"] == GOOD_CLASS and sure["confident"]
    assert verdict(np.tile([0.9, 0.1], (n, 1)), [GOOD_CLASS, BAD_CLASS], sets, times, 0.7, "bench_press", judged,
                   False) is None

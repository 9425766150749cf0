"""Exercise recognition from the joints and the image together."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from formclip_pipeline.catalog import exercise_names, get_exercise
from formclip_pipeline.core.recognise import MAX_COST, UNREAD_COST, pose_signature_costs, recognise


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
    from formclip_pipeline.core.measures import smoothed_measures, summarise
    from formclip_pipeline.core.pose import stack_landmarks
    from formclip_pipeline.core.score import ScoreSettings, sample_video

    for exercise, video in lifter_per_exercise.items():
        rows: list[dict] = []
        times, _, _ = sample_video(video, ScoreSettings(), poses_out=rows)
        image, world, detected = stack_landmarks(pd.DataFrame(rows))
        rec = recognise(summarise(smoothed_measures(image, world), times), float(np.mean(detected)), None)
        assert rec.exercise == exercise, (exercise, rec.scores, rec.outside)

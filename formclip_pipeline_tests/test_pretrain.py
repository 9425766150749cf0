import numpy as np
import pytest

from formclip_pipeline.core import pretrain as P
from formclip_pipeline.core.captions import caption
from formclip_pipeline.core.synth import kinematics
from formclip_pipeline.core.synth.corpus import render_corpus


def test_captions_describe_the_pose_not_the_label():
    body = kinematics.Body.sample(np.random.default_rng(1))
    good = caption("deadlift", 1.0, False, kinematics.measures(kinematics.deadlift(body, 1.0, False, None, 0.5)),
                     "side", body.height)
    rounded = caption("deadlift", 1.0, False,
                        kinematics.measures(kinematics.deadlift(body, 1.0, False, "rounded_back", 0.8)), "side",
                        body.height)
    assert good.startswith("deadlift") and "neutral back" in good and "bar on the floor" in good
    assert "rounded back" in rounded and "rounded_back" not in rounded
    valgus = caption("squat", 0.6, True, kinematics.measures(kinematics.squat(body, 0.6, True, "knee_valgus", 0.8)),
                       "front", body.height)
    assert "knees caving inward" in valgus and valgus.endswith("front view")


@pytest.mark.xdist_group("pretraining")  # see the Makefile
def test_pretraining_lowers_the_loss_and_saves_a_loadable_base(tmp_path):
    from transformers import CLIPModel

    figures = P.pretrain_base(tmp_path / "base", P.PretrainConfig(clips=40, frames_per_clip=4, epochs=3),
                              log=lambda _: None)
    assert figures["frames"] == 160
    assert figures["losses"][-1] < figures["losses"][0]
    model = CLIPModel.from_pretrained(str(tmp_path / "base"))
    assert model.config.vision_config.image_size == 96
    assert not (tmp_path / "base.init").exists()


def test_the_corpus_is_the_same_on_one_process_or_two():
    alone = render_corpus(6, frames_per_clip=2, size=48, seed=3, workers=1)
    shared = render_corpus(6, frames_per_clip=2, size=48, seed=3, workers=2)
    other_seed = render_corpus(6, frames_per_clip=2, size=48, seed=4, workers=1)
    assert alone[0].shape == (12, 48, 48, 3)
    assert np.array_equal(alone[0], shared[0]) and alone[1] == shared[1] and alone[2] == shared[2]
    assert not np.array_equal(alone[0], other_seed[0])

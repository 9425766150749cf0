import numpy as np
import pytest

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


@pytest.mark.slow  # renders a corpus and pretrains: about a minute on 2 cores
def test_formclip_pretrain_lowers_the_loss_and_fills_the_cache_entry_formclip_tiny_names(tmp_path):
    """Run as a user runs it, without --out: the base lands where `--base-model formclip-tiny` loads it, built
    under the lock other processes wait on."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    from transformers import CLIPModel

    cache = tmp_path / "cache"
    env = {**os.environ, "FORMCLIP_CACHE": str(cache)}
    res = subprocess.run([str(Path(sys.executable).with_name("formclip")), "pretrain", "--clips", "40",
                          "--frames-per-clip", "4", "--epochs", "3"], cwd=tmp_path, env=env, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    assert f"base saved to {cache / 'formclip-tiny'}" in res.stdout and "--base-model formclip-tiny" in res.stdout
    figures = re.search(r"pretrained on (\d+) frames .*contrastive loss ([\d.]+) -> ([\d.]+)", res.stdout)
    assert figures and int(figures[1]) == 160 and float(figures[3]) < float(figures[2])
    model = CLIPModel.from_pretrained(str(cache / "formclip-tiny"))
    assert model.config.vision_config.image_size == 96
    assert (cache / ".formclip-tiny.lock").exists() and not (cache / "formclip-tiny.init").exists()
    found = subprocess.run([sys.executable, "-c", "from formclip_pipeline.core import bases as B; "
                            "print(B.needs_building('formclip-tiny'), B.resolve_base('formclip-tiny'))"],
                           capture_output=True, text=True, env=env, check=True)
    assert found.stdout.split() == ["False", str(cache / "formclip-tiny")]


def test_the_corpus_is_the_same_on_one_process_or_two():
    alone = render_corpus(6, frames_per_clip=2, size=48, seed=3, workers=1)
    shared = render_corpus(6, frames_per_clip=2, size=48, seed=3, workers=2)
    other_seed = render_corpus(6, frames_per_clip=2, size=48, seed=4, workers=1)
    assert alone[0].shape == (12, 48, 48, 3)
    assert np.array_equal(alone[0], shared[0]) and alone[1] == shared[1] and alone[2] == shared[2]
    assert not np.array_equal(alone[0], other_seed[0])

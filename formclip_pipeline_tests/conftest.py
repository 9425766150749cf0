"""Shared fixtures: an offline environment and one small synthetic dataset rendered per test run."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path

import pandas as pd
import pytest
from filelock import FileLock

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Tests of plumbing use the untrained architecture, built in a second; the pretrained formclip-tiny
# takes minutes to build and has tests of its own (test_pretrain) and a benchmark (make bench).
os.environ["FORMCLIP_BASE_MODEL"] = "formclip-tiny-init"


# What `make test-fast` leaves out (`-m "not slow"`): every test that needs the session's rendered
# videos (rendering and extracting them is minutes of setup), and the modules that start Dagster, MLflow,
# Celery or a browser. A test that is slow for its own reasons carries @pytest.mark.slow.
RENDERED_FIXTURES = {"squat_videos", "lifter_per_exercise"}
SERVER_MODULES = {"test_browser", "test_cluster", "test_pipeline", "test_workspace"}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: left out of `make test-fast` (rendered videos, servers, long runs)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if RENDERED_FIXTURES & set(getattr(item, "fixturenames", ())) or item.module.__name__.split(".")[-1] in SERVER_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def offline_cache(tmp_path_factory):
    """Build the tiny models once per session in a private cache, never in the user's home."""
    cache = tmp_path_factory.mktemp("formclip_cache")
    old = os.environ.get("FORMCLIP_CACHE")
    os.environ["FORMCLIP_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("FORMCLIP_CACHE", None)
    else:
        os.environ["FORMCLIP_CACHE"] = old


@contextlib.contextmanager
def made_once(tmp_path_factory, name: str):
    """(folder, made): a folder shared by every pytest-xdist worker of the run, held under a lock.
    The first worker to ask finds `made` False, fills the folder and calls `made_now(folder)`; the
    others wait, then read it. Rendering and extracting the session's videos was about five minutes
    of each worker's setup, done once per worker on the same two cores."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / name
    with FileLock(str(folder) + ".lock"):
        folder.mkdir(exist_ok=True)
        yield folder, (folder / ".made").exists()


def made_now(folder: Path) -> None:
    (folder / ".made").touch()


def rendered_once(tmp_path_factory, name: str, specs) -> tuple[Path, list[dict]]:
    """The specs rendered into a shared folder, once per test run; the renderer's results with them."""
    from formclip_pipeline.core.synth.generate import generate_dataset

    with made_once(tmp_path_factory, name) as (root, made):
        if not made:
            (root / "results.json").write_text(json.dumps(generate_dataset(root, specs, workers=2)))
            made_now(root)
        return root, json.loads((root / "results.json").read_text())


@pytest.fixture(scope="session")
def squat_videos(tmp_path_factory) -> tuple[Path, list[dict]]:
    """Three short squat videos per form class, with truth, in the seed's folder layout. Tests read
    them and never write beside them: every worker shares them."""
    from formclip_pipeline.core.synth.generate import dataset_specs

    specs = dataset_specs(seed=11, videos_per_class=3, exercises=["squat"], sets=(1, 2), reps=(3, 4))
    # At 24 frames a second (the renderer would also draw 30 or 60): everything samples 8 a second or
    # fewer, and rendering is most of the session's setup.
    return rendered_once(tmp_path_factory, "videos", [dataclasses.replace(s, fps=24) for s in specs])


@pytest.fixture(scope="session")
def squat_extraction(squat_videos, tmp_path_factory):
    """(frames, poses) of the squat videos, from one decode each, once per test run."""
    from formclip_pipeline.core.frames import extract_dataset, video_manifest

    root, _ = squat_videos
    with made_once(tmp_path_factory, "squat_extraction") as (out, made):
        if not made:
            frames, poses, failures = extract_dataset(video_manifest(root, "squat"), frames_per_video=10,
                                                      skip_first=0.5, skip_last=0.5)
            assert not failures
            frames.to_parquet(out / "frames.parquet")
            poses.to_parquet(out / "poses.parquet")
            made_now(out)
        return pd.read_parquet(out / "frames.parquet"), pd.read_parquet(out / "poses.parquet")


@pytest.fixture(scope="session")
def squat_frames(squat_extraction):
    return squat_extraction[0]


@pytest.fixture(scope="session")
def squat_poses(squat_extraction):
    return squat_extraction[1]


@pytest.fixture(scope="session")
def squat_model(squat_frames, tmp_path_factory):
    """A multi-class squat classifier trained for one epoch: enough to exercise scoring end to end."""
    from formclip_pipeline.core.annotate import template_annotations
    from formclip_pipeline.core.settings import TrainSettings
    from formclip_pipeline.core.train import train_classifier

    clf, _ = train_classifier(template_annotations(squat_frames), squat_frames, "squat",
                              TrainSettings(base_model="formclip-tiny-init", epochs=1, learning_rate=1e-4,
                                            multi_class=True),
                              log=lambda _: None)
    path = tmp_path_factory.mktemp("model") / "squat"
    clf.save(path, {"strategy": "flyp"})
    return path


@pytest.fixture(scope="session")
def lifter_per_exercise(tmp_path_factory, squat_videos) -> dict[str, str]:
    """One good-form video of each exercise (one set of three reps, filmed from the side or at an
    angle): the squat from `squat_videos`, the others rendered here. Not from the front: BlazePose
    misreads a bench press filmed from the feet (docs/benchmarks.md), and these videos are for
    what happens once the joints are read."""
    from formclip_pipeline.catalog import exercise_names
    from formclip_pipeline.core.synth.generate import VideoSpec

    others = [e for e in exercise_names() if e != "squat"]
    # Small and at 15 frames a second: the pose model reads 640 px at 8 samples a second anyway.
    specs = [VideoSpec(e, "good_form", 23, f"{e}_one", views=("side", "oblique"), sets=(1, 1), reps=(3, 3),
                       size=(640, 360), fps=15) for e in others]
    videos = {r["truth"]["exercise"]: r["video"] for r in rendered_once(tmp_path_factory, "exercises", specs)[1]}
    videos["squat"] = next(r["video"] for r in squat_videos[1] if r["truth"]["form_class"] == "good_form")
    return videos

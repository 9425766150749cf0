import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from formclip_pipeline.core.annotate import template_annotations
from formclip_pipeline.core.clip_classifier import load_classifier
from formclip_pipeline.core.frames import assign_splits, extract_dataset, video_manifest
from formclip_pipeline.core.settings import TrainSettings
from formclip_pipeline.core.train import train_classifier
from formclip_pipeline.core.validate import blocking_errors, validate


def test_no_video_appears_in_two_splits(squat_frames):
    per_video = squat_frames.groupby("video_sha256")["split"].nunique()
    assert (per_video == 1).all()
    # Stratified: every class has a test video and a training video.
    by_class = squat_frames.drop_duplicates("video_sha256").groupby("form_class")["split"].apply(set)
    assert all({"train", "test"} <= s for s in by_class)


def test_splits_are_fixed_by_seed():
    videos = pd.DataFrame({"form_class": ["a"] * 10 + ["b"] * 10, "sha256": [f"h{i}" for i in range(20)]})
    assert assign_splits(videos, 0) == assign_splits(videos, 0)
    assert assign_splits(videos, 0) != assign_splits(videos, 1)


def test_test_share_sets_how_many_videos_each_class_holds_out():
    videos = pd.DataFrame({"form_class": ["a"] * 6 + ["b"] * 10, "sha256": [f"h{i}" for i in range(16)]})
    held_out = lambda share: pd.Series(assign_splits(videos, 0, share)).eq("test").groupby(  # noqa: E731
        videos.set_index("sha256")["form_class"]).sum().to_dict()
    assert held_out(0.15) == {"a": 1, "b": 2}
    assert held_out(0.34) == {"a": 2, "b": 3}


def test_each_class_is_dealt_out_by_view():
    # Class "a": 4 side and 2 front videos; "b": 9 side and 3 front. Without the view, a seed can put
    # both of a's test videos on one side.
    videos = pd.DataFrame({"form_class": ["a"] * 6 + ["b"] * 12, "sha256": [f"h{i}" for i in range(18)],
                           "view": ["side"] * 4 + ["front"] * 2 + ["side"] * 9 + ["front"] * 3})
    views = videos.set_index("sha256")["view"]
    for seed in range(20):
        split = pd.Series(assign_splits(videos, seed, 0.34))
        for form_class, group in videos.groupby("form_class"):
            tested = split[group["sha256"]].eq("test")
            assert set(views[tested[tested].index]) == {"side", "front"}, (seed, form_class)
            assert set(views[tested[~tested].index]) == {"side", "front"}, (seed, form_class)
    unknown = assign_splits(videos.drop(columns="view"), 3, 0.34)
    assert unknown == assign_splits(videos.assign(view=None), 3, 0.34)


def test_a_lifters_videos_share_one_split_whatever_their_class():
    # Six lifters, each filmed doing good and bad reps, beside loose rendered videos of two classes.
    lifters = [f"lifter{i}" for i in range(6)]
    grouped = pd.DataFrame({"form_class": ["good_form", "chest_collapse"] * 6,
                            "sha256": [f"g{i}" for i in range(12)], "group": [g for g in lifters for _ in (0, 1)]})
    loose = pd.DataFrame({"form_class": ["good_form"] * 5 + ["chest_collapse"] * 5,
                          "sha256": [f"s{i}" for i in range(10)], "group": None})
    videos = pd.concat([grouped, loose], ignore_index=True)
    for seed in range(10):
        split = assign_splits(videos, seed, 0.34)
        per_lifter = grouped.assign(split=grouped["sha256"].map(split)).groupby("group")["split"].agg(set)
        assert all(len(s) == 1 for s in per_lifter), (seed, per_lifter)
        assert {"test", "train"} <= set().union(*per_lifter), seed  # lifters on both sides of the split
        assert pd.Series(split)[loose["sha256"]].eq("test").sum() == 4  # loose videos dealt per class as before


def test_sub_folders_name_groups_and_rendered_videos_are_told_from_filmed_ones(squat_videos, tmp_path):
    _, rendered = squat_videos
    good = [r["video"] for r in rendered if r["truth"]["form_class"] == "good_form"]
    root = tmp_path / "training_data" / "squat" / "good_form"
    for lifter, video in (("anna", good[0]), ("ben", good[2])):
        (root / lifter).mkdir(parents=True)
        shutil.copy(video, root / lifter / "set1.mp4")  # filmed clips: no renderer's truth beside them
    shutil.copy(good[1], root / "loose.mp4")
    shutil.copy(Path(good[1]).with_name(Path(good[1]).stem + ".truth.json"), root / "loose.truth.json")
    manifest = video_manifest(tmp_path / "training_data", "squat")
    by_group = manifest.set_index("group")
    assert by_group.loc["anna", ["file_name", "origin", "status"]].tolist() == ["set1.mp4", "real", "ok"]
    loose = manifest.set_index("file_name").loc["loose.mp4"]
    assert loose["origin"] == "synthetic" and loose["group"] is None
    frames, _, failures = extract_dataset(manifest, frames_per_video=2, skip_first=0.5, skip_last=0.5)
    assert not failures
    assert set(frames["source_video"]) == {"anna/set1.mp4", "ben/set1.mp4", "loose.mp4"}
    review = template_annotations(frames)
    assert review["frame_path"].is_unique


def test_videos_read_side_by_side_give_what_one_process_gives(squat_videos, tmp_path):
    root, _ = squat_videos
    copy = tmp_path / "videos"
    for form_class in ("good_form", "bouncing"):
        shutil.copytree(root / "squat" / form_class, copy / "squat" / form_class)
    manifest = video_manifest(copy, "squat")
    assert (manifest["status"] == "ok").sum() == 6
    # Broken after the manifest read it: the worker that decodes it reports it, the others go on.
    broken = manifest["path"].iloc[2]
    with open(broken, "r+b") as f:
        f.truncate(2000)
    one = extract_dataset(manifest, frames_per_video=3, skip_first=0, skip_last=0, pose_fps=2)
    two = extract_dataset(manifest, frames_per_video=3, skip_first=0, skip_last=0, pose_fps=2, workers=2)
    assert [f["path"] for f in two[2]] == [broken] and one[2] == two[2]
    assert two[0]["source_video"].nunique() == 5
    pd.testing.assert_frame_equal(one[0], two[0])
    pd.testing.assert_frame_equal(one[1], two[1])


def test_broken_video_is_listed_with_its_reason_and_the_rest_go_on(squat_videos, tmp_path):
    root, _ = squat_videos
    copy = tmp_path / "videos"
    shutil.copytree(root / "squat" / "good_form", copy / "squat" / "good_form")
    (copy / "squat" / "good_form" / "broken one.mp4").write_bytes(b"\x00" * 100)
    (copy / "squat" / "lunge").mkdir()
    (copy / "squat" / "lunge" / "x.mp4").write_bytes(b"\x00")
    manifest = video_manifest(copy, "squat")
    errors = manifest[manifest["status"] == "error"].set_index("file_name")["error"]
    assert "not a video" in errors["broken one.mp4"]
    assert "not a form class" in errors["x.mp4"]
    frames, _, failures = extract_dataset(manifest, frames_per_video=3, skip_first=0, skip_last=0, pose_fps=0)
    assert frames["source_video"].nunique() == 3 and not failures


def test_validation_blocks_when_a_class_has_no_training_video(squat_frames):
    ann = template_annotations(squat_frames)
    assert blocking_errors(validate(ann, "squat")).empty
    ann = ann[ann["form_class"] != "bouncing"]
    errors = blocking_errors(validate(ann, "squat"))
    assert list(errors["check"]) == ["videos_per_class:bouncing"]
    ann.loc[ann.index[:5], "description"] = ""
    assert "missing_descriptions" in set(blocking_errors(validate(ann, "squat"))["check"])


def test_templates_give_each_class_several_descriptions(squat_frames):
    ann = template_annotations(squat_frames)
    assert (ann.groupby("form_class")["description"].nunique() >= 2).all()
    assert set(ann["source"]) == {"template"}


@pytest.mark.parametrize("strategy", ["flyp", "seed_contrastive", "linear_probe"])
def test_training_strategies_learn_and_reload(squat_frames, strategy, tmp_path):
    ann = template_annotations(squat_frames)
    config = TrainSettings(base_model="formclip-tiny-init", strategy=strategy, epochs=3, learning_rate=3e-4,
                           batch_size=32)
    clf, history = train_classifier(ann, squat_frames, "squat", config, log=lambda _: None)
    if strategy != "linear_probe":
        assert len(history) == 3
        assert history[-1].train_loss < history[0].train_loss
    clf.save(tmp_path / "ck", {"strategy": strategy})
    back = load_classifier(str(tmp_path / "ck"))
    from formclip_pipeline.core.frames import frames_array

    x = frames_array(squat_frames.head(4))
    assert np.allclose(clf.predict_proba(x), back.predict_proba(x), atol=1e-5)
    assert back.labels == ["good_form", "bad_form"]


def test_a_reviewers_relabels_are_what_the_frame_strategies_learn(squat_frames):
    """Every training frame relabelled to the other side of good/bad in the review CSV (and one to a
    class the exercise lacks, which is not applied): the probe learns the reviewer's classes."""
    from formclip_pipeline.core.frames import frames_array

    ann = template_annotations(squat_frames)
    train = squat_frames["split"] == "train"
    flipped = np.where(squat_frames["form_class"] == "good_form", "partial_depth", "good_form")
    typed = dict(zip(zip(squat_frames["video_sha256"], squat_frames["frame_index"]), np.where(train, flipped, None)))
    ann["relabelled_class"] = [typed.get(k) for k in zip(ann["video_sha256"], ann["frame_index"])]
    ann.loc[ann.index[ann["relabelled_class"].notna()][0], "relabelled_class"] = "lunge_form"
    logs = []
    clf, _ = train_classifier(ann, squat_frames, "squat", TrainSettings(base_model="formclip-tiny-init",
                                                                      strategy="linear_probe"), log=logs.append)
    assert any(f"{int(train.sum()) - 1} frames train under the class a reviewer gave them" in m for m in logs), logs
    seen = squat_frames[train]
    said = np.array(clf.labels)[clf.predict_proba(frames_array(seen)).argmax(1)]
    reviewer = np.where(seen["form_class"] == "good_form", "bad_form", "good_form")
    # Learning the folders' classes instead agrees with the reviewer on 0.2 of these frames.
    assert (said == reviewer).mean() >= 0.75


def test_frames_without_descriptions_train_on_templates(squat_frames):
    logs = []
    ann = template_annotations(squat_frames)
    ann.loc[ann.index[:7], "description"] = None
    train_classifier(ann, squat_frames, "squat", TrainSettings(base_model="formclip-tiny-init", epochs=1,
                                                             learning_rate=1e-4), log=logs.append)
    assert any("7 frames have no description" in m for m in logs)


def test_interrupted_training_resumes_from_its_last_epoch(squat_frames, tmp_path):
    ann = template_annotations(squat_frames)
    config = TrainSettings(base_model="formclip-tiny-init", epochs=3, learning_rate=3e-4, batch_size=32)

    class Killed(Exception):
        pass

    def kill_after_two(stats):
        if stats.epoch == 2:
            raise Killed()

    with pytest.raises(Killed):
        train_classifier(ann, squat_frames, "squat", config, on_epoch=kill_after_two, log=lambda _: None,
                         resume_dir=tmp_path)
    logs = []
    clf, history = train_classifier(ann, squat_frames, "squat", config, log=logs.append, resume_dir=tmp_path)
    assert any("resuming from epoch 1" in m for m in logs)
    assert [h.epoch for h in history] == [1, 2, 3]
    assert not any(tmp_path.iterdir())  # the resume state is cleared once training finishes
    full, _ = train_classifier(ann, squat_frames, "squat", config, log=lambda _: None)
    x = squat_frames.head(6)
    from formclip_pipeline.core.frames import frames_array

    assert np.allclose(clf.predict_proba(frames_array(x)), full.predict_proba(frames_array(x)), atol=1e-4)


def test_a_head_only_retrain_reuses_cached_embeddings_and_a_changed_tower_does_not(squat_frames, tmp_path):
    import torch

    from formclip_pipeline.core import bases as B

    from formclip_pipeline.core import model as M
    from formclip_pipeline.core.embeddings import EmbeddingCache
    from formclip_pipeline.core.frames import frames_array

    clip = B.load_clip("formclip-tiny-init")
    pixels = M.preprocess(frames_array(squat_frames.head(20)), clip)
    first = EmbeddingCache(tmp_path)
    a = first.image_features(clip.model, pixels)
    assert (first.hits, first.misses) == (0, 20)
    again = EmbeddingCache(tmp_path)
    b = again.image_features(clip.model, pixels[:15])
    assert (again.hits, again.misses) == (15, 0)
    assert torch.allclose(a[:15], b)
    with torch.no_grad():
        clip.model.visual_projection.weight.mul_(1.5)
    changed = EmbeddingCache(tmp_path)
    changed.image_features(clip.model, pixels[:5])
    assert changed.misses == 5


def test_two_processes_under_torchrun_train_like_one_and_leave_one_run(squat_frames, tmp_path):
    """DDP on the CPU (gloo): 2 processes take the steps 1 process takes, each on half of every batch.
    Only rank 0 tracks and saves. The two differ only in float summation order and in how the class
    weights split between the halves, so their test-frame probabilities agree to within 0.05."""
    import mlflow

    from formclip_pipeline.core.distributed import train_distributed
    from formclip_pipeline.core.frames import frames_array
    from formclip_pipeline.core.runs import train_run
    from formclip_pipeline.core.store import Tracker

    ann = template_annotations(squat_frames)
    config = TrainSettings(base_model="formclip-tiny-init", strategy="flyp", epochs=2, learning_rate=3e-4,
                           batch_size=16)
    one = train_run(squat_frames, ann, "squat", config, Tracker.at_home(tmp_path / "one"), tmp_path / "one" / "models",
                    log=lambda _: None)
    lines = []
    two = train_distributed(squat_frames, ann, "squat", config, Tracker.at_home(tmp_path / "two"),
                            tmp_path / "two" / "models", nproc=2, log=lines.append)
    assert two["processes"] == 2 and len(two["epochs"]) == 2
    assert [p.name for p in (tmp_path / "two" / "models" / "squat").iterdir() if not p.name.startswith(".")] == [two["run_id"]]
    client = mlflow.MlflowClient(Tracker.at_home(tmp_path / "two").uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [r.info.run_id for r in runs] == [two["run_id"]]
    assert [int(v.version) for v in client.search_model_versions("name='formclip-squat'")] == [1]
    test = squat_frames[squat_frames["split"] == "test"]
    p1 = load_classifier(one["path"]).predict_proba(frames_array(test))
    p2 = load_classifier(two["path"]).predict_proba(frames_array(test))
    print(f"max probability difference {np.abs(p1 - p2).max():.4f}, loss {one['epochs'][-1]['train_loss']:.4f} vs {two['epochs'][-1]['train_loss']:.4f}")
    assert np.abs(p1 - p2).max() < 0.05
    assert abs(one["epochs"][-1]["train_loss"] - two["epochs"][-1]["train_loss"]) < 0.05


def test_a_pose_strategy_refuses_several_processes():
    from formclip_pipeline.core.distributed import check_strategy

    with pytest.raises(ValueError, match="fits in one process"):
        check_strategy("pose", 2)


def test_a_model_naming_faults_is_gated_on_its_good_or_bad_call_over_real_test_videos():
    """Naming the wrong fault on a faulty lift is still a right good-or-bad call: the gate compares
    that call, which binary models make too, and over the real test videos where there are any."""
    from formclip_pipeline.core.metrics import flat_rows, gate_score, video_scores

    labels = ["good_form", "knee_valgus", "partial_depth"]
    truth = ["good_form", "good_form", "knee_valgus", "partial_depth", "knee_valgus", "partial_depth"]
    pred = ["good_form", "knee_valgus", "partial_depth", "knee_valgus", "knee_valgus", "good_form"]
    origins = ["real", "real", "real", "real", "synthetic", "synthetic"]
    video = video_scores(truth, pred, origins, labels)
    assert video["balanced_accuracy"] == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    # Real videos: good 1 of 2 right, faulty 2 of 2 called faulty, whichever fault was named.
    assert gate_score(video) == (pytest.approx(0.75), "real test videos")
    assert video["good_or_bad"]["balanced_accuracy"] == pytest.approx((1 / 2 + 3 / 4) / 2)
    rows = flat_rows({"frame": {}, "video": video}, "squat", "pose")
    good_or_bad = rows[(rows["level"] == "video_good_or_bad") & (rows["metric"] == "balanced_accuracy")]
    assert good_or_bad["value"].tolist() == [pytest.approx(0.625)]
    binary = video_scores(["good_form", "bad_form"], ["good_form", "good_form"], [None, None], ["good_form", "bad_form"])
    assert "good_or_bad" not in binary and gate_score(binary) == (pytest.approx(0.5), "test videos")

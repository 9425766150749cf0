"""The whole asset graph, materialized by Dagster for one partition on tiny data in a temporary root."""
import shutil

import dagster as dg
import pytest

from formclip_pipeline.assets import TRAINING_ASSETS, TRAINING_CHECKS
from formclip_pipeline.core import store
from formclip_pipeline.core.pose import OUTLINE_POINTS
from formclip_pipeline.core.settings import POSE_FPS
from formclip_pipeline.resources import DuckDBStore, FormClipPaths, MLflowTracking, ParquetJsonIOManager

RUN_CONFIG = {"ops": {
    "extracted_frames_and_poses": {"config": {"frames_per_video": 8, "skip_first": 0.5, "skip_last": 0.5}},
    "finetuned_checkpoint": {"config": {"base_model": "formclip-tiny-init", "epochs": 2, "learning_rate": 3e-4,
                                        "batch_size": 32}},
}}
FLYP_CONFIG = {"ops": {"finetuned_checkpoint": {"config": {**RUN_CONFIG["ops"]["finetuned_checkpoint"]["config"],
                                                           "strategy": "flyp"}}}}


def _resources(root):
    r = str(root)
    return {"paths": FormClipPaths(root=r), "mlflow_tracking": MLflowTracking(root=r), "duckdb": DuckDBStore(root=r),
            "io_manager": ParquetJsonIOManager(root=r)}


def _materialize(root, instance):
    return dg.materialize([*TRAINING_ASSETS, *TRAINING_CHECKS], partition_key="squat", resources=_resources(root),
                          instance=instance, run_config=RUN_CONFIG, raise_on_error=False)


@pytest.fixture(scope="module")
def pipeline_root(squat_videos, tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    shutil.copytree(squat_videos[0] / "squat", root / "data" / "training_data" / "squat")
    # One unreadable upload must not stop the others.
    (root / "data" / "training_data" / "squat" / "good_form" / "phone upload.mp4").write_bytes(b"garbage")
    # On disk, as a deployment's instance is: the schedule reads the checkpoints' materializations from it.
    instance = dg.DagsterInstance.local_temp(str(tmp_path_factory.mktemp("dagster_home")))
    result = _materialize(root, instance)
    return root, instance, result


@pytest.fixture(scope="module")
def flyp_run(pipeline_root):
    """The CLIP path: fine-tune flyp on the same materialized frames, then evaluate it."""
    root, instance, _ = pipeline_root
    result = dg.materialize([*TRAINING_ASSETS, *TRAINING_CHECKS], partition_key="squat", resources=_resources(root),
                            instance=instance, run_config=FLYP_CONFIG, selection=["finetuned_checkpoint",
                                                                                  "evaluation_metrics"])
    assert result.success
    return result


def test_all_seven_assets_materialize_and_the_check_passes(pipeline_root):
    _, _, result = pipeline_root
    assert result.success
    done = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events() for m in [m.materialization]}
    assert done == {"raw_videos", "extracted_frames", "pose_landmarks", "frame_annotations", "validation_report",
                    "finetuned_checkpoint", "evaluation_metrics"}
    checks = result.get_asset_check_evaluations()
    assert [c.passed for c in checks] == [True]


def test_pose_asset_tracks_the_lifter_and_reports_detection_per_class_and_view(pipeline_root):
    import numpy as np
    import pandas as pd

    root, _, result = pipeline_root
    poses = pd.read_parquet(root / "data" / "pipeline" / "pose_landmarks" / "squat.parquet")
    frames = pd.read_parquet(root / "data" / "pipeline" / "extracted_frames" / "squat.parquet")
    assert set(poses["video_sha256"]) == set(frames["video_sha256"])  # one decode gave both, for every video
    assert poses["detected"].mean() > 0.7
    found = poses[poses["detected"]]
    assert all(len(v) == 33 * 3 for v in found["image_landmarks"]) and all(len(v) == 33 * 3 for v in found["world_landmarks"])
    # The trunk's outline, both sides of the hip-to-shoulder line, from the segmentation mask of every detected frame.
    assert all(len(v) == 2 * len(OUTLINE_POINTS) for v in found["trunk_outline"])
    assert np.isfinite(np.concatenate(found["trunk_outline"].to_list())).mean() > 0.5
    # And the silhouette's top width, a ratio to its height, and its height, a share of the frame's, from the same mask.
    assert found["silhouette_top_width"].notna().mean() > 0.9 and found["silhouette_top_width"].between(0.05, 3).all()
    assert found["silhouette_height"].notna().mean() > 0.9 and found["silhouette_height"].between(0.05, 1).all()
    per_video = poses.groupby("video_sha256")["timestamp"].apply(lambda t: np.diff(np.sort(t.to_numpy())).mean())
    assert np.allclose(per_video, 1 / POSE_FPS, atol=0.01)  # the default sampling rate
    event = next(e for e in result.get_asset_materialization_events()
                 if e.asset_key.to_user_string() == "pose_landmarks")
    meta = event.materialization.metadata
    assert 0 < meta["detection_rate"].value <= 1
    table = meta["detection_by_class_and_view"].value
    assert "knee_valgus" in table and "front" in table


def test_extraction_shared_out_between_steps_gives_the_tables_of_one_step(pipeline_root, tmp_path):
    import pandas as pd

    root, _, _ = pipeline_root
    tables = {}
    for videos_per_step in (0, 2):
        home = tmp_path / f"per_step_{videos_per_step}"
        for form_class in ("good_form", "partial_depth"):  # 6 readable videos and the unreadable upload
            shutil.copytree(root / "data" / "training_data" / "squat" / form_class,
                            home / "data" / "training_data" / "squat" / form_class)
        config = {"ops": {"extracted_frames_and_poses": {"config": {
            "frames_per_video": 3, "pose_fps": 1.0, "videos_per_step": videos_per_step}}}}
        result = dg.materialize(TRAINING_ASSETS, selection=["raw_videos", "extracted_frames", "pose_landmarks"],
                                partition_key="squat", resources=_resources(home), run_config=config)
        assert result.success
        steps = {e.step_key for e in result.all_events if e.is_step_success}
        shares = sorted(s for s in steps if ".extract_share[" in s)
        assert len(shares) == (1 if videos_per_step == 0 else 3)  # 6 readable videos, 2 to a step
        meta = next(e.materialization.metadata for e in result.get_asset_materialization_events()
                    if e.asset_key.to_user_string() == "extracted_frames")
        assert meta["failed_videos"].value == 0 and meta["extraction_steps"].value == len(shares)
        tables[videos_per_step] = [pd.read_parquet(home / "data" / "pipeline" / asset / "squat.parquet")
                                   for asset in ("extracted_frames", "pose_landmarks")]
    for one_step, shared in zip(tables[0], tables[2]):
        pd.testing.assert_frame_equal(one_step, shared)  # the same rows, splits and order


def test_pose_checkpoint_is_tracked_registered_and_evaluated_per_video(pipeline_root):
    root, _, result = pipeline_root
    from mlflow import MlflowClient

    ck = result.output_for_node("finetuned_checkpoint")
    assert ck["strategy"] == "pose"
    files = {p.name for p in (root / "data" / "models" / "squat" / ck["run_id"]).iterdir()}
    assert files == {"formclip.json", "pose_head.safetensors"}  # no pickle, no CLIP weights needed
    client = MlflowClient(tracking_uri=store.Tracker.at_home(root).uri)
    run = client.get_run(ck["run_id"])
    assert run.data.params["strategy"] == "pose" and 0 < run.data.metrics["pose_detection_rate"] <= 1
    assert 0 <= run.data.metrics["test_video_balanced_accuracy"] <= 1
    assert "test_frame_accuracy" not in run.data.metrics  # a pose model has no per-frame verdict
    assert client.get_model_version_by_alias("formclip-squat", "champion").run_id == ck["run_id"]


def test_manifest_lists_the_unreadable_video_with_its_reason(pipeline_root):
    root, _, _ = pipeline_root
    import pandas as pd

    manifest = pd.read_parquet(root / "data" / "pipeline" / "raw_videos" / "squat.parquet")
    bad = manifest[manifest["status"] == "error"]
    assert list(bad["file_name"]) == ["phone upload.mp4"]
    assert "not a video" in bad["error"].iloc[0]
    assert (manifest["status"] == "ok").sum() == 15
    assert set(manifest.loc[manifest["status"] == "ok", "codec"]) == {"h264"}


def test_clip_checkpoint_reloads_with_from_pretrained_and_is_tracked_in_mlflow(pipeline_root, flyp_run):
    root, _, first = pipeline_root
    from mlflow import MlflowClient
    from transformers import CLIPModel

    ck = flyp_run.output_for_node("finetuned_checkpoint")
    model = CLIPModel.from_pretrained(ck["path"])
    assert model.config.vision_config.image_size == 96
    for name in ("model.safetensors", "formclip.json", "tokenizer.json", "processor_config.json"):
        assert any(p.name == name for p in (root / "data" / "models" / "squat").rglob(name)), name
    client = MlflowClient(tracking_uri=store.Tracker.at_home(root).uri)
    run = client.get_run(ck["run_id"])
    assert run.data.params["epochs"] == "2" and run.data.params["strategy"] == "flyp"
    assert [m.step for m in client.get_metric_history(ck["run_id"], "train_loss")] == [1, 2]
    assert "test_video_balanced_accuracy" in run.data.metrics
    assert "baseline_zero_shot_video_balanced_accuracy" in run.data.metrics
    gate = run.data.tags["champion_decision"]
    champion = client.get_model_version_by_alias("formclip-squat", "champion")
    # The flyp version becomes champion only if it beat the pose champion on the same test videos.
    assert champion.run_id == (ck["run_id"] if " beats " in gate else first.output_for_node("finetuned_checkpoint")["run_id"])
    artifacts = {a.path for a in client.list_artifacts(ck["run_id"], "checkpoint")}
    assert "checkpoint/model.safetensors" in artifacts


def test_metrics_are_queryable_in_duckdb_overall_and_per_class(pipeline_root, flyp_run):
    root, _, _ = pipeline_root
    df = store.MetricsStore.at_home(root).query("select run_id, strategy, level, class_name, metric, value "
                                                "from evaluation_metrics where exercise = 'squat'")
    assert {"pose", "flyp"} <= set(df["strategy"])
    df = df[df["run_id"] == df["run_id"].iloc[-1]]  # one evaluation: the model and its baselines
    assert {"flyp", "zero_shot", "linear_probe"} <= set(df["strategy"])
    overall = df[df["class_name"] == "all"]
    assert {"accuracy", "precision", "recall", "balanced_accuracy", "macro_f1"} <= set(overall["metric"])
    counts = {"n", "support"}
    assert overall.loc[~overall["metric"].isin(counts), "value"].between(0, 1).all()
    per_class = df[(df["class_name"] != "all") & (df["strategy"] == "flyp") & (df["level"] == "video")]
    assert set(per_class["class_name"]) == {"good_form", "bad_form"}
    assert set(per_class["metric"]) == {"precision", "recall", "f1", "support"}
    support = per_class[per_class["metric"] == "support"]["value"].sum()
    assert support == overall[(overall["strategy"] == "flyp") & (overall["level"] == "video")
                               & (overall["metric"] == "n")]["value"].iloc[0]


def test_schedule_retrains_only_what_changed_and_says_why(pipeline_root):
    import datetime

    import pandas as pd

    from formclip_pipeline.definitions import defs

    root, instance, _ = pipeline_root
    schedule = defs.resolve_schedule_def("retrain_changed_exercises")
    assert schedule.cron_schedule == "0 3 * * 1"
    resources = {"paths": FormClipPaths(root=str(root))}
    when = datetime.datetime(2026, 11, 30, 3, 0, tzinfo=datetime.timezone.utc)
    with dg.build_schedule_context(instance=instance, resources=resources, scheduled_execution_time=when,
                                   repository_def=defs.get_repository_def()) as ctx:
        result = schedule.evaluate_tick(ctx)
    assert not result.run_requests
    assert "nothing changed since the last checkpoints of squat" in result.skip_message
    csv_path = root / "data" / "labeled_frames" / "squat_training_data.csv"
    original = csv_path.read_bytes()
    csv = pd.read_csv(csv_path, dtype={"annotator_notes": str})  # empty notes would read as a float column
    csv.loc[0, "annotator_notes"] = "re-checked"
    csv.to_csv(csv_path, index=False)
    with dg.build_schedule_context(instance=instance, resources=resources, scheduled_execution_time=when,
                                   repository_def=defs.get_repository_def()) as ctx:
        result = schedule.evaluate_tick(ctx)
    assert [r.partition_key for r in result.run_requests] == ["squat"]
    assert result.run_requests[0].tags["formclip/retrain_reason"].startswith("videos or annotations changed")
    csv_path.write_bytes(original)


def test_review_csv_edits_flow_back_into_frame_annotations(pipeline_root):
    import pandas as pd

    root, instance, _ = pipeline_root
    csv_path = root / "data" / "labeled_frames" / "squat_training_data.csv"
    csv = pd.read_csv(csv_path)
    assert (root / "data" / "labeled_frames" / csv["frame_path"].iloc[0]).exists()
    csv.loc[3, "description"] = "coach: hips rise a touch early"
    csv.to_csv(csv_path, index=False)
    result = dg.materialize([*TRAINING_ASSETS, *TRAINING_CHECKS], partition_key="squat", resources=_resources(root),
                            instance=instance, selection=["frame_annotations"])
    ann = result.output_for_node("frame_annotations").set_index("frame_path")
    row = ann.loc[csv["frame_path"].iloc[3]]
    assert (row["description"], row["source"]) == ("coach: hips rise a touch early", "human")
    assert (ann["source"] == "human").sum() == 1


def test_failed_validation_stops_training_and_keeps_the_champion(pipeline_root, flyp_run):
    root, instance, first = pipeline_root
    from mlflow import MlflowClient

    before = MlflowClient(tracking_uri=store.Tracker.at_home(root).uri).get_model_version_by_alias(
        "formclip-squat", "champion").run_id
    shutil.rmtree(root / "data" / "training_data" / "squat" / "bouncing")
    result = _materialize(root, instance)
    checks = result.get_asset_check_evaluations()
    assert [c.passed for c in checks] == [False]
    trained = [e for e in result.get_asset_materialization_events()
               if e.asset_key.to_user_string() == "finetuned_checkpoint"]
    assert trained == []
    client = MlflowClient(tracking_uri=store.Tracker.at_home(root).uri)
    champion = client.get_model_version_by_alias("formclip-squat", "champion")
    assert champion.run_id == before

"""Training and evaluation runs as the assets and the command line both perform them.

A training run is an MLflow run (params, per-epoch metrics, the checkpoint as artifacts) and a new
version of model formclip-<exercise>. Evaluation scores the held-out test videos, records the
numbers in MLflow and DuckDB, and moves the `champion` alias only to a model that beats the current
champion on the same test videos.
"""
from __future__ import annotations

import hashlib
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pandas as pd

from formclip_pipeline.core import measures as MS
from formclip_pipeline.core import metrics as MT
from formclip_pipeline.core import store
from formclip_pipeline.core.frames import frames_array
from formclip_pipeline.core.pose_classifier import (evaluate_pose_classifier, is_pose_checkpoint, load_pose_classifier,
                                                    train_pose_classifier)
from formclip_pipeline.core.strategies import POSE_STRATEGIES
from formclip_pipeline.core.settings import TrainSettings
from formclip_pipeline.core.clip_classifier import Classifier, load_classifier, zero_shot_classifier
from formclip_pipeline.core.train import EpochStats, config_params, linear_probe_baseline, train_classifier

GATE_METRIC = "video_balanced_accuracy"


def train_run(frames: pd.DataFrame, annotations: pd.DataFrame, exercise: str, config: TrainSettings,
              tracker: store.Tracker, models_dir: str | Path, log: Callable[[str], None] = print, poses: pd.DataFrame | None = None) -> dict:
    """Train, save the checkpoint under models_dir/<exercise>/<run_id>, track and register it.

    Pose strategies read `poses` (the pose table of the same videos); CLIP strategies the frames and
    their descriptions."""
    if config.strategy in POSE_STRATEGIES and (poses is None or poses.empty):
        raise ValueError(f"strategy {config.strategy} needs the videos' poses (the pose_landmarks asset, or "
                         f"<exercise>_poses.parquet from formclip extract)")
    with tracker.run(f"train-{exercise}", {"exercise": exercise, "stage": "train"}) as run:
        import mlflow

        run_id = run.info.run_id
        mlflow.log_params({**config_params(config), "exercise": exercise,
                           "train_frames": int((frames["split"] == "train").sum()),
                           "train_videos": int(frames.loc[frames["split"] == "train", "video_sha256"].nunique())})

        def on_epoch(s: EpochStats) -> None:
            values = {"train_loss": s.train_loss, "val_loss": s.val_loss, "val_accuracy": s.val_accuracy,
                      "val_balanced_accuracy": s.val_balanced_accuracy, "epoch_seconds": s.seconds}
            mlflow.log_metrics({k: v for k, v in values.items() if not math.isnan(v)}, step=s.epoch)

        # Absolute: latest.json and the registry's local_path are read from other working directories.
        path = Path(models_dir).resolve() / exercise / run_id
        meta = {"strategy": config.strategy, "base_model": config.base_model, "mlflow_run_id": run_id,
                "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "splits": _split_record(frames)}
        if config.strategy in POSE_STRATEGIES:
            relabelled = int(annotations["relabelled_class"].notna().sum()) \
                if annotations is not None and "relabelled_class" in annotations else 0
            if relabelled:
                log(f"{relabelled} frames carry a class a reviewer typed in the review CSV: the {config.strategy} "
                    f"model learns one class per video, from its folder, so to relabel a whole video move it to "
                    f"its class's folder; the frame-level strategies (flyp, linear_probe, ...) learn the relabels")
            clf, info = train_pose_classifier(poses, frames, exercise, config.strategy, config.multi_class,
                                              config.base_model, log=log)
            mlflow.log_params({"head": info["head"], "fit_videos": info["fit_videos"]})
            mlflow.log_metric("pose_detection_rate", info["detection_rate"])
            mlflow.log_metrics({f"cv_balanced_accuracy {name.replace('=', ' ')}": score
                                for name, score in info["cv_scores"].items()})
            history = []
            clf.save(path, {**meta, "head": info["head"]})
        else:
            # A run killed mid-training resumes from its last finished epoch on the next attempt.
            clf, history = train_classifier(annotations, frames, exercise, config, on_epoch=on_epoch, log=log,
                                            resume_dir=Path(models_dir) / exercise / ".resume")
            clf.save(path, meta)
        mlflow.log_artifacts(str(path), artifact_path="checkpoint")
        version = tracker.register(run_id, exercise, "checkpoint",
                                   {"strategy": config.strategy, "local_path": str(path),
                                    "base_model": config.base_model,
                                    **({MS.VERSION_KEY: MS.DEFINITIONS_VERSION} if config.strategy in POSE_STRATEGIES
                                       else {})})
        mlflow.set_tag("model_version", version)
    return {"exercise": exercise, "path": str(path), "run_id": run_id, "model_version": version,
            "strategy": config.strategy, "multi_class": config.multi_class, "base_model": config.base_model,
            "test_set": test_set_id(frames), "epochs": [vars(h) for h in history]}


def test_set_id(frames: pd.DataFrame) -> str:
    """Identifies the test videos by content, so scores are only compared on the same videos."""
    shas = sorted(set(frames.loc[frames["split"] == "test", "video_sha256"]))
    return hashlib.sha256("\n".join(shas).encode()).hexdigest()[:16]


def _split_record(frames: pd.DataFrame) -> dict:
    vids = frames.drop_duplicates("video_sha256")
    return {s: sorted(vids.loc[vids["split"] == s, "source_video"].tolist()) for s in ("train", "val", "test")}


def evaluate_classifier(clf: Classifier, frames: pd.DataFrame) -> dict:
    test = frames[frames["split"] == "test"].reset_index(drop=True)
    proba = clf.predict_proba(frames_array(test))
    return MT.evaluate_predictions(test, proba, clf.labels, clf.multi_class)


def evaluate_run(checkpoint: dict, frames: pd.DataFrame, tracker: store.Tracker, metrics_store: store.MetricsStore,
                 artifacts_dir: str | Path, baselines: bool = True, poses: pd.DataFrame | None = None) -> dict:
    """Metrics of a trained checkpoint (and the zero-shot and linear-probe baselines) on the test
    split, plus the gate. A pose checkpoint is judged per video only: it has no per-frame verdicts."""
    exercise = checkpoint["exercise"]
    if not (frames["split"] == "test").any():
        raise ValueError(f"no test videos for {exercise}: the test split is empty, so there is nothing to evaluate "
                         f"on (extract more videos, or re-split)")
    if is_pose_checkpoint(checkpoint["path"]):
        if poses is None:
            raise ValueError(f"{checkpoint['path']} judges from poses; evaluating it needs the videos' poses")
        results = {checkpoint["strategy"]: evaluate_pose_classifier(load_pose_classifier(checkpoint["path"]),
                                                                    poses, frames)}
    else:
        results = {checkpoint["strategy"]: evaluate_classifier(load_classifier(checkpoint["path"]), frames)}
    if baselines and checkpoint["strategy"] != "zero_shot":
        base = zero_shot_classifier(checkpoint["base_model"], exercise, checkpoint["multi_class"])
        results["zero_shot"] = evaluate_classifier(base, frames)
    if baselines and checkpoint["strategy"] != "linear_probe" and (frames["split"] == "train").any():
        # Embeddings of the frozen base come from the cache after the first time.
        probe = linear_probe_baseline(checkpoint["base_model"], frames, exercise, checkpoint["multi_class"])
        results["linear_probe"] = evaluate_classifier(probe, frames)
    main = results[checkpoint["strategy"]]
    rows = pd.concat([MT.flat_rows(m, exercise, s, checkpoint["run_id"]) for s, m in results.items()], ignore_index=True)
    rows["model_version"] = str(checkpoint.get("model_version"))
    rows["evaluated_at"] = datetime.now(timezone.utc)
    png = MT.confusion_png(main, Path(artifacts_dir) / f"confusion_{exercise}_{checkpoint['run_id']}.png",
                           f"{exercise}: {checkpoint['strategy']} (videos)")
    gate = champion_gate(tracker, checkpoint, main)
    with tracker.resume(checkpoint["run_id"]) as mlflow:
        for s, m in results.items():
            prefix = "test" if s == checkpoint["strategy"] else f"baseline_{s}"
            for level, block in MT.levels(m):
                for k in ("accuracy", "balanced_accuracy", "precision", "recall", "macro_f1"):
                    v = block.get(k)
                    if v is not None and not math.isnan(v):
                        mlflow.log_metric(f"{prefix}_{level}_{k}", v)
        mlflow.log_artifact(str(png))
        mlflow.log_dict(results, "metrics.json")
        mlflow.set_tag("champion_decision", gate["reason"])
    metrics_store.append("evaluation_metrics", rows)
    return {"exercise": exercise, "results": results, "rows": rows, "confusion_png": str(png), "gate": gate}


def _reads_old_measures(model_version) -> bool:
    """A pose champion fitted on another definition of the measures: it refuses to load (see
    load_pose_classifier), so no score of its can keep its place."""
    tags = model_version.tags
    return tags.get("strategy") in POSE_STRATEGIES and MS.recorded_version(tags) != MS.DEFINITIONS_VERSION


def champion_gate(tracker: store.Tracker, checkpoint: dict, metrics: dict) -> dict:
    """Promote the new version only if it beats the champion's score on the same test videos (on
    their real ones, where there are any: `metrics.gate_score`)."""
    new, over = MT.gate_score(metrics["video"])
    current = tracker.champion(checkpoint["exercise"])
    version = str(checkpoint["model_version"])
    if current is None:
        promote, reason = True, f"no champion yet; version {version} becomes champion ({GATE_METRIC} {new:.3f} " \
                                f"on its {over})"
    elif _reads_old_measures(current):
        promote, reason = True, (f"champion v{current.version} was fitted on version "
                                 f"{MS.recorded_version(current.tags)} of the body measures, which this FormClip no "
                                 f"longer computes, so it cannot score; version {version} replaces it ({new:.3f})")
    else:
        old = float(current.tags.get(GATE_METRIC, "nan"))
        same_test = current.tags.get("test_set") == checkpoint.get("test_set")
        if not same_test:
            promote, reason = new >= old, (f"champion v{current.version} was scored on other test videos; "
                                           f"comparing {new:.3f} with its {old:.3f}")
        else:
            promote = new > old
            reason = (f"version {version} ({new:.3f}) {'beats' if promote else 'does not beat'} champion "
                      f"v{current.version} ({old:.3f}) on the same {over}")
        if promote and current.version == version:
            reason = f"version {version} is already champion"
    client = tracker.client()
    name = store.REGISTERED_PREFIX + checkpoint["exercise"]
    client.set_model_version_tag(name, version, GATE_METRIC, f"{new:.6f}")
    client.set_model_version_tag(name, version, "test_set", str(checkpoint.get("test_set")))
    if promote and not math.isnan(new):
        tracker.set_champion(checkpoint["exercise"], version)
    return {"promoted": bool(promote and not math.isnan(new)), "reason": reason, "score": new}

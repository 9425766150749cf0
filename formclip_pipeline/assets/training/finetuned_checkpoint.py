
import dagster as dg
import pandas as pd

from formclip_pipeline.core.distributed import train_distributed
from formclip_pipeline.core.fingerprint import data_fingerprint
from formclip_pipeline.core.runs import train_run
from formclip_pipeline.assets.config import dagster_config
from formclip_pipeline.core.settings import TrainSettings
from formclip_pipeline.executors import GPU_STEP
from formclip_pipeline.partitions import exercise_partitions
from formclip_pipeline.resources import FormClipPaths, MLflowTracking


TrainConfig = dagster_config(TrainSettings, "TrainConfig")


@dg.asset(
    partitions_def=exercise_partitions,
    group_name="training",
    kinds={"pytorch", "mlflow"},
    **GPU_STEP,
    deps=["validation_report"],
    description="The trained form classifier, an MLflow run and a new version of formclip-<exercise>. Pose "
                "strategies (the default, pose) save a logistic regression over the lifter's joint measures "
                "(safetensors, no pickle); CLIP strategies a fine-tuned CLIP (safetensors, processor, tokenizer, "
                "class prompts) that CLIPModel.from_pretrained reloads.",
)
def finetuned_checkpoint(context: dg.AssetExecutionContext, config: TrainConfig, paths: FormClipPaths,
                         mlflow_tracking: MLflowTracking, extracted_frames: pd.DataFrame,
                         frame_annotations: pd.DataFrame, pose_landmarks: pd.DataFrame) -> dict:
    # Taken before training so that edits made during the run count as changes next time.
    fingerprint = data_fingerprint(paths.video_dir, paths.labeled_dir, context.partition_key)
    settings = TrainSettings(**config.model_dump())
    if settings.nproc_per_node > 1:  # torchrun in a subprocess; its rank 0 tracks and registers as train_run does
        result = train_distributed(extracted_frames, frame_annotations, context.partition_key, settings,
                                   mlflow_tracking.tracker(), paths.models_dir, settings.nproc_per_node, log=context.log.info)
    else:
        result = train_run(extracted_frames, frame_annotations, context.partition_key, settings,
                           mlflow_tracking.tracker(), paths.models_dir, log=context.log.info, poses=pose_landmarks)
    result["data_fingerprint"] = fingerprint
    last = result["epochs"][-1] if result["epochs"] else {}
    context.add_output_metadata({
        "checkpoint": dg.MetadataValue.path(result["path"]),
        "mlflow_run_id": result["run_id"],
        "model_version": result["model_version"],
        "strategy": result["strategy"],
        "data_fingerprint": fingerprint,  # what the retraining schedule compares with
        "val_balanced_accuracy": float(last.get("val_balanced_accuracy", float("nan"))),
        "mlflow_ui": dg.MetadataValue.url(f"http://127.0.0.1:5000/#/experiments/runs/{result['run_id']}"),
    })
    return result

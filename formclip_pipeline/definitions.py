import dagster as dg

from formclip_pipeline.assets import SCORING_ASSETS, TRAINING_ASSETS, TRAINING_CHECKS
from formclip_pipeline.core import environment
from formclip_pipeline.executors import executor_for
from formclip_pipeline.resources import DuckDBStore, FormClipPaths, MLflowTracking, ParquetJsonIOManager, default_root
from formclip_pipeline.schedules import build_retrain_schedule
from formclip_pipeline.sensors import incoming_video_sensor, score_video_job

training_job = dg.define_asset_job("train_exercise", selection=dg.AssetSelection.groups("training"),
                                   description="Every stage from raw videos to evaluation for one exercise.")


def resources() -> dict:
    root = default_root()
    return {"paths": FormClipPaths(root=root),
            "mlflow_tracking": MLflowTracking(root=root, tracking_uri=environment.tracking_uri() or ""),
            "duckdb": DuckDBStore(root=root), "io_manager": ParquetJsonIOManager(root=root)}


defs = dg.Definitions(assets=[*TRAINING_ASSETS, *SCORING_ASSETS], asset_checks=TRAINING_CHECKS,
                      jobs=[training_job, score_video_job], sensors=[incoming_video_sensor], schedules=[build_retrain_schedule(training_job)],
                      resources=resources(), executor=executor_for(environment.executor()))

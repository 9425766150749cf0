import dagster as dg

from formclip_pipeline.assets import ALL_ASSETS, ALL_CHECKS
from formclip_pipeline.resources import DuckDBStore, FormClipPaths, MLflowTracking, ParquetJsonIOManager

training_job = dg.define_asset_job("train_exercise", selection=dg.AssetSelection.groups("training"),
                                   description="Every stage from raw videos to evaluation for one exercise.")


def resources() -> dict:
    return {"paths": FormClipPaths(), "mlflow_tracking": MLflowTracking(), "duckdb": DuckDBStore(),
            "io_manager": ParquetJsonIOManager()}


defs = dg.Definitions(assets=ALL_ASSETS, asset_checks=ALL_CHECKS, jobs=[training_job], resources=resources())

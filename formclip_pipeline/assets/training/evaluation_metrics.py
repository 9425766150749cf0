import base64
from pathlib import Path

import dagster as dg
import pandas as pd

from formclip_pipeline.core.runs import evaluate_run
from formclip_pipeline.partitions import exercise_partitions
from formclip_pipeline.resources import DuckDBStore, FormClipPaths, MLflowTracking


@dg.asset(
    partitions_def=exercise_partitions,
    group_name="training",
    kinds={"duckdb", "mlflow"},
    description="Accuracy, precision, recall, balanced accuracy and macro-F1 on held-out test videos, per frame "
                "and per video and per class, beside the zero-shot and linear-probe baselines; stored as Parquet "
                "and as rows in DuckDB table evaluation_metrics. "
                "Moves alias champion only to a model that beats the current one.",
)
def evaluation_metrics(context: dg.AssetExecutionContext, paths: FormClipPaths, mlflow_tracking: MLflowTracking,
                       duckdb: DuckDBStore,
                       finetuned_checkpoint: dict, extracted_frames: pd.DataFrame,
                       pose_landmarks: pd.DataFrame) -> pd.DataFrame:
    out = evaluate_run(finetuned_checkpoint, extracted_frames, mlflow_tracking.tracker(), duckdb.metrics_store(),
                       paths.reports_dir / "evaluation", poses=pose_landmarks)
    main = out["results"][finetuned_checkpoint["strategy"]]
    context.log.info(out["gate"]["reason"])
    overall = out["rows"][out["rows"]["class_name"] == "all"]
    wide = overall.pivot_table(index=["strategy", "level"], columns="metric", values="value").reset_index()
    context.add_output_metadata({
        "video_accuracy": main["video"].get("accuracy"),
        "video_balanced_accuracy": main["video"].get("balanced_accuracy"),
        **{f"{origin}_video_balanced_accuracy": m.get("balanced_accuracy")
           for origin, m in main["video"].get("by_origin", {}).items()},
        **({"frame_accuracy": main["frame"]["accuracy"]} if "accuracy" in main["frame"] else {}),
        "champion": out["gate"]["reason"],
        "metrics": dg.MetadataValue.md(wide.round(3).to_markdown(index=False)),
        "confusion_matrix": dg.MetadataValue.md(
            "![confusion matrix](data:image/png;base64,"
            + base64.b64encode(Path(out["confusion_png"]).read_bytes()).decode() + ")"),
        "confusion_matrix_file": dg.MetadataValue.path(out["confusion_png"]),
    })
    return out["rows"]

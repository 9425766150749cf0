import dagster as dg
import pandas as pd

from formclip_pipeline.assets.config import dagster_config
from formclip_pipeline.core.settings import ValidationSettings
from formclip_pipeline.core.validate import blocking_errors, summary, validate
from formclip_pipeline.partitions import exercise_partitions


ValidationConfig = dagster_config(ValidationSettings, "ValidationConfig")


@dg.asset(
    partitions_def=exercise_partitions,
    group_name="training",
    kinds={"parquet"},
    description="Data checks before training: missing descriptions, videos per class, class balance, invalid "
                "images, duplicate frames (perceptual hash), one video under two names or classes, camera-view "
                "coverage. Errors fail the blocking check and stop training; warnings let it go on.",
)
def validation_report(context: dg.AssetExecutionContext, config: ValidationConfig, frame_annotations: pd.DataFrame,
                      extracted_frames: pd.DataFrame) -> pd.DataFrame:
    report = validate(frame_annotations, context.partition_key, ValidationSettings(**config.model_dump()),
                      extracted_frames)
    context.log.info("validation report:\n" + summary(report))
    errors = blocking_errors(report)
    context.add_output_metadata({
        "errors": len(errors),
        "warnings": int(((~report["passed"]) & (report["severity"] == "warning")).sum()),
        "summary": dg.MetadataValue.md(report[["check", "severity", "message"]].to_markdown(index=False)),
    })
    return report


@dg.asset_check(asset=validation_report, blocking=True,
                description="Fails on any error-level finding, which stops finetuned_checkpoint from running.")
def validation_report_has_no_errors(validation_report: pd.DataFrame) -> dg.AssetCheckResult:
    errors = blocking_errors(validation_report)
    return dg.AssetCheckResult(
        passed=len(errors) == 0,
        metadata={"errors": len(errors), "messages": dg.MetadataValue.md("\n".join(f"- {m}" for m in errors["message"])
                                                                         or "none")},
    )

import dagster as dg
import pandas as pd

from formclip_pipeline.core.frames import unknown_exercise_folders, video_manifest
from formclip_pipeline.partitions import exercise_partitions
from formclip_pipeline.resources import FormClipPaths


@dg.asset(
    partitions_def=exercise_partitions,
    group_name="training",
    kinds={"ffmpeg", "parquet"},
    description="Manifest of data/training_data/<exercise>/<form_class>/*: content hash, duration, fps, "
                "resolution and codec per video; unreadable files are listed with the reason, not fatal.",
)
def raw_videos(context: dg.AssetExecutionContext, paths: FormClipPaths) -> pd.DataFrame:
    manifest = video_manifest(paths.video_dir, context.partition_key)
    bad = manifest[manifest["status"] != "ok"]
    for line in unknown_exercise_folders(paths.video_dir) + list(bad["error"]):  # each starts with what it names
        context.log.warning(f"skipping {line}")
    context.add_output_metadata({
        "videos": int((manifest["status"] == "ok").sum()),
        "unreadable": len(bad),
        "total_minutes": round(float(manifest["duration_s"].fillna(0).sum()) / 60, 2),
        "per_class": dg.MetadataValue.md(manifest.groupby("form_class")["status"].value_counts().unstack(fill_value=0)
                                         .to_markdown() if len(manifest) else "no videos"),
        "preview": dg.MetadataValue.md(manifest.drop(columns=["path", "sha256"]).head(10).to_markdown(index=False)
                                       if len(manifest) else "no videos"),
    })
    return manifest

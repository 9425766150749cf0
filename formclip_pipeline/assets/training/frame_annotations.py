import dagster as dg
import pandas as pd

from formclip_pipeline.core.annotate import refresh_annotations, review_csv_path
from formclip_pipeline.partitions import exercise_partitions
from formclip_pipeline.resources import FormClipPaths


@dg.asset(
    partitions_def=exercise_partitions,
    group_name="training",
    kinds={"parquet"},
    description="A text description per frame, the text side of CLIP fine-tuning. Edits made in the seed's "
                "review CSV (data/labeled_frames/<exercise>_training_data.csv) flow back here and always win; "
                "each row records its source (human, ai_draft, template) and when.",
)
def frame_annotations(context: dg.AssetExecutionContext, paths: FormClipPaths,
                      extracted_frames: pd.DataFrame) -> pd.DataFrame:
    ann = refresh_annotations(extracted_frames, paths.labeled_dir, context.partition_key, warn=context.log.warning)
    context.add_output_metadata({
        "review_csv": dg.MetadataValue.path(str(review_csv_path(paths.labeled_dir, context.partition_key))),
        "frames": len(ann),
        "by_source": dg.MetadataValue.json(ann["source"].value_counts().to_dict() if len(ann) else {}),
        "preview": dg.MetadataValue.md(ann[["source_video", "form_class", "description"]].head(8).to_markdown(index=False)
                                       if len(ann) else "no frames"),
    })
    return ann


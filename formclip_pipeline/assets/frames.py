import dagster as dg
import pandas as pd

from formclip_pipeline.core.frames import extract_dataset
from formclip_pipeline.partitions import exercise_partitions


class ExtractConfig(dg.Config):
    frames_per_video: int = 25
    skip_first: float = 1.0
    skip_last: float = 1.0
    split_seed: int = 0


@dg.asset(
    partitions_def=exercise_partitions,
    group_name="training",
    kinds={"ffmpeg", "parquet"},
    description="Frames sampled from each video (decoded once with ffmpeg, letterboxed to 224 px, JPEG) with "
                "their train/val/test split, grouped by video and stratified by class.",
)
def extracted_frames(context: dg.AssetExecutionContext, config: ExtractConfig, raw_videos: pd.DataFrame) -> pd.DataFrame:
    done = []

    def progress(name: str) -> None:
        done.append(name)
        if len(done) % 10 == 0:
            context.log.info(f"extracted frames from {len(done)} videos")

    frames, failures = extract_dataset(raw_videos, config.frames_per_video, config.skip_first, config.skip_last,
                                       config.split_seed, progress=progress)
    for f in failures:
        context.log.warning(f"no frames from {f['path']}: {f['error']}")
    splits = frames.drop_duplicates("video_sha256")["split"].value_counts().to_dict() if len(frames) else {}
    context.add_output_metadata({
        "frames": len(frames),
        "videos_by_split": dg.MetadataValue.json(splits),
        "failed_videos": len(failures),
        "frames_per_class": dg.MetadataValue.json(frames["form_class"].value_counts().to_dict() if len(frames) else {}),
    })
    return frames

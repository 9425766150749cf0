import dagster as dg
import pandas as pd

from formclip_pipeline.catalog import get_exercise
from formclip_pipeline.core.frames import extract_dataset
from formclip_pipeline.core.settings import ExtractSettings, dagster_config
from formclip_pipeline.core.pose_classifier import video_pose_features
from formclip_pipeline.partitions import exercise_partitions


ExtractConfig = dagster_config(ExtractSettings, "ExtractConfig")


def _detection_table(frames: pd.DataFrame, poses: pd.DataFrame) -> pd.DataFrame:
    """Fraction of pose samples with the lifter found, per form class and camera view."""
    if poses.empty:
        return pd.DataFrame(columns=["form_class", "view", "videos", "detection_rate"])
    views = frames.drop_duplicates("video_sha256").set_index("video_sha256")["view"].fillna("unknown")
    per_video = poses.groupby("video_sha256").agg(form_class=("form_class", "first"), rate=("detected", "mean"))
    per_video["view"] = views.reindex(per_video.index).fillna("unknown")
    table = per_video.groupby(["form_class", "view"]).agg(videos=("rate", "size"), detection_rate=("rate", "mean"))
    return table.round(3).reset_index()


@dg.multi_asset(
    partitions_def=exercise_partitions,
    group_name="training",
    outs={
        "extracted_frames": dg.AssetOut(
            kinds={"ffmpeg", "parquet"},
            description="Frames sampled from each video (letterboxed to 224 px, JPEG) with their train/val/test "
                        "split, grouped by video and stratified by class."),
        "pose_landmarks": dg.AssetOut(
            kinds={"mediapipe", "parquet"},
            description="BlazePose landmarks of the lifter on a regular grid (pose_fps per second) of every "
                        "video, tracked from frame to frame: image x, y, visibility and world x, y, z (metres) "
                        "for 33 joints, or detected=false where no person was found."),
    },
)
def extracted_frames_and_poses(context: dg.AssetExecutionContext, config: ExtractConfig, raw_videos: pd.DataFrame):
    """Each video is decoded once, for both the CLIP frames and the poses."""
    done = []

    def progress(name: str) -> None:
        done.append(name)
        if len(done) % 10 == 0:
            context.log.info(f"extracted frames and poses from {len(done)} videos")

    frames, poses, failures = extract_dataset(raw_videos, config.frames_per_video, config.skip_first, config.skip_last,
                                              config.split_seed, pose_fps=config.pose_fps, progress=progress)
    for f in failures:
        context.log.warning(f"no frames from {f['path']}: {f['error']}")
    splits = frames.drop_duplicates("video_sha256")["split"].value_counts().to_dict() if len(frames) else {}
    detection = _detection_table(frames, poses)
    primary = get_exercise(context.partition_key).primary_measure
    features = video_pose_features(poses, context.partition_key) if len(poses) else pd.DataFrame()
    for rec in detection[detection["detection_rate"] < 0.5].itertuples():
        context.log.warning(f"the lifter was found in only {rec.detection_rate:.0%} of pose samples of "
                            f"{rec.form_class} videos filmed from the {rec.view}")
    yield dg.Output(frames, output_name="extracted_frames", metadata={
        "frames": len(frames),
        "videos_by_split": dg.MetadataValue.json(splits),
        "failed_videos": len(failures),
        "frames_per_class": dg.MetadataValue.json(frames["form_class"].value_counts().to_dict() if len(frames) else {}),
    })
    yield dg.Output(poses, output_name="pose_landmarks", metadata={
        "pose_samples": len(poses),
        "detection_rate": float(poses["detected"].mean()) if len(poses) else 0.0,
        "detection_by_class_and_view": dg.MetadataValue.md(detection.to_markdown(index=False)),
        f"median_{primary}_high_by_class": dg.MetadataValue.json(
            features.join(poses.groupby("video_sha256")["form_class"].first())
            .groupby("form_class")[f"{primary}_high"].median().round(2).dropna().to_dict() if len(features) else {}),
    })

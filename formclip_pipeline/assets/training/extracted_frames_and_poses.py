import dagster as dg
import pandas as pd

from formclip_pipeline.catalog import get_exercise
from formclip_pipeline.core.frames import assign_splits, extract_dataset
from formclip_pipeline.core.pose_classifier import video_pose_features
from formclip_pipeline.assets.config import dagster_config
from formclip_pipeline.core.settings import ExtractAssetSettings
from formclip_pipeline.partitions import exercise_partitions

ExtractConfig = dagster_config(ExtractAssetSettings, "ExtractConfig")


def _detection_table(frames: pd.DataFrame, poses: pd.DataFrame) -> pd.DataFrame:
    """Fraction of pose samples with the lifter found, per form class and camera view."""
    if poses.empty:
        return pd.DataFrame(columns=["form_class", "view", "videos", "detection_rate"])
    views = frames.drop_duplicates("video_sha256").set_index("video_sha256")["view"].fillna("unknown")
    per_video = poses.groupby("video_sha256").agg(form_class=("form_class", "first"), rate=("detected", "mean"))
    per_video["view"] = views.reindex(per_video.index).fillna("unknown")
    table = per_video.groupby(["form_class", "view"]).agg(videos=("rate", "size"), detection_rate=("rate", "mean"))
    return table.round(3).reset_index()


@dg.op(out=dg.DynamicOut(pd.DataFrame))
def share_out_videos(context: dg.OpExecutionContext, config: ExtractConfig, raw_videos: pd.DataFrame):
    """The readable videos with their split, drawn over the whole exercise, in shares of
    `videos_per_step` (one share when it is 0)."""
    ok = raw_videos[raw_videos["status"] == "ok"].reset_index(drop=True)
    splits = assign_splits(ok, config.split_seed, config.test_share) if len(ok) else {}
    ok = ok.assign(split=ok["sha256"].map(splits))
    size = config.videos_per_step or max(len(ok), 1)
    shares = [ok.iloc[i:i + size] for i in range(0, max(len(ok), 1), size)]
    context.log.info(f"{len(ok)} videos in {len(shares)} extraction step(s)")
    for i, share in enumerate(shares):
        yield dg.DynamicOutput(share, mapping_key=f"videos_{i}")


@dg.op(out={"frames": dg.Out(pd.DataFrame), "poses": dg.Out(pd.DataFrame), "failures": dg.Out(list)})
def extract_share(context: dg.OpExecutionContext, config: ExtractConfig, share: pd.DataFrame):
    """Each video of the share is decoded once, for both the CLIP frames and the poses."""
    done = []

    def progress(name: str) -> None:
        done.append(name)
        if len(done) % 10 == 0:
            context.log.info(f"extracted frames and poses from {len(done)} of {len(share)} videos")

    frames, poses, failures = extract_dataset(share, config.frames_per_video, config.skip_first, config.skip_last,
                                              pose_fps=config.pose_fps, progress=progress,
                                              splits=dict(zip(share["sha256"], share["split"])),
                                              workers=config.workers)
    for f in failures:
        context.log.warning(f"no frames from {f['path']}: {f['error']}")
    yield dg.Output(frames, "frames")
    yield dg.Output(poses, "poses")
    yield dg.Output(failures, "failures")


def _in_manifest_order(parts: list[pd.DataFrame], manifest: pd.DataFrame) -> pd.DataFrame:
    """The shares' rows as one table, in the manifest's order of videos, however the steps finished."""
    table = pd.concat(parts, ignore_index=True)
    rank = {sha: i for i, sha in enumerate(manifest["sha256"])}
    order = table["video_sha256"].map(rank).to_numpy()
    return table.iloc[pd.Series(order).argsort(kind="stable").to_numpy()].reset_index(drop=True)


@dg.op(out={"extracted_frames": dg.Out(pd.DataFrame), "pose_landmarks": dg.Out(pd.DataFrame)})
def gather_extraction(context: dg.OpExecutionContext, raw_videos: pd.DataFrame, frames: list[pd.DataFrame],
                      poses: list[pd.DataFrame], failures: list[list]):
    frames = _in_manifest_order(frames, raw_videos)
    poses = _in_manifest_order(poses, raw_videos)
    failed = sum(len(f) for f in failures)
    splits = frames.drop_duplicates("video_sha256")["split"].value_counts().to_dict() if len(frames) else {}
    detection = _detection_table(frames, poses)
    primary = get_exercise(context.partition_key).primary_measure
    features = video_pose_features(poses, context.partition_key) if len(poses) else pd.DataFrame()
    for rec in detection[detection["detection_rate"] < 0.5].itertuples():
        context.log.warning(f"the lifter was found in only {rec.detection_rate:.0%} of pose samples of "
                            f"{rec.form_class} videos filmed from the {rec.view}")
    yield dg.Output(frames, "extracted_frames", metadata={
        "frames": len(frames),
        "videos_by_split": dg.MetadataValue.json(splits),
        "failed_videos": failed,
        "extraction_steps": len(failures),
        "frames_per_class": dg.MetadataValue.json(frames["form_class"].value_counts().to_dict() if len(frames) else {}),
    })
    yield dg.Output(poses, "pose_landmarks", metadata={
        "pose_samples": len(poses),
        "detection_rate": float(poses["detected"].mean()) if len(poses) else 0.0,
        "detection_by_class_and_view": dg.MetadataValue.md(detection.to_markdown(index=False)),
        f"median_{primary}_high_by_class": dg.MetadataValue.json(
            features.join(poses.groupby("video_sha256")["form_class"].first())
            .groupby("form_class")[f"{primary}_high"].median().round(2).dropna().to_dict() if len(features) else {}),
    })


@dg.config_mapping
def _every_step_gets_the_settings(config: ExtractConfig) -> dict:
    settings = {"config": config.model_dump()}
    return {"share_out_videos": settings, "extract_share": settings}


@dg.graph_multi_asset(
    partitions_def=exercise_partitions,
    group_name="training",
    config=_every_step_gets_the_settings,
    outs={
        "extracted_frames": dg.AssetOut(
            kinds={"ffmpeg", "parquet"},
            description="Frames sampled from each video (letterboxed to 224 px, JPEG) with their train/val/test "
                        "split, grouped by video and stratified by class."),
        "pose_landmarks": dg.AssetOut(
            kinds={"mediapipe", "parquet"},
            description="BlazePose landmarks of the lifter on a regular grid (pose_fps per second) of every "
                        "video, tracked from frame to frame: image x, y, visibility and world x, y, z (metres) "
                        "for 33 joints, and the trunk's outline from BlazePose's segmentation mask (how far "
                        "the body reaches either side of the hip-to-shoulder line), the width of the "
                        "silhouette's top third over its height and the silhouette's height over the frame's, "
                        "or detected=false where no person was found."),
    },
)
def extracted_frames_and_poses(raw_videos: pd.DataFrame):
    """Frames and poses, decoded once per video. The videos are shared out between steps
    (`videos_per_step`), so a cluster's workers decode an exercise's videos side by side; one step
    gathers them into the two tables."""
    frames, poses, failures = share_out_videos(raw_videos).map(extract_share)
    return gather_extraction(raw_videos, frames.collect(), poses.collect(), failures.collect())

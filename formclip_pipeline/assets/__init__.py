"""Software-defined assets, one module per stage; each reads inputs, calls the core, adds metadata."""
from formclip_pipeline.assets.annotations import frame_annotations, validation_report, validation_report_has_no_errors
from formclip_pipeline.assets.evaluation import evaluation_metrics
from formclip_pipeline.assets.frames import extracted_frames_and_poses
from formclip_pipeline.assets.training import finetuned_checkpoint
from formclip_pipeline.assets.videos import raw_videos

ALL_ASSETS = [raw_videos, extracted_frames_and_poses, frame_annotations, validation_report, finetuned_checkpoint, evaluation_metrics]
ALL_CHECKS = [validation_report_has_no_errors]

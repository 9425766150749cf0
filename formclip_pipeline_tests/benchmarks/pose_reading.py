"""`make bench`, pose-reading part: how BlazePose reads the synthetic lifter at the bottom of a lift.

Renders a few videos of one lift from one view (good form and a fault, one set of three reps, 720p),
reads them with BlazePose as the pipeline does, and compares the knee flexion and trunk lean it
reads with the generator's truth at the same frames: over all frames (correlation), and at the
bottom (the frames in the top fifth of the true knee flexion). A video's knee is read well at the
bottom when within 25 degrees of the truth there, its trunk when within 10. Prints; asserts nothing.

It is the probe for the renderer's lifter: BlazePose still loses the legs of some side-view synthetic
deadlifts at the bottom, where it follows real lifters folded as deep (docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from formclip_pipeline.catalog import GOOD_CLASS, VIEWS, get_exercise
from formclip_pipeline.core import measures as MS
from formclip_pipeline.core.frames import extract_dataset, video_manifest
from formclip_pipeline.core.pose import stack_landmarks
from formclip_pipeline.core.synth.generate import VideoSpec, generate_dataset, truth_frames, truth_path

KNEE_WITHIN, TRUNK_WITHIN = 25.0, 10.0


def read_against_truth(poses: pd.DataFrame, video: str) -> dict:
    """One video's readings against its truth, at the frames BlazePose was run on."""
    truth = json.loads(truth_path(video).read_text())
    poses = poses.reset_index(drop=True)
    idx = truth_frames(truth, poses["timestamp"])
    image, world, detected = stack_landmarks(poses)
    read = MS.frame_measures(image, world)
    knee_true = 180.0 - np.asarray(truth["pose"]["knee_angle"], float)[idx]
    trunk_true = np.asarray(truth["pose"]["torso_lean"], float)[idx]
    bottom = knee_true >= np.percentile(knee_true, 80)
    out = {"form_class": truth["form_class"], "lifter_found": float(detected.mean())}
    for name, measure, true in (("knee", "knee_flexion", knee_true), ("trunk", "trunk_lean", trunk_true)):
        values = read[measure].to_numpy(float)
        seen = np.isfinite(values)
        out[f"{name}_correlation"] = float(np.corrcoef(values[seen], true[seen])[0, 1]) if seen.sum() > 2 else np.nan
        out[f"{name}_bottom_true"] = float(np.median(true[bottom]))
        out[f"{name}_bottom_read"] = float(np.nanmedian(values[bottom])) if seen[bottom].any() else np.nan
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exercise", default="deadlift")
    ap.add_argument("--view", default="side", choices=VIEWS)
    ap.add_argument("--fault", help="the faulty class rendered beside good form (default: the lift's first fault)")
    ap.add_argument("--videos-per-class", type=int, default=5)
    ap.add_argument("--seed", type=int, default=500)
    args = ap.parse_args(argv)
    ex = get_exercise(args.exercise)
    fault = args.fault or next(c for c in ex.class_names if c != GOOD_CLASS)
    with tempfile.TemporaryDirectory() as tmp:
        specs = [VideoSpec(args.exercise, c, args.seed + i, f"{c}_{i}", views=(args.view,), sets=(1, 1), reps=(3, 3),
                           size=(1280, 720), fps=15)
                 for c in (GOOD_CLASS, fault) for i in range(args.videos_per_class)]
        rendered = {Path(r["video"]).name: r["video"] for r in generate_dataset(tmp, specs, workers=2)}
        frames, poses, failures = extract_dataset(video_manifest(tmp, args.exercise), frames_per_video=4, workers=2)
        videos = frames.drop_duplicates("video_sha256").set_index("video_sha256")["source_video"]
        rows = [read_against_truth(group, rendered[videos[sha]]) for sha, group in poses.groupby("video_sha256")]
    table = pd.DataFrame(rows)
    print(f"{args.exercise} filmed {args.view}, {len(table)} videos ({GOOD_CLASS} and {fault}), 720p:")
    print(table.round(2).to_string(index=False))
    knee_well = int(((table["knee_bottom_read"] - table["knee_bottom_true"]).abs() < KNEE_WITHIN).sum())
    trunk_well = int(((table["trunk_bottom_read"] - table["trunk_bottom_true"]).abs() < TRUNK_WITHIN).sum())
    print(f"knee read within {KNEE_WITHIN:.0f} degrees at the bottom: {knee_well} of {len(table)}; trunk within "
          f"{TRUNK_WITHIN:.0f}: {trunk_well}; correlation over all frames: knee "
          f"{table['knee_correlation'].mean():.2f}, trunk {table['trunk_correlation'].mean():.2f}")


if __name__ == "__main__":
    main()

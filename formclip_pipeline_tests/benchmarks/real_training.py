"""`make bench-real-training DIR=folder LIST=clips.tsv`: what a user's own real clips add. For each
lift, and each group of its labelled real clips in turn (the list's `lifter` column where it has one,
else its `source_repo`), a pose model is fitted on the synthetic training videos of FORMCLIP_HOME
(`make demo` renders them) plus the real clips of every other group, and scores the left-out group's
clips as a user would (`score_video` with that model: the head and the coach's checks). Prints, per
lift and per group left out, the same figures as `make bench-real` (real_footage.figures_table).
Prints; asserts nothing. A lift with one group has nothing to leave out and is skipped with a line.

Each real clip is read once (frames and BlazePose) and reused by every fold; the synthetic videos
likewise. Clips with anything in `doubtful` are left out, as in `make bench-real`.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

from formclip_pipeline_tests.benchmarks.real_footage import VIDEO_SUFFIXES, figures_table, read_list


def _manifest(paths: list[Path], exercise: str, classes: list[str], groups: list[str | None], origin: str):
    from formclip_pipeline.core.video import file_sha256, probe

    rows = []
    for path, form_class, group in zip(paths, classes, groups):
        info = probe(path)
        rows.append({"exercise": exercise, "form_class": form_class, "path": str(path), "file_name": path.name,
                     "sha256": file_sha256(path), "duration_s": info.duration_s, "view": None, "status": "ok",
                     "group": group, "origin": origin})
    return pd.DataFrame(rows)


def read_lift(exercise: str, synthetic_dir: Path, clips: list[tuple[Path, dict]], frames_per_video: int):
    """(frames, poses) of the lift's synthetic videos and real clips, each read once; real clips carry
    their group and their listed label: good_form, or the fault their source names (the binary task
    reads only good against the rest)."""
    from formclip_pipeline.catalog import GOOD_CLASS, get_exercise
    from formclip_pipeline.core.frames import extract_dataset, video_manifest

    synthetic = video_manifest(synthetic_dir, exercise)
    synthetic = synthetic[synthetic["status"] == "ok"].assign(group=None, origin="synthetic")
    ex = get_exercise(exercise)
    # A bad clip whose source names no fault of the catalogue goes to a fault no check can clear, so
    # that the checks never hand its share back to good form.
    cleared = {c.fault for c in ex.checks if c.clears}
    unnamed = next((f for f in ex.fault_names if f not in cleared), ex.fault_names[0])

    def form_class(truth: dict) -> str:
        if truth["label"] == "good":
            return GOOD_CLASS
        return truth["fault"] if truth.get("fault") in ex.fault_names else unnamed

    real = _manifest([p for p, _ in clips], exercise, [form_class(t) for _, t in clips],
                     [t["group"] for _, t in clips], "real")
    manifest = pd.concat([synthetic, real], ignore_index=True)
    splits = {sha: "train" for sha in manifest["sha256"]}
    frames, poses, failures = extract_dataset(manifest, frames_per_video=frames_per_video, skip_first=0.5,
                                              skip_last=0.5, splits=splits, progress=lambda n: print(f"  read {n}",
                                                                                                   flush=True))
    for f in failures:
        print(f"  not read: {f['path']}: {f['error']}")
    return frames, poses


def fold(exercise: str, frames: pd.DataFrame, poses: pd.DataFrame, held_out: str, clips: list[tuple[Path, dict]],
         strategy: str) -> list[dict]:
    """Fit without the held-out group's clips, score them; one row per clip for figures_table."""
    from formclip_pipeline.core.pose_classifier import train_pose_classifier
    from formclip_pipeline.core.errors import ScoreError
    from formclip_pipeline.core.score import score_video
    from formclip_pipeline.core.video import VideoError

    out_of_fold = frames["group"].eq(held_out)
    frames = frames.assign(split=out_of_fold.map({True: "test", False: "train"}))
    clf, info = train_pose_classifier(poses, frames, exercise, strategy, False, log=lambda _: None)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clf.save(Path(tmp) / exercise, {"strategy": strategy})
        for path, truth in clips:
            if truth["group"] != held_out:
                continue
            row = {"label": truth["label"], "exercise": exercise, "source": held_out, "reps_by_eye": truth["reps"],
                   "said": None, "confident": False, "exercise_said": None, "reps": None}
            try:
                report, _ = score_video(str(path), exercise, model_ref=str(Path(tmp) / exercise))
            except (ScoreError, VideoError) as exc:
                print(f"  {path.name}: not scored: {exc}")
                rows.append(row)
                continue
            v = report["verdict"]
            said = None if v["label"] == "unsure" else "good" if v["label"] == "good_form" else "bad"
            reps = sum(len(s["reps"]) for s in report["sets"])
            print(f"  {path.name}: listed {truth['label']}, said {said or 'no verdict'}"
                  f"{' (confident)' if v['confident'] else ''}{'; ' + v['reason'] if v.get('reason') else ''}")
            rows.append({**row, "said": said, "confident": bool(v["confident"]), "exercise_said": exercise,
                         "reps": reps})
    return rows


def main(argv: list[str] | None = None) -> int:
    from formclip_pipeline.core.environment import home
    from formclip_pipeline.core.strategies import DEFAULT_STRATEGY

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--list", type=Path, required=True, help="the labelled list (real_footage.read_list's columns)")
    p.add_argument("--synthetic", type=Path, default=None, help="synthetic training videos (default: "
                                                                 "FORMCLIP_HOME's data/training_data)")
    p.add_argument("--strategy", default=DEFAULT_STRATEGY)
    p.add_argument("--frames-per-video", type=int, default=16)
    args = p.parse_args(argv)
    synthetic_dir = args.synthetic or home() / "data" / "training_data"
    listed = read_list(args.list)
    clips = [(c, {**listed[c.name], "group": listed[c.name].get("lifter") or listed[c.name]["source"]})
             for c in sorted(args.folder.iterdir()) if c.suffix.lower() in VIDEO_SUFFIXES and c.name in listed
             and listed[c.name].get("label") and not listed[c.name]["doubtful"]]
    rows = []
    for exercise in sorted({t["exercise"] for _, t in clips}):
        mine = [(c, t) for c, t in clips if t["exercise"] == exercise]
        groups = sorted({t["group"] for _, t in mine})
        if len(groups) < 2:
            print(f"{exercise}: one group of clips ({groups[0]}), nothing to leave out")
            continue
        print(f"{exercise}: reading {len(mine)} real clips and the synthetic videos ...", flush=True)
        frames, poses = read_lift(exercise, synthetic_dir, mine, args.frames_per_video)
        for held_out in groups:
            print(f"{exercise}, leaving out {held_out}:", flush=True)
            rows += fold(exercise, frames, poses, held_out, mine, args.strategy)
    if rows:
        print("\n" + figures_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

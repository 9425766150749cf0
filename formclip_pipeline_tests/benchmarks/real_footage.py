"""`make bench-real DIR=folder [LIST=clips.tsv]`: score every video of a folder of real footage as a
user would (no --exercise, the registered champions) and print, per clip, the reps found against
the reps counted by eye, the exercise recognised against the one listed, the camera's view read
against the one listed, the verdict and whether the video was like the model's training videos,
and each rep's measures. Prints; asserts nothing.

The list is a tab-separated file with the columns `file`, `exercise` (its first word is the
exercise's catalogue name), `reps_by_eye` (its first number is the count) and optionally `camera`
(its first word is side, front, oblique or rear), as in the project's development list of public
clips. Clips are never part of the repository or of the tests.
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi"}
# The list's camera words as the report's views: from behind, the camera looks along the same line
# as from the front, and sees the same faults poorly.
LISTED_VIEWS = {"side": "side", "front": "front", "rear": "front", "behind": "front", "oblique": "oblique"}


def read_list(path: Path | None) -> dict[str, dict]:
    if path is None or not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    out = {}
    for row in rows:
        reps = re.search(r"\d+", row.get("reps_by_eye") or "")
        camera = re.match(r"[a-z]+", (row.get("camera") or "").strip().lower())
        out[row["file"]] = {"exercise": (row.get("exercise") or "").split(" ")[0] or None,
                            "reps": int(reps.group()) if reps else None,
                            "view": LISTED_VIEWS.get(camera.group()) if camera else None}
    return out


def bench_real(folder: Path, listed: dict[str, dict]) -> dict:
    from formclip_pipeline.core.score import ScoreError, score_video
    from formclip_pipeline.core.video import VideoError

    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    tally = {"clips": len(clips), "reps_within_one": 0, "reps_listed": 0, "exercise_right": 0, "exercise_listed": 0,
             "reps_with_measures": 0, "reps": 0, "confident_while_unfamiliar": 0, "view_right": 0, "view_listed": 0}
    for clip in clips:
        truth = listed.get(clip.name, {})
        print(f"\n{clip.name}")
        try:
            report, _ = score_video(str(clip))
        except (ScoreError, VideoError) as exc:
            print(f"  not scored: {exc}")
            continue
        reps = [r for s in report["sets"] for r in s["reps"]]
        rec = report.get("exercise_recognition", {})
        print(f"  exercise: {report['exercise']} ({rec.get('confidence', 0):.0%}; joints "
              f"{rec.get('from_pose', {}).get(report['exercise'], float('nan')):.0%}, image "
              f"{rec.get('from_image', {}).get(report['exercise'], float('nan')):.0%})"
              f"{'' if not truth.get('exercise') else '  listed: ' + truth['exercise']}")
        if truth.get("exercise"):
            tally["exercise_listed"] += 1
            tally["exercise_right"] += truth["exercise"] == report["exercise"]
        by_eye = "" if truth.get("reps") is None else f"  by eye: {truth['reps']}"
        print(f"  reps: {len(reps)} in {len(report['sets'])} set(s), counted from {report['pose']['reps_counted_from']}, "
              f"lifter in {report['pose']['frames_with_lifter']:.0%} of frames{by_eye}")
        if truth.get("reps") is not None:
            tally["reps_listed"] += 1
            tally["reps_within_one"] += abs(len(reps) - truth["reps"]) <= 1
        camera = report["camera"]
        print(f"  camera: {camera['view'] or 'not read'}"
              + (f" (turned {camera['body_turn_deg']:.0f} degrees)" if camera["body_turn_deg"] is not None else "")
              + (f"  listed: {truth['view']}" if truth.get("view") else "")
              + (f"; shows poorly: {', '.join(camera['shows_poorly'])}" if camera.get("shows_poorly") else ""))
        if truth.get("view"):
            tally["view_listed"] += 1
            tally["view_right"] += truth["view"] == camera["view"]
        v, fam = report["verdict"], report["familiarity"]
        print(f"  verdict: {v['label']}" + (f" {v['confidence']:.0%} ({'confident' if v['confident'] else 'not confident'})"
                                            if v["confidence"] is not None else "")
              + f"; like the training videos: {fam['familiar']}" + (f" ({'; '.join(fam['reasons'])})" if fam["reasons"] else ""))
        tally["confident_while_unfamiliar"] += bool(v["confident"] and fam["familiar"] is False)
        against = report.get("against_good_form")
        if against:
            print(f"  furthest from the model's {against['good_form_videos']} good-form videos: "
                  + ("; ".join(c["text"] for c in against["outside"]) or "nothing well outside their range"))
        for r in reps:
            tally["reps"] += 1
            tally["reps_with_measures"] += bool(r.get("measures"))
            shown = ", ".join(f"{k} {v}" for k, v in r.get("measures", {}).items() if not k.endswith("_range"))
            print(f"    rep {r['rep_number']} {r['start']:.1f}-{r['end']:.1f} s {r['form_class']}: {shown or 'no measures'}")
    return tally


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--list", type=Path, default=None, help="tab-separated list of the clips with reps counted by eye "
                                                           "(default: clips.tsv in the folder, if there is one)")
    args = p.parse_args(argv)
    if not args.folder.is_dir():
        print(f"bench-real: {args.folder} is not a folder of videos (make bench-real DIR=folder)", file=sys.stderr)
        return 2
    tally = bench_real(args.folder, read_list(args.list or args.folder / "clips.tsv"))
    print(f"\n{tally['clips']} clips: reps within one on {tally['reps_within_one']}/{tally['reps_listed']} listed, "
          f"exercise recognised on {tally['exercise_right']}/{tally['exercise_listed']} listed, "
          f"camera's view read on {tally['view_right']}/{tally['view_listed']} listed, "
          f"{tally['reps_with_measures']}/{tally['reps']} reps with measures, "
          f"{tally['confident_while_unfamiliar']} confident verdicts on videos marked unlike the training videos")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make bench-real DIR=folder [LIST=clips.tsv]`: score every video of a folder of real footage as a
user would (no --exercise, the registered champions) and print, per clip, the reps found against
the reps counted by eye, the exercise recognised against the one listed, the camera's view read
against the one listed, the verdict and whether the video was like the model's training videos,
and each rep's measures. Prints; asserts nothing.

The list is a tab-separated file with the columns `file`, `exercise` (its first word is the
exercise's catalogue name), `reps_by_eye` (its first number is the count) and optionally `camera`
(its first word is side, front, oblique or rear), as in the project's development list of public
clips. A list that also has `label` (good or bad, from the clip's source) is a labelled list: then
the figures per lift and per source are printed as a table (binary balanced accuracy on the clips
given a verdict, how many got one, the share of "bad" verdicts, the share of confident verdicts that
were wrong, the exercise recognised, reps within one), clips with anything in `doubtful` are left
out, `source_repo` names the source and `catalogue_class` the fault the source names. With `--docs
FILE` the table replaces the one between this benchmark's markers in FILE. Clips are never part of
the repository or of the tests.
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
        label = (row.get("label") or "").strip().lower()
        out[row["file"]] = {"exercise": (row.get("exercise") or "").split(" ")[0] or None,
                            "reps": int(reps.group()) if reps else None,
                            "view": LISTED_VIEWS.get(camera.group()) if camera else None,
                            "label": label if label in ("good", "bad") else None,
                            "fault": (row.get("catalogue_class") or "").strip() or None,
                            "source": (row.get("source_repo") or row.get("repository") or "").strip() or None,
                            "doubtful": bool((row.get("doubtful") or "").strip()),
                            "lifter": (row.get("lifter") or "").strip() or None}
    return out


def labelled_figures(rows: list[dict]) -> dict:
    """Figures of one group of labelled clips: each row has the listed label and exercise, and what
    the report said (verdict label or None, confident, exercise, reps, reps by eye)."""
    from sklearn.metrics import balanced_accuracy_score

    judged = [r for r in rows if r["said"] in ("good", "bad")]
    confident = [r for r in judged if r["confident"]]
    truth, said = [r["label"] for r in judged], [r["said"] for r in judged]
    listed_reps = [r for r in rows if r["reps_by_eye"] is not None and r["reps"] is not None]
    return {"clips": len(rows), "verdicts": len(judged),
            "balanced_accuracy": (round(float(balanced_accuracy_score(truth, said)), 2)
                                  if len(set(truth)) == 2 else None),
            "right": sum(t == p for t, p in zip(truth, said)),
            "bad_share": round(said.count("bad") / len(said), 2) if said else None,
            "confident": len(confident), "confident_wrong": sum(r["said"] != r["label"] for r in confident),
            "exercise_right": sum(r["exercise_said"] == r["exercise"] for r in rows),
            "reps_within_one": sum(abs(r["reps"] - r["reps_by_eye"]) <= 1 for r in listed_reps),
            "reps_listed": len(listed_reps)}


def figures_table(rows: list[dict]) -> str:
    """A markdown table of `labelled_figures` per lift and per source within it, then all clips."""
    groups: list[tuple[str, str, list[dict]]] = []
    for lift in sorted({r["exercise"] for r in rows}):
        mine = [r for r in rows if r["exercise"] == lift]
        groups.append((lift, "all sources", mine))
        for source in sorted({r["source"] or "?" for r in mine}):
            groups.append((lift, source, [r for r in mine if (r["source"] or "?") == source]))
    groups.append(("all", "all sources", rows))
    lines = ["| lift | source | clips | verdicts | balanced accuracy | right | share 'bad' | confident | "
             "confident wrong | exercise right | reps within one |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for lift, source, mine in groups:
        f = labelled_figures(mine)
        share = lambda n, d: f"{n}/{d}" if d else "-"  # noqa: E731
        lines.append(f"| {lift} | {source} | {f['clips']} | {share(f['verdicts'], f['clips'])} | "
                     f"{'-' if f['balanced_accuracy'] is None else f['balanced_accuracy']} | "
                     f"{share(f['right'], f['verdicts'])} | {'-' if f['bad_share'] is None else f['bad_share']} | "
                     f"{f['confident']} | {share(f['confident_wrong'], f['confident'])} | "
                     f"{share(f['exercise_right'], f['clips'])} | {share(f['reps_within_one'], f['reps_listed'])} |")
    return "\n".join(lines)


BEGIN, END = "<!-- bench-real labelled: begin -->", "<!-- bench-real labelled: end -->"


def replace_table(doc: Path, table: str, heading: str) -> None:
    """Put the table between this benchmark's markers in `doc` (added at its end the first time)."""
    text = doc.read_text() if doc.exists() else ""
    block = f"{BEGIN}\n{heading}\n\n{table}\n{END}"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text)


def bench_real(folder: Path, listed: dict[str, dict]) -> dict:
    from formclip_pipeline.core.errors import ScoreError
    from formclip_pipeline.core.score import score_video
    from formclip_pipeline.core.video import VideoError

    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES
                   and not listed.get(p.name, {}).get("doubtful"))
    labelled: list[dict] = []
    tally = {"labelled": labelled, "clips": len(clips), "reps_within_one": 0, "reps_listed": 0, "exercise_right": 0, "exercise_listed": 0,
             "reps_with_measures": 0, "reps": 0, "confident_while_unfamiliar": 0, "view_right": 0, "view_listed": 0}
    for clip in clips:
        truth = listed.get(clip.name, {})
        print(f"\n{clip.name}")
        try:
            report, _ = score_video(str(clip))
        except (ScoreError, VideoError) as exc:
            print(f"  not scored: {exc}")
            if truth.get("label"):
                labelled.append({**_truth_row(truth), "said": None, "confident": False, "exercise_said": None,
                                 "reps": None})
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
        if v.get("reason"):
            print(f"  {v['reason']}")
        for c in report.get("checks", []):
            if c["status"] in ("fault", "borderline"):
                print(f"  check {c['name']}: {c['status']}, {c.get('text', '')}")
        if truth.get("label"):
            said = None if v["label"] == "unsure" else "good" if v["label"] == "good_form" else "bad"
            labelled.append({**_truth_row(truth), "said": said, "confident": bool(v["confident"]),
                             "exercise_said": report["exercise"], "reps": len(reps)})
            print(f"  listed: {truth['label']}{' (' + truth['fault'] + ')' if truth.get('fault') else ''}")
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


def _truth_row(truth: dict) -> dict:
    return {"label": truth["label"], "exercise": truth.get("exercise"), "source": truth.get("source"),
            "reps_by_eye": truth.get("reps")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--list", type=Path, default=None, help="tab-separated list of the clips with reps counted by eye "
                                                           "(default: clips.tsv in the folder, if there is one)")
    p.add_argument("--docs", type=Path, default=None, help="replace the labelled-clips table in this markdown file")
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
    if tally["labelled"]:
        table = figures_table(tally["labelled"])
        print("\n" + table)
        if args.docs:
            listed = args.list or args.folder / "clips.tsv"
            replace_table(args.docs, table, f"`make bench-real DIR=<clips> LIST={listed.name}`, the demo's champions, "
                                            f"{len(tally['labelled'])} labelled clips (doubtful ones left out):")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`formclip`: the seed guide's scripts as one command, calling the same core code as the assets."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

from formclip_pipeline.core import environment
from formclip_pipeline.core.settings import (ExtractSettings, PretrainSettings, ScoringSettings, TrainSettings,
                                             ValidationSettings, add_flags, from_args, number, renamed_flag)
from formclip_pipeline.demo import DEMO_VIDEOS_PER_CLASS


def _exercises(value: str | None) -> list[str]:
    from formclip_pipeline.catalog import exercise_names, get_exercise

    if not value:
        return exercise_names()
    names = [v.strip() for v in value.split(",") if v.strip()]
    for n in names:
        get_exercise(n)
    return names


# The folders a command reads and writes when none is named, under FORMCLIP_HOME as every store is: a
# command then finds what another wrote, whichever directory each was run from.
TRAINING_VIDEOS = "data/training_data"
LABELED_FRAMES = "data/labeled_frames"
TRAINED_MODELS = "models/clip_finetuned_workout"


def _folder_flag(parser: argparse.ArgumentParser, flag: str, under_home: str, help: str | None = None) -> None:
    """A folder flag whose default is `under_home` below FORMCLIP_HOME (made absolute by `_folders`)."""
    parser.add_argument(flag, help=f"{help + ' ' if help else ''}(default: FORMCLIP_HOME/{under_home})")
    dest = flag.lstrip("-").replace("-", "_")
    parser.set_defaults(home_folders={**(parser.get_default("home_folders") or {}), dest: under_home})


def _folders(args: argparse.Namespace) -> None:
    """Every folder flag as an absolute path: one named on the command line from the working directory,
    a default under FORMCLIP_HOME. Paths are written into latest.json and the registry, which other
    commands read from other directories."""
    for dest, under_home in (getattr(args, "home_folders", None) or {}).items():
        given = getattr(args, dest)
        setattr(args, dest, str(Path(given).resolve() if given else environment.home() / under_home))


def _range(value: str) -> tuple[int, int]:
    lo, _, hi = value.partition("-")
    return int(lo), int(hi or lo)


def cmd_synth(args) -> int:
    from tqdm import tqdm

    from formclip_pipeline.catalog import VIEWS
    from formclip_pipeline.core.synth.generate import contact_sheet, dataset_specs, generate_dataset

    views = tuple(v.strip() for v in args.views.split(",")) if args.views else VIEWS
    bad = [v for v in views if v not in VIEWS]
    if bad:
        raise SystemExit(f"formclip synth: unknown view(s) {', '.join(bad)}; choose from {', '.join(VIEWS)}")
    specs = dataset_specs(args.seed, args.videos_per_class, _exercises(args.exercises), views, _range(args.sets),
                          _range(args.reps))
    t0 = time.perf_counter()
    bar = tqdm(total=len(specs), desc="rendering", unit="video", disable=args.quiet)
    results = generate_dataset(args.out, specs, workers=args.workers, progress=lambda _: bar.update())
    bar.close()
    wall = time.perf_counter() - t0
    video_s = sum(r["truth"]["duration_s"] for r in results)
    print(f"rendered {len(results)} videos, {video_s:.0f} s of video in {wall:.0f} s wall clock "
          f"({video_s / max(wall, 1e-9):.1f}x real time on {args.workers} worker(s)) into {args.out}")
    if args.preview:
        path = contact_sheet(results, Path(args.out) / "preview.png")
        print(f"contact sheet: {path}")
    return 0


def cmd_extract(args) -> int:
    import pandas as pd
    from tqdm import tqdm

    from formclip_pipeline.core.annotate import refresh_annotations, review_csv_path
    from formclip_pipeline.core.files import atomic_path
    from formclip_pipeline.core.frames import extract_dataset, unknown_exercise_folders, video_manifest

    out = Path(args.out)
    for line in unknown_exercise_folders(args.video_dir):
        print(f"skipping {line}", file=sys.stderr)
    for ex in _exercises(args.exercises):
        manifest = video_manifest(args.video_dir, ex)
        if manifest.empty:
            continue
        for rec in manifest[manifest["status"] != "ok"].itertuples():
            print(f"skipping {rec.error}", file=sys.stderr)  # each reason starts with the file's name
        bar = tqdm(total=int((manifest["status"] == "ok").sum()), desc=f"extracting {ex}", unit="video")
        frames, poses, failures = extract_dataset(manifest, args.frames_per_video, args.skip_first, args.skip_last,
                                                  args.split_seed, pose_fps=args.pose_fps,
                                                  progress=lambda _: bar.update(), test_share=args.test_share,
                                                  workers=args.workers)
        bar.close()
        for f in failures:
            print(f"no frames from {f['path']}: {f['error']}", file=sys.stderr)
        with atomic_path(out / f"{ex}_frames.parquet") as tmp:
            frames.to_parquet(tmp, index=False)
        with atomic_path(out / f"{ex}_poses.parquet") as tmp:
            poses.to_parquet(tmp, index=False)
        with atomic_path(out / f"{ex}_videos.parquet") as tmp:
            pd.DataFrame(manifest).to_parquet(tmp, index=False)
        refresh_annotations(frames, out, ex, warn=lambda m: print(m, file=sys.stderr))
        found = f"lifter found in {poses['detected'].mean():.0%} of {len(poses)} pose samples" if len(poses) else "no poses"
        print(f"{ex}: {len(frames)} frames from {frames['video_sha256'].nunique() if len(frames) else 0} videos "
              f"-> {out / f'{ex}_frames.parquet'}; {found} -> {out / f'{ex}_poses.parquet'}; "
              f"review copy {review_csv_path(out, ex)}")
    return 0


def _load_frames(data_dir: str, exercises: str | None):
    import pandas as pd

    found = {}
    for ex in _exercises(exercises):
        p = Path(data_dir) / f"{ex}_frames.parquet"
        if p.exists():
            found[ex] = pd.read_parquet(p)
    if not found:
        raise SystemExit(f"formclip: no *_frames.parquet in {data_dir}; run `formclip extract` first")
    return found


def _load_poses(data_dir: str, ex: str):
    """The pose table `formclip extract` wrote beside the frames, or None (a seed folder has none)."""
    import pandas as pd

    p = Path(data_dir) / f"{ex}_poses.parquet"
    return pd.read_parquet(p) if p.exists() else None


def cmd_train(args) -> int:
    from formclip_pipeline.core.annotate import refresh_annotations
    from formclip_pipeline.core import store
    from formclip_pipeline.core.model import ModelError
    from formclip_pipeline.core.distributed import DistributedTrainingError, check_strategy, train_distributed
    from formclip_pipeline.core.runs import train_run

    config = from_args(TrainSettings, args)
    check_strategy(config.strategy, config.nproc_per_node)
    summary = {}
    for ex, frames in _load_frames(args.data_dir, args.exercises).items():
        print(f"== {ex}")
        try:
            annotations = refresh_annotations(frames, args.data_dir, ex, warn=lambda m: print(m, file=sys.stderr))
            tracker = store.Tracker.for_home(environment.home())
            if config.nproc_per_node > 1:
                result = train_distributed(frames, annotations, ex, config, tracker, Path(args.output),
                                           config.nproc_per_node)
            else:
                result = train_run(frames, annotations, ex, config, tracker, Path(args.output),
                                   poses=_load_poses(args.data_dir, ex))
        except (ModelError, DistributedTrainingError) as exc:
            raise SystemExit(f"formclip train: {exc}")
        summary[ex] = result
        print(f"Model saved: {result['path']} (MLflow run {result['run_id']}, formclip-{ex} v{result['model_version']})")
    from formclip_pipeline.core.files import write_json

    write_json(Path(args.output) / "latest.json", summary)
    return 0


def cmd_evaluate(args) -> int:
    from formclip_pipeline.core import store
    from formclip_pipeline.core.model import ModelError
    from formclip_pipeline.core.runs import evaluate_run

    latest = Path(args.model) / "latest.json"
    if not latest.exists():
        raise SystemExit(f"formclip evaluate: {args.model} holds no trained models (no latest.json); run `formclip train`")
    checkpoints = json.loads(latest.read_text())
    frames_by_ex = _load_frames(args.data_dir, args.exercises)
    report, all_rows, unusable = {}, [], []
    for ex, ck in checkpoints.items():
        if ex not in frames_by_ex:
            continue
        if not Path(ck["path"]).is_dir():  # else it would be looked for on the model hub
            print(f"formclip evaluate: {ex}: its checkpoint {ck['path']}, named in {latest}, is not a folder here; "
                  f"train {ex} again", file=sys.stderr)
            unusable.append(ex)
            continue
        try:
            out = evaluate_run(ck, frames_by_ex[ex], store.Tracker.for_home(environment.home()),
                               store.MetricsStore.at_home(environment.home()), Path(args.model),
                               poses=_load_poses(args.data_dir, ex))
        except ModelError as exc:  # one model that cannot load leaves the others to be evaluated
            print(f"formclip evaluate: {ex}: {exc}", file=sys.stderr)
            unusable.append(ex)
            continue
        main = out["results"][ck["strategy"]]
        print(f"\n{ex.replace('_', ' ').title()}:")
        frame_acc = f"  (frames: {main['frame']['accuracy']:.2f})" if "accuracy" in main["frame"] else ""
        print(f"  Accuracy: {main['video']['accuracy']:.2f}{frame_acc}")
        print(f"  Precision: {main['video']['precision']:.2f}")
        print(f"  Recall: {main['video']['recall']:.2f}")
        print(f"  Balanced accuracy: {main['video']['balanced_accuracy']:.2f}  Macro-F1: {main['video']['macro_f1']:.2f}")
        if main.get("head_only"):
            print(f"  (the learned head alone, without the coach's checks: balanced accuracy "
                  f"{main['head_only']['balanced_accuracy']:.2f})")
        for origin, m in main["video"].get("by_origin", {}).items():
            print(f"    on {m['n']} {origin} test videos: balanced accuracy {m['balanced_accuracy']:.2f}  "
                  f"macro-F1 {m['macro_f1']:.2f}")
        for name, m in out["results"].items():
            if name != ck["strategy"]:
                print(f"  baseline {name}: balanced accuracy {m['video']['balanced_accuracy']:.2f}")
        for label, per in main["video"].get("per_class", {}).items():
            if per["support"]:
                print(f"    {label:<24} precision {per['precision']:.2f}  recall {per['recall']:.2f}  "
                      f"F1 {per['f1']:.2f}  ({per['support']} videos)")
        print(f"  {out['gate']['reason']}")
        all_rows.append(out["rows"])
        entry = {}
        for name, m in out["results"].items():
            prefix = "" if name == ck["strategy"] else f"{name}_"
            entry.update({f"{prefix}video_balanced_accuracy": m["video"]["balanced_accuracy"],
                          f"{prefix}video_macro_f1": m["video"]["macro_f1"],
                          f"{prefix}frame_accuracy": m["frame"].get("accuracy")})
        report[ex] = entry
    if all_rows:
        import pandas as pd

        from formclip_pipeline.core.files import atomic_path

        table = Path(args.model) / "evaluation_metrics.parquet"
        with atomic_path(table) as tmp:
            pd.concat(all_rows, ignore_index=True).to_parquet(tmp, index=False)
        print(f"\nmetrics per class and baseline: {table} (and DuckDB table evaluation_metrics)")
    if args.json:
        from formclip_pipeline.core.files import write_json

        write_json(args.json, report)
    return 2 if unusable else 0


def _frames_and_annotations(data_dir: Path, ex: str, refresh: bool):
    """Frames and merged annotations of one exercise, from `formclip extract` output or a seed folder,
    and the rows that could not be used. With `refresh`, the review copy and the orphans file are
    written and each refused row is named on stderr; without it, nothing is written and the refused
    rows are returned."""
    import pandas as pd

    from formclip_pipeline.core.annotate import import_labeled_dir, refresh_annotations, review_merge

    parquet = data_dir / f"{ex}_frames.parquet"
    if parquet.exists():
        frames = pd.read_parquet(parquet)
        if refresh:
            return frames, refresh_annotations(frames, data_dir, ex, warn=lambda m: print(m, file=sys.stderr)), []
        merge = review_merge(frames, data_dir, ex)
        return frames, merge.annotations, merge.refused
    return import_labeled_dir(data_dir, ex)


def _csv_exercise(csv_file: Path) -> str:
    from formclip_pipeline.catalog import get_exercise

    suffix = "_training_data.csv"
    if not csv_file.name.endswith(suffix):
        raise SystemExit(f"formclip: {csv_file.name} is not a review CSV (expected <exercise>{suffix})")
    ex = csv_file.name[: -len(suffix)]
    get_exercise(ex)
    return ex


def cmd_annotate(args) -> int:
    from formclip_pipeline.core.annotate import AnnotationError, apply_drafts, write_review_copy
    from formclip_pipeline.core.claude import DraftSettings, draft_descriptions

    csv_file = Path(args.csv_file)
    if not csv_file.exists():
        raise SystemExit(f"formclip annotate: {csv_file} does not exist; run `formclip extract` first")
    ex, data_dir = _csv_exercise(csv_file), csv_file.parent
    try:
        # A dry run writes nothing, not even the merged review copy.
        frames, ann, problems = _frames_and_annotations(data_dir, ex, refresh=not (args.ai and args.dry_run))
    except AnnotationError as exc:
        raise SystemExit(f"formclip annotate: {exc}")
    for p in problems:
        print(f"skipping {p}", file=sys.stderr)
    if not args.ai:
        if not (data_dir / f"{ex}_frames.parquet").exists():  # a seed folder, imported: nothing is written yet
            write_review_copy(frames, ann, data_dir, ex)
        print(f"{csv_file}: {len(ann)} rows; sources " + ", ".join(f"{k}={v}" for k, v in ann['source'].value_counts().items()))
        return 0
    settings = DraftSettings(model=args.claude_model, max_requests=args.max_requests, concurrency=args.concurrency)
    images = dict(zip(ann["frame_path"], frames["image"]))
    items = [{"key": r.frame_path, "image": images[r.frame_path], "exercise": r.exercise, "form_class": r.form_class}
             for r in ann.itertuples() if r.source == "template"]
    result = draft_descriptions(items, settings, data_dir / ".formclip" / "ai_drafts.jsonl", dry_run=args.dry_run,
                                log=lambda _: None)
    print(result.message)
    if args.dry_run:
        return 0
    if result.drafts:
        ann = apply_drafts(ann, result.drafts)
    write_review_copy(frames, ann, data_dir, ex)
    print(f"{len(result.drafts)} rows marked ai_draft in {csv_file}: review them, then set source to human "
          f"(or edit the text) to accept")
    return 0


def cmd_validate(args) -> int:
    from formclip_pipeline.core.annotate import AnnotationError
    from formclip_pipeline.core.files import atomic_path
    from formclip_pipeline.core.validate import blocking_errors, summary, validate

    import pandas as pd

    data_dir = Path(args.data_dir)
    thresholds = from_args(ValidationSettings, args)
    reports = []
    for ex in _exercises(args.exercises):
        if not ((data_dir / f"{ex}_frames.parquet").exists() or (data_dir / f"{ex}_training_data.csv").exists()):
            continue
        try:
            frames, ann, problems = _frames_and_annotations(data_dir, ex, refresh=False)
        except AnnotationError as exc:
            raise SystemExit(f"formclip validate: {exc}")
        report = validate(ann, ex, thresholds, frames)
        if problems:
            extra = pd.DataFrame([{"exercise": ex, "check": "unreadable_rows", "severity": "error", "passed": False,
                                   "value": float(len(problems)), "message": "; ".join(problems[:5])}])
            report = pd.concat([report, extra], ignore_index=True)
        print(f"\n{ex}:\n" + summary(report))
        reports.append(report)
    if not reports:
        raise SystemExit(f"formclip validate: no review CSVs or frame tables in {data_dir}")
    full = pd.concat(reports, ignore_index=True)
    with atomic_path(data_dir / "validation_report.parquet") as tmp:
        full.to_parquet(tmp, index=False)
    errors = blocking_errors(full)
    print(f"\n{len(errors)} errors, {int(((~full['passed']) & (full['severity'] == 'warning')).sum())} warnings; "
          f"report saved to {data_dir / 'validation_report.parquet'}")
    return 1 if len(errors) else 0


def cmd_import(args) -> int:
    import shutil

    from formclip_pipeline.core.annotate import AnnotationError, import_labeled_dir, review_csv_path, write_review_copy
    from formclip_pipeline.core.files import atomic_path

    data_dir = Path(args.data_dir)
    done = 0
    for ex in _exercises(args.exercises):
        csv = review_csv_path(data_dir, ex)
        if not csv.exists():
            continue
        try:
            frames, ann, problems = import_labeled_dir(data_dir, ex, seed=args.split_seed)
        except AnnotationError as exc:
            raise SystemExit(f"formclip import-labeled: {exc}")
        for p in problems:
            print(f"skipping {p}", file=sys.stderr)
        backup = csv.with_name(csv.stem + ".seed.csv")
        if not backup.exists():
            shutil.copy2(csv, backup)  # the original stays as it was
        with atomic_path(data_dir / f"{ex}_frames.parquet") as tmp:
            frames.to_parquet(tmp, index=False)
        write_review_copy(frames, ann, data_dir, ex)
        print(f"{ex}: imported {len(frames)} frames from {frames['source_video'].nunique()} videos "
              f"({int((ann['source'] == 'human').sum())} with descriptions); original CSV kept as {backup.name}")
        done += 1
    if not done:
        raise SystemExit(f"formclip import-labeled: no <exercise>_training_data.csv in {data_dir}")
    return 0


def cmd_score(args) -> int:
    from formclip_pipeline.core.files import write_json, write_text
    from formclip_pipeline.core.overlay import check_overlay_path, write_overlay
    from formclip_pipeline.core.report import relative_src, render_html
    from formclip_pipeline.core.errors import ScoreError
    from formclip_pipeline.core.score import score_video
    from formclip_pipeline.core.video import VideoError

    try:
        if args.overlay:
            check_overlay_path(args.video, args.overlay)
        report, extras = score_video(args.video, args.exercise, args.model,
                                     settings=from_args(ScoringSettings, args))
        if args.overlay:
            from tqdm import tqdm

            # Shown only once writing has taken 10 s: a short clip's overlay is done before a bar is read.
            with tqdm(desc="overlay", unit="frame", delay=10) as bar:
                def progress(done: int, expected: int) -> None:
                    bar.total = expected
                    bar.update(done - bar.n)

                write_overlay(args.video, args.overlay, report, extras, progress=progress)
            print(f"overlay: {args.overlay}", file=sys.stderr)
    except (ScoreError, VideoError) as exc:
        print(f"formclip score: {exc}", file=sys.stderr)
        return 2
    note = report.get("exercise_recognition", {}).get("note")
    if note:  # the image model could not be loaded: say which, and what recognised the exercise instead
        print(f"formclip score: {note}", file=sys.stderr)
    if args.json:
        write_json(args.json, report)
    else:
        print(json.dumps({k: v for k, v in report.items() if k != "video_info"}, indent=2))
    if args.html:
        write_text(args.html, render_html(report, extras,
                                          relative_src(args.overlay, args.html) if args.overlay else None))
        print(f"report: {args.html}", file=sys.stderr)
    return 0


def cmd_pretrain(args) -> int:
    from formclip_pipeline.core import model as M
    from formclip_pipeline.core.bases import building, cache_entry
    from formclip_pipeline.core.pretrain import describe_pretraining, pretrain_base

    out = args.out or str(cache_entry(M.TINY_MODEL))
    config = from_args(PretrainSettings, args)
    # Into the cache, under the lock a run building the same base meanwhile would take.
    with contextlib.nullcontext() if args.out else building(M.TINY_MODEL):
        figures = pretrain_base(out, config)
    print(f"base saved to {out}, {describe_pretraining(figures)}. Use it with --base-model {out if args.out else M.TINY_MODEL}")
    return 0


def cmd_demo(args) -> int:
    from formclip_pipeline.demo import run_demo

    return run_demo(videos_per_class=args.videos_per_class, epochs=args.epochs, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:

    p = argparse.ArgumentParser(prog="formclip", description="Judge workout form from video with a fine-tuned CLIP.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="render labelled synthetic workout videos with ground truth")
    s.add_argument("--out", required=True)
    s.add_argument("--videos-per-class", type=number(int, 1), default=4)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--exercises", help="comma-separated; default: all in the catalogue")
    s.add_argument("--views", help="comma-separated from side,front,oblique; default: all")
    s.add_argument("--sets", default="1-3", help="range of sets per video, e.g. 1-3")
    s.add_argument("--reps", default="3-12", help="range of reps per set, e.g. 3-12")
    s.add_argument("--workers", type=number(int, 1), default=min(2, os.cpu_count() or 1))
    s.add_argument("--preview", action="store_true", help="write preview.png, a contact sheet")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_synth)

    e = sub.add_parser("extract", help="sample labelled frames from a folder of videos (extract_training_frames.py)")
    _folder_flag(e, "--video-dir", TRAINING_VIDEOS)
    _folder_flag(e, "--out", LABELED_FRAMES)
    add_flags(e, ExtractSettings)
    e.add_argument("--exercises")
    e.set_defaults(func=cmd_extract)

    t = sub.add_parser("train", help="fine-tune CLIP per exercise (finetune_clip.py)")
    _folder_flag(t, "--data-dir", LABELED_FRAMES)
    _folder_flag(t, "--output", TRAINED_MODELS)
    add_flags(t, TrainSettings)
    t.add_argument("--exercises")
    t.set_defaults(func=cmd_train)

    v = sub.add_parser("evaluate", help="per-exercise metrics on held-out videos (evaluate_model.py)")
    _folder_flag(v, "--model", TRAINED_MODELS, "a `formclip train --output` folder")
    _folder_flag(v, "--data-dir", LABELED_FRAMES)
    v.add_argument("--json")
    v.add_argument("--exercises")
    v.set_defaults(func=cmd_evaluate)

    a = sub.add_parser("annotate", help="refresh the review CSV; with --ai, draft descriptions with Claude "
                                        "(generate_descriptions_ai.py)")
    a.add_argument("--csv-file", required=True, help="<data-dir>/<exercise>_training_data.csv")
    a.add_argument("--ai", action="store_true", help="draft descriptions for template rows with Claude")
    a.add_argument("--dry-run", action="store_true", help="print how many requests and the estimated cost; send none")
    a.add_argument("--claude-model", default="claude-sonnet-4-5", help="the Claude model that drafts (default: %(default)s)")
    a.add_argument("--model", dest="claude_model", action=renamed_flag("--claude-model"), help=argparse.SUPPRESS)
    a.add_argument("--max-requests", type=number(int, 0), default=500, help="request budget for this run")
    a.add_argument("--concurrency", type=number(int, 1, 64), default=4)
    a.set_defaults(func=cmd_annotate)

    va = sub.add_parser("validate", help="check labelled frames before training (validate_training_data.py)")
    _folder_flag(va, "--data-dir", LABELED_FRAMES)
    va.add_argument("--exercises")
    add_flags(va, ValidationSettings)
    va.set_defaults(func=cmd_validate)

    im = sub.add_parser("import-labeled", help="adopt a seed-style labelled-frames folder (CSVs and JPEGs, no videos)")
    _folder_flag(im, "--data-dir", LABELED_FRAMES)
    im.add_argument("--split-seed", type=int, default=0)
    im.add_argument("--exercises")
    im.set_defaults(func=cmd_import)

    sc = sub.add_parser("score", help="sets, reps, form score, timestamped issues for a new video (batch_runner.py)")
    sc.add_argument("video")
    sc.add_argument("--exercise", help="default: recognised from the video")
    sc.add_argument("--model", help="a `formclip train --output` folder, a checkpoint directory, or models:/formclip-<exercise>@champion (the default)")
    sc.add_argument("--json", help="write the JSON report here instead of printing it")
    sc.add_argument("--html", help="write the self-contained HTML report here")
    sc.add_argument("--overlay", help="also write the video with the skeleton, the reps counted, the main joint "
                                      "angle and each flagged rep's fault drawn on it (H.264 MP4); --html then "
                                      "plays it")
    add_flags(sc, ScoringSettings)
    sc.set_defaults(func=cmd_score)

    pt = sub.add_parser("pretrain", help="pretrain a small CLIP contrastively on synthetic frames captioned from pose truth")
    pt.add_argument("--out", help="directory for the pretrained base (default: the cache entry that --base-model "
                                   "formclip-tiny loads)")
    add_flags(pt, PretrainSettings)
    pt.set_defaults(func=cmd_pretrain)

    d = sub.add_parser("demo", help="render synthetic data and materialize every asset through Dagster")
    d.add_argument("--videos-per-class", type=number(int, 1), default=DEMO_VIDEOS_PER_CLASS)
    d.add_argument("--epochs", type=number(int, 1), default=6)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # --help and argument errors end here, before any heavy import
    _folders(args)
    from formclip_pipeline.core.annotate import AnnotationError
    from formclip_pipeline.core.store import StoreError

    try:
        return args.func(args)
    except (KeyError, ValueError, OSError, StoreError, AnnotationError) as exc:
        print(f"formclip {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

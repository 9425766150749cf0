"""`formclip`: the seed guide's scripts as one command, calling the same core code as the assets."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _exercises(value: str | None) -> list[str]:
    from formclip_pipeline.catalog import exercise_names, get_exercise

    if not value:
        return exercise_names()
    names = [v.strip() for v in value.split(",") if v.strip()]
    for n in names:
        get_exercise(n)
    return names


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

    from formclip_pipeline.core.files import atomic_path
    from formclip_pipeline.core.frames import extract_dataset, video_manifest

    out = Path(args.out)
    for ex in _exercises(args.exercises):
        manifest = video_manifest(args.video_dir, ex)
        if manifest.empty:
            continue
        for rec in manifest[manifest["status"] != "ok"].itertuples():
            print(f"skipping {rec.file_name}: {rec.error}", file=sys.stderr)
        bar = tqdm(total=int((manifest["status"] == "ok").sum()), desc=f"extracting {ex}", unit="video")
        frames, failures = extract_dataset(manifest, args.frames_per_video, args.skip_first, args.skip_last,
                                           args.split_seed, progress=lambda _: bar.update())
        bar.close()
        for f in failures:
            print(f"no frames from {f['path']}: {f['error']}", file=sys.stderr)
        with atomic_path(out / f"{ex}_frames.parquet") as tmp:
            frames.to_parquet(tmp, index=False)
        with atomic_path(out / f"{ex}_videos.parquet") as tmp:
            pd.DataFrame(manifest).to_parquet(tmp, index=False)
        print(f"{ex}: {len(frames)} frames from {frames['video_sha256'].nunique() if len(frames) else 0} videos "
              f"-> {out / f'{ex}_frames.parquet'}")
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


def cmd_train(args) -> int:
    from formclip_pipeline.core.annotate import template_annotations
    from formclip_pipeline.core.model import ModelError
    from formclip_pipeline.core.runs import train_run
    from formclip_pipeline.core.train import TrainConfig

    config = TrainConfig(base_model=args.model, strategy=args.strategy, multi_class=args.multi_class,
                         epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                         weight_decay=args.weight_decay, seed=args.seed)
    summary = {}
    for ex, frames in _load_frames(args.data_dir, args.exercises).items():
        print(f"== {ex}")
        try:
            result = train_run(frames, template_annotations(frames), ex, config, os.getcwd(), Path(args.output))
        except ModelError as exc:
            raise SystemExit(f"formclip train: {exc}")
        summary[ex] = result
        print(f"Model saved: {result['path']} (MLflow run {result['run_id']}, formclip-{ex} v{result['model_version']})")
    from formclip_pipeline.core.files import write_json

    write_json(Path(args.output) / "latest.json", summary)
    return 0


def cmd_evaluate(args) -> int:
    from formclip_pipeline.core.runs import evaluate_run

    latest = Path(args.model) / "latest.json"
    if not latest.exists():
        raise SystemExit(f"formclip evaluate: {args.model} holds no trained models (no latest.json); run `formclip train`")
    checkpoints = json.loads(latest.read_text())
    frames_by_ex = _load_frames(args.data_dir, args.exercises)
    report = {}
    for ex, ck in checkpoints.items():
        if ex not in frames_by_ex:
            continue
        out = evaluate_run(ck, frames_by_ex[ex], os.getcwd(), Path("data") / "formclip.duckdb", Path(args.model))
        main = out["results"][ck["strategy"]]
        print(f"\n{ex.replace('_', ' ').title()}:")
        print(f"  Accuracy: {main['video']['accuracy']:.2f}  (frames: {main['frame']['accuracy']:.2f})")
        print(f"  Precision: {main['video']['precision']:.2f}")
        print(f"  Recall: {main['video']['recall']:.2f}")
        print(f"  Balanced accuracy: {main['video']['balanced_accuracy']:.2f}  Macro-F1: {main['video']['macro_f1']:.2f}")
        for name, m in out["results"].items():
            if name != ck["strategy"]:
                print(f"  baseline {name}: balanced accuracy {m['video']['balanced_accuracy']:.2f}")
        print(f"  {out['gate']['reason']}")
        entry = {}
        for name, m in out["results"].items():
            prefix = "" if name == ck["strategy"] else f"{name}_"
            entry.update({f"{prefix}video_balanced_accuracy": m["video"]["balanced_accuracy"],
                          f"{prefix}video_macro_f1": m["video"]["macro_f1"],
                          f"{prefix}frame_accuracy": m["frame"]["accuracy"]})
        report[ex] = entry
    if args.json:
        from formclip_pipeline.core.files import write_json

        write_json(args.json, report)
    return 0


def cmd_demo(args) -> int:
    from formclip_pipeline.demo import run_demo

    return run_demo(videos_per_class=args.videos_per_class, epochs=args.epochs, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="formclip", description="Judge workout form from video with a fine-tuned CLIP.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="render labelled synthetic workout videos with ground truth")
    s.add_argument("--out", required=True)
    s.add_argument("--videos-per-class", type=int, default=4)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--exercises", help="comma-separated; default: all in the catalogue")
    s.add_argument("--views", help="comma-separated from side,front,oblique; default: all")
    s.add_argument("--sets", default="1-3", help="range of sets per video, e.g. 1-3")
    s.add_argument("--reps", default="3-12", help="range of reps per set, e.g. 3-12")
    s.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    s.add_argument("--preview", action="store_true", help="write preview.png, a contact sheet")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_synth)

    e = sub.add_parser("extract", help="sample labelled frames from a folder of videos (extract_training_frames.py)")
    e.add_argument("--video-dir", default="data/training_data")
    e.add_argument("--out", default="data/labeled_frames")
    e.add_argument("--frames-per-video", type=int, default=25)
    e.add_argument("--skip-first", type=float, default=1.0)
    e.add_argument("--skip-last", type=float, default=1.0)
    e.add_argument("--split-seed", type=int, default=0)
    e.add_argument("--exercises")
    e.set_defaults(func=cmd_extract)

    t = sub.add_parser("train", help="fine-tune CLIP per exercise (finetune_clip.py)")
    t.add_argument("--data-dir", default="data/labeled_frames")
    t.add_argument("--output", default="models/clip_finetuned_workout")
    t.add_argument("--epochs", type=int, default=5)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--learning-rate", type=float, default=1e-5)
    t.add_argument("--weight-decay", type=float, default=0.1)
    t.add_argument("--model", default="openai/clip-vit-base-patch32",
                   help="base CLIP: hub name, local directory, or formclip-tiny (built offline)")
    t.add_argument("--multi-class", action="store_true")
    t.add_argument("--strategy", default="flyp", choices=["flyp", "seed_contrastive", "linear_probe", "zero_shot"])
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--exercises")
    t.set_defaults(func=cmd_train)

    v = sub.add_parser("evaluate", help="per-exercise metrics on held-out videos (evaluate_model.py)")
    v.add_argument("--model", default="models/clip_finetuned_workout")
    v.add_argument("--data-dir", default="data/labeled_frames")
    v.add_argument("--json")
    v.add_argument("--exercises")
    v.set_defaults(func=cmd_evaluate)

    d = sub.add_parser("demo", help="render synthetic data and materialize every asset through Dagster")
    d.add_argument("--videos-per-class", type=int, default=3)
    d.add_argument("--epochs", type=int, default=6)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError) as exc:
        print(f"formclip {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""`make bench`: figures on fresh synthetic videos with known truth. Prints numbers; asserts nothing.

Rep counting (normalised MAE, off-by-one accuracy), set-count accuracy, rep start error, per-rep
fault F1 with the registered champions when there are any, scoring speed on 2 cores at 720p
with the small model and with ViT-B/32's architecture, against a plain forward pass, and the wall
time of scoring a 10-second clip from a cold process, split into imports, lookup, load and work.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from formclip_pipeline.catalog import GOOD_CLASS, exercise_names
from formclip_pipeline.core import bases as B
from formclip_pipeline.core import model as M
from formclip_pipeline.core import reps as R
from formclip_pipeline.core.frames import frames_and_poses
from formclip_pipeline.core.settings import POSE_FPS
from formclip_pipeline.core.sampling import sample_video, spread_to_frames
from formclip_pipeline.core.score import score_frames
from formclip_pipeline.core.settings import ScoringSettings
from formclip_pipeline.core.synth.generate import VideoSpec, dataset_specs, generate_dataset, render_video


def rep_benchmark(results: list[dict], fps: float) -> dict:
    """Rep counting as scoring does it (the joints, or the pixels where their rhythm is steadier),
    and by the joints alone and the pixels alone."""
    import pandas as pd

    from formclip_pipeline.catalog import get_exercise
    from formclip_pipeline.core.measures import smoothed_measures
    from formclip_pipeline.core.pose import stack_landmarks
    from formclip_pipeline.core.reps import joint_reps
    from formclip_pipeline.core.score import find_reps

    methods = ("scoring", "joints", "pixels")
    figures = {m: {"err": [], "obo": [], "sets": [], "start": []} for m in methods}
    from_pixels = 0
    for res in results:
        truth = res["truth"]
        pose_rows: list[dict] = []
        times, frames, _ = sample_video(res["video"], ScoringSettings(fps=fps), poses_out=pose_rows)
        measures = smoothed_measures(*stack_landmarks(pd.DataFrame(pose_rows))[:2])
        scoring, used = find_reps(truth["exercise"], measures, frames, fps)
        from_pixels += used == "pixels"
        counts = (scoring, joint_reps(measures, get_exercise(truth["exercise"]).primary_measure, fps), R.count_reps(R.motion_features(frames), fps))
        for method, spans in zip(methods, counts):
            f = figures[method]
            n_true, n = len(truth["reps"]), len(spans)
            f["err"].append(abs(n - n_true) / n_true)
            f["obo"].append(abs(n - n_true) <= 1)
            f["sets"].append(max((s.set_number for s in spans), default=0) == truth["sets"])
            starts = np.array([times[min(s.start, len(times) - 1)] for s in spans])
            if len(starts):
                f["start"] += [float(np.min(np.abs(starts - r["start_s"]))) for r in truth["reps"]]
    out = {"videos": len(results), "scoring_took_the_pixels_count": from_pixels}
    for method, f in figures.items():
        out[method] = {"rep_mae_normalised": round(float(np.mean(f["err"])), 3),
                       "off_by_one": round(float(np.mean(f["obo"])), 3), "set_accuracy": round(float(np.mean(f["sets"])), 3),
                       "rep_start_error_s": round(float(np.median(f["start"])), 3) if f["start"] else None}
    return out


def fault_f1(results: list[dict], root: str, fps: float) -> dict | None:
    from formclip_pipeline.core.errors import ScoreError
    from formclip_pipeline.core.score import score_video

    tp = fp = fn = 0
    used = 0
    for res in results:
        truth = res["truth"]
        try:
            out, _ = score_video(res["video"], truth["exercise"], root=root, settings=ScoringSettings(fps=fps))
        except ScoreError:
            continue
        used += 1
        for r in truth["reps"]:
            mid = (r["start_s"] + r["end_s"]) / 2
            hit = [x for s in out["sets"] for x in s["reps"] if x["start"] <= mid <= x["end"]]
            said_bad = bool(hit) and hit[0]["form_class"] != GOOD_CLASS
            tp += said_bad and r["fault"] is not None
            fp += said_bad and r["fault"] is None
            fn += (not said_bad) and r["fault"] is not None
    if not used:
        return None
    return {"videos": used, "per_rep_fault_f1": 2 * tp / max(2 * tp + fp + fn, 1)}


def speed(tmp: Path, seconds: int = 60) -> dict:
    from formclip_pipeline.core.clip_classifier import Classifier
    from formclip_pipeline.catalog import get_exercise

    res = render_video(VideoSpec("squat", "good_form", 999, "speed720p", sets=(2, 2), reps=(8, 10),
                                 size=(1280, 720), fps=30), tmp)
    duration = res["truth"]["duration_s"]
    out = {"video_s": round(duration, 1)}
    ex = get_exercise("squat")
    tok = M.build_tokenizer()
    for name in ("formclip-tiny", "vit-b32-architecture"):
        if name == "formclip-tiny":
            clip = B.load_clip(M.TINY_MODEL)
        else:
            config = M.vit_b32_config()
            config.text_config.vocab_size = len(tok)
            from transformers import CLIPModel

            clip = M.LoadedClip(CLIPModel(config).eval(), M.build_processor(tok, 224), name, {})
        clf = Classifier(clip, "squat", ex.labels(True), ex.prompts(True), True)
        settings = ScoringSettings()
        for with_pose in (False, True):
            t0 = time.perf_counter()
            parts = []
            predict = clf.predictor()
            times, frames, info = sample_video(res["video"], settings, on_batch=lambda b: parts.append(predict(b)),
                                               poses_out=[] if with_pose else None)
            proba = spread_to_frames(np.concatenate(parts), len(times), info["image_step"])
            score_frames(times, frames, proba, clf.labels, "squat", settings.fps)
            if with_pose:
                with_pose_s = time.perf_counter() - t0
            else:
                pipeline = time.perf_counter() - t0
        t1 = time.perf_counter()
        with torch.no_grad():
            pixels = M.preprocess(frames[::info["image_step"]], clip)
            for i in range(0, len(pixels), 64):
                clip.model.get_image_features(pixel_values=pixels[i:i + 64])
        forward = time.perf_counter() - t1
        out[name] = {"seconds_per_minute_of_video": round(pipeline / duration * 60, 2),
                     "times_faster_than_real_time": round(duration / pipeline, 2),
                     "pipeline_over_forward_pass": round(pipeline / forward, 2), "frames": len(frames),
                     "image_model_frames": len(pixels),
                     "with_pose_times_faster_than_real_time": round(duration / with_pose_s, 2)}
    for pose_fps in (4.0, POSE_FPS):  # the figure at 4 per second, and FormClip's rate
        t0 = time.perf_counter()
        _, poses = frames_and_poses(res["video"], [], pose_fps=pose_fps)
        pose_s = time.perf_counter() - t0
        out[f"pose_extraction_{pose_fps:g}_per_s"] = {
            "times_faster_than_real_time": round(duration / pose_s, 2), "pose_frames_per_s": round(len(poses) / pose_s, 1),
            "lifter_found": round(float(np.mean([p["detected"] for p in poses])), 3)}
    return out


COLD_START = """
import sys, time
t0 = time.perf_counter()
import mediapipe.python.solutions.pose, mlflow, torch, transformers  # what scoring uses, imported up front
from formclip_pipeline.core import score as S
from formclip_pipeline.core.registry import resolve_model
from formclip_pipeline.core.pose_classifier import is_pose_checkpoint, load_pose_classifier
from formclip_pipeline.core.clip_classifier import load_classifier
t1 = time.perf_counter()
path, _ = resolve_model(None, "squat", sys.argv[2])
t2 = time.perf_counter()
load_pose_classifier(path) if is_pose_checkpoint(path) else load_classifier(path)
t3 = time.perf_counter()
S.score_video(sys.argv[1], "squat", path, sys.argv[2])
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, (t4 - t3) - (t3 - t2))
"""


def cold_start(tmp: Path, root: str) -> dict | None:
    """Wall time of scoring a 10-second 720p clip in a fresh process, as each run of the watched
    folder pays it, split into imports, the registry lookup, loading the model and the work itself
    (scoring minus a second load); and a cold `formclip score` to a JSON report, with the exercise
    given and recognised, each beside the report's own `seconds_to_score`. Needs a squat champion
    (make demo)."""
    import subprocess
    import sys

    from formclip_pipeline.core.errors import ScoreError
    from formclip_pipeline.core.registry import resolve_model

    try:
        resolve_model(None, "squat", root)
    except ScoreError:
        return None
    res = render_video(VideoSpec("squat", "good_form", 998, "ten_seconds", sets=(1, 1), reps=(3, 3),
                                 size=(1280, 720), fps=30), tmp)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", COLD_START, res["video"], root], capture_output=True, text=True,
                         check=True).stdout.split()[-4:]
    imports, lookup, load, work = (round(float(x), 2) for x in out)
    figures = {"video_s": round(res["truth"]["duration_s"], 1), "process_s": round(time.perf_counter() - t0, 2),
               "imports_s": imports, "model_lookup_s": lookup, "model_load_s": load, "work_s": work}
    report = tmp / "cold.json"
    for name, given in (("formclip_score", ["--exercise", "squat"]), ("formclip_score_recognising", [])):
        t0 = time.perf_counter()
        subprocess.run([str(Path(sys.executable).with_name("formclip")), "score", res["video"], *given,
                        "--json", str(report)], capture_output=True, text=True, check=True,
                       env={**os.environ, "FORMCLIP_HOME": root})
        figures[f"{name}_s"] = round(time.perf_counter() - t0, 2)
        figures[f"{name}_report_s"] = json.loads(report.read_text())["seconds_to_score"]
    return figures


def peak_memory(tmp: Path) -> dict:
    """Peak resident memory of sampling a 1-minute and a 60-minute 720p video as scoring does (pose
    included), each in a fresh process: the frames kept are bounded by ScoringSettings.max_frames."""
    import subprocess
    import sys

    from formclip_pipeline.core.video import ffmpeg_exe

    out = {}
    for minutes in (1, 60):
        video = tmp / f"plain_{minutes}min.mp4"
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size=1280x720:rate=10:duration={minutes * 60}", "-c:v", "libx264", "-preset",
                        "ultrafast", "-pix_fmt", "yuv420p", str(video)], check=True)
        code = ("import resource, sys; from formclip_pipeline.core.sampling import sample_video; from formclip_pipeline.core.settings import ScoringSettings; "
                "t, f, info = sample_video(sys.argv[1], ScoringSettings(), poses_out=[]); "
                "print(len(f), info['sampled_fps'], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        t0 = time.perf_counter()
        frames, fps, rss_kb = subprocess.run([sys.executable, "-c", code, str(video)], capture_output=True, text=True,
                                             check=True).stdout.split()[-3:]
        out[f"{minutes}_min"] = {"peak_rss_mb": round(int(rss_kb) / 1024), "frames_kept": int(frames),
                                 "sampled_fps": round(float(fps), 2), "seconds": round(time.perf_counter() - t0)}
        video.unlink()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos-per-class", type=int, default=2)
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--fps", type=float, default=ScoringSettings().fps)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 2)
    with tempfile.TemporaryDirectory() as tmp:
        specs = dataset_specs(args.seed, args.videos_per_class, exercise_names())
        t0 = time.perf_counter()
        results = generate_dataset(Path(tmp) / "videos", specs)
        video_s = sum(r["truth"]["duration_s"] for r in results)
        print(f"rendered {len(results)} test videos ({video_s / 60:.1f} min) in {time.perf_counter() - t0:.0f} s")
        print("rep counting:", rep_benchmark(results, args.fps))
        f1 = fault_f1(results, os.environ.get("FORMCLIP_HOME", os.getcwd()), args.fps)
        print("per-rep fault detection with the registered champions:",
              f1 or "no champions registered here (run make demo first)")
        print("speed at 720p on this machine:", speed(Path(tmp)))
        print("scoring a 10-second clip from a cold process:",
              cold_start(Path(tmp), os.environ.get("FORMCLIP_HOME", os.getcwd())) or "no squat champion here")
        print("peak memory of scoring's sampling, 720p:", peak_memory(Path(tmp)))


if __name__ == "__main__":
    main()

"""Score a new video: exercise, sets, reps, a 0-100 form score, timestamped issues, advice.

The form score of a set is 100 times the mean probability of good form over the set's sampled
frames; the overall score is the frame-weighted mean over sets. A rep takes the class with the
highest mean probability over its frames. Consecutive reps with the same fault become one issue
("shallow depth on reps 3-4") stamped with the first rep's start time.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from formclip_pipeline.catalog import GOOD_CLASS, get_exercise
from formclip_pipeline.core import reps as R
from formclip_pipeline.core.pose import POSE_FPS
from formclip_pipeline.core.video import VideoError, decode, letterbox, probe


class ScoreError(Exception):
    """Scoring cannot go on; the message is one sentence a person can act on."""


@dataclass(frozen=True)
class ScoreSettings:
    fps: float = POSE_FPS  # frames sampled per second of video: the rate pose models are trained at
    frame_size: int = 224
    max_duration_s: float = 3600.0
    recognise_min_confidence: float = 0.5
    min_lifter_found: float = 0.5  # share of sampled frames with the lifter that a pose model needs


def mmss(t: float) -> str:
    t = max(0, int(t))
    return f"{t // 60}:{t % 60:02d}"


def resolve_model(ref: str | None, exercise: str, root: str | None = None) -> tuple[str, str]:
    """(local checkpoint directory, description) for a directory or models:/formclip-<ex>@champion."""
    from formclip_pipeline.core import store

    root = root or os.environ.get("FORMCLIP_HOME", os.getcwd())
    ref = ref or f"models:/{store.REGISTERED_PREFIX}{exercise}@{store.CHAMPION}"
    if not ref.startswith("models:/"):
        if not Path(ref).is_dir():
            raise ScoreError(f"model {ref} is not a checkpoint directory")
        return ref, ref
    name, _, alias = ref[len("models:/"):].partition("@")
    if not (Path(root) / "mlruns" / "mlflow.db").exists():
        raise ScoreError(f"no model registry at {Path(root) / 'mlruns'}: train {name} first (make demo, or "
                         f"formclip train) or pass --model DIR")
    from mlflow import MlflowClient

    store._setup(root, "formclip")
    client = MlflowClient()
    try:
        mv = client.get_model_version_by_alias(name, alias or store.CHAMPION) if alias else \
            client.get_latest_versions(name)[0]
    except Exception:
        raise ScoreError(f"there is no {alias or 'registered'} version of {name} yet: train and evaluate one "
                         f"(make demo, or materialize finetuned_checkpoint and evaluation_metrics for {exercise}), "
                         f"or pass --model DIR") from None
    local = mv.tags.get("local_path")
    if local and Path(local).is_dir():
        return local, f"{ref} (version {mv.version})"
    import mlflow

    return mlflow.artifacts.download_artifacts(client.get_model_version_download_uri(name, mv.version)), \
        f"{ref} (version {mv.version})"


def sample_video(path: str, settings: ScoreSettings, on_batch=None, batch: int = 32,
                 poses_out: list | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Frames on the sampling grid; `on_batch` sees each batch as it arrives, while decoding goes on.

    With `poses_out` (a list), BlazePose also reads every sampled frame, tracking the lifter from
    one to the next, and one pose row per frame is appended to it. The video is then decoded at the
    pose model's size and each frame letterboxed for CLIP, so it is still decoded once.

    With a model to run, the cores are split rather than shared: ffmpeg decodes on one thread and
    torch computes on the others until the last frame is decoded, then torch takes every core.
    Shared, both oversubscribe the cores and torch's threads wait on each other; on 2 cores that
    made decoding and ViT-B/32 together slower than the two run one after the other.
    """
    import threading

    import torch

    info = probe(path)
    if info.duration_s > settings.max_duration_s:
        raise VideoError(f"{Path(path).name}: {info.duration_s / 60:.0f} minutes is longer than the "
                         f"{settings.max_duration_s / 60:.0f}-minute limit for one video")
    torch_threads = torch.get_num_threads()
    split = on_batch is not None and torch_threads > 1
    decoded = threading.Event()
    times, frames, done = [], [], 0
    if split:
        torch.set_num_threads(torch_threads - 1)
    estimator = None
    if poses_out is not None:
        from formclip_pipeline.core.pose import POSE_FRAME_SIDE, BlazePose, pose_row

        estimator = BlazePose()
    size = POSE_FRAME_SIDE if estimator else settings.frame_size
    try:
        # The frames are all kept anyway, so the decoder is never made to wait for the model.
        for t, f in decode(path, size, settings.fps, info, threads=1 if split else None,
                           buffer=0 if split else 64, finished=decoded, keep_aspect=estimator is not None):
            if estimator is not None:
                poses_out.append({"frame_index": len(times), "timestamp": round(float(t), 3), **pose_row(estimator(f), f)})
                f = letterbox(f, settings.frame_size)
            times.append(t)
            frames.append(f)
            if split and decoded.is_set():
                torch.set_num_threads(torch_threads)
                split = False
            if on_batch and len(frames) - done >= batch:
                on_batch(np.stack(frames[done:]))
                done = len(frames)
        torch.set_num_threads(torch_threads)
        if on_batch and len(frames) > done:
            on_batch(np.stack(frames[done:]))
    finally:
        torch.set_num_threads(torch_threads)
        if estimator is not None:
            estimator.close()
    return np.array(times), np.stack(frames), info.to_dict()


def _issue_runs(reps: list[dict]) -> list[tuple[str, list[dict]]]:
    runs: list[tuple[str, list[dict]]] = []
    for rep in reps:
        if rep["form_class"] == GOOD_CLASS:
            continue
        if runs and runs[-1][0] == rep["form_class"] and runs[-1][1][-1]["rep_number"] == rep["rep_number"] - 1:
            runs[-1][1].append(rep)
        else:
            runs.append((rep["form_class"], [rep]))
    return runs


def score_frames(times: np.ndarray, frames: np.ndarray, proba: np.ndarray, labels: list[str], exercise: str,
                 fps: float, spans: list[R.RepSpan] | None = None, rep_measures: list[dict] | None = None) -> dict:
    """Sets, reps, scores, issues and recommendations from per-frame class probabilities.

    `spans` are the reps if already found (else counted from the frames); `rep_measures`, one dict
    per span, the joint measures shown with each rep."""
    ex = get_exercise(exercise)
    good = labels.index(GOOD_CLASS)
    p_good = proba[:, good]
    if spans is None:
        spans = R.count_reps(R.motion_features(frames), fps)
    measures_of = {(s.set_number, s.rep_number): m for s, m in zip(spans, rep_measures or [])}
    sets, issue_classes = [], []
    for set_no in sorted({s.set_number for s in spans}):
        mine = [s for s in spans if s.set_number == set_no]
        lo, hi = mine[0].start, mine[-1].end
        reps = []
        for s in mine:
            mean = proba[s.start:s.end].mean(0)
            k = int(mean.argmax())
            reps.append({"rep_number": s.rep_number, "start": round(float(times[s.start]), 2),
                         "end": round(float(times[min(s.end, len(times) - 1)]), 2), "form_class": labels[k],
                         "confidence": round(float(mean[k]), 3),
                         **({"measures": measures_of[(s.set_number, s.rep_number)]}
                            if (s.set_number, s.rep_number) in measures_of else {})})
        issues = []
        for cls, run in _issue_runs(reps):
            text = ex.form_class(cls).issue if cls in ex.class_names else "form breakdown"
            which = f"rep {run[0]['rep_number']}" if len(run) == 1 else \
                f"reps {run[0]['rep_number']}-{run[-1]['rep_number']}"
            issues.append({"timestamp": mmss(run[0]["start"]), "issue": f"{text[0].upper()}{text[1:]} on {which}",
                           "form_class": cls, "reps": [r["rep_number"] for r in run]})
            issue_classes += [cls] * len(run)
        pred = proba[lo:hi].argmax(1)
        sets.append({"set_number": set_no, "start": round(float(times[lo]), 2),
                     "end": round(float(times[min(hi, len(times) - 1)]), 2),
                     "form_score": int(round(100 * float(p_good[lo:hi].mean()))),
                     "good_form_frames": int((pred == good).sum()), "bad_form_frames": int((pred != good).sum()),
                     "issues": issues, "reps": reps})
    if sets:
        weights = np.array([s["good_form_frames"] + s["bad_form_frames"] for s in sets], float)
        overall = int(round(float(np.average([s["form_score"] for s in sets], weights=weights))))
    else:
        overall = int(round(100 * float(p_good.mean()))) if len(p_good) else 0
    recs = []
    for cls in sorted(set(issue_classes), key=lambda c: -issue_classes.count(c)):
        if cls in ex.class_names:
            recs.append(ex.form_class(cls).recommendation)
        else:
            recs.append("Film the lift from the side and retrain with named faults (--multi-class) for specific advice.")
    if not recs:
        recs.append(ex.form_class(GOOD_CLASS).recommendation)
    return {"sets": sets, "overall_score": overall, "recommendations": recs}


def _load_for(exercise: str, model_ref: str | None, root: str | None):
    from formclip_pipeline.core import model as M
    from formclip_pipeline.core.pose_classifier import is_pose_checkpoint, load_pose_classifier
    from formclip_pipeline.core.train import load_classifier

    get_exercise(exercise)
    path_dir, described = resolve_model(model_ref, exercise, root)
    try:
        clf = load_pose_classifier(path_dir) if is_pose_checkpoint(path_dir) else load_classifier(path_dir)
    except M.ModelError as exc:
        raise ScoreError(str(exc)) from exc
    if clf.exercise != exercise:
        raise ScoreError(f"the model {described} was trained for {clf.exercise}, not {exercise}; "
                         f"use the {exercise} model or pass --exercise {clf.exercise}")
    return clf, described, path_dir


def find_reps(exercise: str, measures, frames: np.ndarray, fps: float) -> tuple[list[R.RepSpan], str]:
    """Reps from the exercise's primary joint measure when the lifter is tracked, else from pixels;
    and which of the two ("joints" or "pixels") counted them."""
    from formclip_pipeline.core.measures import MEASURES

    primary = get_exercise(exercise).primary_measure
    spans = R.count_reps_from_angle(measures[primary].to_numpy(), fps, MEASURES[primary].scale)
    if spans is not None:
        return spans, "joints"
    return R.count_reps(R.motion_features(frames), fps), "pixels"


def rep_measures(exercise: str, measures, times: np.ndarray, spans: list[R.RepSpan]) -> list[dict]:
    """Per rep, the lowest and highest value and the range of each measure the catalogue judges this
    exercise by (degrees or ratios, rounded), from the frames where the joints were seen."""
    from formclip_pipeline.core.measures import MEASURES

    ex = get_exercise(exercise)
    names = list(dict.fromkeys([ex.primary_measure, *[m for c in ex.classes for m in c.measures]]))
    out = []
    for s in spans:
        part = measures.iloc[s.start:s.end]
        rep = {}
        for name in names:
            v = part[name].dropna()
            if len(v):
                digits = MEASURES[name].digits
                rep[f"{name}_min"], rep[f"{name}_max"] = round(float(v.min()), digits), round(float(v.max()), digits)
                rep[f"{name}_range"] = round(float(v.max() - v.min()), digits)
        out.append(rep)
    return out


def pose_frame_proba(clf, measures, times: np.ndarray, frames: np.ndarray, spans: list[R.RepSpan]) -> np.ndarray:
    """Per-frame probabilities from a pose classifier: each rep is judged on its own frames' measures,
    frames outside reps take the whole video's verdict."""
    import pandas as pd

    def judge(lo: int, hi: int) -> np.ndarray:
        X = clf.window_features(measures.iloc[lo:hi], times[lo:hi], frames[lo:hi])
        return clf.predict_proba(pd.DataFrame([X]))[0]

    proba = np.tile(judge(0, len(times)), (len(times), 1))
    for s in spans:
        proba[s.start:s.end] = judge(s.start, s.end)
    return proba


def score_video(path: str, exercise: str | None = None, model_ref: str | None = None, root: str | None = None,
                settings: ScoreSettings = ScoreSettings(), base_model: str | None = None) -> tuple[dict, dict]:
    """The seed's JSON report (plus reps with their joint measures, and the model used), and what
    the HTML page needs. The lifter's pose is read on every sampled frame whatever the model."""
    import pandas as pd

    from formclip_pipeline.core import model as M
    from formclip_pipeline.core.measures import smoothed_measures
    from formclip_pipeline.core.pose import stack_landmarks
    from formclip_pipeline.core.pose_classifier import PoseClassifier

    t0 = time.perf_counter()
    clf, described, path_dir = None, None, None
    if exercise is not None:
        clf, described, path_dir = _load_for(exercise, model_ref, root)
    parts: list[np.ndarray] = []
    predict = clf.predictor() if clf is not None and not isinstance(clf, PoseClassifier) else None
    pose_rows: list[dict] = []
    times, frames, info = sample_video(path, settings, on_batch=(lambda b: parts.append(predict(b)))
                                       if predict else None, poses_out=pose_rows)
    recognised = None
    if exercise is None:
        from formclip_pipeline.core.pretrain import recognise_exercise

        base = M.load_clip(base_model or os.environ.get("FORMCLIP_BASE_MODEL", M.TINY_MODEL))
        name, conf, all_probs = recognise_exercise(base, frames)
        if conf < settings.recognise_min_confidence:
            raise ScoreError(f"could not tell which exercise this is (best guess {name} at {conf:.0%}); "
                             f"pass --exercise")
        exercise, recognised = name, {"exercise": name, "confidence": round(conf, 3), "scores": all_probs}
        clf, described, path_dir = _load_for(exercise, model_ref, root)
        if not isinstance(clf, PoseClassifier):
            parts = [clf.predict_proba(frames)]
    image, world, detected = stack_landmarks(pd.DataFrame(pose_rows))
    found = float(detected.mean()) if len(detected) else 0.0
    if isinstance(clf, PoseClassifier) and found < settings.min_lifter_found:
        raise ScoreError(f"{Path(path).name}: the lifter was found in {found:.0%} of the sampled frames, too few for "
                         f"the {clf.strategy} model to judge form from the joints; film the whole body, or score "
                         f"with a CLIP checkpoint (--model)")
    measures = smoothed_measures(image, world)
    spans, counted_from = find_reps(exercise, measures, frames, settings.fps)
    if isinstance(clf, PoseClassifier):
        proba = pose_frame_proba(clf, measures, times, frames, spans)
        strategy = clf.strategy
    else:
        proba = np.concatenate(parts)
        strategy = clf.clip.meta.get("strategy")
    result = score_frames(times, frames, proba, clf.labels, exercise, settings.fps, spans,
                          rep_measures(exercise, measures, times, spans))
    report = {"video": Path(path).name, "exercise": exercise, **({"exercise_recognition": recognised} if recognised else {}),
              **result, "model": {"ref": described, "path": path_dir, "strategy": strategy,
                                  "labels": clf.labels, "multi_class": clf.multi_class},
              "pose": {"frames_with_lifter": round(found, 3), "reps_counted_from": counted_from,
                       **({"note": f"no lifter was found in {1 - found:.0%} of the frames: the verdict comes "
                                   f"from the image alone"} if found < settings.min_lifter_found else {})},
              "video_info": {k: info[k] for k in ("codec", "width", "height", "fps", "duration_s")},
              "sampled_fps": settings.fps, "seconds_to_score": round(time.perf_counter() - t0, 2)}
    pose_size = (pose_rows[0]["frame_width"], pose_rows[0]["frame_height"]) if pose_rows else None
    return report, {"times": times, "frames": frames, "proba": proba, "labels": clf.labels, "landmarks": image,
                    "measures": measures, "pose_frame_size": pose_size}

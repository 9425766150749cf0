"""Render labelled workout videos with exact ground truth, in the seed guide's folder layout.

DIR/<exercise>/<form_class>/<name>.mp4 with <name>.truth.json beside each video.
"""
from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from formclip_pipeline.catalog import GOOD_CLASS, VIEWS, get_exercise
from formclip_pipeline.core.files import write_json
from formclip_pipeline.core.parallel import processes
from formclip_pipeline.core.video import VideoWriter

from . import kinematics, render, timeline


@dataclass(frozen=True)
class VideoSpec:
    exercise: str
    form_class: str
    seed: int
    name: str
    views: tuple[str, ...] = VIEWS
    sets: tuple[int, int] = (1, 3)
    reps: tuple[int, int] = (3, 12)
    orientation: str | None = None  # None: random, "landscape" or "portrait"
    size: tuple[int, int] | None = None  # fixes the frame size (benchmarks at 720p)
    fps: int | None = None

    def video_path(self, out_dir: str | Path) -> Path:
        return Path(out_dir) / self.exercise / self.form_class / f"{self.name}.mp4"


def truth_path(video: str | Path) -> Path:
    """Where a rendered video's ground truth sits: beside it, as <name>.truth.json."""
    video = Path(video)
    return video.with_name(video.stem + ".truth.json")


def truth_frames(truth: dict, timestamps) -> np.ndarray:
    """The rendered frame each timestamp (seconds) falls on, to index the truth's per-frame series."""
    return np.minimum((np.asarray(timestamps, float) * truth["fps"]).round().astype(int), truth["frame_count"] - 1)


def _rng(*parts) -> np.random.Generator:
    """A generator seeded from the parts, stable across processes and Python versions."""
    words = [p if isinstance(p, int) else zlib.crc32(str(p).encode()) for p in parts]
    return np.random.default_rng(np.random.SeedSequence(words))


def choose_view(rng: np.random.Generator, exercise: str, form_class: str, allowed: tuple[str, ...]) -> str:
    """A view from which the class can be seen, among those allowed."""
    visible = [v for v in get_exercise(exercise).form_class(form_class).views if v in allowed]
    pool = visible or list(allowed)
    return pool[int(rng.integers(0, len(pool)))]


@dataclass
class Clip:
    """Everything needed to draw a clip frame by frame, and its truth."""
    spec: VideoSpec
    view: str
    fps: int
    body: kinematics.Body
    scene: render.Scene
    plan: timeline.Timeline
    states: list[timeline.FrameState]
    severity: float
    rng: np.random.Generator

    def poses(self) -> Iterator[kinematics.Pose]:
        poser = kinematics.POSERS[self.spec.exercise]
        for st in self.states:
            yield poser(self.body, st.depth, st.ascending, st.fault, self.severity)

    def frames(self) -> Iterator[np.ndarray]:
        shake = np.zeros(3)
        for pose in self.poses():
            shake = 0.85 * shake + self.rng.normal(0, self.scene.shake_amp, 3)
            yield render.draw_pose(self.scene, self.body, pose, shake, self.rng)

    def truth(self, pose_measures: list[dict] | None = None) -> dict:
        n = len(self.states)
        out = {
            "exercise": self.spec.exercise,
            "view": self.view,
            "form_class": self.spec.form_class,
            "fps": self.fps,
            "frame_count": n,
            "duration_s": round(n / self.fps, 4),
            "width": self.scene.size[0],
            "height": self.scene.size[1],
            "seed": self.spec.seed,
            "camera_yaw_deg": round(self.scene.yaw_deg, 1),
            "severity": round(self.severity, 3),
            "sets": max((r.set_number for r in self.plan.reps), default=0),
            "reps": [
                {"set": r.set_number, "rep": r.rep_number, "start_s": r.start_s, "end_s": r.end_s, "fault": r.fault}
                for r in self.plan.reps
            ],
            "frame_labels": [s.label for s in self.states],
        }
        if pose_measures is not None:
            keys = pose_measures[0].keys() if pose_measures else []
            out["pose"] = {k: [m[k] for m in pose_measures] for k in keys}
        return out


def make_clip(spec: VideoSpec) -> Clip:
    rng = _rng(spec.seed, spec.exercise, spec.form_class, spec.name)
    view = choose_view(rng, spec.exercise, spec.form_class, spec.views)
    fps = render.FPS_CHOICES[int(rng.integers(0, len(render.FPS_CHOICES)))]
    fps = spec.fps or fps
    body = kinematics.Body.sample(rng)
    scene = render.make_scene(rng, spec.exercise, view, body, size=spec.size, orientation=spec.orientation)
    plan = timeline.plan(rng, spec.form_class, spec.sets, spec.reps)
    states = timeline.sample(plan, fps, sway_phase=float(rng.uniform(0, 6.28)))
    severity = float(rng.uniform(0, 1)) if spec.form_class != GOOD_CLASS else 0.0
    return Clip(spec, view, fps, body, scene, plan, states, severity, rng)


def render_video(spec: VideoSpec, out_dir: str | Path) -> dict:
    """Render one video and its truth.json; returns the truth with timing figures."""
    clip = make_clip(spec)
    video_path = spec.video_path(out_dir)
    video_path.parent.mkdir(parents=True, exist_ok=True)
    w, h = clip.scene.size
    t0 = time.perf_counter()
    measures = []
    with VideoWriter(video_path, w, h, clip.fps) as writer:
        shake = np.zeros(3)
        for pose in clip.poses():
            shake = 0.85 * shake + clip.rng.normal(0, clip.scene.shake_amp, 3)
            writer.write(render.draw_pose(clip.scene, clip.body, pose, shake, clip.rng))
            measures.append(kinematics.measures(pose))
    elapsed = time.perf_counter() - t0
    truth = clip.truth(measures)
    write_json(truth_path(video_path), truth, indent=None)
    return {"video": str(video_path), "truth": truth, "render_s": elapsed}


def dataset_specs(seed: int, videos_per_class: int, exercises: list[str], views: tuple[str, ...] = VIEWS,
                  sets: tuple[int, int] = (1, 3), reps: tuple[int, int] = (3, 12)) -> list[VideoSpec]:
    specs = []
    for ex in exercises:
        for cls in get_exercise(ex).class_names:
            for i in range(videos_per_class):
                specs.append(VideoSpec(ex, cls, seed, f"{ex}_{cls}_s{seed}_{i:03d}", tuple(views), sets, reps))
    return specs


def _render_one(args):
    spec, out_dir = args
    return render_video(spec, out_dir)


def generate_dataset(out_dir: str | Path, specs: list[VideoSpec], workers: int = 2,
                     progress: Callable[[dict], None] | None = None) -> list[dict]:
    """Render every spec (in parallel processes); results in spec order."""
    results: list[dict] = []
    with processes(workers) as pool:
        for res in pool.map(_render_one, [(s, str(out_dir)) for s in specs]):
            results.append(res)
            if progress:
                progress(res)
    return results


def contact_sheet(results: list[dict], out_path: str | Path, thumb: int = 160, columns: int = 6) -> Path:
    """A PNG grid: for each video, the frame at the deepest point of its first faulty (or first) rep."""
    from PIL import Image, ImageDraw

    from formclip_pipeline.core.video import extract_frames

    cells = []
    for res in results:
        truth = res["truth"]
        reps = truth["reps"]
        rep = next((r for r in reps if r["fault"]), reps[0] if reps else None)
        t = (rep["start_s"] + rep["end_s"]) / 2 if rep else truth["duration_s"] / 2
        frames = extract_frames(res["video"], [t], thumb)
        img = Image.fromarray(frames[0][1]) if frames else Image.new("RGB", (thumb, thumb))
        d = ImageDraw.Draw(img)
        label = f"{truth['exercise']}/{truth['form_class']}"
        d.rectangle([0, 0, thumb, 24], fill=(0, 0, 0))
        d.text((3, 1), label[:28], fill=(255, 255, 0))
        d.text((3, 12), f"{truth['view']} {truth['width']}x{truth['height']} {truth['fps']}fps", fill=(255, 255, 255))
        cells.append(img)
    rows = (len(cells) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * thumb, max(1, rows) * thumb), (30, 30, 30))
    for i, c in enumerate(cells):
        sheet.paste(c, ((i % columns) * thumb, (i // columns) * thumb))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_path)
    return out_path

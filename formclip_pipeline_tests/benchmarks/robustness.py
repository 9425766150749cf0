"""`make bench`, robustness part: the peak memory and wall time of `formclip extract` and `formclip
score` on a long honest clip and on the hostile files the tests make (and of `formclip import-labeled`
on the tests' seed folder of huge images), each run as a fresh process, against the 1.5 GB a run may
take. Prints figures; asserts nothing.

The long clip is 720p at 30 frames a second, a grey picture with a box swinging across it: a
low-motion source, so that ultrafast H.264 encodes an hour of it in minutes; decoding still reads
every frame. Scoring needs a model: the squat champion where one is registered (make demo), else
a classifier with the base's prompt head, which takes the memory a trained one does.

A process's peak is its kernel high-water mark (VmHWM), read while it runs; the peak of the process
with its children (ffmpeg decoding for it) is the largest sum of their resident sets seen in samples
a tenth of a second apart.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from formclip_pipeline_tests.test_hostile_input import _blank_png, _seed_folder, _ten_hour_gap_video, _video

TARGET_MB = 1536  # 1.5 GB


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sorted(tree)


def measured(argv: list[str], env: dict | None = None) -> dict:
    """Wall time, exit code and peak memory of one command, run as a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    own_kb = tree_kb = 0
    while proc.poll() is None:
        own_kb = max(own_kb, _status_kb(proc.pid, "VmHWM"))
        tree_kb = max(tree_kb, sum(_status_kb(pid, "VmRSS") for pid in _descendants(proc.pid)))
        time.sleep(0.1)
    err = proc.stderr.read().strip().splitlines()
    return {"exit": proc.returncode, "seconds": round(time.perf_counter() - t0, 1),
            "peak_rss_mb": round(own_kb / 1024), "peak_rss_with_children_mb": round(max(tree_kb, own_kb) / 1024),
            "within_1.5_gb": own_kb / 1024 <= TARGET_MB and tree_kb / 1024 <= TARGET_MB,
            **({"said": err[-1][:160]} if err and proc.returncode else {})}


def long_clip(path: Path, minutes: float) -> float:
    """`minutes` of 720p at 30 frames a second; returns the seconds the encoding took."""
    from formclip_pipeline.core.video import ffmpeg_exe

    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    # overlay places the box anew each frame; drawbox would leave it where it began.
                    f"color=c=gray:size=1280x720:rate=30:duration={minutes * 60:g}[bg];"
                    "color=c=white:size=160x160:rate=30[box];[bg][box]overlay=x=560+400*sin(t):y=300:shortest=1",
                    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return time.perf_counter() - t0


def squat_model(tmp: Path) -> str:
    """The registered squat champion, else a classifier with the base's prompt head saved under tmp."""
    from formclip_pipeline.catalog import get_exercise
    from formclip_pipeline.core import bases as B
    from formclip_pipeline.core import environment
    from formclip_pipeline.core.errors import ScoreError
    from formclip_pipeline.core.registry import resolve_model
    from formclip_pipeline.core.clip_classifier import Classifier

    try:
        return resolve_model(None, "squat", str(environment.home()))[0]
    except ScoreError:
        ex = get_exercise("squat")
        path = tmp / "squat_model"
        Classifier(B.load_clip(environment.base_model()), "squat", ex.labels(True), ex.prompts(True), True) \
            .save(path, {"strategy": "flyp"})
        return str(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the long clip")
    args = ap.parse_args()
    formclip = [sys.executable, "-m", "formclip_pipeline.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = squat_model(tmp)
        videos = tmp / "videos" / "squat" / "good_form"
        clip = videos / f"long_{args.minutes:g}min_720p.mp4"
        encoded = long_clip(clip, args.minutes)
        print(f"encoded {args.minutes:g} min of 720p at 30 fps (ultrafast) in {encoded:.0f} s, "
              f"{clip.stat().st_size / 2**20:.0f} MB")
        hostile = tmp / "hostile" / "squat" / "good_form"
        hostile_files = {
            "ten_hour_gap": _ten_hour_gap_video(hostile / "gap.mp4"),
            "tiny_picture": _video(hostile / "tiny.mp4", size="2x2"),
        }
        for side in (13000, 20000):  # a huge image in a video's clothing, as the seed-folder tests make them
            hostile_files[f"png_{side}px_named_mp4"] = hostile / f"huge_{side}.mp4"
            _blank_png(hostile_files[f"png_{side}px_named_mp4"], side)
        figures = {}
        for name, folder in (("long_clip", tmp / "videos"), ("hostile_folder", tmp / "hostile")):
            figures[f"extract {name}"] = measured(formclip + ["extract", "--video-dir", str(folder), "--out",
                                                              str(tmp / f"frames_{name}"), "--exercises", "squat",
                                                              "--workers", "1"])
        # The huge images where the tests put them: a seed folder's frames, which import-labeled reads.
        seed = tmp / "seed"
        rows = _seed_folder(seed)
        for row, side in ((rows[0], 13000), (rows[6], 20000)):
            _blank_png(seed / row["frame_path"], side)
        figures["import-labeled seed folder with huge images"] = measured(
            formclip + ["import-labeled", "--data-dir", str(seed), "--exercises", "squat"],
            env={"FORMCLIP_HOME": str(tmp / "home")})
        for name, path in {"long_clip": clip, **hostile_files}.items():
            figures[f"score {name}"] = measured(formclip + ["score", str(path), "--exercise", "squat", "--model",
                                                            model, "--json", str(tmp / f"{name}.json")])
        print(f"peak resident memory against the {TARGET_MB / 1024:g} GB target ({os.cpu_count()} cores):")
        for run, fig in figures.items():
            print(f"  {run}: {fig}")


if __name__ == "__main__":
    main()

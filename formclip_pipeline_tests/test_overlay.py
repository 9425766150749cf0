"""The overlay video: the scored video with the skeleton, the reps counted, the main joint angle and the
flagged reps drawn on it, playable in a browser and played by the HTML report."""
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from formclip_pipeline.core.overlay import write_overlay
from formclip_pipeline.core.pose import INDEX, N_LANDMARKS
from formclip_pipeline.core.report import FAULT_COLOUR, SKELETON_COLOUR
from formclip_pipeline.core.synth.generate import VideoSpec, render_video
from formclip_pipeline.core.video import decode, ffmpeg_exe, probe
from formclip_pipeline_tests.commands import formclip


def _stream(path) -> dict:
    """What a player sees of a video's first stream, from ffmpeg's own report (imageio-ffmpeg ships no
    ffprobe): codec, pixel format, frame rate, duration, frames, and whether the index comes first."""
    report = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path), "-map", "0:v:0", "-c", "copy",
                             "-f", "framecrc", "-"], capture_output=True, text=True)
    line = re.search(r"Stream #\S+.*?: Video: (.*)", report.stderr).group(1)
    data = Path(path).read_bytes()
    info = probe(path)
    return {"codec": line.split()[0], "pix_fmt": re.search(r"\b(yuv\w+|rgb\w+|nv12)\b", line).group(1),
            "fps": info.fps, "duration_s": info.duration_s,
            "frames": len(re.findall(r"^0,", report.stdout, re.M)),
            "index_first": data.find(b"moov") < data.find(b"mdat")}


def _frames(path, fps: float) -> list[np.ndarray]:
    return [f.copy() for _, f in decode(path, 1280, fps, keep_aspect=True)]


def _is(colour, pixels: np.ndarray, tolerance: int = 40) -> np.ndarray:
    return (np.abs(pixels.astype(int) - np.array(colour)) <= tolerance).all(-1)


@pytest.fixture(scope="module")
def short_squat(tmp_path_factory) -> dict:
    """A rendered squat of two reps, 640 x 360 at 24 frames a second."""
    spec = VideoSpec("squat", "partial_depth", 7, "short", views=("side",), sets=(1, 1), reps=(2, 2),
                     size=(640, 360), fps=24)
    return render_video(spec, tmp_path_factory.mktemp("overlay"))


def test_the_overlay_draws_the_skeleton_where_the_pose_was_read_and_bans_only_the_flagged_rep(short_squat, tmp_path):
    video = short_squat["video"]
    info = probe(video)
    # A pose read at 8 a second on a 320 x 180 pose frame (half the video's size): a skeleton standing
    # still, its hip at (100, 60) and its knee at (100, 120) of the pose frame, found in every sample
    # but one, where the nearer sample is held.
    times = np.arange(0, info.duration_s, 1 / 8)
    landmarks = np.zeros((len(times), N_LANDMARKS, 3), np.float32)
    landmarks[:, :, 2] = 1.0
    landmarks[:, :, :2] = (40, 20)
    for side in ("left", "right"):
        landmarks[:, INDEX[f"{side}_hip"], :2] = (100, 60)
        landmarks[:, INDEX[f"{side}_knee"], :2] = (100, 120)
    landmarks[5] = np.nan
    measures = pd.DataFrame({"knee_flexion": np.linspace(10, 100, len(times))})
    report = {"exercise": "squat", "sets": [{"set_number": 1, "start": 0.2, "end": 3.0, "reps": [
        {"rep_number": 1, "start": 0.5, "end": 1.5, "form_class": "partial_depth"},
        {"rep_number": 2, "start": 1.5, "end": 2.5, "form_class": "good_form"}]}]}
    extras = {"times": times, "landmarks": landmarks, "measures": measures, "pose_frame_size": (320, 180)}
    out = tmp_path / "marked" / "overlay.mp4"
    written = write_overlay(video, out, report, extras)

    source, marked = _stream(video), _stream(out)
    assert marked["codec"] == "h264" and marked["pix_fmt"] == "yuv420p" and marked["index_first"]
    assert marked["fps"] == source["fps"] == 24
    assert marked["frames"] == source["frames"] == written["frames"]
    assert abs(marked["duration_s"] - source["duration_s"]) < 1.5 / 24
    before, after = _frames(video, 24), _frames(out, 24)
    assert len(before) == len(after)
    # The hip-to-knee line, doubled onto the 640 x 360 video: 3 pixels wide at x = 200, y from 120 to 240.
    for i in (0, 13, 40, 60):
        assert _is(SKELETON_COLOUR, after[i][140:220, 200:202]).mean() > 0.8, i
        assert _is(SKELETON_COLOUR, before[i][140:220, 200:202]).mean() < 0.1, i
    # 0.58 s is nearer the sample at 0.625 s, where the lifter was not found: no skeleton is made up there.
    assert _is(SKELETON_COLOUR, after[14][140:220, 200:202]).mean() < 0.1
    # During the flagged rep (0.5-1.5 s) a red banner runs along the bottom; in the good rep it does not.
    bottom = slice(350, 358)
    assert _is(FAULT_COLOUR, after[24][bottom, 300:340]).mean() > 0.8
    assert _is(FAULT_COLOUR, after[48][bottom, 300:340]).mean() < 0.2
    np.testing.assert_allclose(after[48][bottom, 300:340], before[48][bottom, 300:340], atol=40)


def test_cli_score_writes_an_overlay_the_html_report_plays(squat_videos, squat_model, tmp_path):
    video = squat_videos[1][0]["video"]
    res = formclip("score", video, "--exercise", "squat", "--model", squat_model, "--json", "report/r.json",
                   "--html", "report/r.html", "--overlay", "videos/lift marked.mp4", cwd=tmp_path, check=False)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "videos" / "lift marked.mp4"
    source, marked = _stream(video), _stream(out)
    assert marked["codec"] == "h264" and marked["pix_fmt"] == "yuv420p" and marked["index_first"]
    assert marked["fps"] == source["fps"] and marked["frames"] == source["frames"]
    assert abs(marked["duration_s"] - source["duration_s"]) < 1.5 / source["fps"]
    before, after = _frames(video, source["fps"]), _frames(out, source["fps"])
    middle = len(before) // 2
    drawn = _is(SKELETON_COLOUR, after[middle], 30).sum() - _is(SKELETON_COLOUR, before[middle], 30).sum()
    assert drawn > 200  # the skeleton's lines, in pixels of its colour the source does not have
    # The page plays the overlay by its address from the page's own folder.
    page = (tmp_path / "report" / "r.html").read_text()
    assert "<video" in page and "src='../videos/lift%20marked.mp4'" in page
    report = json.loads((tmp_path / "report" / "r.json").read_text())
    assert report["video"] == Path(video).name


def test_the_overlay_is_never_written_over_the_video_it_is_drawn_from(squat_videos, tmp_path):
    video = Path(squat_videos[1][0]["video"])
    size = video.stat().st_size
    res = formclip("score", video, "--exercise", "squat", "--overlay", video, cwd=tmp_path, check=False)
    assert res.returncode == 2 and "would replace the video it is drawn from" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and video.stat().st_size == size


def test_the_watched_folder_writes_the_overlay_beside_its_report_only_when_asked(squat_videos, squat_model,
                                                                                 tmp_path, monkeypatch):
    import dagster as dg

    from formclip_pipeline.assets.scoring.video_report import video_report, videos_tag
    from formclip_pipeline.core import store
    from formclip_pipeline.core.video import file_sha256
    from formclip_pipeline.partitions import incoming_videos
    from formclip_pipeline.resources import DuckDBStore, FormClipPaths

    tracker = store.Tracker.at_home(tmp_path)
    with tracker.run("train-squat") as run:
        version = tracker.register(run.info.run_id, "squat", "checkpoint", {"local_path": str(squat_model)})
    tracker.set_champion("squat", version)
    videos = [squat_videos[1][0]["video"], squat_videos[1][1]["video"]]
    keys = {file_sha256(v)[:16]: v for v in videos}
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(incoming_videos.name, list(keys))
    resources = {"paths": FormClipPaths(root=str(tmp_path)), "duckdb": DuckDBStore(root=str(tmp_path))}
    reports = tmp_path / "data" / "reports"
    for (key, path), setting in zip(keys.items(), ["0", "1"]):
        monkeypatch.setenv("FORMCLIP_OVERLAY", setting)
        assert dg.materialize([video_report], partition_key=key, resources=resources, instance=instance,
                              tags=videos_tag({key: (path, "squat")})).success
    pages = {p.stem: p.read_text() for p in reports.glob("*.html")}
    overlays = list(reports.glob("*.mp4"))
    assert len(pages) == 2 and [p.stem for p in overlays] == [f"{Path(videos[1]).stem}_{list(keys)[1][:8]}"]
    assert f"src='{overlays[0].name}'" in pages[overlays[0].stem]
    assert "<video" not in pages[f"{Path(videos[0]).stem}_{list(keys)[0][:8]}"]
    assert _stream(overlays[0])["frames"] == _stream(videos[1])["frames"]


def test_the_overlay_setting_is_on_or_off(monkeypatch):
    from formclip_pipeline.core import environment

    monkeypatch.delenv("FORMCLIP_OVERLAY", raising=False)
    assert environment.overlay() is False
    monkeypatch.setenv("FORMCLIP_OVERLAY", "yes")
    assert environment.overlay() is True
    monkeypatch.setenv("FORMCLIP_OVERLAY", "sometimes")
    with pytest.raises(ValueError, match="neither on nor off"):
        environment.overlay()

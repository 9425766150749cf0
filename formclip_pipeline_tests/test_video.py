import os

import numpy as np
import pytest

from formclip_pipeline.core.video import VideoError, VideoWriter, decode, extract_frames, probe, sample_times


def test_probe_reports_what_is_wrong(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    random = tmp_path / "noise.mp4"
    random.write_bytes(os.urandom(4096))
    with pytest.raises(VideoError, match="empty"):
        probe(empty)
    for bad in (text, random):
        with pytest.raises(VideoError, match="not a video|no video stream|invalid"):
            probe(bad)
    with pytest.raises(VideoError, match="does not exist"):
        probe(tmp_path / "missing.mp4")


def test_truncated_mp4_is_named_as_such(squat_videos, tmp_path):
    _, results = squat_videos
    data = open(results[0]["video"], "rb").read()
    cut = tmp_path / "cut.mp4"
    # The writer puts the moov atom first (faststart); cutting the tail keeps it, so cut the head.
    cut.write_bytes(data[len(data) // 2:])
    with pytest.raises(VideoError):
        probe(cut)


def test_writer_leaves_no_file_when_encoding_is_aborted(tmp_path):
    path = tmp_path / "x.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(path, 64, 48, 25) as w:
            w.write(np.zeros((48, 64, 3), np.uint8))
            raise RuntimeError("killed")
    assert not path.exists()
    assert not list(tmp_path.glob("*.part"))


def test_decode_letterboxes_portrait_without_cropping(tmp_path):
    path = tmp_path / "portrait.mp4"
    with VideoWriter(path, 90, 160, 25) as w:
        for _ in range(25):
            w.write(np.full((160, 90, 3), 255, np.uint8))
    info = probe(path)
    assert (info.width, info.height, info.fps) == (90, 160, 25)
    frames = [f for _, f in decode(path, 64, 25, info)]
    assert len(frames) == 25
    f = frames[0]
    assert f.shape == (64, 64, 3)
    assert f[32, 32].min() > 200  # the white picture is in the middle
    assert f[32, 2].max() < 30 and f[32, 61].max() < 30  # black bars at the sides, not a crop


def test_sample_times_follow_the_seed_rule_and_survive_short_clips():
    times = sample_times(10.0, 4, 1.0, 1.0)
    assert times == pytest.approx([2.0, 4.0, 6.0, 8.0])
    short = sample_times(1.5, 3, 1.0, 1.0)
    assert len(short) == 3 and all(0 <= t <= 1.5 for t in short)


def test_extract_frames_returns_one_frame_per_requested_time(squat_videos):
    _, results = squat_videos
    res = results[0]
    times = [0.2, 1.0, res["truth"]["duration_s"] - 0.1]
    frames = extract_frames(res["video"], times, 48)
    assert len(frames) == 3
    assert [round(t, 1) for t, _ in frames] == pytest.approx([round(t, 1) for t in times], abs=0.15)

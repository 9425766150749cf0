"""Videos as phones and editors make them: other containers and codecs, rotation, odd sizes, odd names."""
import subprocess

import pytest

from formclip_pipeline.core.frames import extract_dataset, video_manifest
from formclip_pipeline.core.video import VideoError, decode, ffmpeg_exe, probe

VARIANTS = {
    # name: ffmpeg output arguments
    "vp9 clip.webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"],
    "mjpeg clip.avi": ["-c:v", "mjpeg", "-q:v", "5"],
    "clip.mov": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    "odd size 301x199.mp4": ["-vf", "scale=301:199", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"],
    "squat à l'école.mp4": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    "variable rate.mp4": ["-vf", "setpts='PTS+0.02*sin(N)/TB'", "-fps_mode", "vfr", "-c:v", "libx264", "-preset",
                          "ultrafast", "-pix_fmt", "yuv420p"],
}


@pytest.fixture(scope="module")
def variants(squat_videos, tmp_path_factory):
    src = squat_videos[1][0]["video"]
    root = tmp_path_factory.mktemp("formats")
    folder = root / "squat" / "good_form"
    folder.mkdir(parents=True)
    for name, args in VARIANTS.items():
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", src, "-t", "4", "-an", *args,
                        str(folder / name)], check=True)
    # A phone recording in portrait, stored landscape with a rotation tag.
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-display_rotation", "90", "-i", src,
                    "-t", "4", "-c", "copy", str(folder / "rotated.mp4")], check=True)
    # Audio only, under a video name.
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=2", str(folder / "voice memo.m4v")], check=True)
    return root, folder


def test_every_playable_variant_is_probed_and_decoded(variants):
    _, folder = variants
    for name in VARIANTS:
        info = probe(folder / name)
        assert info.duration_s == pytest.approx(4.0, abs=0.3), name
        frames = [f for _, f in decode(folder / name, 64, 5.0, info)]
        assert 15 <= len(frames) <= 25, name
    odd = probe(folder / "odd size 301x199.mp4")
    assert (odd.width, odd.height) == (301, 199)


def test_rotation_is_read_and_applied(variants):
    _, folder = variants
    info = probe(folder / "rotated.mp4")
    assert info.rotation in (90, 270)
    assert info.display_size == (info.height, info.width)


def test_manifest_processes_the_valid_ones_and_names_the_rest(variants):
    root, _ = variants
    manifest = video_manifest(root, "squat").set_index("file_name")
    assert manifest.loc["voice memo.m4v", "status"] == "error"
    assert "audio but no video" in manifest.loc["voice memo.m4v", "error"]
    ok = manifest[manifest["status"] == "ok"]
    assert set(ok.index) == set(VARIANTS) | {"rotated.mp4"}
    frames, _, failures = extract_dataset(manifest.reset_index(), frames_per_video=3, skip_first=0.5, skip_last=0.5,
                                          pose_fps=1)
    assert not failures
    assert frames.groupby("source_video").size().to_dict() == {name: 3 for name in ok.index}


def test_oversized_frames_are_refused_before_decoding(tmp_path):
    big = tmp_path / "huge.mkv"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=gray:s=8192x4608:d=0.2:r=5", "-c:v", "ffv1", str(big)], check=True)
    with pytest.raises(VideoError, match="pixel limit"):
        probe(big)

"""Probe, decode and encode video with ffmpeg (through ffmpeg-python, kept thin).

There is no ffprobe in imageio-ffmpeg's wheel, so probing reads ffmpeg's own stream report.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import ffmpeg
import numpy as np

VIDEO_EXTENSIONS = {".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg"}
# Refuse to decode more than this many pixels per frame, of a video or a labelled image: beyond 8K a
# phone never records, and a forged header (or a 490 KB PNG of 13000 x 13000) should not make us
# allocate gigabytes.
MAX_PIXELS = 7680 * 4320
MIN_SIDE = 16  # below this a frame holds no lifter to judge
# Refuse longer videos, in training as in scoring: a set lasts minutes, and frames are decoded on a
# fixed grid over the whole duration, so a forged or careless timestamp (a 472 KB file claiming ten
# hours) would have ffmpeg fill memory for hours.
MAX_DURATION_S = 3600.0
# Refuse to hash (or decode) a larger file: more than ten minutes of a phone's 4K and about an hour
# of its 1080p. Hashing reads every byte, about 10 s for this many; a 20 GB file (or a sparse one
# that only claims to be) held the watched folder's sensor for 50 s.
MAX_VIDEO_BYTES = 4 * 2**30
# The only demuxers ffmpeg may pick, whatever a file's name or content says: a playlist (HLS, concat)
# or an image sequence would make it open other files, anywhere on the machine.
CONTAINERS = "mov,matroska,webm,avi,mpeg"


class VideoError(Exception):
    """A video that cannot be used, with a reason a person can act on."""


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """ffmpeg on PATH, else the static binary inside imageio-ffmpeg's wheel."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    path: str
    codec: str
    width: int
    height: int
    fps: float
    duration_s: float
    rotation: int

    @property
    def display_size(self) -> tuple[int, int]:
        """Size after ffmpeg applies the rotation tag (it autorotates when decoding)."""
        if self.rotation % 180:
            return self.height, self.width
        return self.width, self.height

    def to_dict(self) -> dict:
        return asdict(self)


def _too_large(path: str | os.PathLike, size: int) -> VideoError:
    return VideoError(f"{Path(path).name}: {size / 2**30:,.1f} GB is more than the {MAX_VIDEO_BYTES / 2**30:.0f} GB "
                      f"a video may be; cut out the part to judge")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a video file, or a VideoError, before any byte is read, for one larger than
    MAX_VIDEO_BYTES (or one that grows past it while being read)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_VIDEO_BYTES:
            raise _too_large(path, size)
        read = 0
        while block := f.read(chunk):
            read += len(block)
            if read > MAX_VIDEO_BYTES:
                raise _too_large(path, read)
            h.update(block)
    return h.hexdigest()


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: (\w+).*?\b(\d{1,5})x(\d{1,5})\b")
_FPS = re.compile(r"(\d+(?:\.\d+)?) fps")
_TBR = re.compile(r"(\d+(?:\.\d+)?)k? tbr")
_ROT = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees")
_TIME_BASE = re.compile(r"^#tb 0: (\d+)/(\d+)$", re.M)
_PACKET = re.compile(r"^0,\s*-?\d+,\s*(-?\d+),\s*(\d+),", re.M)  # framecrc: stream, dts, pts, duration, ...
_NO_TIME = -2**63  # a packet without a presentation time (ffmpeg's AV_NOPTS_VALUE)
PROBE_TIMEOUT_S = 60


def _picture_seconds(packets: str) -> float | None:
    """How long the first video stream lasts, from its first picture to the end of its last, read from
    ffmpeg's framecrc list of its packets; None when the list holds none."""
    tb = _TIME_BASE.search(packets)
    pictures = sorted((int(m.group(1)), int(m.group(2))) for m in _PACKET.finditer(packets)  # (pts, duration)
                      if int(m.group(1)) != _NO_TIME)
    if not tb or not pictures:
        return None
    return (pictures[-1][0] + pictures[-1][1] - pictures[0][0]) * int(tb.group(1)) / int(tb.group(2))


def probe(path: str | os.PathLike) -> VideoInfo:
    """Codec, size, frame rate, duration and rotation, or a VideoError saying why not."""
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{p}: file does not exist")
    if not p.is_file():
        raise VideoError(f"{p.name}: not a regular file")
    if p.suffix.lower() not in VIDEO_EXTENSIONS:
        raise VideoError(f"{p.name}: extension {p.suffix or '(none)'} is not a video type we read "
                         f"({', '.join(sorted(VIDEO_EXTENSIONS))})")
    size = p.stat().st_size
    if size == 0:
        raise VideoError(f"{p.name}: file is empty (0 bytes)")
    if size > MAX_VIDEO_BYTES:
        raise _too_large(p, size)
    # The stream report, and the video packets' times copied out (no decoding): a container lasts as
    # long as its longest stream, and a sound track running on for hours would spread the frames
    # sampled from a few seconds of picture over those hours.
    try:
        proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-format_whitelist", CONTAINERS, "-i", str(p),
                               "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"],
                              capture_output=True, text=True, errors="replace", timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise VideoError(f"{p.name}: ffmpeg could not read it through in {PROBE_TIMEOUT_S} s; copy it to a local "
                         f"disk and try again") from None
    err = proc.stderr
    if "moov atom not found" in err:
        with open(p, "rb") as f:
            head = f.read(12)
        if head[4:8] != b"ftyp":
            raise VideoError(f"{p.name}: not a video ffmpeg can read (no MP4 header)")
        raise VideoError(f"{p.name}: truncated MP4 (no moov atom); the file was cut off while being written or copied")
    if "Invalid data found when processing input" in err:
        raise VideoError(f"{p.name}: not a video ffmpeg can read (invalid data)")
    m = _VIDEO.search(err)
    if not m:
        if "Audio:" in err:
            raise VideoError(f"{p.name}: has audio but no video stream")
        raise VideoError(f"{p.name}: no video stream found")
    codec, w, h = m.group(1), int(m.group(2)), int(m.group(3))
    if min(w, h) < MIN_SIDE:
        raise VideoError(f"{p.name}: {w}x{h} pixels is too small to see a lifter in (at least {MIN_SIDE} a side)")
    if w * h > MAX_PIXELS:
        raise VideoError(f"{p.name}: {w}x{h} is larger than the {MAX_PIXELS} pixel limit (8K)")
    line = err[m.start(): err.find("\n", m.start())]
    fm = _FPS.search(line) or _TBR.search(line)
    fps = float(fm.group(1)) if fm else 0.0
    dm = _DURATION.search(err)
    duration = _picture_seconds(proc.stdout) or \
        (int(dm.group(1)) * 3600 + int(dm.group(2)) * 60 + float(dm.group(3)) if dm else 0.0)
    rm = _ROT.search(err)
    rotation = int(round(float(rm.group(1)))) % 360 if rm else 0
    if fps <= 0 or duration <= 0:
        raise VideoError(f"{p.name}: could not read frame rate or duration")
    if duration > MAX_DURATION_S:
        raise VideoError(f"{p.name}: {duration / 60:.0f} minutes is longer than the {MAX_DURATION_S / 60:.0f}-minute "
                         f"limit for one video; cut out the part to judge")
    return VideoInfo(str(p), codec, w, h, fps, duration, rotation)


def _letterbox_filters(stream, size: int):
    """Fit the whole frame into a size x size square (no crop: portrait videos keep head and feet)."""
    stream = stream.filter("scale", size, size, force_original_aspect_ratio="decrease", flags="area")
    return stream.filter("pad", size, size, "(ow-iw)/2", "(oh-ih)/2", color="black")


def fit_size(info: VideoInfo, max_side: int) -> tuple[int, int]:
    """Display size scaled down (never up) so the long side is at most `max_side`, even numbers."""
    w, h = info.display_size
    k = min(1.0, max_side / max(w, h))
    return max(2, int(round(w * k / 2)) * 2), max(2, int(round(h * k / 2)) * 2)


def letterbox(frame: np.ndarray, size: int) -> np.ndarray:
    """The whole frame fitted into a size x size square on black, as the decoder's letterbox does."""
    from PIL import Image

    h, w = frame.shape[:2]
    k = size / max(w, h)
    nw, nh = max(1, int(round(w * k))), max(1, int(round(h * k)))
    out = np.zeros((size, size, 3), np.uint8)
    x, y = (size - nw) // 2, (size - nh) // 2
    out[y:y + nh, x:x + nw] = np.asarray(Image.fromarray(frame).resize((nw, nh), Image.BOX))
    return out


def decode(path: str | os.PathLike, size: int, fps: float, info: VideoInfo | None = None, threads: int | None = None,
           buffer: int = 64, finished=None, keep_aspect: bool = False) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (timestamp_s, RGB frame) on a constant `fps` grid, decoding the file once.

    Frames are size x size letterboxed squares (what CLIP takes), or with `keep_aspect` the display
    size scaled so its long side is at most `size` (what the pose model takes: no black bars).

    The fps filter puts variable-frame-rate phone video on a regular grid, so frame i is at i / fps.
    When we keep at most every second frame, the decoder skips non-reference frames and the
    deblocking filter: decoding is the floor of scoring time, this cuts it by about a third, and a
    frame shifts by at most one source frame. A reader thread drains ffmpeg's pipe so decoding
    runs while the caller computes on earlier frames; it holds up to `buffer` frames (0: no limit)
    and sets the `finished` event, if given, once ffmpeg has written its last frame. `threads` caps
    ffmpeg's decoding threads (ffmpeg's default is one per core).
    """
    import queue
    import threading

    info = info or probe(path)
    fast = info.fps >= 2 * fps
    in_args = {"skip_frame": "noref", "skip_loop_filter": "all"} if fast else {}
    if threads:
        in_args["threads"] = threads
    stream = ffmpeg.input(str(path), format_whitelist=CONTAINERS, **in_args).video.filter("fps", fps=fps)
    if keep_aspect:
        out_w, out_h = fit_size(info, size)
        stream = stream.filter("scale", out_w, out_h, flags="area")
    else:
        out_w = out_h = size
        stream = _letterbox_filters(stream, size)
    proc = (
        stream.output("pipe:", format="rawvideo", pix_fmt="rgb24")
        .global_args("-hide_banner", "-loglevel", "error", "-nostdin")
        .run_async(pipe_stdout=True, pipe_stderr=True, cmd=ffmpeg_exe())
    )
    frame_bytes = out_w * out_h * 3
    frames: queue.Queue = queue.Queue(maxsize=buffer)
    stderr: list[bytes] = []

    def read_stdout():
        while True:
            buf = proc.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                if finished is not None:
                    finished.set()
                frames.put(None)
                return
            frames.put(buf)

    def read_stderr():
        stderr.append(proc.stderr.read())

    readers = [threading.Thread(target=read_stdout, daemon=True), threading.Thread(target=read_stderr, daemon=True)]
    for r in readers:
        r.start()
    i = 0
    try:
        while (buf := frames.get()) is not None:
            yield i / fps, np.frombuffer(buf, np.uint8).reshape(out_h, out_w, 3)
            i += 1
    finally:
        if proc.poll() is None:
            proc.kill()
        rc = proc.wait()
        while readers[0].is_alive():  # unblock a reader stuck on a full queue
            try:
                frames.get_nowait()
            except queue.Empty:
                readers[0].join(0.05)
        readers[1].join(5)
        proc.stdout.close()
        proc.stderr.close()
    if i == 0:
        err = b"".join(stderr).decode(errors="replace").strip()
        raise VideoError(f"{Path(path).name}: no frames could be decoded ({err[:200] or f'ffmpeg exit {rc}'})")


def sample_times(duration_s: float, n: int, skip_first: float, skip_last: float) -> list[float]:
    """`n` evenly spaced timestamps between skip_first and duration - skip_last (the seed's rule).

    Clips shorter than the skips use the whole clip instead of yielding nothing.
    """
    a, b = skip_first, duration_s - skip_last
    if b - a < 0.2:
        a, b = 0.0, duration_s
    step = (b - a) / n
    return [a + (k + 0.5) * step for k in range(n)]


def extract_frames(path: str | os.PathLike, times: list[float], size: int, info: VideoInfo | None = None,
                   grid_fps: float = 10.0) -> list[tuple[float, np.ndarray]]:
    """The frames nearest each requested timestamp, from one decode on a `grid_fps` grid."""
    info = info or probe(path)
    fps = max(grid_fps, min(info.fps, 60.0))
    wanted = sorted({int(round(t * fps)) for t in times})
    out: list[tuple[float, np.ndarray]] = []
    last = None
    k = 0
    for t, frame in decode(path, size, fps, info):
        last = (t, frame)
        while k < len(wanted) and int(round(t * fps)) >= wanted[k]:
            out.append((t, frame.copy()))
            k += 1
        if k == len(wanted):
            break
    while k < len(wanted) and last is not None:  # timestamps past the last decodable frame
        out.append((last[0], last[1].copy()))
        k += 1
    return out


class VideoWriter:
    """Encode RGB frames to H.264 MP4 through ffmpeg; the file appears only when complete."""

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float, crf: int = 23):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".part")
        self.proc = (
            ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", framerate=fps)
            .output(str(self.tmp), format="mp4", vcodec="libx264", pix_fmt="yuv420p", preset="veryfast",
                    crf=crf, movflags="+faststart")
            .overwrite_output()
            .global_args("-hide_banner", "-loglevel", "error", "-nostdin")
            .run_async(pipe_stdin=True, cmd=ffmpeg_exe())
        )

    def write(self, frame: np.ndarray) -> None:
        self.proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())

    def close(self) -> None:
        self.proc.stdin.close()
        if self.proc.wait() != 0:
            self.tmp.unlink(missing_ok=True)
            raise VideoError(f"ffmpeg failed to encode {self.path.name}")
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()

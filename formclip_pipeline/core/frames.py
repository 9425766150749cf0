"""From a folder of labelled videos to a manifest, and from videos to a frame table.

Layout (the seed guide's): VIDEO_DIR/<exercise>/<form_class>/<name>.<ext>.
A video that cannot be read is listed with its reason and skipped; the others go on.
"""
from __future__ import annotations

import io
import json
import os
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image

from formclip_pipeline.catalog import get_exercise
from formclip_pipeline.core.parallel import processes
from formclip_pipeline.core.settings import POSE_FPS, ExtractSettings
from formclip_pipeline.core.synth.generate import truth_path
from formclip_pipeline.core.video import MAX_PIXELS, VIDEO_EXTENSIONS, VideoError, file_sha256, probe, sample_times

FRAME_SIZE = 224  # ViT-B/32's input; smaller models resize down from it
SPLITS = ("train", "val", "test")
FRAME_COLUMNS = ["exercise", "form_class", "source_video", "video_sha256", "frame_index", "timestamp", "view",
                 "split", "image", "group", "origin"]
# A video is "synthetic" when the renderer's truth lies beside it, else "real" (filmed by a person).
ORIGINS = ("real", "synthetic")


def printable_path(path: Path) -> Path:
    """The path itself, or, when its name holds bytes that are not UTF-8 (Python keeps them as lone
    surrogates, which Parquet, JSON and the logs refuse), the same path with those bytes escaped."""
    try:
        str(path).encode("utf-8")
        return path
    except UnicodeEncodeError:
        return Path(os.fsencode(path).decode("utf-8", "backslashreplace"))


CONTROL_ESCAPES = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def control_escaped(name: str) -> str:
    """`name` with its control characters written as backslash escapes, as one line can show it."""
    import unicodedata

    return "".join(CONTROL_ESCAPES.get(c, f"\\x{ord(c):02x}") if unicodedata.category(c) == "Cc" else c
                   for c in name)


def _listing(folder: Path) -> tuple[list[Path], str | None]:
    """A folder's entries, hidden ones (.DS_Store, a copier's temporary files) left out, or why it
    cannot be listed."""
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith(".")), None
    except OSError as exc:
        return [], f"cannot be read ({exc.strerror or exc})"


def _class_files(cls_dir: Path) -> list[tuple[Path, str | None, str | None]]:
    """(entry, group, why it is skipped or None) under a class folder: its own files (no group), and
    those of its sub-folders, each sub-folder one group (a lifter, or a source), so that a group's
    videos share a split. A folder that cannot be listed, and a folder deeper down, come with their reason."""
    entries, error = _listing(cls_dir)
    if error:
        return [(cls_dir, None, f"{cls_dir.name}/: the folder {error}")]
    out = []
    for path in entries:
        if not path.is_dir():
            out.append((path, None, None))
            continue
        inner, error = _listing(path)
        if error:
            out.append((path, path.name, f"{path.name}/: the folder {error}"))
        out += [(p, path.name, f"{path.name}/{p.name}/: a folder inside a group's folder; videos go in their class "
                               f"folder or one folder below it" if p.is_dir() else None) for p in inner]
    return out


OWN_FILES = (".truth.json", ".part")  # FormClip's own, in a class folder: the renderer's truth, a video being written


def unknown_exercise_folders(video_dir: str | Path) -> list[str]:
    """One line for each entry of VIDEO_DIR that is not read: a folder that names no exercise of the
    catalogue, and a video not in an exercise's folder. Other files (notes, the contact sheet) are
    not videos, and are passed over."""
    from formclip_pipeline.catalog import exercise_names

    root, known = Path(video_dir), exercise_names()
    entries, error = _listing(root) if root.is_dir() else ([], None)
    lines = [f"{root}: the folder {error}"] if error else []
    for entry in entries:
        if entry.is_dir() and entry.name not in known:
            lines.append(f"{entry.name}/: not an exercise of the catalogue ({', '.join(known)}); its videos are "
                         f"not read")
        elif not entry.is_dir() and entry.suffix.lower() in VIDEO_EXTENSIONS:
            lines.append(f"{entry.name}: not in an exercise's folder; videos go in <exercise>/<form class>/")
    return lines


def video_manifest(video_dir: str | Path, exercise: str) -> pd.DataFrame:
    """One row per file under VIDEO_DIR/<exercise>/<class>/ (or one sub-folder down, the sub-folder
    naming the video's group: one lifter's or one source's videos): hash, probe results, or the error;
    and whether the video is real or rendered (its origin). Whatever else is there and is not read
    (a file outside a class folder, a folder too deep, one that cannot be listed, a FIFO) is a row
    with the reason, so nothing is passed over without a word."""
    ex = get_exercise(exercise)
    rows = []
    root = Path(video_dir) / exercise

    def add(path: Path, form_class: str | None, group: str | None, refusal: str | None) -> None:
        shown = printable_path(path)
        row = {"exercise": exercise, "form_class": form_class, "path": str(shown),
               "file_name": control_escaped(shown.name),
               "size_bytes": None, "sha256": None, "codec": None, "width": None, "height": None,
               "fps": None, "duration_s": None, "view": None, "status": "ok", "error": None,
               "group": group, "origin": "synthetic" if truth_path(path).exists() else "real"}
        try:
            if refusal:
                raise VideoError(refusal)
            if shown != path:
                raise VideoError(f"{shown.name}: the file name is not valid UTF-8; rename the file")
            # The name goes into the review CSV twice a row (source_video and frame_path), and into every
            # line said about the video: a line break there splits them, and a CSV row split in two
            # loses the edits made to it.
            if control_escaped(path.name) != path.name:
                raise VideoError(f"{control_escaped(path.name)}: the file name holds a line break or another "
                                 f"control character; rename the file")
            if group and control_escaped(group) != group:
                raise VideoError(f"{control_escaped(group)}/{control_escaped(path.name)}: the folder name holds a line "
                                 f"break or another control character; rename the folder")
            if path.is_symlink() and not path.exists():
                raise VideoError(f"{path.name}: a link to a file that is not there")
            if not path.is_file():  # a FIFO would block the hash below forever
                raise VideoError(f"{path.name}: not a regular file")
            row["size_bytes"] = path.stat().st_size
            if form_class not in ex.class_names:
                raise VideoError(f"{path.name}: folder {form_class!r} is not a form class of {exercise} "
                                 f"(known: {', '.join(ex.class_names)})")
            if path.suffix.lower() not in VIDEO_EXTENSIONS:
                raise VideoError(f"{path.name}: extension {path.suffix or '(none)'} is not a video type we read")
            row["sha256"] = file_sha256(path)
            info = probe(path)
            w, h = info.display_size
            row.update(codec=info.codec, width=w, height=h, fps=info.fps, duration_s=info.duration_s)
            truth = truth_path(path)
            if truth.exists():
                row["view"] = json.loads(truth.read_text()).get("view")
        except VideoError as exc:
            row.update(status="error", error=str(exc))
        except OSError as exc:
            row.update(status="error", error=f"{shown.name}: cannot be read ({exc.strerror or exc})")
        rows.append(row)

    entries, error = _listing(root) if root.is_dir() else ([], None)
    if error:
        add(root, None, None, f"{exercise}/: the folder {error}")
    for entry in entries:
        if not entry.is_dir():
            add(entry, None, None, f"{entry.name}: not in a form-class folder; move it into {exercise}/<class>/ "
                                   f"({', '.join(ex.class_names)})")
            continue
        for path, group, refusal in _class_files(entry):
            if not path.name.endswith(OWN_FILES):
                add(path, entry.name, group, refusal)
    cols = ["exercise", "form_class", "path", "file_name", "size_bytes", "sha256", "codec", "width", "height", "fps",
            "duration_s", "view", "status", "error", "group", "origin"]
    return pd.DataFrame(rows, columns=cols)


VAL_SHARE = 0.15  # of each class's videos, for choosing the epoch (CLIP) or checking the fit


def assign_splits(videos: pd.DataFrame, seed: int = ExtractSettings.split_seed,
                  test_share: float = ExtractSettings.test_share) -> dict[str, str]:
    """Split by video content hash, stratified by class and, where it is known, camera view: no
    video's frames land in two splits.

    Each class's videos are shuffled by a seeded hash of their content and dealt out one view at a
    time; the first `test_share` of them (rounded) are held out for testing and the next VAL_SHARE
    for validation, with at least one test video wherever a class has two or more, and one validation
    video wherever it has three or more. Dealing by view keeps a class's test videos from all coming
    from one view while its training videos come from the others: with eight videos a class, the
    demo's squat model once met only front views of good form in testing, having trained on one.
    """
    out: dict[str, str] = {}
    grouped = videos["group"].notna() if "group" in videos else pd.Series(False, index=videos.index)
    if grouped.any():
        out.update(_split_groups(videos[grouped], seed, test_share))
    videos = videos[~grouped]
    views = videos["view"].fillna("") if "view" in videos else pd.Series("", index=videos.index)
    for _, group in videos.assign(_view=views).groupby("form_class"):
        shuffled = group.drop_duplicates("sha256")
        shuffled = shuffled.assign(_key=[zlib.crc32(f"{seed}:{s}".encode()) for s in shuffled["sha256"]])
        shuffled = shuffled.sort_values("_key")
        # Round k deals the k-th video of each view, in shuffled order; with the view unknown this
        # is the shuffled order itself.
        shuffled["_round"] = shuffled.groupby("_view").cumcount()
        shas = list(shuffled.sort_values(["_round", "_key"])["sha256"])
        n = len(shas)
        n_test = max(1 if n >= 2 else 0, int(round(n * test_share)))
        n_val = max(1 if n >= 3 else 0, int(round(n * VAL_SHARE)))
        for i, sha in enumerate(shas):
            out.setdefault(sha, "test" if i < n_test else "val" if i < n_test + n_val else "train")
    return out


def _split_groups(videos: pd.DataFrame, seed: int, test_share: float) -> dict[str, str]:
    """Content hash -> split for videos in groups: every video of a group (one lifter, one source)
    lands in its group's split, so a model is tested on lifters it never saw. Groups are shuffled by a
    seeded hash of their name and dealt as `assign_splits` deals videos: the first `test_share` of them
    to test (at least one where there are two), the next VAL_SHARE to validation."""
    names = sorted(set(videos["group"]), key=lambda g: zlib.crc32(f"{seed}:{g}".encode()))
    n = len(names)
    n_test = max(1 if n >= 2 else 0, int(round(n * test_share)))
    n_val = max(1 if n >= 3 else 0, int(round(n * VAL_SHARE)))
    split_of = {g: "test" if i < n_test else "val" if i < n_test + n_val else "train" for i, g in enumerate(names)}
    return {sha: split_of[g] for sha, g in zip(videos["sha256"], videos["group"])}


def jpeg_bytes(frame: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class ImageTooLarge(ValueError):
    """An image that would decode to more than MAX_PIXELS pixels."""


def open_image(data: bytes) -> Image.Image:
    """An image read as far as its header, so that decoding it is safe: it holds at most MAX_PIXELS
    pixels, or ImageTooLarge says how many it has. Any other file is PIL's UnidentifiedImageError."""
    import warnings

    try:
        with warnings.catch_warnings():
            # PIL's own guard warns above 89 million pixels, which the limit below refuses anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:  # past twice PIL's limit it refuses to tell the size
        raise ImageTooLarge(f"its picture is larger than the {MAX_PIXELS:,}-pixel limit for an image") from None
    w, h = image.size
    if w * h > MAX_PIXELS:
        raise ImageTooLarge(f"its {w}x{h} pixels are more than the {MAX_PIXELS:,}-pixel limit for an image")
    return image


def decode_jpeg(data: bytes) -> np.ndarray:
    return np.asarray(open_image(data).convert("RGB"))


OVERRUN_S = 5.0  # decoding stops this far past the duration a video's header claims


def frames_and_poses(path: str, times: list[float], size: int = FRAME_SIZE, pose_fps: float = POSE_FPS,
                     info=None) -> tuple[list[tuple[float, np.ndarray]], list[dict]]:
    """One decode of a video: the CLIP frames nearest `times` (letterboxed to `size`), and BlazePose's
    landmarks on a `pose_fps` grid, tracked from frame to frame (no poses when pose_fps is 0).

    The decode grid is a multiple of pose_fps of at least 10 frames per second, so a requested
    time is never more than 0.05 s from the frame taken for it.
    """
    import math

    from formclip_pipeline.core.pose import POSE_FRAME_SIDE, BlazePose, pose_row
    from formclip_pipeline.core.video import decode, letterbox

    info = info or probe(path)
    step = max(1, math.ceil(10.0 / pose_fps)) if pose_fps > 0 else 1
    grid = pose_fps * step if pose_fps > 0 else max(10.0, min(info.fps, 60.0))
    wanted = sorted({int(round(t * grid)) for t in times})
    frames: list[tuple[float, np.ndarray]] = []
    poses: list[dict] = []
    last = None
    estimator = BlazePose() if pose_fps > 0 else None
    try:
        k = 0
        for i, (t, frame) in enumerate(decode(path, POSE_FRAME_SIDE, grid, info, keep_aspect=True)):
            if t > info.duration_s + OVERRUN_S:
                # The stream holds more than its header claims: what was asked for lies inside the claim.
                break
            last = (t, frame)
            if estimator is not None and i % step == 0:
                poses.append({"frame_index": i // step, "timestamp": round(float(t), 3),
                              **pose_row(estimator(frame), frame)})
            while k < len(wanted) and i >= wanted[k]:
                frames.append((t, letterbox(frame, size)))
                k += 1
        while k < len(wanted) and last is not None:  # timestamps past the last decodable frame
            frames.append((last[0], letterbox(last[1], size)))
            k += 1
    finally:
        if estimator is not None:
            estimator.close()
    return frames, poses


def _read_video(path: str, duration_s: float, frames_per_video: int, skip_first: float, skip_last: float,
                size: int, pose_fps: float) -> tuple[list, list[dict]] | str:
    """One video's frames (as JPEG) and poses, or the reason it could not be read: what a worker
    process hands back to extract_dataset."""
    try:
        times = sample_times(duration_s, frames_per_video, skip_first, skip_last)
        frames, poses = frames_and_poses(path, times, size, pose_fps)
    except VideoError as exc:
        return str(exc)
    return [(t, jpeg_bytes(frame)) for t, frame in frames], poses


def extract_dataset(manifest: pd.DataFrame, frames_per_video: int = ExtractSettings.frames_per_video,
                    skip_first: float = ExtractSettings.skip_first, skip_last: float = ExtractSettings.skip_last,
                    seed: int = ExtractSettings.split_seed, size: int = FRAME_SIZE,
                    pose_fps: float = ExtractSettings.pose_fps, progress: Callable[[str], None] | None = None,
                    test_share: float = ExtractSettings.test_share, splits: dict[str, str] | None = None,
                    workers: int = ExtractSettings.workers) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """Sample frames and poses from every readable video, decoding each once; returns
    (frames, poses, failures). A video that fails is listed in failures and the others go on.

    `splits` (content hash -> train/val/test) is given when the manifest is one share of a larger
    one, whose split was drawn over all its videos; otherwise it is drawn here with `seed`.
    With `workers` above 1, that many processes (at most one per core) read videos side by side:
    decoding and BlazePose each keep one core busy, so one process leaves the others idle."""
    from formclip_pipeline.core.pose import POSE_COLUMNS

    ok = manifest[manifest["status"] == "ok"]
    if splits is None:
        splits = assign_splits(ok, seed, test_share) if len(ok) else {}
    records = list(ok.itertuples(index=False))
    jobs = [(rec.path, float(rec.duration_s), frames_per_video, skip_first, skip_last, size, pose_fps)
            for rec in records]
    workers = max(1, min(workers, os.cpu_count() or 1, len(jobs)))
    rows, pose_rows, failures = [], [], []
    with processes(workers) as pool:
        results = pool.map(_read_video, *zip(*jobs)) if jobs else []
        for rec, result in zip(records, results):
            if isinstance(result, str):
                failures.append({"path": rec.path, "error": result})
                continue
            frames, poses = result
            group = getattr(rec, "group", None)
            # A group's folder is part of the video's name: two lifters may each have a set1.mp4.
            source_video = f"{group}/{rec.file_name}" if isinstance(group, str) else rec.file_name
            for k, (t, image) in enumerate(frames):
                rows.append({"exercise": rec.exercise, "form_class": rec.form_class, "source_video": source_video,
                             "video_sha256": rec.sha256, "frame_index": k, "timestamp": round(float(t), 3),
                             "view": rec.view, "split": splits[rec.sha256], "image": image,
                             "group": getattr(rec, "group", None), "origin": getattr(rec, "origin", None)})
            for p in poses:
                pose_rows.append({"exercise": rec.exercise, "form_class": rec.form_class,
                                  "source_video": source_video, "video_sha256": rec.sha256, **p})
            if progress:
                progress(rec.file_name)
    return pd.DataFrame(rows, columns=FRAME_COLUMNS), pd.DataFrame(pose_rows, columns=POSE_COLUMNS), failures


def frames_array(frames: pd.DataFrame) -> np.ndarray:
    """The frames as FRAME_SIZE squares. Extracted frames are letterboxed already; a seed folder's
    JPEGs may be of any size, and each is letterboxed as a video frame is, its whole picture kept."""
    from formclip_pipeline.core.video import letterbox

    out = np.zeros((len(frames), FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
    for i, data in enumerate(frames["image"]):
        frame = decode_jpeg(data)
        out[i] = frame if frame.shape[:2] == (FRAME_SIZE, FRAME_SIZE) else letterbox(frame, FRAME_SIZE)
    return out

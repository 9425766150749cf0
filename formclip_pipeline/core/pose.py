"""The lifter's joints in every sampled frame, from MediaPipe BlazePose, tracked through a video.

BlazePose (the full landmark model, `model_complexity=1`, whose weights ship inside the mediapipe
0.10.21 wheel) gives 33 landmarks per person: image x, y in [0, 1] of the frame's width and height
with a visibility in [0, 1], and world x, y, z in metres around the hips (y points down). In video
mode it tracks the person from frame to frame and only runs the person detector again when it
loses them, which is both faster and steadier than detecting every frame; so one estimator serves
one video, frames in order.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

LANDMARKS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
N_LANDMARKS = len(LANDMARKS)
INDEX = {name: i for i, name in enumerate(LANDMARKS)}
# Bones drawn in reports: the limbs, the shoulder and hip girdles and the trunk's sides.
SKELETON = (
    ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"), ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    ("left_ankle", "left_heel"), ("left_heel", "left_foot_index"), ("right_ankle", "right_heel"),
    ("right_heel", "right_foot_index"), ("left_ear", "left_shoulder"), ("right_ear", "right_shoulder"),
)
# Long side of the frames the pose model sees. BlazePose crops the person and resizes the crop to
# 256 px itself, so more pixels only cost decoding time; fewer make a distant lifter a smudge.
POSE_FRAME_SIDE = 640
POSE_COLUMNS = ["exercise", "form_class", "source_video", "video_sha256", "frame_index", "timestamp", "frame_width",
                "frame_height", "detected", "image_landmarks", "world_landmarks", "trunk_outline",
                "silhouette_top_width", "silhouette_height"]
# The trunk's outline: how far the lifter's silhouette (BlazePose's segmentation mask) reaches on each
# side of the line from mid-hip to mid-shoulder in the image, at these points along it (0 at the hips,
# 1 at the shoulders), in lengths of that line. The landmarks place no joint along the spine, so a
# rounded back shows only here (core.measures reads it). The ends are left out: there the outline is
# the buttocks and the shoulder blades, whatever the spine does.
OUTLINE_POINTS = np.linspace(0.15, 0.85, 15)
OUTLINE_REACH = 0.8  # the furthest an outline is looked for, in lengths of the hip-to-shoulder line
# The silhouette's top: its width there, over its height, is how far the elbows stand out of a lifter
# lying on a bench filmed from the feet (or the head), where the arms rise to the top of the picture and
# the landmarks are poor (core.measures, `silhouette_top_width`). A mask smaller than SILHOUETTE_MIN_PX
# is a lost lifter, not a small one.
SILHOUETTE_TOP = 0.35
SILHOUETTE_MIN_PX = 200
# Found once, BlazePose keeps tracking a lifter through the bottom of a deep squat, where the body
# folds and the plates hide the face, only at a low tracking threshold: on side-view synthetic
# squats, 0.5/0.5 found the lifter in 57% of the frames past 80 degrees of knee flexion, 0.2/0.05 in
# 93%. Landmarks the model is unsure of are still dropped by their own visibility (core.measures).
MIN_DETECTION_CONFIDENCE = 0.2
MIN_TRACKING_CONFIDENCE = 0.05


class PoseError(Exception):
    """The pose model cannot run here; the message says why and what to do."""


@dataclass
class FramePose:
    """One frame's landmarks: image (33 x 3: x, y, visibility) and world (33 x 3: x, y, z metres), the
    trunk's outline (2 x len(OUTLINE_POINTS), `trunk_outline`) and the width of the silhouette's top
    and the silhouette's height (`silhouette_readings`); None without a segmentation mask."""
    image: np.ndarray
    world: np.ndarray
    outline: np.ndarray | None = None
    top_width: float | None = None
    height: float | None = None


def trunk_line(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame, the mid-hip, the line from it to the mid-shoulder, and the unit normal to that line on
    its left walking from the hips to the shoulders as the image shows it (N x 2 each, pixels), from
    image landmarks in pixels (N x 33 x 2 or more): what the trunk's outline is measured from."""
    hip = (image[:, INDEX["left_hip"], :2] + image[:, INDEX["right_hip"], :2]) / 2
    along = (image[:, INDEX["left_shoulder"], :2] + image[:, INDEX["right_shoulder"], :2]) / 2 - hip
    length = np.linalg.norm(along, axis=1, keepdims=True)
    left = np.stack([along[:, 1], -along[:, 0]], axis=1) / np.where(length > 0, length, np.nan)
    return hip, along, left


def trunk_outline(mask: np.ndarray, image: np.ndarray) -> np.ndarray:
    """How far the silhouette reaches on each side of the mid-hip to mid-shoulder line, per OUTLINE_POINTS,
    in lengths of that line: row 0 to the left of the line walking from the hips to the shoulders as the
    image shows it, row 1 to the right. NaN where the silhouette runs on past OUTLINE_REACH or the
    line is too short to measure along.

    `mask` is the segmentation mask (H x W, the person's probability per pixel) and `image` the 33
    landmarks in pixels of the same frame."""
    out = np.full((2, len(OUTLINE_POINTS)), np.nan, np.float32)
    hip, along, left = (a[0] for a in trunk_line(image[None]))
    length = float(np.hypot(*along))
    if not np.isfinite(length) or length < 8.0:
        return out
    steps = np.arange(0.0, OUTLINE_REACH * length, 1.0)
    h, w = mask.shape
    base = hip[None, :] + OUTLINE_POINTS[:, None] * along[None, :]
    for row, normal in enumerate((left, -left)):
        pts = base[:, None, :] + steps[None, :, None] * normal[None, None, :]
        x, y = np.rint(pts[..., 0]).astype(np.int64), np.rint(pts[..., 1]).astype(np.int64)
        on_frame = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        inside = np.zeros(x.shape, bool)
        inside[on_frame] = mask[y[on_frame], x[on_frame]] > 0.5
        leaves = ~inside
        first = leaves.argmax(1)
        out[row] = np.where(leaves.any(1), steps[first] / length, np.nan)
    return out


def silhouette_readings(mask: np.ndarray) -> tuple[float, float]:
    """(top width, height) of the silhouette: the width across its top SILHOUETTE_TOP over its height,
    and its height over the frame's, each between its 1st and 99th percentile pixel, so a stray speck
    does not stretch it; NaN for a mask of under SILHOUETTE_MIN_PX pixels. `mask` is the segmentation
    mask (H x W, the person's probability)."""
    ys, xs = np.nonzero(np.asarray(mask) > 0.5)
    if len(ys) < SILHOUETTE_MIN_PX:
        return float("nan"), float("nan")
    top, bottom = np.percentile(ys, [1, 99])
    if bottom <= top:
        return float("nan"), float("nan")
    upper = xs[ys <= top + SILHOUETTE_TOP * (bottom - top)]
    left, right = np.percentile(upper, [1, 99])
    return float((right - left) / (bottom - top)), float((bottom - top) / mask.shape[0])


@contextmanager
def _quiet_native_stderr():
    """Silence what mediapipe's C++ side prints while its graph starts (TFLite's delegate notice, absl
    warnings about feedback tensors and square ROIs, once per video): it writes to file descriptor 2
    before any logging is set up, and a user reading a command's output cannot act on any of it.
    The whole process's stderr goes quiet, so hold it only while mediapipe starts."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class BlazePose:
    """MediaPipe's BlazePose in video (tracking) mode for one video; use as a context manager."""

    def __init__(self, min_detection_confidence: float = MIN_DETECTION_CONFIDENCE,
                 min_tracking_confidence: float = MIN_TRACKING_CONFIDENCE):
        try:
            from mediapipe.python.solutions import pose as mp_pose
        except ImportError as exc:  # pragma: no cover - the dependency is pinned
            raise PoseError(f"mediapipe is not installed ({exc}); run `make setup`") from exc
        # model_complexity 1 is the landmark model inside the wheel; 0 and 2 are downloaded on first
        # use, which fails offline.
        with _quiet_native_stderr():
            # The segmentation mask gives the trunk's outline; the landmarks are the same with it or without
            # (checked frame by frame), and it costs about 1 ms a frame at 640x360.
            self._pose = mp_pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                                      enable_segmentation=True, min_detection_confidence=min_detection_confidence,
                                      min_tracking_confidence=min_tracking_confidence)
            # The graph opens its calculators on its own threads after the constructor returns, and
            # they print as they open: wait for them here, while stderr is still quiet. Without the
            # wait the demo printed 144 such lines over its 168 videos, between the decoder
            # starting and the first frame. (`_graph` is the solution's own graph; mediapipe is
            # pinned, see pyproject.toml.)
            self._pose._graph.wait_until_idle()
        self._landmarks_started = False

    def __call__(self, rgb: np.ndarray) -> FramePose | None:
        if self._landmarks_started:
            result = self._pose.process(np.ascontiguousarray(rgb))
        else:
            # The landmark stage starts on the first frame with a person in it, and prints as it starts
            # (landmark_projection_calculator's "Using NORM_RECT without IMAGE_DIMENSIONS"): in a video
            # that opens before the lifter steps in, that is some frames after the first.
            with _quiet_native_stderr():
                result = self._pose.process(np.ascontiguousarray(rgb))
            self._landmarks_started = result.pose_landmarks is not None
        if result.pose_landmarks is None or result.pose_world_landmarks is None:
            return None
        image = np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark], np.float32)
        world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark], np.float32)
        if result.segmentation_mask is None:
            return FramePose(image, world)
        pixels = image[:, :2] * np.array([rgb.shape[1], rgb.shape[0]], np.float32)
        return FramePose(image, world, trunk_outline(result.segmentation_mask, pixels),
                         *silhouette_readings(result.segmentation_mask))

    def close(self) -> None:
        self._pose.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def stack_landmarks(poses: "pd.DataFrame") -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: F821
    """(image N x 33 x 3, world N x 33 x 3, detected N) from a pose table's rows; NaN where undetected.

    Image x and y come back in pixels of the frame the model saw (so angles in the image are true
    angles), and the third column is the visibility."""
    n = len(poses)
    image = np.full((n, N_LANDMARKS, 3), np.nan, np.float32)
    world = np.full((n, N_LANDMARKS, 3), np.nan, np.float32)
    detected = poses["detected"].to_numpy(bool) if n else np.zeros(0, bool)
    for i, (ok, im, wo) in enumerate(zip(detected, poses["image_landmarks"], poses["world_landmarks"])):
        if ok:
            image[i] = np.asarray(im, np.float32).reshape(N_LANDMARKS, 3)
            world[i] = np.asarray(wo, np.float32).reshape(N_LANDMARKS, 3)
    if n:
        image[..., 0] *= poses["frame_width"].to_numpy(np.float32)[:, None]
        image[..., 1] *= poses["frame_height"].to_numpy(np.float32)[:, None]
    return image, world, detected


def back_of(outline: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per frame, the back's side of the trunk's outline (N x len(OUTLINE_POINTS)), the mid-hip and the
    hip-to-shoulder line it was measured from, and the unit normal to that line towards the back (N x 2
    pixels each), from outlines (N x 2 x K) and image landmarks in pixels (N x 33 x 2 or more).

    The back is the side away from where the trunk leans: a lifter hinged forward has the shoulders
    ahead of the hips, and the back faces up and behind them. With the shoulders ahead in +x (image y
    points down), that is row 0, the left walking from the hips to the shoulders."""
    hip, along, left = trunk_line(image)
    ahead = along[:, 0] >= 0
    back = np.where(ahead[:, None], outline[:, 0], outline[:, 1])
    return back, hip, along, np.where(ahead[:, None], left, -left)


@dataclass
class Silhouettes:
    """What the segmentation masks of a video's frames read, one entry per frame, NaN where there was no
    lifter or the pose table was written before that reading was made: the trunk's outline (N x 2 x
    len(OUTLINE_POINTS), `trunk_outline`), the width of the silhouette's top over its height and its
    height over the frame's (N each, `silhouette_readings`)."""
    outline: np.ndarray
    top_width: np.ndarray
    height: np.ndarray

    @staticmethod
    def of(poses: "pd.DataFrame") -> "Silhouettes":  # noqa: F821
        n = len(poses)
        outline = np.full((n, 2, len(OUTLINE_POINTS)), np.nan, np.float32)
        if "trunk_outline" in poses:
            for i, values in enumerate(poses["trunk_outline"]):
                if values is not None and len(values) == outline[i].size:
                    outline[i] = np.asarray(values, np.float32).reshape(outline[i].shape)

        def column(name: str) -> np.ndarray:
            return poses[name].to_numpy(np.float64, na_value=np.nan) if name in poses else np.full(n, np.nan)

        return Silhouettes(outline, column("silhouette_top_width"), column("silhouette_height"))


def pose_row(pose: FramePose | None, frame: np.ndarray) -> dict:
    """The pose columns of one frame's row (flat float lists, which Parquet stores natively)."""
    size = {"frame_width": int(frame.shape[1]), "frame_height": int(frame.shape[0])}
    if pose is None:
        return {**size, "detected": False, "image_landmarks": None, "world_landmarks": None, "trunk_outline": None,
                "silhouette_top_width": None, "silhouette_height": None}
    return {**size, "detected": True, "image_landmarks": pose.image.reshape(-1).tolist(),
            "world_landmarks": pose.world.reshape(-1).tolist(),
            "trunk_outline": None if pose.outline is None else pose.outline.reshape(-1).tolist(),
            "silhouette_top_width": pose.top_width, "silhouette_height": pose.height}

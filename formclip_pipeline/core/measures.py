"""What a coach measures on a lifter, from BlazePose landmarks: defined once, named for what they measure.

Angles are in degrees and flexions read 0 for a straight joint (a locked-out knee, hip or elbow)
and grow as the joint bends: a squat to parallel has about 90-100 degrees of knee flexion. Lengths
are divided by the lifter's own torso or thigh length, so they do not depend on height or camera
distance. Every measure is computed from world landmarks (metres, y down) on the side(s) of the
body whose landmarks BlazePose sees (visibility >= `MIN_VISIBILITY`), and is NaN where it sees
neither; series are then smoothed against landmark jitter and short gaps filled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from formclip_pipeline.core.pose import INDEX, Silhouettes, stack_landmarks

MIN_VISIBILITY = 0.5
# Raised whenever a measure's definition changes. A pose head fitted on one definition reads another's
# numbers as if they were its own, so a checkpoint records the version it was fitted on and loading
# refuses any other (2: the bar's distance ahead of the mid-foot read in the image, in foot lengths;
# 3: the bench press's reps, and so its tempo, profile and depth, read from the silhouette's drop).
DEFINITIONS_VERSION = 3
VERSION_KEY = "measures_version"  # in a pose checkpoint's meta and on its registered model version


def recorded_version(record: dict) -> int:
    """The measures version a checkpoint's meta or a model version's tags recorded; those saved
    before versions were recorded were fitted on version 1."""
    return int(record.get(VERSION_KEY, 1))


@dataclass(frozen=True)
class Measure:
    name: str
    unit: str  # "deg" or "ratio"
    description: str

    @property
    def scale(self) -> float:
        """What puts the measure on a common footing with the others: 100 degrees, or 1 for ratios."""
        return 100.0 if self.unit == "deg" else 1.0

    @property
    def digits(self) -> int:
        """Decimals worth reporting: tenths of a degree, hundredths of a ratio."""
        return 1 if self.unit == "deg" else 2


MEASURES = {m.name: m for m in (
    Measure("knee_flexion", "deg", "how far the knee is bent (0 = straight leg)"),
    Measure("hip_flexion", "deg", "how far the hip is bent between trunk and thigh (0 = standing tall)"),
    Measure("trunk_lean", "deg", "trunk (mid-hip to mid-shoulder) forward of vertical"),
    Measure("neck_trunk_angle", "deg", "head and neck (shoulder to ear) bent away from the trunk line: "
            "grows as the upper back rounds"),
    Measure("knee_gap_ratio", "ratio", "distance between the knees over distance between the ankles "
            "(below 1: knees inside the feet)"),
    Measure("elbow_flexion", "deg", "how far the elbow is bent (0 = locked out)"),
    Measure("shoulder_abduction", "deg", "upper arm away from the trunk (90 = elbows flared level with the shoulders)"),
    Measure("wrist_height", "ratio", "wrists (the bar) above the shoulders, in torso lengths"),
    Measure("wrist_forward", "ratio", "wrists (the bar) ahead of the mid-foot, in foot lengths"),
    Measure("hip_below_knee", "ratio", "hip below the knee, in thigh lengths (above 0: below parallel)"),
    Measure("camera_frontality", "ratio", "shoulder width over trunk length as the camera sees them: about 0.7 "
            "facing the camera, under 0.3 side-on; tells the other measures' reliability apart by view"),
    Measure("back_rounding", "deg", "how far the back's outline between hips and shoulders bows out, as the arc "
            "through it (0 = not at all); read while the trunk is hinged forward"),
    Measure("silhouette_top_width", "ratio", "the width of the lifter's silhouette across its top third, over its "
            "height: grows as the elbows flare out from a lifter lying on a bench filmed from the feet or the head"),
    Measure("silhouette_drop", "ratio", "how far the lifter's silhouette has come down from its tallest in the video, "
            "in shares of that height (0 = at its tallest): the bar lowering to a lying lifter's chest, from any side"),
)}
MEASURE_NAMES = tuple(MEASURES)


def measure_of(summary_key: str) -> str | None:
    """The measure a summary or feature name is about ("knee_flexion_at_depth" -> "knee_flexion"),
    or None for one that is no measure's (rep tempo, image embeddings)."""
    return next((m for m in MEASURE_NAMES if summary_key.startswith(m + "_")), None)


def _vis(image: np.ndarray, names: list[str]) -> np.ndarray:
    """N-vector: every named landmark seen well enough in that frame."""
    return np.all(image[:, [INDEX[n] for n in names], 2] >= MIN_VISIBILITY, axis=1)


def _angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle at b, degrees, for N x 3 arrays."""
    u, v = a - b, c - b
    cos = np.sum(u * v, 1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1) + 1e-9)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _bilateral(image: np.ndarray, world: np.ndarray, parts: tuple[str, ...], fn) -> np.ndarray:
    """fn(*landmarks) on each side the camera sees, averaged over the sides seen; NaN if neither."""
    values = []
    for side in ("left", "right"):
        names = [f"{side}_{p}" for p in parts]
        v = fn(*[world[:, INDEX[n]] for n in names]).astype(np.float64)
        values.append(np.where(_vis(image, names), v, np.nan))
    stacked = np.stack(values)
    out = np.full(stacked.shape[1], np.nan)
    seen = ~np.all(np.isnan(stacked), axis=0)
    out[seen] = np.nanmean(stacked[:, seen], axis=0)
    return out


def _mid(world: np.ndarray, part: str) -> np.ndarray:
    return (world[:, INDEX[f"left_{part}"]] + world[:, INDEX[f"right_{part}"]]) / 2


# Read in the image plane when the camera looks at that plane: sagittal measures from side-on, the
# frontal ones from the front. BlazePose's 2-D landmarks are far closer to the truth than its
# depth estimate there (on side-view synthetic squats the world knee flexion at the bottom fell
# 40-55 degrees short); elsewhere only the 3-D world landmarks see the angle at all.
FRONTAL = ("knee_gap_ratio", "shoulder_abduction")
SIDE_ON_BELOW = 0.45  # camera_frontality under which the camera is side-on


def frame_measures(image: np.ndarray, world: np.ndarray, silhouettes: Silhouettes | None = None) -> pd.DataFrame:
    """One row per frame, one column per measure (NaN where the joints are not seen).

    The sagittal angles and heights (knee and hip flexion, trunk lean, hip below knee, wrist height)
    come from how tall the body's segments stand in the image (`_from_heights`), which no turn of the
    camera round the lifter changes; the bar's distance ahead of the mid-foot from how far the wrists
    and feet lie apart across it (`_wrist_forward`). The others come from the image plane when the
    camera looks at their plane, else from BlazePose's 3-D world landmarks. The back's rounding, the
    silhouette's top width and its drop come from BlazePose's segmentation masks (`silhouettes`; NaN
    throughout without them): the only view of the back's shape and of a lying lifter's arms and bar
    that does not depend on where the landmarks fall."""
    from_world = _measures(image, world)
    flat = np.concatenate([image[..., :2], np.zeros_like(image[..., :1])], axis=-1)
    in_image = _measures(image, flat)
    frontality = pd.Series(from_world["camera_frontality"]).interpolate(limit_direction="both").to_numpy()
    side_on = np.nan_to_num(frontality, nan=1.0) < SIDE_ON_BELOW
    out = {}
    for name in from_world:
        use_image = ~side_on if name in FRONTAL else side_on
        out[name] = np.where(use_image, in_image[name], from_world[name])
    out["camera_frontality"] = in_image["camera_frontality"]
    for name, values in _from_heights(image).items():
        out[name] = np.where(np.isnan(values), out[name], values)
    out["wrist_forward"] = _wrist_forward(image)
    nothing = np.full(len(image), np.nan)
    out["back_rounding"] = _back_rounding(image, None if silhouettes is None else silhouettes.outline)
    out["silhouette_top_width"] = nothing if silhouettes is None else silhouettes.top_width.astype(np.float64)
    out["silhouette_drop"] = nothing if silhouettes is None else _silhouette_drop(silhouettes.height)
    return pd.DataFrame(out)[list(MEASURE_NAMES)]


def _silhouette_drop(height: np.ndarray) -> np.ndarray:
    """1 - height over the video's tallest (its 95th percentile, so one frame whose mask took in the
    bench or a plate does not set it), per frame."""
    h = np.asarray(height, np.float64)
    if not np.isfinite(h).any():
        return np.full(len(h), np.nan)
    return 1.0 - h / float(np.nanpercentile(h, 95))


# The trunk's lean in the image from which its outline shows the back's shape. Nearer upright, the
# outline's bow is the buttocks' and the shoulder blades', not the spine's; and a deadlift whose legs
# BlazePose loses at the bottom reads its trunk 17-28 degrees from upright, with the hips misplaced,
# which these frames leave out. On the 80 synthetic deadlifts `make bench` fits on, the per-video
# median over frames leaning at least 40 degrees told rounded backs from the other classes at an AUC
# of 0.985 from the side and 1.00 at an angle; from 30 degrees 0.97 and 0.99; from 50, 1.00 and 1.00
# but with 7 more of the 80 videos never read (docs/benchmarks.md).
HINGED_FROM = 40.0


def _back_rounding(image: np.ndarray, outline: np.ndarray | None) -> np.ndarray:
    """The bend of the back's outline per frame, in degrees: the angle of the circular arc through its
    ends and its furthest point from the straight line joining them (for a sagitta h over a chord c,
    4 atan(2h / c)); 0 where no point lies outside that line. The back is the side of the
    hip-to-shoulder line away from where the trunk leans (pose.back_of). NaN where the trunk is not
    hinged (HINGED_FROM), not seen, or has no outline."""
    from formclip_pipeline.core.pose import OUTLINE_POINTS, back_of

    n = len(image)
    if outline is None or not len(outline):
        return np.full(n, np.nan)
    back, _, along, _ = back_of(outline.astype(np.float64), image.astype(np.float64))
    lean = np.degrees(np.arctan2(np.abs(along[:, 0]), -along[:, 1]))
    seen = _vis(image, ["left_hip", "left_shoulder"]) | _vis(image, ["right_hip", "right_shoulder"])
    t = OUTLINE_POINTS
    chord = back[:, :1] + (back[:, -1:] - back[:, :1]) * (t - t[0]) / (t[-1] - t[0])
    # Only a bow outwards counts. A flat back's outline dips inside the line between its ends, where the
    # buttocks and shoulder blades stand out (on real deadlifts with flat backs, 18-42 degrees inwards),
    # so an inward bend tells of the lifter's build, not an arched spine.
    sagitta = np.max(back - chord, axis=1)
    bend = np.degrees(4 * np.arctan(2 * sagitta / (t[-1] - t[0])))
    ok = seen & (lean >= HINGED_FROM) & np.all(np.isfinite(back), axis=1)
    return np.where(ok, bend, np.nan)


# The camera sees a foot's length when it spans at least this share of the torso's image length:
# about 0.3 side-on and 0.2 at 40 degrees, under 0.1 from the front.
FOOT_SEEN_ACROSS = 0.12


def _wrist_forward(image: np.ndarray) -> np.ndarray:
    """Wrists ahead of the mid-foot in foot lengths, per frame.

    Wherever the camera sees the feet's length, this is read in the image: the wrists' horizontal
    distance from the mid-foot over the foot's (heel to toe, median over the video). A turn of the
    camera shrinks both alike, and the foot's direction gives the sign, so the ratio holds from the
    side and at an angle. On synthetic deadlifts its frames correlated with the generator's bar
    position at 0.91 from the oblique view and 0.72 from the side, against 0.47 and 0.60 for the
    same measure from BlazePose's 3-D landmarks (docs/benchmarks.md). From the front, the forward
    direction points at the camera, and BlazePose's depth is too rough to read it (good-form lifters
    read 2.8 foot lengths ahead, more than any bar drift): unread there."""
    wrists_seen = _vis(image, ["left_wrist"]) | _vis(image, ["right_wrist"])
    feet_seen = _vis(image, ["left_heel", "left_foot_index"]) | _vis(image, ["right_heel", "right_foot_index"])
    ok = wrists_seen & feet_seen
    toe, heel, wrist = (_mid(image, p)[:, :2].astype(np.float64) for p in ("foot_index", "heel", "wrist"))
    trunk = np.linalg.norm(_mid(image, "shoulder")[:, :2] - _mid(image, "hip")[:, :2], axis=1)
    if ok.any():
        foot = float(np.median(toe[ok, 0] - heel[ok, 0]))
        if abs(foot) >= FOOT_SEEN_ACROSS * float(np.median(trunk[ok])):
            return np.where(ok, (wrist[:, 0] - (toe[:, 0] + heel[:, 0]) / 2) / foot, np.nan)
    return np.full(len(image), np.nan)


def _segment_tilt(image: np.ndarray, a: str, b: str) -> tuple[np.ndarray, float]:
    """Tilt of segment a-b from straight down (degrees, per frame) and its full image length.

    The full length is the segment's longest (95th percentile) image length over the video: its true
    length, seen when it stood square to the camera."""
    y = image[..., 1].astype(np.float64)  # image y points down
    sides, lengths = [], []
    for side in ("left", "right"):
        ia, ib = INDEX[f"{side}_{a}"], INDEX[f"{side}_{b}"]
        seen = _vis(image, [f"{side}_{a}", f"{side}_{b}"])
        length = np.where(seen, np.linalg.norm(image[:, ia, :2] - image[:, ib, :2], axis=1), np.nan)
        full = float(np.nanpercentile(length, 95)) if seen.any() else np.nan
        sides.append(np.where(seen, np.degrees(np.arccos(np.clip((y[:, ib] - y[:, ia]) / full, -1, 1))), np.nan))
        lengths.append(full)
    stacked = np.stack(sides)
    tilt = np.full(len(y), np.nan)
    any_seen = ~np.all(np.isnan(stacked), axis=0)
    tilt[any_seen] = np.nanmean(stacked[:, any_seen], axis=0)
    return tilt, float(np.nanmean(lengths)) if not np.all(np.isnan(lengths)) else np.nan


def _from_heights(image: np.ndarray) -> dict[str, np.ndarray]:
    """Sagittal angles and heights from how tall each segment stands in the image against its length.

    A camera turning round a level lifter changes how wide a segment looks, never how tall: a thigh
    of length L tilted by a from straight down spans L cos(a) vertically from any side. Flexion is
    then the sum of the two segments' tilts, as when the joint bends in the body's own plane, which
    the lifts do. On synthetic squats this put the deepest knee flexion within 6 degrees of the truth
    from the front and oblique views and 7-24 high from the side, where BlazePose's 3-D landmarks
    fell 40-55 short (docs/benchmarks.md).
    """
    thigh, thigh_len = _segment_tilt(image, "hip", "knee")
    shank, _ = _segment_tilt(image, "knee", "ankle")
    trunk, trunk_len = _segment_tilt(image, "shoulder", "hip")
    y = image[..., 1].astype(np.float64)

    def height(part: str) -> np.ndarray:
        left, right = INDEX[f"left_{part}"], INDEX[f"right_{part}"]
        seen_l, seen_r = _vis(image, [f"left_{part}"]), _vis(image, [f"right_{part}"])
        both = np.stack([np.where(seen_l, y[:, left], np.nan), np.where(seen_r, y[:, right], np.nan)])
        out = np.full(len(y), np.nan)
        any_seen = seen_l | seen_r
        out[any_seen] = np.nanmean(both[:, any_seen], axis=0)
        return out

    return {"knee_flexion": thigh + shank, "hip_flexion": thigh + trunk, "trunk_lean": trunk,
            "hip_below_knee": (height("hip") - height("knee")) / thigh_len,
            "wrist_height": (height("shoulder") - height("wrist")) / trunk_len}


def _measures(image: np.ndarray, world: np.ndarray) -> dict[str, np.ndarray]:
    """The measures from one set of 3-D points (world metres, or image pixels with z = 0)."""
    up = np.array([0.0, -1.0, 0.0])  # world y points down
    hip, shoulder, knee = _mid(world, "hip"), _mid(world, "shoulder"), _mid(world, "knee")
    trunk = shoulder - hip
    torso = np.linalg.norm(trunk, axis=1) + 1e-6
    out = {
        "knee_flexion": 180 - _bilateral(image, world, ("hip", "knee", "ankle"), _angle),
        "hip_flexion": 180 - _bilateral(image, world, ("shoulder", "hip", "knee"), _angle),
        "elbow_flexion": 180 - _bilateral(image, world, ("shoulder", "elbow", "wrist"), _angle),
        "shoulder_abduction": _bilateral(image, world, ("hip", "shoulder", "elbow"), _angle),
        "neck_trunk_angle": _bilateral(image, world, ("hip", "shoulder", "ear"),
                                       lambda h, s, e: 180 - _angle(h, s, e)),
    }
    trunk_seen = _vis(image, ["left_hip", "right_hip", "left_shoulder", "right_shoulder"]) | (
        _vis(image, ["left_hip", "left_shoulder"]) | _vis(image, ["right_hip", "right_shoulder"]))
    out["trunk_lean"] = np.where(trunk_seen, np.degrees(np.arccos(np.clip(trunk @ up / torso, -1, 1))), np.nan)
    legs = ["left_knee", "right_knee", "left_ankle", "right_ankle"]
    gap = np.linalg.norm(world[:, INDEX["left_knee"]] - world[:, INDEX["right_knee"]], axis=1)
    base = np.linalg.norm(world[:, INDEX["left_ankle"]] - world[:, INDEX["right_ankle"]], axis=1)
    out["knee_gap_ratio"] = np.where(_vis(image, legs) & (base > 0.02), gap / np.maximum(base, 1e-6), np.nan)
    wrist = _mid(world, "wrist")
    wrists_seen = _vis(image, ["left_wrist"]) | _vis(image, ["right_wrist"])
    out["wrist_height"] = np.where(wrists_seen, (shoulder[:, 1] - wrist[:, 1]) / torso, np.nan)
    shoulders_seen = _vis(image, ["left_shoulder", "right_shoulder", "left_hip", "right_hip"])
    px = image[..., :2].astype(np.float64)
    width = np.linalg.norm(px[:, INDEX["left_shoulder"]] - px[:, INDEX["right_shoulder"]], axis=1)
    length = np.linalg.norm((px[:, INDEX["left_shoulder"]] + px[:, INDEX["right_shoulder"]]) / 2
                            - (px[:, INDEX["left_hip"]] + px[:, INDEX["right_hip"]]) / 2, axis=1)
    out["camera_frontality"] = np.where(shoulders_seen & (length > 1), width / np.maximum(length, 1e-6), np.nan)
    thigh = np.linalg.norm(hip - knee, axis=1) + 1e-6
    out["hip_below_knee"] = np.where(_vis(image, ["left_hip", "left_knee"]) | _vis(image, ["right_hip", "right_knee"]),
                                     (hip[:, 1] - knee[:, 1]) / thigh, np.nan)
    return {name: np.asarray(values, np.float64) for name, values in out.items()}


def smooth(series: np.ndarray, max_gap: int = 2) -> np.ndarray:
    """Fill gaps of up to `max_gap` frames linearly, then a 3-frame median against jitter."""
    x = np.asarray(series, np.float64)
    missing = np.isnan(x)
    run_id = np.cumsum(~missing)  # frames of one gap share the id of the last frame seen before it
    run_len = pd.Series(missing).groupby(run_id).transform("sum").to_numpy()
    filled = pd.Series(x).interpolate(limit_area="inside").to_numpy()
    x = np.where(missing & (run_len <= max_gap), filled, x)
    return pd.Series(x).rolling(3, center=True, min_periods=2).median().to_numpy()


def smoothed_measures(image: np.ndarray, world: np.ndarray, silhouettes: Silhouettes | None = None) -> pd.DataFrame:
    raw = frame_measures(image, world, silhouettes)
    return pd.DataFrame({c: smooth(raw[c].to_numpy()) for c in raw.columns})


def pose_table_measures(poses: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """(smoothed measures, lifter found) per row of a pose table (one video's sampled frames in time
    order): the landmarks and what the segmentation masks read, as `frame_measures` takes them."""
    image, world, detected = stack_landmarks(poses)
    return smoothed_measures(image, world, Silhouettes.of(poses)), detected

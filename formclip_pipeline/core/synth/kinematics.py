"""Joint positions of a lifter for each exercise, phase and fault.

World frame in metres: x lateral, y up, z the way the lifter faces; the floor is y = 0.
A pose is driven by `depth` in [0, 1] (0 = start of the rep, 1 = its far end: squat bottom, bar on
the floor, bar on the chest, bar at the ribs, bar overhead) and whether the lifter is on the way back.
Faults are kinematic changes whose size is set by `severity` in [0, 1], kept within what a coach
sees on real lifters (a partial squat stops 10-25 degrees short of parallel, and so on).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PLATE_RADIUS = 0.225
BAR_HALF_LENGTH = 1.05
PLATE_OFFSET = 0.78
BENCH_HEIGHT = 0.45


@dataclass(frozen=True)
class Body:
    height: float
    shank: float
    thigh: float
    lumbar: float
    thoracic: float
    neck: float
    head_radius: float
    upper_arm: float
    forearm: float
    hip_width: float
    shoulder_width: float
    foot: float
    limb_radius: float
    torso_depth: float

    @staticmethod
    def sample(rng: np.random.Generator) -> "Body":
        h = float(rng.uniform(1.55, 1.95))

        def seg(ratio: float) -> float:
            return ratio * h * float(rng.uniform(0.94, 1.06))

        return Body(
            height=h,
            shank=seg(0.246),
            thigh=seg(0.245),
            lumbar=seg(0.14),
            thoracic=seg(0.16),
            neck=seg(0.05),
            head_radius=seg(0.062),
            upper_arm=seg(0.186),
            forearm=seg(0.16),
            hip_width=seg(0.11),
            shoulder_width=seg(0.21),
            foot=seg(0.14),
            limb_radius=seg(0.032),
            torso_depth=seg(0.12),
        )

    @property
    def arm(self) -> float:
        return self.upper_arm + self.forearm


def _sag(angle_deg: float) -> np.ndarray:
    """Unit vector in the sagittal plane, `angle_deg` forward of vertical."""
    a = math.radians(angle_deg)
    return np.array([0.0, math.cos(a), math.sin(a)])


def two_link(root: np.ndarray, end: np.ndarray, a: float, b: float, pole: np.ndarray) -> np.ndarray:
    """Middle joint of a two-segment chain from root to end, bending towards `pole`."""
    d_vec = end - root
    d = float(np.linalg.norm(d_vec))
    d = min(max(d, 1e-6), a + b - 1e-4)
    u = d_vec / max(np.linalg.norm(d_vec), 1e-9)
    x = (a * a - b * b + d * d) / (2 * d)
    h = math.sqrt(max(a * a - x * x, 0.0))
    p = pole - np.dot(pole, u) * u
    n = np.linalg.norm(p)
    p = p / n if n > 1e-9 else np.array([0.0, -1.0, 0.0])
    return root + x * u + h * p


def _spine(pelvis: np.ndarray, body: Body, lean: float, lumbar_extra: float, thoracic_extra: float):
    mid = pelvis + body.lumbar * _sag(lean + lumbar_extra)
    neck_base = mid + body.thoracic * _sag(lean + thoracic_extra)
    return mid, neck_base


def _head(neck_base: np.ndarray, body: Body, head_tilt: float) -> np.ndarray:
    return neck_base + (body.neck + body.head_radius) * _sag(head_tilt)


def _legs(body: Body, shin: float, thigh: float, valgus: float, stance: float):
    """Standing legs from fixed ankles; `valgus` in [0, 1] pulls the knees towards the midline."""
    joints = {}
    for side, sign in (("l", 1.0), ("r", -1.0)):
        ankle = np.array([sign * stance / 2, 0.08, 0.0])
        knee = ankle + body.shank * _sag(shin)
        knee[0] = sign * (stance / 2 + 0.04 * math.sin(math.radians(thigh))) * (1.0 - valgus)
        hip = knee + body.thigh * np.array([0.0, math.cos(math.radians(thigh)), -math.sin(math.radians(thigh))])
        hip[0] = sign * body.hip_width / 2
        joints[f"ankle_{side}"] = ankle
        joints[f"knee_{side}"] = knee
        joints[f"hip_{side}"] = hip
        joints[f"toe_{side}"] = ankle + np.array([sign * 0.03, -0.06, body.foot * 0.8])
        joints[f"heel_{side}"] = ankle + np.array([0.0, -0.06, -body.foot * 0.25])
    pelvis = (joints["hip_l"] + joints["hip_r"]) / 2
    return joints, pelvis


def _upper_body(joints: dict, pelvis: np.ndarray, body: Body, lean: float, lumbar_extra: float,
                thoracic_extra: float, head_tilt: float | None = None):
    mid, neck_base = _spine(pelvis, body, lean, lumbar_extra, thoracic_extra)
    joints["pelvis"] = pelvis
    joints["mid_spine"] = mid
    joints["neck"] = neck_base
    joints["head"] = _head(neck_base, body, lean * 0.6 if head_tilt is None else head_tilt)
    for side, sign in (("l", 1.0), ("r", -1.0)):
        joints[f"shoulder_{side}"] = neck_base + np.array([sign * body.shoulder_width / 2, -0.03, 0.0])
    return joints


def _arms_to_bar(joints: dict, body: Body, bar: np.ndarray, grip: float, pole: np.ndarray, flare: float = 0.0):
    for side, sign in (("l", 1.0), ("r", -1.0)):
        wrist = bar + np.array([sign * grip, 0.0, 0.0])
        side_pole = pole + np.array([sign * flare, 0.0, 0.0])
        joints[f"wrist_{side}"] = wrist
        joints[f"elbow_{side}"] = two_link(joints[f"shoulder_{side}"], wrist, body.upper_arm, body.forearm, side_pole)


def _shoulder_height(body: Body, shin: float, thigh: float, lean: float, lumbar_extra: float, thoracic_extra: float):
    joints, pelvis = _legs(body, shin, thigh, 0.0, body.hip_width * 1.6)
    _, neck_base = _spine(pelvis, body, lean, lumbar_extra, thoracic_extra)
    return neck_base[1] - 0.03, neck_base[2]


def _solve_lean(body: Body, shin: float, thigh: float, target_y: float, lumbar_extra: float, thoracic_extra: float) -> float:
    """Torso lean that puts the shoulders at `target_y` (bisection; shoulder height falls with lean)."""
    lo, hi = -10.0, 100.0
    for _ in range(30):
        mid = (lo + hi) / 2
        y, _ = _shoulder_height(body, shin, thigh, mid, lumbar_extra, thoracic_extra)
        if y > target_y:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass(frozen=True)
class Pose:
    joints: dict
    bar: np.ndarray | None
    bench: bool = False


def squat(body: Body, depth: float, ascending: bool, fault: str | None, severity: float) -> Pose:
    thigh_max, shin_max, lean_max, thoracic = 102.0, 32.0, 38.0, 0.0
    valgus = 0.0
    if fault == "partial_depth":
        thigh_max = 90.0 - (10.0 + 15.0 * severity)
        shin_max = 26.0
    elif fault == "chest_collapse":
        lean_max = 58.0 + 12.0 * severity
        thoracic = (18.0 + 14.0 * severity) * depth
    elif fault == "bouncing":
        thigh_max = 112.0 + 6.0 * severity
        shin_max = 36.0
    elif fault == "knee_valgus" and ascending:
        # Knees cave most just out of the hole, then re-align near lockout.
        valgus = (0.45 + 0.35 * severity) * math.sin(math.pi * min(1.0, depth * 1.1)) ** 0.7
    elif fault == "knee_valgus":
        valgus = 0.12 * depth
    stance = body.hip_width * 1.8
    joints, pelvis = _legs(body, shin_max * depth, thigh_max * depth, valgus, stance)
    lean = lean_max * depth
    _upper_body(joints, pelvis, body, lean, 0.0, thoracic, head_tilt=lean * 0.3)
    back = -_sag(lean + 90.0 + thoracic)  # behind the upper back
    bar = joints["neck"] + 0.07 * back + np.array([0.0, -0.02, 0.0])
    _arms_to_bar(joints, body, bar, body.shoulder_width * 0.85, pole=np.array([0.0, -1.0, -0.6]))
    return Pose(joints, bar)


def deadlift(body: Body, depth: float, ascending: bool, fault: str | None, severity: float) -> Pose:
    shin_b, thigh_b = 20.0, 72.0
    lumbar_extra = thoracic_extra = 0.0
    drift = 0.0
    s_leg = depth
    if fault == "rounded_back":
        # Flexion shows as a bend between the lumbar and thoracic segments (kyphosis under load).
        lumbar_extra = (3.0 + 3.0 * severity) * depth
        thoracic_extra = (28.0 + 14.0 * severity) * depth
    elif fault == "hips_shoot_up" and ascending:
        # Legs straighten before the bar leaves the floor zone: knee angle leads, torso stays flat.
        s_leg = depth ** (2.2 + 1.5 * severity)
    elif fault == "bar_drift":
        drift = (0.10 + 0.10 * severity) * math.sin(math.pi * min(depth * 1.25, 1.0))
    shin, thigh = shin_b * s_leg, thigh_b * s_leg
    stand_y, _ = _shoulder_height(body, 0.0, 0.0, 0.0, 0.0, 0.0)
    top_bar = stand_y - body.arm
    bar_y = top_bar + (PLATE_RADIUS - top_bar) * depth
    arm_angle = math.asin(min(0.6, drift / body.arm))
    target = bar_y + body.arm * math.cos(arm_angle)
    lean = _solve_lean(body, shin, thigh, target, lumbar_extra, thoracic_extra)
    joints, pelvis = _legs(body, shin, thigh, 0.0, body.hip_width * 1.5)
    _upper_body(joints, pelvis, body, lean, lumbar_extra, thoracic_extra, head_tilt=lean * 0.7)
    sh = (joints["shoulder_l"] + joints["shoulder_r"]) / 2
    bar = np.array([0.0, bar_y, sh[2] + body.arm * math.sin(arm_angle)])
    # Keep the bar in front of the shins (it cannot pass through the legs).
    knee_z = max(joints["knee_l"][2], joints["knee_r"][2])
    if bar_y < joints["knee_l"][1] + 0.05:
        bar[2] = max(bar[2], knee_z * (bar_y / max(joints["knee_l"][1], 1e-3)) + 0.05 + drift)
    _arms_to_bar(joints, body, bar, body.shoulder_width * 0.6, pole=np.array([0.0, 0.0, -1.0]))
    return Pose(joints, bar)


def bench_press(body: Body, depth: float, ascending: bool, fault: str | None, severity: float) -> Pose:
    joints: dict = {}
    pad = BENCH_HEIGHT + 0.06
    pelvis = np.array([0.0, pad + 0.02, 0.0])
    chest_y = pad + body.torso_depth
    neck = pelvis + np.array([0.0, 0.05, -(body.lumbar + body.thoracic)])
    mid = (pelvis + neck) / 2 + np.array([0.0, 0.04, 0.0])
    joints.update(pelvis=pelvis, mid_spine=mid, neck=neck,
                  head=neck + np.array([0.0, 0.02, -(body.neck + body.head_radius)]))
    for side, sign in (("l", 1.0), ("r", -1.0)):
        hip = pelvis + np.array([sign * body.hip_width / 2, 0.0, 0.0])
        ankle = np.array([sign * body.hip_width * 1.6, 0.08, body.thigh * 0.75 + body.shank * 0.45])
        knee = two_link(hip, ankle, body.thigh, body.shank, np.array([0.0, 1.0, 0.3]))
        joints.update({f"hip_{side}": hip, f"knee_{side}": knee, f"ankle_{side}": ankle,
                       f"toe_{side}": ankle + np.array([0.0, -0.06, body.foot * 0.8]),
                       f"heel_{side}": ankle + np.array([0.0, -0.06, -body.foot * 0.25]),
                       f"shoulder_{side}": neck + np.array([sign * body.shoulder_width / 2, -0.02, 0.05])})
    sh_y = joints["shoulder_l"][1]
    top = sh_y + body.arm * 0.97
    bottom = chest_y + 0.03
    tuck, flare = 0.9, 0.35
    if fault == "partial_range":
        bottom = chest_y + 0.14 + 0.10 * severity
    elif fault == "bounce_off_chest":
        bottom = chest_y - (0.03 + 0.03 * severity)
    elif fault == "flared_elbows":
        tuck, flare = 0.0, 1.6 + 0.6 * severity
    bar_y = top + (bottom - top) * depth
    bar_z = neck[2] + 0.08 + 0.12 * depth  # lockout over the shoulders, touch at the lower chest
    bar = np.array([0.0, bar_y, bar_z])
    _arms_to_bar(joints, body, bar, body.shoulder_width * 0.9, pole=np.array([0.0, -1.0, tuck]), flare=flare)
    return Pose(joints, bar, bench=True)


def row(body: Body, depth: float, ascending: bool, fault: str | None, severity: float) -> Pose:
    lean = 52.0
    lumbar_extra = thoracic_extra = 0.0
    reach = 1.0
    if fault == "rounded_back":
        lumbar_extra, thoracic_extra = 3.0 + 3.0 * severity, 28.0 + 14.0 * severity
    elif fault == "momentum_swing":
        lean -= (18.0 + 14.0 * severity) * math.sin(math.pi / 2 * depth)
    elif fault == "partial_range":
        reach = 0.4 + 0.15 * severity
    joints, pelvis = _legs(body, 16.0, 42.0, 0.0, body.hip_width * 1.5)
    _upper_body(joints, pelvis, body, lean, lumbar_extra, thoracic_extra, head_tilt=lean * 0.6)
    sh = (joints["shoulder_l"] + joints["shoulder_r"]) / 2
    hang = sh + np.array([0.0, -body.arm * 0.98, 0.02])
    front = _sag(lean + 90.0)  # the belly side of the torso
    ribs = pelvis + 0.55 * (joints["neck"] - pelvis) + front * (body.torso_depth * 0.9)
    bar = hang + (ribs - hang) * (depth * reach)
    _arms_to_bar(joints, body, bar, body.shoulder_width * 0.65, pole=np.array([0.0, 0.6, -1.0]), flare=0.3)
    return Pose(joints, bar)


def ohp(body: Body, depth: float, ascending: bool, fault: str | None, severity: float) -> Pose:
    lumbar_extra = 0.0
    lean = 0.0
    reach = 0.97
    forward = 0.0
    if fault == "excessive_back_arch":
        lean = -(12.0 + 10.0 * severity) * depth
        lumbar_extra = -(6.0 + 6.0 * severity) * depth
    elif fault == "partial_lockout":
        reach = 0.80 - 0.08 * severity
    elif fault == "bar_forward":
        forward = (0.14 + 0.10 * severity) * depth
    joints, pelvis = _legs(body, 3.0, 3.0, 0.0, body.hip_width * 1.7)
    _upper_body(joints, pelvis, body, lean, lumbar_extra, 0.0, head_tilt=lean)
    sh = (joints["shoulder_l"] + joints["shoulder_r"]) / 2
    rack = sh + np.array([0.0, 0.03, 0.13])
    overhead = sh + np.array([0.0, body.arm * reach, 0.0])
    # The bar goes round the face: forward of the head low down, back over the shoulders at the top.
    bar = rack + (overhead - rack) * depth
    bar[2] += 0.06 * math.sin(math.pi * depth) + forward
    _arms_to_bar(joints, body, bar, body.shoulder_width * 0.75, pole=np.array([0.0, -1.0, 0.7]), flare=0.2)
    return Pose(joints, bar)


POSERS = {"squat": squat, "deadlift": deadlift, "bench_press": bench_press, "row": row, "ohp": ohp}


def _angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    """Angle at b in degrees."""
    u, v = a - b, c - b
    cos = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-9))
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


def measures(pose: Pose) -> dict[str, float]:
    """Coach's measurements of a pose: the numbers faults are judged by."""
    j = pose.joints
    knee = min(_angle(j["hip_l"], j["knee_l"], j["ankle_l"]), _angle(j["hip_r"], j["knee_r"], j["ankle_r"]))
    elbow = min(_angle(j["shoulder_l"], j["elbow_l"], j["wrist_l"]), _angle(j["shoulder_r"], j["elbow_r"], j["wrist_r"]))
    spine = 180.0 - _angle(j["pelvis"], j["mid_spine"], j["neck"])
    trunk = j["neck"] - j["pelvis"]
    lean = math.degrees(math.atan2(trunk[2], trunk[1]))
    knee_gap = abs(j["knee_l"][0] - j["knee_r"][0]) / max(abs(j["ankle_l"][0] - j["ankle_r"][0]), 1e-6)
    up = j["hip_l"] - j["shoulder_l"]
    upper = j["elbow_l"] - j["shoulder_l"]
    abduction = _angle(j["hip_l"], j["shoulder_l"], j["elbow_l"]) if np.linalg.norm(up) > 0 and np.linalg.norm(upper) > 0 else 0.0
    out = {
        "knee_angle": knee,
        "elbow_angle": elbow,
        "spine_flexion": spine,
        "torso_lean": lean,
        "hip_height": float(j["pelvis"][1]),
        "knee_gap_ratio": knee_gap,
        "shoulder_abduction": abduction,
    }
    if pose.bar is not None:
        out["bar_height"] = float(pose.bar[1])
        out["bar_forward"] = float(pose.bar[2] - (j["ankle_l"][2] + j["ankle_r"][2]) / 2)
    return {k: round(v, 3) for k, v in out.items()}

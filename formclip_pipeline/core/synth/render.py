"""Draw a posed lifter, barbell and gym into an RGB frame through a pinhole camera.

A `Scene` holds everything that stays fixed within one video (camera, background, colours,
lighting, noise) so that a good and a faulty rep differ only in joint positions.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .kinematics import BAR_HALF_LENGTH, BENCH_HEIGHT, PLATE_OFFSET, PLATE_RADIUS, Body, Pose

LANDSCAPE = [(640, 360), (854, 480), (480, 270)]
PORTRAIT = [(360, 640), (270, 480)]
FPS_CHOICES = [24, 25, 30, 50, 60]
SKIN = [(241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172), (110, 70, 40)]
HAIR = [(25, 20, 15), (60, 40, 25), (120, 85, 45), (200, 170, 110), (90, 90, 90), (150, 60, 30)]
VIEW_YAW = {"front": 0.0, "oblique": 45.0, "side": 90.0}


def _rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def _shade(c, k: float):
    return tuple(int(min(255, max(0, v * k))) for v in c)


@dataclass
class Camera:
    position: np.ndarray
    target: np.ndarray
    focal: float
    width: int
    height: int

    def basis(self, shake: np.ndarray):
        f = self.target + shake - self.position
        f = f / np.linalg.norm(f)
        r = np.cross(f, np.array([0.0, 1.0, 0.0]))
        r = r / np.linalg.norm(r)
        u = np.cross(r, f)
        return r, u, f

    def project(self, pts: np.ndarray, shake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r, u, f = self.basis(shake)
        v = pts - self.position
        zc = np.maximum(v @ f, 0.05)
        px = self.width / 2 + self.focal * (v @ r) / zc
        py = self.height / 2 - self.focal * (v @ u) / zc
        return np.stack([px, py], axis=-1), zc


@dataclass
class Scene:
    camera: Camera
    background: np.ndarray
    skin: tuple
    shirt: tuple
    shorts: tuple
    shoes: tuple
    plate: tuple
    bench_colour: tuple
    gain: float
    flicker: float
    noise: np.ndarray  # bank of noise frames, int16
    shake_amp: float
    view: str
    yaw_deg: float
    hair: tuple = (40, 30, 20)
    plate_radius: float = PLATE_RADIUS

    @property
    def size(self) -> tuple[int, int]:
        return self.camera.width, self.camera.height


def _background(rng: np.random.Generator, w: int, h: int, floor_row: int) -> np.ndarray:
    wall = _rgb(rng.random(), rng.uniform(0.05, 0.5), rng.uniform(0.35, 0.9))
    floor = _rgb(rng.random(), rng.uniform(0.05, 0.4), rng.uniform(0.15, 0.6))
    img = Image.new("RGB", (w, h), wall)
    d = ImageDraw.Draw(img)
    kind = rng.integers(0, 4)
    if kind == 1:  # vertical panels
        step = int(rng.integers(20, 80))
        for x in range(0, w, step * 2):
            d.rectangle([x, 0, x + step, floor_row], fill=_shade(wall, rng.uniform(0.85, 1.1)))
    elif kind == 2:  # tiles
        step = int(rng.integers(15, 50))
        for y in range(0, floor_row, step):
            d.line([0, y, w, y], fill=_shade(wall, 0.8), width=1)
        for x in range(0, w, step):
            d.line([x, 0, x, floor_row], fill=_shade(wall, 0.8), width=1)
    elif kind == 3:  # window light bands
        for _ in range(int(rng.integers(1, 4))):
            x = int(rng.integers(0, w))
            d.rectangle([x, int(h * 0.05), x + int(rng.integers(w // 12, w // 4)), int(floor_row * 0.6)],
                        fill=_shade(wall, 1.25))
    d.rectangle([0, floor_row, w, h], fill=floor)
    if rng.random() < 0.5:  # floor mats
        for x in range(0, w, int(rng.integers(40, 120))):
            d.line([x, floor_row, x + (x - w / 2) * 0.6, h], fill=_shade(floor, 0.75), width=1)
    # Gym clutter: racks, dumbbell shelves, loose plates, boxes.
    for _ in range(int(rng.integers(2, 9))):
        c = _rgb(rng.random(), rng.uniform(0.1, 0.8), rng.uniform(0.15, 0.9))
        x = int(rng.integers(0, w))
        kind = rng.integers(0, 4)
        s = h / 360
        if kind == 0:  # rack uprights
            top = int(floor_row - rng.uniform(0.4, 0.8) * floor_row)
            gap = int(rng.uniform(40, 90) * s)
            for xx in (x, x + gap):
                d.rectangle([xx, top, xx + int(5 * s), floor_row + int(8 * s)], fill=c)
            d.rectangle([x, top, x + gap + int(5 * s), top + int(5 * s)], fill=c)
        elif kind == 1:  # dumbbell shelf
            y = int(floor_row - rng.uniform(20, 60) * s)
            d.rectangle([x, y, x + int(rng.uniform(60, 140) * s), y + int(6 * s)], fill=c)
            for k in range(int(rng.integers(3, 8))):
                cx = x + int(10 * s) + int(k * 16 * s)
                d.ellipse([cx - 5 * s, y - 10 * s, cx + 5 * s, y], fill=(40, 40, 40))
        elif kind == 2:  # leaning plates
            r = rng.uniform(10, 25) * s
            d.ellipse([x - r, floor_row - 2 * r, x + r, floor_row], fill=_shade(c, 0.4), outline=c)
        else:  # plyo box
            bw, bh = rng.uniform(30, 70) * s, rng.uniform(20, 50) * s
            d.rectangle([x, floor_row - bh + 10 * s, x + bw, floor_row + 10 * s], fill=c)
    arr = np.asarray(img, dtype=np.float32)
    # Uneven lighting: a soft gradient across the frame.
    gx = np.linspace(rng.uniform(0.75, 1.0), rng.uniform(0.75, 1.0), w, dtype=np.float32)
    gy = np.linspace(rng.uniform(0.85, 1.05), rng.uniform(0.8, 1.0), h, dtype=np.float32)
    arr *= (gy[:, None] * gx[None, :])[..., None]
    return np.clip(arr, 0, 255).astype(np.uint8)


def _visible_colour(rng: np.random.Generator, background: np.ndarray, sat: tuple, val: tuple) -> tuple:
    """A clothing colour whose brightness differs from the wall's and the floor's median: people wear
    dark shorts on dark floors too, but a phone's exposure and the body's shading still show their
    outline, which flat colours do not; below that contrast a pose model loses the thighs."""
    lum = background.reshape(-1, 3) @ np.array([0.299, 0.587, 0.114])
    h = background.shape[0]
    levels = [float(np.median(lum[: h // 3 * background.shape[1]])), float(np.median(lum[-h // 4 * background.shape[1]:]))]
    for _ in range(20):
        c = _rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))
        if min(abs(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] - lv) for lv in levels) > 45:
            return c
    return c


def make_scene(rng: np.random.Generator, exercise: str, view: str, body: Body,
               size: tuple[int, int] | None = None, orientation: str | None = None) -> Scene:
    if size is None:
        portrait = (orientation == "portrait") if orientation else rng.random() < 0.3
        choices = PORTRAIT if portrait else LANDSCAPE
        size = choices[int(rng.integers(0, len(choices)))]
    w, h = size
    # Nobody films exactly square on: a side view is 15-25 degrees off, which also keeps the near plate
    # from hiding the face at every camera height.
    off = {"front": rng.uniform(-12, 12), "side": rng.uniform(15, 25) * rng.choice([-1, 1]), "oblique": rng.uniform(-8, 8)}
    yaw = VIEW_YAW[view] + float(off[view])
    if view != "front" and rng.random() < 0.5:
        yaw = -yaw  # left or right side of the lifter
    if exercise == "bench_press":
        target = np.array([0.0, 0.75, -0.35])
        extent = 1.9
    elif exercise == "ohp":  # arms overhead reach about 1.25 body heights
        target = np.array([0.0, body.height * 0.63, 0.0])
        extent = body.height * 1.35
    else:
        target = np.array([0.0, body.height * 0.5, 0.0])
        extent = body.height * 1.12
    dist = float(rng.uniform(3.5, 6.0))
    cam_h = float(rng.uniform(0.6, 1.7))
    a = math.radians(yaw)
    pos = target + np.array([dist * math.sin(a), cam_h - target[1], dist * math.cos(a)])
    fill = float(rng.uniform(0.75, 0.95))
    focal = min(h, w * 1.6) * fill / (extent / dist)
    cam = Camera(position=pos, target=target, focal=focal, width=w, height=h)
    far_floor = target + np.array([-3.0 * math.sin(a), -target[1], -3.0 * math.cos(a)])
    floor_row = int(np.clip(cam.project(far_floor[None], np.zeros(3))[0][0, 1], h * 0.3, h * 0.92))
    sigma = float(rng.uniform(0.0, 8.0))
    noise = (rng.normal(0, sigma, size=(4, h, w, 1)) if sigma > 0.5 else np.zeros((1, h, w, 1))).astype(np.int16)
    return Scene(
        camera=cam,
        background=(background := _background(rng, w, h, floor_row)),
        skin=SKIN[int(rng.integers(0, len(SKIN)))],
        shirt=_visible_colour(rng, background, (0.2, 0.9), (0.3, 0.95)),
        shorts=_visible_colour(rng, background, (0.1, 0.8), (0.1, 0.7)),
        shoes=_rgb(rng.random(), rng.uniform(0, 0.6), rng.uniform(0.05, 0.9)),
        plate=_rgb(rng.random(), rng.uniform(0.0, 0.9), rng.uniform(0.1, 0.6)),
        bench_colour=_rgb(rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.05, 0.35)),
        gain=float(rng.uniform(0.7, 1.2)),
        flicker=float(rng.uniform(0.0, 0.03)),
        noise=noise,
        shake_amp=float(rng.uniform(0.0, 0.025)),
        view=view,
        yaw_deg=yaw,
        hair=HAIR[int(rng.integers(0, len(HAIR)))],
        # Iron plates are smaller than bumpers; a deadlift bar rests on full-size plates.
        plate_radius=PLATE_RADIUS if exercise == "deadlift" else float(rng.uniform(0.16, PLATE_RADIUS)),
    )


def _disc(center: np.ndarray, radius: float, n: int = 14) -> np.ndarray:
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return center + np.stack([np.zeros(n), radius * np.cos(a), radius * np.sin(a)], axis=1)


LIMBS = [  # (from, to, radius factor at `from`, at `to`, colour key): limbs taper as real ones do
    ("ankle", "knee", 0.75, 1.15, "skin"), ("knee", "hip", 1.2, 1.7, "shorts"),
    ("shoulder", "elbow", 1.05, 0.85, "shirt"), ("elbow", "wrist", 0.85, 0.65, "skin"),
    ("heel", "toe", 0.75, 0.6, "shoes"),
]


def _face(cam: Camera, shake: np.ndarray, pose: Pose, body: Body):
    """Where hair, skin and the facial features fall on the head, seen from the camera.

    The face looks along the body's forward direction, tilted with the neck. Pose detectors key on
    the face first, so a lifter without one is found far less often than a person would be.
    """
    j = pose.joints
    up = j["head"] - j["neck"]
    up = up / (np.linalg.norm(up) + 1e-9)
    fwd = np.array([0.0, -up[2], up[1]])  # the neck axis turned 90 degrees forward in the sagittal plane
    fwd = fwd / (np.linalg.norm(fwd) + 1e-9)
    lat = np.cross(up, fwd)
    r = body.head_radius
    to_cam = cam.position - j["head"]
    to_cam = to_cam / np.linalg.norm(to_cam)
    spots = {
        "hair": j["head"] + r * (0.25 * up - 0.3 * fwd),
        "skin": j["head"] + r * (0.18 * fwd - 0.1 * up),
    }
    feats = [("eye", 0.9 * fwd + 0.38 * lat + 0.2 * up, 0.13), ("eye", 0.9 * fwd - 0.38 * lat + 0.2 * up, 0.13),
             ("brow", 0.85 * fwd + 0.38 * lat + 0.42 * up, 0.12), ("brow", 0.85 * fwd - 0.38 * lat + 0.42 * up, 0.12),
             ("nose", 1.05 * fwd - 0.05 * up, 0.12), ("mouth", 0.88 * fwd - 0.45 * up, 0.14),
             ("ear", 0.98 * lat, 0.2), ("ear", -0.98 * lat, 0.2)]
    pts = np.stack([spots["hair"], spots["skin"]] + [j["head"] + r * v for _, v, _ in feats])
    xy, _ = cam.project(pts, shake)
    features = []
    for (what, v, size), p in zip(feats, xy[2:]):
        if float(np.dot(v / np.linalg.norm(v), to_cam)) > 0.15:  # on the side of the head facing the camera
            features.append((what, tuple(p), size))
    return tuple(xy[0]), tuple(xy[1]), features


def draw_pose(scene: Scene, body: Body, pose: Pose, shake: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """One frame as an HxWx3 uint8 array."""
    cam = scene.camera
    names = list(pose.joints)
    pts = np.stack([pose.joints[n] for n in names])
    xy, zc = cam.project(pts, shake)
    P = {n: (xy[i], zc[i]) for i, n in enumerate(names)}
    scale = cam.focal

    def px(n):
        return tuple(P[n][0])

    items = []  # (depth, kind, payload)
    colours = {"skin": scene.skin, "shirt": scene.shirt, "shorts": scene.shorts, "shoes": scene.shoes}
    # Far-side limbs are darker so left and right read apart, as under real light.
    sides = sorted(("l", "r"), key=lambda s: -P[f"hip_{s}"][1])
    for rank, s in enumerate(sides):
        k = 0.72 if rank == 0 else 1.0
        for a, b, ra, rb, ck in LIMBS:
            za = (P[f"{a}_{s}"][1] + P[f"{b}_{s}"][1]) / 2
            pa, pb = np.array(px(f"{a}_{s}")), np.array(px(f"{b}_{s}"))
            for t0, t1, rf in ((0.0, 0.5, ra), (0.5, 1.0, rb)):
                width = max(2, int(2 * body.limb_radius * rf * scale / za))
                seg = [tuple(pa + (pb - pa) * t0), tuple(pa + (pb - pa) * t1)]
                items.append((za, "seg", (seg, width, _shade(colours[ck], k))))
            if b == "wrist":  # a hand: a mitt past the wrist, along the forearm
                hand = pb + (pb - pa) * 0.18
                hr = max(2.0, 1.1 * body.limb_radius * scale / za)
                items.append((za - 0.005, "hand", (tuple(hand), hr, _shade(scene.skin, k))))
    zt = float(np.mean([P[n][1] for n in ("pelvis", "mid_spine", "neck")]))
    tw = max(3, int(body.torso_depth * scale / zt))
    quad = [px("hip_l"), px("hip_r"), px("shoulder_r"), px("shoulder_l")]
    # Hips and seat: a volume behind and below the pelvis in the shorts' colour. Without it the
    # trunk ends in a stick at the hip and a pose model puts the hip joint too high in a deep squat.
    j = pose.joints
    trunk_up = j["neck"] - j["pelvis"]
    trunk_up = trunk_up / (np.linalg.norm(trunk_up) + 1e-9)
    facing = np.array([0.0, -trunk_up[2], trunk_up[1]])
    seat = j["pelvis"] - facing * body.torso_depth * 0.3 - trunk_up * body.torso_depth * 0.1
    sxy, sz = cam.project(np.stack([seat, seat + np.array([body.hip_width * 0.75, 0.0, 0.0])]), shake)
    seat_r = max(3.0, float(np.hypot(*(sxy[1] - sxy[0]))), body.torso_depth * 0.55 * scale / float(sz[0]))
    items.append((zt + 0.005, "seat", (tuple(sxy[0]), seat_r)))
    items.append((zt, "torso", (quad, [px("pelvis"), px("mid_spine"), px("neck")], tw)))
    zh = P["head"][1]
    hr = body.head_radius * scale / zh
    items.append((zh - 0.01, "head", (px("head"), hr, [px("neck"), px("head")], max(2, int(tw * 0.35)),
                                      _face(cam, shake, pose, body))))
    if pose.bar is not None:
        ends = np.stack([pose.bar + [BAR_HALF_LENGTH, 0, 0], pose.bar - [BAR_HALF_LENGTH, 0, 0]])
        bxy, bz = cam.project(ends, shake)
        items.append((float(bz.mean()) - 0.02, "bar", ([tuple(bxy[0]), tuple(bxy[1])], max(2, int(0.03 * scale / bz.mean())))))
        for sign in (1, -1):
            for off, rad in ((PLATE_OFFSET, scene.plate_radius), (PLATE_OFFSET + 0.05, scene.plate_radius * 0.8)):
                disc = _disc(pose.bar + [sign * off, 0, 0], rad)
                dxy, dz = cam.project(disc, shake)
                items.append((float(dz.mean()), "plate", [tuple(p) for p in dxy]))
    img = Image.fromarray(scene.background)
    d = ImageDraw.Draw(img)
    # Contact shadow under the lifter.
    feet = np.stack([pose.joints["ankle_l"], pose.joints["ankle_r"]]).mean(0) * [1, 0, 1]
    shadow = np.stack([feet + [dx, 0, dz] for dx, dz in ((-0.45, 0), (0.45, 0), (0, -0.35), (0, 0.5))])
    sxy, _ = cam.project(shadow, shake)
    d.ellipse([sxy[:, 0].min(), sxy[:, 1].min() - 2, sxy[:, 0].max(), sxy[:, 1].max() + 2], fill=_shade(scene.background[-1, 0], 0.6))
    if pose.bench:
        box = []
        for x in (-0.15, 0.15):
            for y in (0.0, BENCH_HEIGHT):
                for z in (-0.95, 0.3):
                    box.append([x, y, z])
        bxy, _ = cam.project(np.array(box), shake)
        top = [tuple(bxy[i]) for i in (1, 3, 7, 5)]
        d.polygon([tuple(bxy[i]) for i in (0, 1, 3, 2)], fill=_shade(scene.bench_colour, 0.6))
        d.polygon([tuple(bxy[i]) for i in (4, 5, 7, 6)], fill=_shade(scene.bench_colour, 0.6))
        d.polygon(top, fill=scene.bench_colour)
    for _, kind, payload in sorted(items, key=lambda it: -it[0]):
        if kind == "seg":
            # A limb is a lit cylinder: darker at its edges, brightest along the middle.
            pts2, width, colour = payload
            for k, shade in ((1.0, 0.7), (0.65, 1.0), (0.25, 1.2)):
                wk = max(1, int(round(width * k)))
                c = _shade(colour, shade)
                d.line(pts2, fill=c, width=wk)
                for p in pts2:
                    d.ellipse([p[0] - wk / 2, p[1] - wk / 2, p[0] + wk / 2, p[1] + wk / 2], fill=c)
        elif kind == "seat":
            c, r = payload
            d.ellipse([c[0] - r, c[1] - r * 0.85, c[0] + r, c[1] + r * 0.85], fill=scene.shorts)
        elif kind == "torso":
            quad, spine, width = payload
            d.polygon(quad, fill=scene.shirt)
            d.line(spine, fill=scene.shirt, width=width, joint="curve")
            for p in spine:
                d.ellipse([p[0] - width / 2, p[1] - width / 2, p[0] + width / 2, p[1] + width / 2], fill=scene.shirt)
        elif kind == "hand":
            c, r, colour = payload
            d.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], fill=colour)
        elif kind == "head":
            c, r, neck, nw, face = payload
            d.line(neck, fill=scene.skin, width=nw)
            hair_c, skin_c, features = face
            d.ellipse([hair_c[0] - r * 1.04, hair_c[1] - r * 1.04, hair_c[0] + r * 1.04, hair_c[1] + r * 1.04],
                      fill=scene.hair)
            d.ellipse([skin_c[0] - r * 0.92, skin_c[1] - r * 0.92, skin_c[0] + r * 0.92, skin_c[1] + r * 0.92],
                      fill=scene.skin)
            for what, (fx, fy), size in features:
                fr = max(1.0, r * size)
                colour = {"eye": (30, 25, 25), "mouth": _shade(scene.skin, 0.55), "nose": _shade(scene.skin, 0.8),
                          "ear": _shade(scene.skin, 0.85), "brow": scene.hair}[what]
                if what in ("mouth", "brow"):
                    d.line([fx - fr * 1.6, fy, fx + fr * 1.6, fy], fill=colour, width=max(1, int(fr * 0.6)))
                else:
                    d.ellipse([fx - fr, fy - fr, fx + fr, fy + fr], fill=colour)
        elif kind == "bar":
            pts2, width = payload
            d.line(pts2, fill=(150, 150, 155), width=width)
        elif kind == "plate":
            d.polygon(payload, fill=scene.plate, outline=_shade(scene.plate, 0.6))
    arr = np.asarray(img, dtype=np.int16)
    gain = scene.gain * (1 + (rng.uniform(-scene.flicker, scene.flicker) if rng is not None else 0.0))
    noise = scene.noise[int(rng.integers(0, len(scene.noise))) if rng is not None else 0]
    return np.clip(arr * gain + noise, 0, 255).astype(np.uint8)

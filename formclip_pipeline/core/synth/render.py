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


def make_scene(rng: np.random.Generator, exercise: str, view: str, body: Body,
               size: tuple[int, int] | None = None, orientation: str | None = None) -> Scene:
    if size is None:
        portrait = (orientation == "portrait") if orientation else rng.random() < 0.3
        choices = PORTRAIT if portrait else LANDSCAPE
        size = choices[int(rng.integers(0, len(choices)))]
    w, h = size
    yaw = VIEW_YAW[view] + float(rng.uniform(-12, 12) if view != "oblique" else rng.uniform(-8, 8))
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
        background=_background(rng, w, h, floor_row),
        skin=SKIN[int(rng.integers(0, len(SKIN)))],
        shirt=_rgb(rng.random(), rng.uniform(0.2, 0.9), rng.uniform(0.3, 0.95)),
        shorts=_rgb(rng.random(), rng.uniform(0.1, 0.8), rng.uniform(0.1, 0.7)),
        shoes=_rgb(rng.random(), rng.uniform(0, 0.6), rng.uniform(0.05, 0.9)),
        plate=_rgb(rng.random(), rng.uniform(0.0, 0.9), rng.uniform(0.1, 0.6)),
        bench_colour=_rgb(rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.05, 0.35)),
        gain=float(rng.uniform(0.7, 1.2)),
        flicker=float(rng.uniform(0.0, 0.03)),
        noise=noise,
        shake_amp=float(rng.uniform(0.0, 0.025)),
        view=view,
        yaw_deg=yaw,
    )


def _disc(center: np.ndarray, radius: float, n: int = 14) -> np.ndarray:
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return center + np.stack([np.zeros(n), radius * np.cos(a), radius * np.sin(a)], axis=1)


LIMBS = [  # (from, to, radius factor, colour key)
    ("ankle", "knee", 1.0, "skin"), ("knee", "hip", 1.35, "shorts"),
    ("shoulder", "elbow", 0.95, "shirt"), ("elbow", "wrist", 0.8, "skin"),
    ("heel", "toe", 0.7, "shoes"),
]


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
        for a, b, rf, ck in LIMBS:
            za = (P[f"{a}_{s}"][1] + P[f"{b}_{s}"][1]) / 2
            width = max(2, int(2 * body.limb_radius * rf * scale / za))
            items.append((za, "seg", ([px(f"{a}_{s}"), px(f"{b}_{s}")], width, _shade(colours[ck], k))))
    zt = float(np.mean([P[n][1] for n in ("pelvis", "mid_spine", "neck")]))
    tw = max(3, int(body.torso_depth * scale / zt))
    quad = [px("hip_l"), px("hip_r"), px("shoulder_r"), px("shoulder_l")]
    items.append((zt, "torso", (quad, [px("pelvis"), px("mid_spine"), px("neck")], tw)))
    zh = P["head"][1]
    hr = body.head_radius * scale / zh
    items.append((zh - 0.01, "head", (px("head"), hr, [px("neck"), px("head")], max(2, int(tw * 0.35)))))
    if pose.bar is not None:
        ends = np.stack([pose.bar + [BAR_HALF_LENGTH, 0, 0], pose.bar - [BAR_HALF_LENGTH, 0, 0]])
        bxy, bz = cam.project(ends, shake)
        items.append((float(bz.mean()) - 0.02, "bar", ([tuple(bxy[0]), tuple(bxy[1])], max(2, int(0.03 * scale / bz.mean())))))
        for sign in (1, -1):
            for off, rad in ((PLATE_OFFSET, PLATE_RADIUS), (PLATE_OFFSET + 0.05, PLATE_RADIUS * 0.8)):
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
            pts2, width, colour = payload
            d.line(pts2, fill=colour, width=width)
            for p in pts2:
                d.ellipse([p[0] - width / 2, p[1] - width / 2, p[0] + width / 2, p[1] + width / 2], fill=colour)
        elif kind == "torso":
            quad, spine, width = payload
            d.polygon(quad, fill=scene.shirt)
            d.line(spine, fill=scene.shirt, width=width, joint="curve")
            for p in spine:
                d.ellipse([p[0] - width / 2, p[1] - width / 2, p[0] + width / 2, p[1] + width / 2], fill=scene.shirt)
        elif kind == "head":
            c, r, neck, nw = payload
            d.line(neck, fill=scene.skin, width=nw)
            d.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], fill=scene.skin)
        elif kind == "bar":
            pts2, width = payload
            d.line(pts2, fill=(150, 150, 155), width=width)
        elif kind == "plate":
            d.polygon(payload, fill=scene.plate, outline=_shade(scene.plate, 0.6))
    arr = np.asarray(img, dtype=np.int16)
    gain = scene.gain * (1 + (rng.uniform(-scene.flicker, scene.flicker) if rng is not None else 0.0))
    noise = scene.noise[int(rng.integers(0, len(scene.noise))) if rng is not None else 0]
    return np.clip(arr * gain + noise, 0, 255).astype(np.uint8)

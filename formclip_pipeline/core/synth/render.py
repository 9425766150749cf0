"""Draw a posed lifter, barbell and gym into an RGB frame through a pinhole camera.

A `Scene` holds everything that stays fixed within one video (camera, background, colours,
lighting, noise) so that a good and a faulty rep differ only in joint positions.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numba
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

    def project(self, pts: np.ndarray, shake: np.ndarray, basis=None) -> tuple[np.ndarray, np.ndarray]:
        r, u, f = self.basis(shake) if basis is None else basis
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
    shorts_hem: float = 1.0  # how far down the thigh the shorts reach, as a fraction of it from the hip
    sleeve_hem: float = 0.45  # how far down the upper arm the sleeves reach (0: sleeveless)
    leggings: bool = False  # the legs covered to the ankle

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
        # Lifters wear what they like. Where cloth meets skin a pose model may see a knee or an elbow,
        # so one cut for everybody would let it learn the hem instead of the joint.
        shorts_hem=float(rng.uniform(0.45, 1.0)),
        sleeve_hem=float(rng.uniform(0.25, 0.6)) if rng.random() < 0.8 else 0.0,
        leggings=bool(rng.random() < 0.2),
    )


def _disc(center: np.ndarray, radius: float, n: int = 14) -> np.ndarray:
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return center + np.stack([np.zeros(n), radius * np.cos(a), radius * np.sin(a)], axis=1)


LIMBS = {  # (from, to, radius at each end in limb radii): bare limbs, tapering as real ones do
    "shank": ("ankle", "knee", 0.69, 1.03), "thigh": ("knee", "hip", 1.12, 1.62),
    "upper_arm": ("shoulder", "elbow", 0.97, 0.69), "forearm": ("elbow", "wrist", 0.72, 0.5),
}
CLOTH = 1.06  # cloth stands this much proud of the limb it covers


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) + 1e-9)


def _turned_forward(axis: np.ndarray) -> np.ndarray:
    """`axis` turned 90 degrees forward in the sagittal plane: the way a trunk or head along it faces."""
    return np.array([0.0, -axis[2], axis[1]])


def _compiled(func):
    """`func` compiled by numba, and cached on disk where numba finds a writable place for it (beside
    this file, else the user's cache); where it finds none, compiled afresh in each process."""
    try:
        return numba.njit(cache=True)(func)
    except RuntimeError:
        return numba.njit(func)


@_compiled
def _raster_cone(depth, colour, head_mask, x0, y0, x1, y1, ax, ay, dx, dy, length2, pa, dp, za, dz, ra, dr, cut,
                 lx, ly, lz, red, green, blue, red2, green2, blue2, tr, tu, tf, tint_cos, head):
    """Draw one round cone into the depth, colour and head buffers over columns x0:x1, rows y0:y1 (see
    `_Solids.cone`); returns the drawn box (y0, x0, y1, x1), or -1s where it is hidden or missed.

    The axis runs from (ax, ay) by (dx, dy) in pixels (length2 its squared length), radius pa + t * dp
    pixels and depth za + t * dz along it (world radius ra + t * dr); `cut` ends it flat. Normals are
    in camera axes (right, up, forward); (lx, ly, lz) is the light in them. Where the normal's cosine
    with the tint's direction (tr, tu, tf) exceeds tint_cos, the second colour is used. Every float
    argument but the tint's is float32, so the sums run in float32.
    """
    zero, one = np.float32(0.0), np.float32(1.0)
    by0, bx0, by1, bx1 = -1, -1, -1, -1
    for y in range(y0, y1):
        py = np.float32(y) + np.float32(0.5)
        for x in range(x0, x1):
            px = np.float32(x) + np.float32(0.5)
            along = ((px - ax) * dx + (py - ay) * dy) / length2
            t = min(max(along, zero), one)
            ox = px - (ax + t * dx)
            oy = py - (ay + t * dy)
            rad = pa + t * dp
            r2 = ox * ox + oy * oy
            if not r2 < rad * rad or (cut and (along < zero or along > one)):
                continue
            bulge = np.sqrt(max(zero, one - r2 / (rad * rad)))
            surface = (za + t * dz) - bulge * (ra + t * dr)
            if not surface < depth[y, x]:
                continue
            nx, ny, nz = ox / rad, -oy / rad, -bulge
            lit = max(zero, nx * lx + ny * ly + nz * lz)
            shade = (np.float32(0.42) + np.float32(0.62) * lit) * (np.float32(0.72) + np.float32(0.28) * bulge)
            tinted = np.float64(nx) * tr + np.float64(ny) * tu + np.float64(nz) * tf > tint_cos
            depth[y, x] = surface
            colour[y, x, 0] = (red2 if tinted else red) * shade
            colour[y, x, 1] = (green2 if tinted else green) * shade
            colour[y, x, 2] = (blue2 if tinted else blue) * shade
            head_mask[y, x] = head
            if by0 < 0:
                by0, bx0, by1, bx1 = y, x, y + 1, x + 1
            else:
                bx0, by1, bx1 = min(bx0, x), y + 1, max(bx1, x + 1)
    return by0, bx0, by1, bx1


@_compiled
def _raster_cones(depth, colour, head_mask, cones, position, r, u, f, focal, width, height, light):
    """Project and draw every cone of `cones`, in order, as `_raster_cone` draws one; returns the box
    drawn over all of them (y0, x0, y1, x1), or -1s where none was drawn. A cone's row: its ends a and
    b (world, 0:3 and 3:6), radii (6, 7), colour (8:11), tint colour (11:14), tint direction (world,
    14:17), tint cosine (17), cut (18) and head (19).

    One call per frame, where one call per cone spent more time getting to numba than drawing. The
    projection is Camera.project's, without its shake (already in the basis r, u, f)."""
    by0, bx0, by1, bx1 = -1, -1, -1, -1
    lx, ly, lz = np.float32(light[0]), np.float32(light[1]), np.float32(light[2])
    for i in range(cones.shape[0]):
        row = cones[i]
        ends = np.empty((2, 3))
        for e in range(2):
            vx, vy, vz = row[3 * e] - position[0], row[3 * e + 1] - position[1], row[3 * e + 2] - position[2]
            zc = max(vx * f[0] + vy * f[1] + vz * f[2], 0.05)
            ends[e, 0] = width / 2 + focal * (vx * r[0] + vy * r[1] + vz * r[2]) / zc
            ends[e, 1] = height / 2 - focal * (vx * u[0] + vy * u[1] + vz * u[2]) / zc
            ends[e, 2] = zc
        if min(ends[0, 2], ends[1, 2]) <= 0.06:
            continue
        ax, ay, za = ends[0, 0], ends[0, 1], ends[0, 2]
        bx, by, zb = ends[1, 0], ends[1, 1], ends[1, 2]
        ra, rb = row[6], row[7]
        pa, pb = ra * focal / za, rb * focal / zb
        reach = max(pa, pb) + 1
        x0, x1 = int(max(0.0, min(ax, bx) - reach)), int(min(float(width), max(ax, bx) + reach + 1))
        y0, y1 = int(max(0.0, min(ay, by) - reach)), int(min(float(height), max(ay, by) + reach + 1))
        if x1 <= x0 or y1 <= y0:
            continue
        dx, dy = bx - ax, by - ay
        tx, ty, tz = row[14], row[15], row[16]
        tr = r[0] * tx + r[1] * ty + r[2] * tz
        tu = u[0] * tx + u[1] * ty + u[2] * tz
        tf = f[0] * tx + f[1] * ty + f[2] * tz
        f32 = np.float32
        c0, c1, c2, d0, d1, d2 = f32(row[8]), f32(row[9]), f32(row[10]), f32(row[11]), f32(row[12]), f32(row[13])
        drawn = _raster_cone(depth, colour, head_mask, x0, y0, x1, y1, f32(ax), f32(ay), f32(dx), f32(dy),
                             f32(max(dx * dx + dy * dy, 1e-6)), f32(pa), f32(pb - pa), f32(za), f32(zb - za),
                             f32(ra), f32(rb - ra), row[18] != 0, lx, ly, lz, c0, c1, c2, d0, d1, d2,
                             tr, tu, tf, row[17], row[19] != 0)
        if drawn[0] < 0:
            continue
        if by0 < 0:
            by0, bx0, by1, bx1 = drawn
        else:
            by0, bx0 = min(by0, drawn[0]), min(bx0, drawn[1])
            by1, bx1 = max(by1, drawn[2]), max(bx1, drawn[3])
    return by0, bx0, by1, bx1


class _Solids:
    """The lifter's body as lit solids drawn pixel by pixel with a depth buffer.

    Limbs, trunk and head are round cones (a cone between two spheres) shaded by a light from above,
    so the body reads as one volume with overlapping, shaded parts. A pose model loses the legs and
    hips of a lifter folded into a hinge when they are flat-coloured strokes painted back to front.
    """

    def __init__(self, cam: Camera, shake: np.ndarray, light: np.ndarray):
        self.cam, self.shake = cam, shake
        self.basis = self.r, self.u, self.f = cam.basis(shake)
        l_cam = np.array([light @ self.r, light @ self.u, light @ self.f])
        self.light = l_cam / np.linalg.norm(l_cam)
        h, w = cam.height, cam.width
        self.depth = np.full((h, w), np.inf, np.float32)
        self.colour = np.zeros((h, w, 3), np.float32)
        self.head = np.zeros((h, w), bool)  # where the head is the nearest thing, for the face
        self.box = [h, w, 0, 0]  # rows and columns drawn on so far: y0, x0, y1, x1
        self._queued: list[tuple] = []

    def cone(self, a: np.ndarray, b: np.ndarray, ra: float, rb: float, colour, tint=None, cut: bool = False,
             head: bool = False):
        """A round cone from world point `a` (radius `ra`) to `b` (radius `rb`), in `colour`;
        `tint` = (second colour, world direction, cosine) paints the second colour where the surface
        faces within that cosine of the direction (hair on a head); `cut` ends it flat at both ends, as
        a hem is, instead of rounding them; `head` marks it as the head. Queued, and drawn in order with
        the frame's other cones (`drawn`)."""
        second, towards, tint_cos = tint if tint is not None else (colour, (0.0, 0.0, 0.0), np.inf)
        self._queued.append((*a, *b, ra, rb, *colour, *second, *towards, tint_cos, cut, head))

    def drawn(self) -> "_Solids":
        """Draw the queued cones; call before reading or painting over the buffers."""
        if self._queued:
            cam = self.cam
            cones = np.array(self._queued, np.float64)
            self._queued = []
            # Per-pixel sums run in float32, the buffers' type, with each scalar rounded to float32 once
            # (the tint's cosine, a threshold on a unit vector, in float64).
            box = _raster_cones(self.depth, self.colour, self.head, cones, np.asarray(cam.position, np.float64),
                                self.r, self.u, self.f, float(cam.focal), cam.width, cam.height,
                                self.light.astype(np.float32))
            if box[0] >= 0:
                self._drew(*box)
        return self

    def _drew(self, y0: int, x0: int, y1: int, x1: int):
        b = self.box
        self.box = [min(b[0], y0), min(b[1], x0), max(b[2], y1), max(b[3], x1)]

    def ball(self, c: np.ndarray, radius: float, colour, tint=None, head: bool = False):
        self.cone(c, c, radius, radius, colour, tint, head=head)

    def disc(self, outline: np.ndarray, colour, edge):
        """A flat plate: its projected outline at the depth of its centre."""
        self.drawn()
        xy, z = self.cam.project(outline, self.shake, self.basis)
        if min(z) <= 0.06:
            return
        x0, y0 = np.floor(xy.min(0)).astype(int)
        x1, y1 = np.ceil(xy.max(0)).astype(int) + 1
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.cam.width), min(y1, self.cam.height)
        if x1 <= x0 or y1 <= y0:
            return
        mask = Image.new("L", (x1 - x0, y1 - y0), 0)
        ImageDraw.Draw(mask).polygon([(p[0] - x0, p[1] - y0) for p in xy], fill=2, outline=1)
        m = np.asarray(mask)
        window = (slice(y0, y1), slice(x0, x1))
        nearer = (m > 0) & (float(z.mean()) < self.depth[window])
        self.depth[window][nearer] = float(z.mean())
        self.colour[window][nearer & (m == 2)] = colour
        self.colour[window][nearer & (m == 1)] = edge
        self.head[window][nearer] = False
        if nearer.any():
            self._drew(y0, x0, y1, x1)


def _head_axes(pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """(up, forward) of the head: along the neck, and the way the face looks."""
    up = _unit(pose.joints["head"] - pose.joints["neck"])
    return up, _unit(_turned_forward(up))


def _face(cam: Camera, shake: np.ndarray, basis, pose: Pose, body: Body) -> list[tuple[str, tuple, float]]:
    """The facial features on the side of the head facing the camera: (what, where in the image, size
    in head radii).

    The face looks along the body's forward direction, tilted with the neck. Pose detectors key on
    the face first, so a lifter without one is found far less often than a person would be.
    """
    j = pose.joints
    up, fwd = _head_axes(pose)
    lat = np.cross(up, fwd)
    r = body.head_radius
    to_cam = cam.position - j["head"]
    to_cam = to_cam / np.linalg.norm(to_cam)
    feats = [("eye", 0.9 * fwd + 0.38 * lat + 0.2 * up, 0.13), ("eye", 0.9 * fwd - 0.38 * lat + 0.2 * up, 0.13),
             ("brow", 0.85 * fwd + 0.38 * lat + 0.42 * up, 0.12), ("brow", 0.85 * fwd - 0.38 * lat + 0.42 * up, 0.12),
             ("nose", 1.05 * fwd - 0.05 * up, 0.12), ("mouth", 0.88 * fwd - 0.45 * up, 0.14),
             ("ear", 0.98 * lat, 0.2), ("ear", -0.98 * lat, 0.2)]
    xy, _ = cam.project(np.stack([j["head"] + r * v for _, v, _ in feats]), shake, basis)
    return [(what, tuple(p), size) for (what, v, size), p in zip(feats, xy)
            if float(np.dot(v / np.linalg.norm(v), to_cam)) > 0.15]  # on the side of the head facing the camera


def _draw_face(solids: _Solids, scene: Scene, body: Body, pose: Pose):
    """The eyes, nose, mouth and ears, where the head is the nearest thing: an arm in front hides them."""
    cam = solids.cam
    hxy, hz = cam.project(pose.joints["head"][None], solids.shake, solids.basis)
    hr = body.head_radius * cam.focal / hz[0]
    x0, y0 = (max(0, int(c - 1.3 * hr)) for c in hxy[0])
    x1, y1 = min(cam.width, int(hxy[0, 0] + 1.3 * hr) + 1), min(cam.height, int(hxy[0, 1] + 1.3 * hr) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    face, mask = Image.new("RGB", (x1 - x0, y1 - y0)), Image.new("L", (x1 - x0, y1 - y0), 0)
    fd, md = ImageDraw.Draw(face), ImageDraw.Draw(mask)
    for what, (fx, fy), size in _face(cam, solids.shake, solids.basis, pose, body):
        fx, fy, fr = fx - x0, fy - y0, max(1.0, hr * size)
        colour = {"eye": (30, 25, 25), "mouth": _shade(scene.skin, 0.55), "nose": _shade(scene.skin, 0.8),
                  "ear": _shade(scene.skin, 0.85), "brow": scene.hair}[what]
        for draw, fill in ((fd, colour), (md, 255)):
            if what in ("mouth", "brow"):
                draw.line([fx - fr * 1.6, fy, fx + fr * 1.6, fy], fill=fill, width=max(1, int(fr * 0.6)))
            else:
                draw.ellipse([fx - fr, fy - fr, fx + fr, fy + fr], fill=fill)
    window = (slice(y0, y1), slice(x0, x1))
    on_head = (np.asarray(mask) > 0) & solids.head[window]
    solids.colour[window][on_head] = np.asarray(face, np.float32)[on_head] * 0.9


def draw_pose(scene: Scene, body: Body, pose: Pose, shake: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """One frame as an HxWx3 uint8 array."""
    cam = scene.camera
    j = pose.joints
    h = body.height
    img = Image.fromarray(scene.background)
    d = ImageDraw.Draw(img)
    # Contact shadow under the lifter.
    feet = np.stack([j["ankle_l"], j["ankle_r"]]).mean(0) * [1, 0, 1]
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

    solids = _Solids(cam, shake, light=np.array([0.25, 1.0, 0.35]))
    trunk_up = _unit(j["neck"] - j["pelvis"])
    facing = _turned_forward(trunk_up)
    lr = body.limb_radius
    # The far side sits a little in shadow, as under real light, so left and right read apart.
    sides = sorted(("l", "r"), key=lambda s: -float(np.linalg.norm(j[f"hip_{s}"] - cam.position)))
    for rank, s in enumerate(sides):
        k = 0.85 if rank == 0 else 1.0
        at = {name: j[f"{name}_{s}"] for name in ("ankle", "knee", "hip", "heel", "toe", "shoulder", "elbow", "wrist")}
        skin = _shade(scene.skin, k)
        for a, b, ra, rb in LIMBS.values():
            solids.cone(at[a], at[b], ra * lr, rb * lr, skin)

        def cover(limb: str, start_joint: str, reach: float, colour, cut: bool = True):
            """Cloth over `limb` from `start_joint` for `reach` of its length, as thick as the limb
            beneath it there plus CLOTH."""
            a, b, ra, rb = LIMBS[limb]
            (start, r0), (end, r1) = ((at[a], ra), (at[b], rb)) if start_joint == a else ((at[b], rb), (at[a], ra))
            solids.cone(start, start + reach * (end - start), CLOTH * r0 * lr, CLOTH * (r0 + reach * (r1 - r0)) * lr,
                        colour, cut=cut)

        solids.ball(at["wrist"] + _unit(at["wrist"] - at["elbow"]) * 1.1 * lr, 0.69 * lr, skin)
        shorts, shirt, shoes = (_shade(c, k) for c in (scene.shorts, scene.shirt, scene.shoes))
        cover("thigh", "hip", 1.0 if scene.leggings else scene.shorts_hem, shorts, cut=not scene.leggings)
        if scene.leggings:
            cover("shank", "knee", 1.0, shorts, cut=False)
        solids.ball(at["hip"] - facing * 1.1 * lr - trunk_up * 0.3 * lr, 1.72 * lr, shorts)  # the seat
        solids.ball(at["shoulder"], 1.06 * lr, shirt if scene.sleeve_hem else skin)
        if scene.sleeve_hem:
            cover("upper_arm", "shoulder", scene.sleeve_hem, shirt)
        solids.cone(at["heel"], at["toe"], 0.69 * lr, 0.56 * lr, shoes)
        solids.cone(at["ankle"], (at["heel"] + at["toe"]) / 2, 0.69 * lr, 0.62 * lr, shoes)
    # The trunk: three columns side by side from the hips to the chest, giving it a rounded-box section
    # (broad seen from the front, deep seen from the side) that bends with the spine.
    across_hips, across_chest = _unit(j["hip_l"] - j["hip_r"]), _unit(j["shoulder_l"] - j["shoulder_r"])
    across_waist = (across_hips + across_chest) / np.linalg.norm(across_hips + across_chest)
    deep = body.torso_depth / 2
    top = j["neck"] - trunk_up * 0.03 * h
    for side in (-1.0, 0.0, 1.0):
        hip_pt = j["pelvis"] + side * (0.085 * h - deep) * across_hips
        waist_pt = j["mid_spine"] + side * (0.08 * h - deep) * across_waist
        chest_pt = top + side * (0.095 * h - deep) * across_chest
        solids.cone(hip_pt, waist_pt, deep, deep * 0.92, scene.shirt)
        solids.cone(waist_pt, chest_pt, deep * 0.92, deep * 1.02, scene.shirt)
    solids.cone(j["neck"], j["head"], 0.88 * lr, 0.81 * lr, scene.skin)
    up, fwd = _head_axes(pose)
    hair_dir = _unit(0.75 * up - 0.65 * fwd)  # hair over the crown and the back of the head
    solids.ball(j["head"], body.head_radius, scene.skin, tint=(scene.hair, hair_dir, 0.3), head=True)
    if pose.bar is not None:
        solids.cone(pose.bar + [BAR_HALF_LENGTH, 0, 0], pose.bar - [BAR_HALF_LENGTH, 0, 0], 0.014, 0.014,
                    (150, 150, 155))
        for sign in (1, -1):
            for off, rad in ((PLATE_OFFSET, scene.plate_radius), (PLATE_OFFSET + 0.05, scene.plate_radius * 0.8)):
                solids.disc(_disc(pose.bar + [sign * off, 0, 0], rad), scene.plate, _shade(scene.plate, 0.6))
    _draw_face(solids.drawn(), scene, body, pose)
    gain = scene.gain * (1 + (rng.uniform(-scene.flicker, scene.flicker) if rng is not None else 0.0))
    noise = scene.noise[int(rng.integers(0, len(scene.noise))) if rng is not None else 0]
    return _expose(np.asarray(img), solids.depth, solids.colour, *solids.box, np.float32(gain), noise)


@_compiled
def _expose(background, depth, colour, y0, x0, y1, x1, gain, noise):
    """The frame the camera records: the solids over the background (within the box they were drawn
    in), times the exposure gain, plus sensor noise (rows x columns x 1), in uint8."""
    h, w = background.shape[:2]
    out = np.empty((h, w, 3), np.uint8)
    for y in range(h):
        for x in range(w):
            n = np.float32(noise[y, x, 0])
            solid = y0 <= y < y1 and x0 <= x < x1 and depth[y, x] < np.inf
            for c in range(3):
                v = (colour[y, x, c] if solid else np.float32(background[y, x, c])) * gain + n
                out[y, x, c] = np.uint8(min(max(v, np.float32(0.0)), np.float32(255.0)))
    return out

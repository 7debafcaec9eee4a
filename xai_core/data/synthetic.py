"""A procedural action data set with ground truth: every clip knows which voxels decide its class.

An articulated figure (head, torso, two-segment arms and legs) acts on a cluttered background with
static and moving distractors, varied colours, sizes, positions, speeds and sensor noise. Eight
classes, chosen so that an explanation can be *checked*:

    walk_left / walk_right   differ only in motion: a walk_left clip is a walk_right clip played
                             backwards (the figure faces the camera, so no single frame says which)
    sit_down / stand_up      differ only in motion: the same frames in reverse order
    hold_red / hold_blue     differ only in appearance: the colour of the ball in the hand
    wave, jump               motion classes with a local (one arm) or a timed (a jump) evidence

The evidence mask marks the voxels that decide the class: the moving figure in the frames where
it moves, the waving arm, the held ball. A frame-order-blind model cannot separate the motion
pairs; a model that sees time can, and its relevance should sit inside the mask.

    data = make_dataset(1000, seed=0)
    data.clips   # (N, T, H, W, 3) uint8
    data.labels  # (N,) int64, index into CLASSES
    data.masks   # (N, T, H, W) bool
    data.kinds   # list of "motion" | "appearance"
    data.fine_kinds  # list of "order" | "change" | "appearance": what deciding the class needs

The finer kind (FINE_KIND) says which part of the evidence decides the class:
    order       the order of the frames: walk_left/walk_right and sit_down/stand_up, each the
                other played backwards, so the same frames in the other order are the other class
    change      change over time but not its order: wave and jump look like themselves played
                backwards; a single frame (or the static median) does not show them
    appearance  what a single frame shows: hold_red / hold_blue, the colour of the held ball
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

CLASSES = ("walk_left", "walk_right", "sit_down", "stand_up", "wave", "jump", "hold_red", "hold_blue")
EVIDENCE_KIND = {"walk_left": "motion", "walk_right": "motion", "sit_down": "motion",
                 "stand_up": "motion", "wave": "motion", "jump": "motion",
                 "hold_red": "appearance", "hold_blue": "appearance"}
MOTION_PAIRS = (("walk_left", "walk_right"), ("sit_down", "stand_up"))
APPEARANCE_PAIRS = (("hold_red", "hold_blue"),)
# A clip of the first class is a clip of the second played backwards (same frames, reverse order).
REVERSED_OF = {"walk_left": "walk_right", "stand_up": "sit_down"}
REVERSAL_TWIN = {**REVERSED_OF, **{b: a for a, b in REVERSED_OF.items()}}   # both ways: the class played backwards
FINE_KINDS = ("order", "change", "appearance")
FINE_KIND = {"walk_left": "order", "walk_right": "order", "sit_down": "order", "stand_up": "order",
             "wave": "change", "jump": "change", "hold_red": "appearance", "hold_blue": "appearance"}

SHIFT = 4                # cv2 sub-pixel bits: coordinates are drawn at 1/16 pixel
_ONE = 1 << SHIFT


class SyntheticSet(NamedTuple):
    clips: np.ndarray    # (N, T, H, W, 3) uint8 RGB
    labels: np.ndarray   # (N,) int64
    masks: np.ndarray    # (N, T, H, W) bool: the voxels that decide the class
    kinds: list          # (N,) "motion" | "appearance"
    fine_kinds: list     # (N,) "order" | "change" | "appearance" (FINE_KIND); last, for positional users


def make_dataset(n: int, seed: int, frames: int = 16, size: int = 64) -> SyntheticSet:
    """Generate n clips; clip i depends only on (seed, i), so any machine gets the same clips."""
    if n < 0 or frames < 2 or size < 32:
        raise ValueError(f"make_dataset: need n >= 0, frames >= 2, size >= 32 (got {n}, {frames}, {size})")
    clips = np.empty((n, frames, size, size, 3), np.uint8)
    masks = np.empty((n, frames, size, size), bool)
    labels = np.arange(n, dtype=np.int64) % len(CLASSES)  # balanced, in a fixed order
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        clips[i], masks[i] = render_clip(CLASSES[labels[i]], rng, frames, size)
    return SyntheticSet(clips, labels, masks, [EVIDENCE_KIND[CLASSES[k]] for k in labels],
                        [FINE_KIND[CLASSES[k]] for k in labels])


def render_clip(name: str, rng: np.random.Generator, frames: int = 16, size: int = 64):
    """One clip of class `name`: ((T, H, W, 3) uint8, (T, H, W) bool evidence mask)."""
    if name in REVERSED_OF:  # the motion-only twin: the same clip, played backwards
        clip, mask = render_clip(REVERSED_OF[name], rng, frames, size)
        return clip[::-1].copy(), mask[::-1].copy()
    if name not in EVIDENCE_KIND:
        raise ValueError(f"unknown class {name!r}; classes: {', '.join(CLASSES)}")
    scene = _Scene(rng, frames, size)
    act = _ACTIONS[name](rng, scene)
    clip = np.empty((frames, size, size, 3), np.uint8)
    mask = np.zeros((frames, size, size), np.uint8)
    for t in range(frames):
        u = t / (frames - 1)                    # clip time in [0, 1]
        img = scene.background(t)
        pose, evidence = act(u)
        ball = pose.pop("_ball", None)
        _draw_figure(img, mask[t] if evidence == "figure" else None, scene, pose)
        if evidence == "arm":
            _draw_arm(mask[t], pose, pose["_side"], scene.thick, 1, aa=False)
        if ball is not None:
            cx, cy, r, colour = ball
            _circle(img, cx, cy, r, colour)
            _circle(mask[t], cx, cy, r + 0.5, 1, aa=False)
        clip[t] = img
    noise = rng.normal(0.0, scene.noise, clip.shape)  # i.i.d. sensor noise per voxel
    clip = np.clip(clip + noise * scene.gain, 0, 255).astype(np.uint8)
    return clip, mask.astype(bool)


# ----------------------------------------------------------------------------------- scene


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    """HSV in [0, 1] -> RGB 0..255."""
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, w = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, w, p), (q, v, p), (p, v, w), (p, q, v), (w, p, v), (v, p, q)][i]
    return int(r * 255), int(g * 255), int(b * 255)


def _random_colour(rng, s=(0.2, 1.0), v=(0.25, 1.0)):
    return _hsv(rng.random(), rng.uniform(*s), rng.uniform(*v))


SKIN = ((255, 224, 196), (234, 192, 134), (198, 134, 66), (141, 85, 36), (94, 58, 28), (255, 205, 148))


@dataclass
class _Mover:
    x: float
    y: float
    vx: float
    vy: float
    r: float
    colour: tuple
    square: bool


class _Scene:
    """Background clutter, moving distractors and the figure's look, fixed for one clip."""

    def __init__(self, rng: np.random.Generator, frames: int, size: int):
        self.size, self.frames = size, frames
        self.height = rng.uniform(0.42, 0.56) * size          # figure height, head to foot
        self.ground = rng.uniform(0.80, 0.94) * size          # where the feet stand
        self.thick = max(1.5, self.height * 0.075)
        self.shirt = _random_colour(rng, v=(0.35, 1.0))
        self.trousers = _random_colour(rng, v=(0.2, 0.8))
        self.skin = SKIN[rng.integers(len(SKIN))]
        self.noise = rng.uniform(2.0, 9.0)
        self.gain = 1.0
        self.static = self._clutter(rng)
        self.movers = [self._mover(rng) for _ in range(rng.integers(1, 3))]

    def _clutter(self, rng) -> np.ndarray:
        S = self.size
        k = int(rng.integers(3, 7))
        base = np.array(_random_colour(rng, s=(0.0, 0.6), v=(0.2, 0.9)), np.float32)
        tex = rng.normal(0, rng.uniform(8, 30), (k, k, 3)).astype(np.float32)  # low-frequency texture
        img = np.clip(base + cv2.resize(tex, (S, S), interpolation=cv2.INTER_LINEAR), 0, 255).astype(np.uint8)
        for _ in range(rng.integers(3, 8)):                    # static shapes, any colour (red and blue too)
            colour = _random_colour(rng)
            kind = rng.integers(4)
            x, y = rng.uniform(0, S, 2)
            if kind == 0:
                w, h = rng.uniform(3, S / 3, 2)
                cv2.rectangle(img, _pt(x, y), _pt(x + w, y + h), colour, -1, cv2.LINE_AA, SHIFT)
            elif kind == 1:
                _circle(img, x, y, rng.uniform(1.5, 5.5), colour)
            elif kind == 2:
                x2, y2 = rng.uniform(0, S, 2)
                cv2.line(img, _pt(x, y), _pt(x2, y2), colour, int(rng.integers(1, 3)), cv2.LINE_AA, SHIFT)
            else:
                axes = (int(rng.uniform(2, S / 5) * _ONE), int(rng.uniform(2, S / 6) * _ONE))
                cv2.ellipse(img, _pt(x, y), axes, float(rng.uniform(0, 180)), 0, 360, colour, -1,
                            cv2.LINE_AA, SHIFT)
        return img

    def _mover(self, rng) -> _Mover:
        S, T = self.size, self.frames
        speed = rng.uniform(0.5, 2.5) * 16 / T                # pixels per frame, either direction
        angle = rng.uniform(0, 2 * math.pi)
        return _Mover(rng.uniform(0, S), rng.uniform(0, S), speed * math.cos(angle),
                      speed * math.sin(angle), rng.uniform(1.5, 4.0), _random_colour(rng),
                      bool(rng.integers(2)))

    def background(self, t: int) -> np.ndarray:
        img = self.static.copy()
        for m in self.movers:                                   # bounce inside the frame
            x = _bounce(m.x + m.vx * t, self.size)
            y = _bounce(m.y + m.vy * t, self.size)
            if m.square:
                cv2.rectangle(img, _pt(x - m.r, y - m.r), _pt(x + m.r, y + m.r), m.colour, -1,
                              cv2.LINE_AA, SHIFT)
            else:
                _circle(img, x, y, m.r, m.colour)
        return img


def _bounce(v: float, size: int) -> float:
    period = 2 * size
    v = v % period
    return v if v < size else period - v


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x * _ONE)), int(round(y * _ONE))


def _circle(img, x, y, r, colour, aa=True):
    cv2.circle(img, _pt(x, y), int(round(r * _ONE)), colour, -1, cv2.LINE_AA if aa else cv2.LINE_8, SHIFT)


# ---------------------------------------------------------------------------------- figure
# Angles are in radians from "straight down", positive towards +x: a limb from p with angle a
# and length L ends at p + L * (sin a, cos a). The figure faces the camera, so a pose and its
# mirror image are equally likely and no single frame tells left from right.


def _end(p, angle, length):
    return p[0] + length * math.sin(angle), p[1] + length * math.cos(angle)


def _standing() -> dict:
    return {"lean": 0.0, "arm_l": (-0.2, -0.1), "arm_r": (0.2, 0.1), "leg_l": (-0.12, -0.12),
            "leg_r": (0.12, 0.12), "lift": 0.0, "x": 0.0}


def _joints(scene: _Scene, pose: dict):
    """Pose -> joint positions; the feet rest on the ground unless the figure is lifted."""
    s = scene.height
    thigh, shin = 0.25 * s, 0.24 * s
    drop = max(thigh * math.cos(pose[k][0]) + shin * math.cos(pose[k][1]) for k in ("leg_l", "leg_r"))
    hip = (pose["x"], scene.ground - drop - pose["lift"] * s)
    neck = (hip[0] + 0.30 * s * math.sin(pose["lean"]), hip[1] - 0.30 * s * math.cos(pose["lean"]))
    head = (neck[0] + 0.11 * s * math.sin(pose["lean"]), neck[1] - 0.11 * s * math.cos(pose["lean"]))
    j = {"hip": hip, "neck": neck, "head": head}
    for side in ("l", "r"):
        upper, fore = pose["arm_" + side]
        j["elbow_" + side] = _end(neck, upper, 0.17 * s)
        j["hand_" + side] = _end(j["elbow_" + side], fore, 0.16 * s)
        up, low = pose["leg_" + side]
        j["knee_" + side] = _end(hip, up, thigh)
        j["foot_" + side] = _end(j["knee_" + side], low, shin)
    return j


def _line(img, a, b, colour, thick, aa=True):
    cv2.line(img, _pt(*a), _pt(*b), colour, max(1, int(round(thick))), cv2.LINE_AA if aa else cv2.LINE_8,
             SHIFT)


def _draw_arm(img, pose, side, thick, colour, aa=True):
    j = pose["_joints"]
    _line(img, j["neck"], j["elbow_" + side], colour, thick, aa)
    _line(img, j["elbow_" + side], j["hand_" + side], colour, thick, aa)
    _circle(img, *j["hand_" + side], thick * 0.7, colour, aa)


def _draw_figure(img, mask, scene: _Scene, pose: dict):
    j = _joints(scene, pose)
    pose["_joints"] = j
    th = scene.thick
    layers = [(img, True, None)] + ([(mask, False, 1)] if mask is not None else [])
    for canvas, aa, fixed in layers:
        for side in ("l", "r"):
            _line(canvas, j["hip"], j["knee_" + side], fixed or scene.trousers, th, aa)
            _line(canvas, j["knee_" + side], j["foot_" + side], fixed or scene.trousers, th, aa)
        _line(canvas, j["hip"], j["neck"], fixed or scene.shirt, th * 1.8, aa)
        for side in ("l", "r"):
            _line(canvas, j["neck"], j["elbow_" + side], fixed or scene.shirt, th, aa)
            _line(canvas, j["elbow_" + side], j["hand_" + side], fixed or scene.skin, th * 0.9, aa)
        _circle(canvas, *j["head"], scene.height * 0.085, fixed or scene.skin, aa)


# --------------------------------------------------------------------------------- actions
# Each action draws its parameters once from rng and returns act(u) -> (pose, evidence) for
# clip time u in [0, 1]; evidence is "figure", "arm" (the pose's "_side" arm) or "ball".


def _smooth(u: float) -> float:
    u = min(1.0, max(0.0, u))
    return u * u * (3 - 2 * u)


def _window(rng, short=0.35, long=0.7):
    """The part of the clip in which the action happens: (start, end) in clip time."""
    length = rng.uniform(short, long)
    start = rng.uniform(0.0, 1.0 - length)
    return start, start + length


def _idle_arms(rng):
    amp, freq, phase = rng.uniform(0.02, 0.12), rng.uniform(0.5, 1.5), rng.uniform(0, 2 * math.pi)
    return lambda u: amp * math.sin(2 * math.pi * freq * u + phase)


def _place(rng, scene, margin=0.2):
    return rng.uniform(margin, 1 - margin) * scene.size


def _walk(rng, scene):
    distance = rng.uniform(0.25, 0.5) * scene.size
    x0 = rng.uniform(0.15 * scene.size, 0.85 * scene.size - distance)
    steps, phase, swing = rng.uniform(1.5, 3.0), rng.uniform(0, 2 * math.pi), rng.uniform(0.3, 0.5)
    idle = _idle_arms(rng)

    def act(u):
        p = _standing()
        s = math.sin(2 * math.pi * steps * u + phase)
        p["x"] = x0 + distance * u
        p["leg_l"] = (-0.1 + swing * s, -0.1 + swing * s - 0.25 * max(0.0, s))
        p["leg_r"] = (0.1 - swing * s, 0.1 - swing * s - 0.25 * max(0.0, -s))
        p["arm_l"] = (-0.25 - 0.5 * swing * s, -0.2 - 0.5 * swing * s + idle(u))
        p["arm_r"] = (0.25 + 0.5 * swing * s, 0.2 + 0.5 * swing * s + idle(u))
        return p, "figure"
    return act


def _sit_down(rng, scene):
    start, end = _window(rng)
    x, spread, idle = _place(rng, scene), rng.uniform(1.1, 1.45), _idle_arms(rng)

    def act(u):
        p = _standing()
        k = _smooth((u - start) / (end - start))       # 0 standing -> 1 sitting on the ground
        p["x"] = x
        p["leg_l"] = (-0.12 - k * spread, -0.12 + k * 0.45)
        p["leg_r"] = (0.12 + k * spread, 0.12 - k * 0.45)
        p["arm_l"] = (-0.2 - k * 0.5 + idle(u), -0.1 - k * 0.9)
        p["arm_r"] = (0.2 + k * 0.5 - idle(u), 0.1 + k * 0.9)
        p["lean"] = 0.0
        return p, "figure" if start <= u <= end else None
    return act


def _jump(rng, scene):
    start, end = _window(rng, 0.4, 0.75)
    x, height, idle = _place(rng, scene), rng.uniform(0.25, 0.4), _idle_arms(rng)

    def act(u):
        p = _standing()
        v = (u - start) / (end - start)                 # 0..1 through the jump
        crouch = math.sin(math.pi * min(1.0, max(0.0, v / 0.3))) if v < 0.3 else (
            math.sin(math.pi * min(1.0, (v - 0.75) / 0.25)) if v > 0.75 else 0.0)
        air = math.sin(math.pi * (v - 0.3) / 0.45) if 0.3 <= v <= 0.75 else 0.0
        p["x"] = x
        p["lift"] = height * air
        p["leg_l"] = (-0.12 - 0.7 * crouch - 0.2 * air, -0.12 + 0.4 * crouch + 0.3 * air)
        p["leg_r"] = (0.12 + 0.7 * crouch + 0.2 * air, 0.12 - 0.4 * crouch - 0.3 * air)
        p["arm_l"] = (-0.2 - 2.2 * air + idle(u), -0.1 - 2.2 * air)
        p["arm_r"] = (0.2 + 2.2 * air - idle(u), 0.1 + 2.2 * air)
        return p, "figure" if start <= u <= end else None
    return act


def _wave(rng, scene):
    side = "l" if rng.integers(2) else "r"
    sign = -1 if side == "l" else 1
    x, raise_, freq = _place(rng, scene), rng.uniform(2.2, 2.7), rng.uniform(1.5, 3.0)
    amp, phase, idle = rng.uniform(0.45, 0.7), rng.uniform(0, 2 * math.pi), _idle_arms(rng)

    def act(u):
        p = _standing()
        p["x"] = x
        bend = amp * math.sin(2 * math.pi * freq * u + phase)
        p["arm_" + side] = (sign * raise_, sign * (raise_ + 0.3) + bend)
        other = "r" if side == "l" else "l"
        p["arm_" + other] = (-sign * (0.2 + idle(u)), -sign * 0.1)
        p["_side"] = side
        return p, "arm"
    return act


def _hold(colour_hue):
    def make(rng, scene):
        side = "l" if rng.integers(2) else "r"
        sign = -1 if side == "l" else 1
        x, reach = _place(rng, scene), rng.uniform(0.9, 1.7)
        drift, idle = rng.uniform(-0.3, 0.3), _idle_arms(rng)
        sway = rng.uniform(-0.06, 0.06) * scene.size
        radius = max(2.0, scene.height * rng.uniform(0.09, 0.13))
        colour = _hsv((colour_hue + rng.uniform(-0.03, 0.03)) % 1.0, rng.uniform(0.75, 1.0),
                      rng.uniform(0.7, 1.0))

        def act(u):
            p = _standing()
            p["x"] = x + sway * u
            a = sign * (reach + drift * u)
            p["arm_" + side] = (a, a + sign * 0.15 + idle(u))
            other = "r" if side == "l" else "l"
            p["arm_" + other] = (-sign * (0.2 + idle(u)), -sign * 0.1)
            j = _joints(scene, p)
            hx, hy = j["hand_" + side]
            d = p["arm_" + side][1]
            p["_ball"] = (hx + radius * 0.8 * math.sin(d), hy + radius * 0.8 * math.cos(d), radius, colour)
            return p, "ball"
        return act
    return make


_ACTIONS = {"walk_right": _walk, "sit_down": _sit_down, "jump": _jump, "wave": _wave,
            "hold_red": _hold(0.0), "hold_blue": _hold(0.62)}

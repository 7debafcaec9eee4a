"""The input spec a video model declares: how many frames, what size, which channels, how to normalise."""
from __future__ import annotations

import math
from dataclasses import dataclass, asdict

from .errors import ModelSpecError

# What a decoded video can be turned into: the channel layouts the input pipeline makes from RGB frames.
CHANNELS = {"RGB": 3, "BGR": 3, "gray": 1}
# Inputs the core computes from frames itself, never decoded nor declared in a model spec: optical
# flow (dx, dy) in pixels per frame, T-1 fields for T frames (xai_core.motion.streams: the flow
# stream of a two-stream model, explained on its own input).
DERIVED = {"flow": 2}
MAX_FRAMES = 1024           # frames per clip; more is a mistake, not a model (I3D uses 64-250)
MAX_SIZE = 4096             # pixels per side of the model's input grid
MAX_FPS = 1000             # frames per second a model may declare it was trained at
MAX_VOXELS = 2 ** 25        # T x H x W of one clip (e.g. 250 x 224 x 224 is 12.5 M): bounds every buffer


@dataclass(frozen=True)
class InputSpec:
    """Frames T, size H x W, channel layout, per-channel mean/std on the [0, 1] scale, frame rate.

    The number of channels C is the length of `mean` (and `std`): 3 for "RGB" / "BGR" frames,
    1 for "gray" (ITU-R BT.601 luma). A spec that gives one mean value and no `channels` means gray.
    `fps` is the frame rate the model was trained at (frames per second; I3D: 25), None when the
    model takes frames spread over a clip; the sampler can honour it (see video.sample).
    """

    frames: int = 16
    height: int = 64
    width: int = 64
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.25, 0.25, 0.25)
    channels: str = "RGB"
    fps: float | None = None    # the model's frame rate (I3D: 25); None: frames spread over the clip

    def __post_init__(self):
        for name, top in (("frames", MAX_FRAMES), ("height", MAX_SIZE), ("width", MAX_SIZE)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                raise ModelSpecError(f"input spec: '{name}' must be an integer from 1 to {top}, got {value!r}")
        if self.frames * self.height * self.width > MAX_VOXELS:
            raise ModelSpecError(f"input spec: a clip of {self.frames} x {self.height} x {self.width} is "
                                 f"{self.frames * self.height * self.width:,} voxels; at most {MAX_VOXELS:,}")
        if not isinstance(self.channels, str) or (self.channels not in CHANNELS and self.channels not in DERIVED):
            raise ModelSpecError(f"input spec: 'channels' must be one of {sorted(CHANNELS)}, got {self.channels!r}")
        C = self.num_channels
        for name in ("mean", "std"):
            value = _numbers(getattr(self, name), f"input spec: '{name}'")
            if len(value) != C:
                raise ModelSpecError(f"input spec: '{name}' needs {C} value{'s' * (C > 1)} for "
                                     f"{self.channels} input, got {list(value)}")
            object.__setattr__(self, name, value)
        if min(self.std) <= 0:
            raise ModelSpecError(f"input spec: 'std' must be positive, got {list(self.std)}")
        if self.fps is not None:
            if isinstance(self.fps, bool) or not isinstance(self.fps, (int, float)) \
                    or not math.isfinite(self.fps) or not 0 < self.fps <= MAX_FPS:
                raise ModelSpecError(f"input spec: 'fps' must be a frame rate from 0 to {MAX_FPS} "
                                     f"(frames per second), got {self.fps!r}")
            object.__setattr__(self, "fps", float(self.fps))

    @property
    def size(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def num_channels(self) -> int:
        """C, the channel count of the model's input (N, C, T, H, W)."""
        return CHANNELS.get(self.channels) or DERIVED[self.channels]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(C, T, H, W) of one clip as the model takes it."""
        return self.num_channels, self.frames, self.height, self.width

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "input spec") -> "InputSpec":
        """An InputSpec from a spec's `input` mapping; every mistake names `where` and the key.

        Accepts `size: N` or `size: [H, W]` for height/width, and infers `channels: gray` when
        `mean` has one value and no `channels` is given.
        """
        if not isinstance(d, dict):
            raise ModelSpecError(f"{where}: expected a mapping, got {type(d).__name__}")
        d = dict(d)
        try:
            if "size" in d:
                d.update(zip(("height", "width"), _size(d.pop("size"))))
            if "channels" not in d and isinstance(d.get("mean"), (list, tuple)) and len(d["mean"]) == 1:
                d["channels"] = "gray"
            if isinstance(d.get("channels"), str) and d["channels"] in DERIVED:
                raise ModelSpecError(f"input spec: 'channels' must be one of {sorted(CHANNELS)}, got "
                                     f"{d['channels']!r} (computed by xai_core.motion from frames, not "
                                     "read from a video)")
            known = {f for f in cls.__dataclass_fields__}
            unknown = sorted(set(d) - known, key=str)
            if unknown:
                raise ModelSpecError(f"input spec: unknown key(s) {unknown}; known: {sorted(known | {'size'})}")
            return cls(**d)
        except ModelSpecError as e:
            raise ModelSpecError(str(e).replace("input spec", where, 1)) from None


def _size(size) -> tuple[int, int]:
    """`size: N` or `size: [H, W]` -> (H, W); anything else (a string, [H, W, C]) is an error."""
    if isinstance(size, int) and not isinstance(size, bool):
        return size, size
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return tuple(size)
    raise ModelSpecError(f"input spec: 'size' must be an integer or [height, width], got {size!r}"
                         + (" (channels come from 'mean'/'std' and 'channels')"
                            if isinstance(size, (list, tuple)) and len(size) == 3 else ""))


def _numbers(value, where: str) -> tuple[float, ...]:
    """A list of finite real numbers as a tuple of floats (a string or a bool is not a number)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (list, tuple)) or not value or \
            not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ModelSpecError(f"{where} must be a list of numbers, got {value!r}")
    if not all(math.isfinite(v) for v in value):
        raise ModelSpecError(f"{where} must be finite numbers, got {list(value)}")
    return tuple(float(v) for v in value)

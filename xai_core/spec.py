"""The input spec a video model declares: how many frames, what size, how to normalise."""
from __future__ import annotations

from dataclasses import dataclass, asdict

from .errors import ModelSpecError


@dataclass(frozen=True)
class InputSpec:
    """Frames T, size H x W, RGB mean/std on the [0, 1] scale."""

    frames: int = 16
    height: int = 64
    width: int = 64
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)

    def __post_init__(self):
        for name in ("frames", "height", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ModelSpecError(f"input spec: '{name}' must be a positive integer, got {value!r}")
        for name in ("mean", "std"):
            value = getattr(self, name)
            if len(value) != 3:
                raise ModelSpecError(f"input spec: '{name}' needs 3 values (R, G, B), got {value!r}")
            object.__setattr__(self, name, tuple(float(v) for v in value))
        if min(self.std) <= 0:
            raise ModelSpecError(f"input spec: 'std' must be positive, got {self.std!r}")

    @property
    def size(self) -> tuple[int, int]:
        return self.height, self.width

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "input spec") -> "InputSpec":
        if not isinstance(d, dict):
            raise ModelSpecError(f"{where}: expected a mapping, got {type(d).__name__}")
        d = dict(d)
        if "size" in d:  # accept size: [H, W] or size: N
            size = d.pop("size")
            h, w = (size, size) if isinstance(size, int) else tuple(size)
            d.setdefault("height", h)
            d.setdefault("width", w)
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ModelSpecError(f"{where}: unknown key(s) {unknown}; known: {sorted(known | {'size'})}")
        try:
            return cls(**d)
        except ModelSpecError as e:
            raise ModelSpecError(str(e).replace("input spec", where, 1)) from None
        except TypeError as e:
            raise ModelSpecError(f"{where}: {e}") from None

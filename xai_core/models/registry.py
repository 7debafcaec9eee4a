"""The bundled model zoo: factories registered by name, weights in assets/weights/."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch import nn

from ..data.synthetic import CLASSES
from ..errors import ModelSpecError
from ..spec import InputSpec
from . import zoo

ASSETS = Path(__file__).resolve().parents[2] / "assets"
WEIGHTS = ASSETS / "weights"
DEFAULT_SPEC = InputSpec(frames=16, height=64, width=64, mean=(0.45, 0.45, 0.45), std=(0.25, 0.25, 0.25))


@dataclass(frozen=True)
class BundledModel:
    name: str
    family: str
    description: str
    factory: Callable[[int], nn.Module]

    @property
    def weights(self) -> Path:
        return WEIGHTS / f"{self.name}.safetensors"

    @property
    def checkpoints(self) -> Path:
        return WEIGHTS / f"{self.name}.checkpoints.safetensors"


_BUNDLED: dict[str, BundledModel] = {}


def register_model(name: str, family: str):
    """Decorator: register `factory(num_classes) -> nn.Module` as bundled model `name`."""
    def wrap(factory):
        doc = (factory.__doc__ or "").strip().splitlines()
        _BUNDLED[name] = BundledModel(name, family, doc[0] if doc else "", factory)
        return factory
    return wrap


def bundled(name: str) -> BundledModel:
    if name not in _BUNDLED:
        raise ModelSpecError(f"unknown model {name!r}; bundled models: {', '.join(_BUNDLED)} "
                             "(or give a model spec .yaml)")
    return _BUNDLED[name]


def bundled_names() -> list[str]:
    return list(_BUNDLED)


def read_metadata(path: Path) -> dict:
    """The JSON metadata a bundled weights file carries (classes, spec, training record)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    return {k: json.loads(v) for k, v in meta.items()}


@register_model("c3d_small", "3d")
def c3d_small(num_classes: int = len(CLASSES)) -> nn.Module:
    """3D CNN (C3D-like): space and time convolved together from the first layer."""
    return zoo.C3DSmall(num_classes)


@register_model("r2plus1d_small", "2+1d")
def r2plus1d_small(num_classes: int = len(CLASSES)) -> nn.Module:
    """(2+1)D residual net: spatial then temporal convolutions, as in R(2+1)D."""
    return zoo.R2Plus1DSmall(num_classes)


@register_model("frame2d_pool", "frame-2d")
def frame2d_pool(num_classes: int = len(CLASSES)) -> nn.Module:
    """Per-frame 2D CNN with temporal average pooling: blind to the order of frames."""
    return zoo.Frame2DPool(num_classes)


@register_model("cnn_lstm", "cnn-lstm")
def cnn_lstm(num_classes: int = len(CLASSES)) -> nn.Module:
    """Per-frame 2D CNN feeding an LSTM: sees order through its recurrent state."""
    return zoo.CNNLSTM(num_classes)

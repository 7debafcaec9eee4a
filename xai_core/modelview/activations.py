"""A layer's activations on a clip: its energy over time and its strongest channels as tubes.

    choices = layer_choices(model)                   # layers a user may pick, with their output shapes
    act = layer_activations(model, clip, "block3")   # Activations
    act.energy_per_frame                             # (T,) on the clip's frames
    image = activation_figure(act, clip.frames)      # energy curve + the top channels as tubes

A layer of a video model keeps a time axis until it is pooled away; how much it fires at each
moment, and which of its channels fire most, is the developer's view of what the layer picked up
(Zeiler & Fergus 2014 for the image case; Feichtenhofer et al. 2018 for video). Energy is the
mean squared activation, so it does not cancel where activations change sign (a BatchNorm output).

Layers (`layer_choices`): every named module whose output, on a spec-shaped clip, is a space-time
map (N, C, T', H', W') no larger than the clip in T, H, W, or a per-frame map (N*T, C, H', W')
of a frame-wise 2D network (read back as (N, C, T, H', W')). Tuples (an LSTM's output) and vectors
are left out.

Time mapping: a layer with T' time steps for a clip of T frames (pooled in time: T' = T/2; a
flow stream: T - 1) covers the clip evenly, step j standing for frames
ceil(j T / T') .. ceil((j + 1) T / T') - 1; each frame t takes the value of step
floor(t T' / T) (`step_of_frame`). Exact for the strides that divide T (pooling by 2 keeps frame
pairs 2j, 2j + 1 together); for T' = T - 1 it is the nearest even stretch, not the exact centre
of each flow field between frames j and j + 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import MethodError
from ..render.colormap import colorbar
from ..render.tube import tube_image
from .grid import side_by_side, stack

LAYOUTS = ("NCTHW", "per-frame")


@dataclass(frozen=True)
class LayerChoice:
    """A layer whose output is a map over time: its name, layout and output shape (C, T', H', W')."""

    name: str
    layout: str
    shape: tuple

    def to_dict(self) -> dict:
        return {"name": self.name, "layout": self.layout, "shape": list(self.shape)}


@dataclass
class Activations:
    """One layer's activations on one clip.

    maps              (C, T', H', W') float32, the layer's output for the clip
    energy_per_step   (T',) mean over channels and positions of activation^2 (squared activation units)
    step_of_frame     (T,) int: the layer's time step each clip frame maps to (see the module docstring)
    energy_per_frame  (T,) energy_per_step[step_of_frame]
    channel_energy    (C,) mean over time and positions of activation^2
    top               (k,) channel indices, highest energy first
    """

    layer: str
    layout: str
    maps: np.ndarray
    energy_per_step: np.ndarray
    step_of_frame: np.ndarray
    energy_per_frame: np.ndarray
    channel_energy: np.ndarray
    top: np.ndarray

    def top_maps(self) -> np.ndarray:
        """The top channels' maps on the clip's frames: (k, T, H', W')."""
        return self.maps[self.top][:, self.step_of_frame]

    def to_dict(self) -> dict:
        C, Tl, H, W = self.maps.shape
        return {"layer": self.layer, "layout": self.layout, "shape": {"C": C, "T": Tl, "H": H, "W": W},
                "frames": len(self.step_of_frame), "step_of_frame": self.step_of_frame.tolist(),
                "energy_per_step": self.energy_per_step.tolist(),
                "energy_per_frame": self.energy_per_frame.tolist(),
                "top_channels": [{"channel": int(c), "energy": float(self.channel_energy[c])} for c in self.top],
                "units": "mean squared activation"}


def step_of_frame(steps: int, frames: int) -> np.ndarray:
    """(frames,) int: frame t -> time step floor(t * steps / frames) of a layer with `steps` time steps."""
    if steps < 1 or frames < 1:
        raise ValueError(f"steps and frames must be >= 1 (got {steps}, {frames})")
    return (np.arange(frames) * steps) // frames


def _net(model) -> nn.Module:
    return getattr(model, "net", model)


def _input(model, clip) -> torch.Tensor:
    """A Clip, a (C, T, H, W) or (1, C, T, H, W) tensor -> (1, C, T, H, W) on the model's device."""
    x = clip.tensor if hasattr(clip, "tensor") else torch.as_tensor(clip)
    x = x[None] if x.dim() == 4 else x
    if x.dim() != 5 or x.shape[0] != 1:
        raise MethodError(f"a clip must be (C, T, H, W) or (1, C, T, H, W), got {tuple(x.shape)}")
    p = next(_net(model).parameters())
    return x.to(p.device, p.dtype)


def _layout(shape: tuple, x_shape: tuple) -> str | None:
    """'NCTHW', 'per-frame' or None for an output of `shape` on an input (1, C, T, H, W)."""
    _, _, T, H, W = x_shape
    if len(shape) == 5 and shape[0] == 1 and shape[2] <= T and shape[3] <= H and shape[4] <= W:
        return "NCTHW"
    if len(shape) == 4 and T > 1 and shape[0] == T and shape[2] <= H and shape[3] <= W:
        return "per-frame"
    return None


def layer_choices(model) -> list[LayerChoice]:
    """The layers whose output is a map over time, in the order they run (one forward pass on a
    spec-shaped zero clip, no gradients; hooks removed in `finally`)."""
    net = _net(model)
    x = torch.zeros(1, *model.spec.shape)
    x = _input(model, x)
    seen: dict[str, tuple] = {}

    def hook(name):
        def record(module, args, out):
            if torch.is_tensor(out) and name not in seen:
                seen[name] = tuple(out.shape)
        return record

    handles = []
    try:
        handles = [m.register_forward_hook(hook(n)) for n, m in net.named_modules() if n]
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    out = []
    for name, shape in seen.items():
        layout = _layout(shape, tuple(x.shape))
        if layout == "NCTHW":
            out.append(LayerChoice(name, layout, shape[1:]))
        elif layout == "per-frame":
            out.append(LayerChoice(name, layout, (shape[1], shape[0], *shape[2:])))
    return out


def _capture(model, x: torch.Tensor, layer: str) -> list[torch.Tensor]:
    """The layer's outputs (detached copies; an in-place ReLU after it cannot change them), per call."""
    try:
        module = _net(model).get_submodule(layer)
    except AttributeError:
        names = [c.name for c in layer_choices(model)]
        raise MethodError(f"model {getattr(model, 'name', '')!r} has no layer {layer!r}; layers with a time "
                          f"axis: {', '.join(names[:20])}{' ...' if len(names) > 20 else ''}") from None
    outs: list[torch.Tensor] = []

    def record(m, args, out):
        if torch.is_tensor(out):
            outs.append(out.detach().clone())

    handle = module.register_forward_hook(record)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return outs


def layer_activations(model, clip, layer: str, top: int = 4) -> Activations:
    """The layer's output on a clip, its energy per time step and per frame, and its top channels.

    clip   a video.Clip, or its tensor (C, T, H, W) / (1, C, T, H, W), normalised for the model
    layer  a name from layer_choices (MethodError otherwise, listing them)
    top    how many channels to pick, by energy (mean squared activation over time and positions)
    """
    x = _input(model, clip)
    T = x.shape[2]
    outs = _capture(model, x, layer)
    layouts = [_layout(tuple(o.shape), tuple(x.shape)) for o in outs]
    if not outs or None in layouts:
        shape = tuple(outs[0].shape) if outs else None
        raise MethodError(f"layer {layer!r} outputs {'nothing' if shape is None else f'shape {shape}'}, not a "
                          "map over time (N, C, T, H, W) or per frame (N*T, C, H, W); pick one of "
                          f"{', '.join(c.name for c in layer_choices(model))}")
    maps = []
    for o, layout in zip(outs, layouts):
        o = o.float()
        maps.append(o[0] if layout == "NCTHW" else o.transpose(0, 1))        # (C, T', H', W')
    a = torch.cat(maps, 1) if len(maps) > 1 else maps[0]                     # calls joined in time
    a = a.cpu().numpy()
    C, Tl = a.shape[:2]
    sq = a.astype(np.float64) ** 2
    per_step = sq.mean(axis=(0, 2, 3))                                       # (T',)
    mapping = step_of_frame(Tl, T)                                           # (T,)
    energy_c = sq.mean(axis=(1, 2, 3))                                       # (C,)
    order = np.argsort(-energy_c, kind="stable")[:max(1, min(int(top), C))]
    return Activations(layer, layouts[0], a, per_step, mapping, per_step[mapping], energy_c, order)


# ------------------------------------------------------------------------------------ drawing

def energy_plot(act: Activations, size: tuple[int, int] = (900, 220), frame_numbers=None) -> np.ndarray:
    """The energy per frame as bars (H, W, 3) uint8, the frames of each of the layer's time steps
    shaded alike (matplotlib Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    T = len(act.step_of_frame)
    fig = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.07, 0.22, 0.91, 0.62))
    for j in range(len(act.energy_per_step)):
        ts = np.flatnonzero(act.step_of_frame == j)
        if len(ts) and j % 2:
            ax.axvspan(ts[0] - 0.5, ts[-1] + 0.5, color=(0.93, 0.93, 0.95), zorder=0)
    ax.bar(np.arange(T), act.energy_per_frame, color=(0 / 255, 150 / 255, 170 / 255), width=0.8, zorder=2)
    numbers = list(range(T)) if frame_numbers is None else list(frame_numbers)
    ax.set_xticks(range(T), [str(n) for n in numbers], fontsize=8)
    ax.set_xlim(-0.6, T - 0.4)
    ax.set_xlabel("frame (shaded bands: the frames one time step of the layer covers)", fontsize=9)
    ax.set_ylabel("energy", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    C, Tl = act.maps.shape[:2]
    fig.text(0.07, 0.93, f"{act.layer} · channel-mean energy (mean squared activation) per frame · "
                         f"{C} channels × {Tl} time step{'s' * (Tl != 1)} for {T} frames",
             fontsize=10, fontweight="bold", va="top")
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def channel_tube(act: Activations, frames: np.ndarray, rank: int, width: int = 560, frame_numbers=None) -> np.ndarray:
    """The rank-th top channel's map over the frames as a staggered-frame tube (H, W, 3) uint8."""
    c = int(act.top[rank])
    m = act.top_maps()[rank]                                                 # (T, H', W')
    signed = bool((m < 0).any())
    if signed and not (m > 0).any():
        m, mode, legend = -m, "positive", (colorbar(130, 9, "positive"), "0", "high −activation (all ≤ 0)")
    elif signed:
        mode, legend = "signed", (colorbar(130, 9, "signed"), "negative", "positive")
    else:
        mode, legend = "positive", (colorbar(130, 9, "positive"), "0", "high activation")
    title = f"#{rank + 1} channel {c} · energy {act.channel_energy[c]:.3g}"
    return tube_image(frames, m, mode=mode, width=width, legend=legend, note="", title=title,
                      frame_numbers=frame_numbers, path=None)


def activation_figure(act: Activations, frames: np.ndarray, frame_numbers=None) -> np.ndarray:
    """Energy per frame above the top channels' tubes, two per row: (H, W, 3) uint8.

    frames  (T, h, w, 3) uint8 RGB, the clip's frames (any resolution, same field of view)
    """
    tubes = [channel_tube(act, frames, r, frame_numbers=frame_numbers) for r in range(len(act.top))]
    rows = [side_by_side(tubes[i:i + 2]) for i in range(0, len(tubes), 2)]
    return stack([energy_plot(act, (rows[0].shape[1] if rows else 900, 220), frame_numbers)] + rows)

"""The dry run: one forward pass on a spec-shaped zero clip, checking a model against its spec.

    run = dry_run(net, spec, num_classes, where="my_model.yaml")   # ModelSpecError if it does not fit
    run.output_shape         # (1, K)
    run.layers["layer4"]     # LayerRecord: output shape of each call, whether it is the stem
    run.cam_candidates()     # layers a CAM can weigh, in forward order (stem and pooled ones left out)

What it catches, each as one error naming the spec and what was expected: a model without
parameters; a forward pass that fails on the clip (wrong channel count, a clip too small for the
net's pooling, a layer that wants another rank); an output that is not logits (N, K) with K the
number of class names. Every module's forward hook is removed in `finally`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import ModelSpecError
from ..spec import InputSpec

LAYOUTS = ("NCTHW", "NTHWC", "NTCHW")   # how a CAM layer's 5-D output orders its axes


@dataclass
class LayerRecord:
    """One module as the dry run saw it: the output shape of each call (None: not a tensor)."""

    name: str
    shapes: list = field(default_factory=list)   # one entry per call: tuple or None
    order: int = 0                               # when its first call ended (forward order)
    stem: bool = False                           # the first parametrised layer, or a layer before it

    @property
    def calls(self) -> int:
        return len(self.shapes)


@dataclass
class DryRun:
    """What one forward pass on a (1, C, T, H, W) zero clip showed: the output and every layer."""

    input_shape: tuple
    output_shape: tuple
    layers: dict[str, LayerRecord]

    def cam_candidates(self, layout: str = "NCTHW") -> list[str]:
        """Layers whose output is a space-time map a CAM can weigh, in forward order.

        Left out: the stem (the first parametrised layer and anything computed before it: a
        patch embedding or first convolution sees pixels, not parts of actions), layers pooled to
        a single position, and outputs whose axes do not fit `layout`.
        """
        return [r.name for r in sorted(self.layers.values(), key=lambda r: r.order)
                if not r.stem and r.shapes and r.shapes[0] is not None
                and layout_problem(r.shapes[0], self.input_shape, layout) is None
                and _positions(r.shapes[0], layout) > 1]

    def guess_cam_layer(self) -> str | None:
        """The last CAM candidate in forward order (the deepest space-time map), or None."""
        candidates = self.cam_candidates()
        return candidates[-1] if candidates else None


def to_ncthw(activation: torch.Tensor, layout: str) -> torch.Tensor:
    """A CAM layer's 5-D output in its declared layout -> (N, C, T', H', W') (a view, no copy)."""
    order = {"NCTHW": (0, 1, 2, 3, 4), "NTHWC": (0, 4, 1, 2, 3), "NTCHW": (0, 2, 1, 3, 4)}[layout]
    return activation.permute(*order)


def layout_problem(shape, input_shape, layout: str = "NCTHW") -> str | None:
    """Why a layer output of `shape` is not a (N, C, T', H', W') map of an input (N, C, T, H, W); None if it is.

    In the declared `layout`, the batch must match and T', H', W' must be no larger than the
    input's T, H, W (a channels-last transformer block read as NCTHW fails this).
    """
    if shape is None or len(shape) != 5:
        return f"outputs {'no tensor' if shape is None else f'shape {tuple(shape)}'}, not 5 axes"
    N, C, T, H, W = (shape[i] for i in _AXES[layout])
    N0, _, T0, H0, W0 = input_shape
    if N != N0:
        return f"outputs shape {tuple(shape)} whose batch axis is not the input's ({N0})"
    if T > T0 or H > H0 or W > W0:
        return (f"outputs shape {tuple(shape)}: read as {layout}, its (T', H', W') = {(T, H, W)} is larger "
                f"than the clip's {(T0, H0, W0)}; declare its layout with cam_layout ({', '.join(LAYOUTS)})")
    return None


_AXES = {"NCTHW": (0, 1, 2, 3, 4), "NTHWC": (0, 4, 1, 2, 3), "NTCHW": (0, 2, 1, 3, 4)}


def _positions(shape, layout: str) -> int:
    _, _, T, H, W = (shape[i] for i in _AXES[layout])
    return T * H * W


def dry_run(net: nn.Module, spec: InputSpec, num_classes: int, where: str) -> DryRun:
    """Run `net` once on a spec-shaped zero clip (1, C, T, H, W) and check it fits the spec.

    Raises ModelSpecError (naming `where`) for a model without parameters, a forward pass that
    fails on the clip, or an output other than logits (1, num_classes). Runs in eval mode under
    `torch.no_grad()` and restores the net's training flag.
    """
    params = next(net.parameters(), None)
    if params is None:
        raise ModelSpecError(f"{where}: the model has no parameters ({type(net).__name__}); "
                             "a video classifier needs trained weights")
    x = torch.zeros(1, *spec.shape, dtype=params.dtype, device=params.device)   # (1, C, T, H, W)
    records: dict[str, LayerRecord] = {}
    first_param: list[int] = []
    counter = iter(range(1 << 30))

    def hook(name, module):
        def record(m, inputs, output):
            if name not in records:
                records[name] = LayerRecord(name, order=next(counter))
            records[name].shapes.append(tuple(output.shape) if torch.is_tensor(output) else None)
            if not first_param and not any(True for _ in m.children()) and \
                    any(True for _ in m.parameters(recurse=False)):
                first_param.append(name)              # the stem: the first layer with weights
        return record

    handles = []
    training = net.training
    try:
        handles = [m.register_forward_hook(hook(n, m)) for n, m in net.named_modules() if n]
        net.eval()
        with torch.no_grad():
            out = net(x)
    except Exception as e:  # a user's forward pass can fail in any way: say how, once
        raise ModelSpecError(f"{where}: the model's forward pass fails on a clip of the spec's shape "
                             f"{tuple(x.shape)} (N, C, T, H, W){_channel_hint(net, spec)}: "
                             f"{_first_line(e)}") from None
    finally:
        for h in handles:
            h.remove()
        net.train(training)
    if not torch.is_tensor(out) or out.dim() != 2 or out.shape != (1, num_classes):
        got = f"shape {tuple(out.shape)}" if torch.is_tensor(out) else f"a {type(out).__name__}"
        raise ModelSpecError(f"{where}: the model returns {got} for a clip {tuple(x.shape)}; expected "
                             f"logits (N, K) = (1, {num_classes}), one per class name")
    _mark_stem(records, net, first_param[0] if first_param else None)
    return DryRun(tuple(x.shape), tuple(out.shape), records)


_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def _mark_stem(records: dict[str, LayerRecord], net: nn.Module, stem: str | None) -> None:
    """Mark the stem: the first parametrised layer, what ran before it, and a container holding
    only it and normalisation layers (a conv-bn-relu stem, a patch embedding)."""
    if stem is None:
        return
    for r in records.values():
        inside = [(n, m) for n, m in net.get_submodule(r.name).named_modules(prefix=r.name)
                  if not any(True for _ in m.children()) and any(True for _ in m.parameters(recurse=False))]
        r.stem = r.order <= records[stem].order or (
            stem.startswith(r.name + ".") and all(n == stem or isinstance(m, _NORMS) for n, m in inside))


def _channel_hint(net: nn.Module, spec: InputSpec) -> str:
    """A hint when the first convolution takes another channel count than the spec gives."""
    conv = next((m for m in net.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
    if conv is None or conv.in_channels == spec.num_channels:
        return ""
    fix = "channels: gray with mean: [m] and std: [s]" if conv.in_channels == 1 else \
        "channels: RGB with three mean and std values" if conv.in_channels == 3 else \
        "an input the video pipeline cannot make (it gives 1 gray or 3 colour channels)"
    return (f"; its first convolution takes {conv.in_channels} channel(s) but the spec gives "
            f"{spec.num_channels} ({spec.channels}): {fix}")


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]

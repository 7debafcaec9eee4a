"""LRP: the score's relevance passed back layer by layer to the pixels, by zennit's rules and our canonizers.

Layer-wise relevance propagation (Bach et al. 2015, "On pixel-wise explanations for non-linear
classifier decisions by layer-wise relevance propagation", PLOS ONE; the rules and composites as
in Montavon et al. 2019, "Layer-wise relevance propagation: an overview"), computed by zennit
(Anders et al. 2021, "Software for dataset-wide XAI: from local explanations to global insights
with Zennit, CoRelAy, and ViRelAy", arXiv:2106.13200): its composites assign a rule to each layer
by type, its hooks turn one backward pass into relevance propagation. What zennit lacks for video
nets, the project adds as canonizers (canonizers.py): residual sums and global means as modules,
Conv3d + BatchNorm3d merged exactly, I3D's "SAME" padding inside its convolutions, and the LSTM
rule of Arras et al. 2017 (lrp_lstm.py). The composites are zennit's, with rules added for those
modules: sums split by shares (`Shares`: z+ where the convolutions have z+, so no negative summand
strands relevance), means by the z-rule (Norm), the box rule per channel whatever the first
layer's rank (`ChannelBox`), epsilon on I3D's 1x1x1 classifier convolution as on dense layers.

Conservation. Each rule hands a layer's relevance to its inputs in proportion to their
contributions z_ij; the bias b_j of a layer (after batch norm is merged into it: beta - mean *
scale) takes its own share b_j / z_j, and epsilon a sliver. So the relevance of a clip sums to the
target's logit f(x) minus what biases and epsilon absorbed: exactly f(x), up to epsilon, on a
net without biases, and that is what tests/test_lrp.py checks on every bundled model and
torchvision's video ResNets (|sum R - f(x)| / |f(x)| <= 1e-3, biases and batch norm shifts set to
zero; measured 3e-6 .. 6e-5). zennit's box rule (ZBox) is conservative whatever the bias (its bias
terms cancel). Max pooling has no rule: its gradient gives each window's relevance to its maximum.

Models: a two-stream net's optical flow is computed without gradients, so LRP explains its RGB
stream, and the relevance sums to the RGB stream's part of the fused logit (the late-fusion sum
splits the logit by shares; the flow stream's part stays with the flow: explain the flow stream
on its own input with xai_core.motion.streams). An LSTM gets Arras et al.'s rule (signal-take-all
at the gates, epsilon rule at the sums). A model in training mode (batch norm on batch
statistics, random dropout), a layer without a rule here (GRU, a bidirectional LSTM, layer or
group norm, attention) or a layer run twice per forward pass is a MethodError. A model this
project does not know keeps any `a + b` of its own forward as an ordinary addition, which hands
the whole sum's relevance to both summands: write such sums with canonizers.Add (or zennit's Sum).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Literal

import torch
from torch import nn
from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat, MixedComposite, NameMapComposite
from zennit.core import BasicHook, Hook, Stabilizer
from zennit.layer import Sum
from zennit.rules import ClampMod, Epsilon, NoMod, Norm, Pass
from zennit.types import AvgPool, Convolution, Linear

from ..errors import MethodError
from ..models import i3d
from ..spec import DERIVED
from .canonizers import Add, Average, LogitAdd, Pointwise, video_canonizers
from .lrp_lstm import check_lstm
from .registry import register_method

COMPOSITES = ("epsilon_plus_flat", "epsilon_gamma_box")
EPSILON = (1e-9, 1e3)         # the epsilon rule's stabilizer, in units of a layer's pre-activation
UNSUPPORTED = (nn.RNNBase, nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm,
               nn.MultiheadAttention)


class ChannelBox(BasicHook):
    """zennit's ZBox rule (Montavon et al. 2017) with per-channel bounds (C,) broadcast to the layer's
    input, whatever its rank: (N, C, T, H, W) for a 3D convolution, (N*T, C, H, W) for a per-frame 2D one."""

    def __init__(self, low: torch.Tensor, high: torch.Tensor, stabilizer: float = 1e-6):
        def bound(value):
            return lambda x: value.to(x).view(1, -1, *(1,) * (x.dim() - 2)).expand_as(x)

        stabilize = Stabilizer.ensure(stabilizer)
        super().__init__(
            input_modifiers=[lambda x: x, bound(low), bound(high)],
            param_modifiers=[NoMod(), ClampMod(min=0.), ClampMod(max=0.)],
            output_modifiers=[lambda z: z] * 3,
            gradient_mapper=lambda grad, z: (grad / stabilize(z[0] - z[1] - z[2]),) * 3,
            reducer=lambda x, g: x[0] * g[0] - x[1] * g[1] - x[2] * g[2])


class Shares(Hook):
    """The rule of a sum (our Add of several inputs, or zennit's Sum over a stacked axis): each summand
    a_k gets its share of the sum's relevance, R_k = a_k / sum(a) R (the z-rule, as zennit's Norm),
    or with `positive`, R_k = a_k+ / sum(a+) R (the z+ rule: negative summands get none).

    z+ goes with the composites' z+ convolutions: those pass on relevance in proportion to positive
    contributions, and a residual summand that is negative because all its contributions are has
    none, so the negative relevance the z-rule hands it would be lost there (measured: 1.1% of the
    logit on r2plus1d_small). With z+ on the sum too, every summand that gets relevance is positive
    and passes all of it on. A plain hook (shares from the stored inputs) rather than a BasicHook,
    which would run the sum again under autograd in the backward pass.
    """

    def __init__(self, positive: bool = False, stabilizer: float = 1e-6):
        super().__init__()
        self.positive, self.stabilizer = positive, stabilizer

    def copy(self):
        return Shares(self.positive, self.stabilizer)

    def forward(self, module, input, output):
        self.stored_tensors["input"] = input

    def backward(self, module, grad_input, grad_output):
        stacked = isinstance(module, Sum)                              # one input, summands along module.dim
        parts = self.stored_tensors["input"]
        parts = parts[0].unbind(module.dim) if stacked else parts     # k x (N, ...)
        parts = [a.clamp(min=0) if self.positive else a.clone() for a in parts]
        total = sum(parts)
        eps = self.stabilizer
        share = grad_output[0] / torch.where(total >= 0, total + eps, total - eps)  # R / sum, zennit's stabilizer
        relevance = [a.mul_(share) for a in parts]                     # R_k = a_k R / sum
        return (torch.stack(relevance, module.dim),) if stacked else tuple(relevance)


def box_bounds(model: nn.Module, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised images of pixel values 0 and 1 per channel, (C,) each: (0 - mean) / std, (1 - mean) / std."""
    spec = getattr(model, "spec", None)
    if spec is None:
        raise MethodError('lrp: composite "epsilon_gamma_box" needs the model\'s input spec (a VideoModel) '
                          'for its pixel bounds; use composite "epsilon_plus_flat"')
    if spec.channels in DERIVED:
        raise MethodError(f'lrp: composite "epsilon_gamma_box" bounds pixels, and this model\'s input is '
                          f'{spec.channels!r}, which has no pixel bounds; use composite "epsilon_plus_flat"')
    C = video.shape[1]
    first = next((m for m in model.modules() if isinstance(m, Convolution)), None)
    if first is None or first.in_channels != C:
        raise MethodError('lrp: composite "epsilon_gamma_box" applies its box rule to the first '
                          f"convolution, which must read the clip's {C} channels; this model's "
                          + ("has none" if first is None else f"reads {first.in_channels}"))
    mean, std = video.new_tensor(spec.mean), video.new_tensor(spec.std)
    return (0 - mean) / std, (1 - mean) / std


def dense_layers(model: nn.Module) -> tuple[str, ...]:
    """Convolutions that act as a dense classifier (I3D's 1x1x1 logits): the epsilon rule, as for nn.Linear."""
    return tuple(f"{name}.logits".lstrip(".") for name, m in model.named_modules()
                 if type(m) is i3d.InceptionI3d)


def composite_for(name: str, model: nn.Module, video: torch.Tensor, epsilon: float, canonizers: list):
    """The zennit composite `name`, with rules for the canonizers' modules and dense convolutions."""
    positive = name == "epsilon_plus_flat"                     # z+ on the convolutions: z+ on residual sums
    layer_map = [(LogitAdd, Shares()), ((Add, Sum), Shares(positive)), (Average, Norm()), (Pointwise, Pass())]
    if name == "epsilon_plus_flat":
        composite = EpsilonPlusFlat(epsilon=epsilon, layer_map=layer_map, canonizers=canonizers)
    else:
        low, high = box_bounds(model, video)
        composite = EpsilonGammaBox(low, high, epsilon=epsilon, layer_map=layer_map, canonizers=canonizers,
                                    first_map=[(Convolution, ChannelBox(low, high))])
    dense = dense_layers(model)
    if dense:
        composite = MixedComposite([NameMapComposite([(dense, Epsilon(epsilon))]), composite])
    return composite


def refuse_unsupported(model: nn.Module) -> None:
    """A MethodError naming the first layer LRP cannot run through as the model stands."""
    for name, m in model.named_modules():
        if m.training and (isinstance(m, nn.modules.batchnorm._BatchNorm)
                           or isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0):
            raise MethodError(f"lrp: layer {name!r} ({type(m).__name__}) is in training mode; LRP explains "
                              "the model in eval mode (batch norm merged with its running statistics, "
                              "no dropout): call model.eval() first")
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.running_var is None or not m.affine):
            raise MethodError(f"lrp: batch norm {name!r} has no running statistics or no affine "
                              "parameters; it cannot be merged into the layer before it")
        if isinstance(m, nn.RNNBase) and check_lstm(m):
            raise MethodError(f"lrp: layer {name!r}: {check_lstm(m)}")
        if isinstance(m, UNSUPPORTED) and not isinstance(m, nn.RNNBase):
            raise MethodError(f"lrp: layer {name!r}: {type(m).__name__} has no LRP rule here")


@contextmanager
def counted_calls(model: nn.Module):
    """{name: calls} of the layers that carry a rule, counted while in the block; hooks removed in finally."""
    ruled = [(name, m) for name, m in model.named_modules() if isinstance(m, (Linear, Add, Sum, AvgPool, Average))]
    counts = {name: 0 for name, _ in ruled}

    def counter(name):
        def hook(module, inputs, output):
            counts[name] += 1
        return hook

    handles = [m.register_forward_hook(counter(name)) for name, m in ruled]
    try:
        yield counts
    finally:
        for h in handles:
            h.remove()


def lrp_relevance(model: nn.Module, video: torch.Tensor, target: torch.Tensor, composite: str,
                  epsilon: float, canonizers: list) -> tuple[torch.Tensor, torch.Tensor]:
    """(relevance (N, C, T, H, W), the target's logits (N,) of the canonized model) with these canonizers."""
    refuse_unsupported(model)
    rules = composite_for(composite, model, video, epsilon, canonizers)
    x = video.detach().requires_grad_(True)                        # a new leaf sharing video's storage
    with torch.enable_grad():
        try:
            rules.register(model)                                  # canonizers, then a rule per layer
            with counted_calls(model) as calls:
                logits = model(x)                                  # (N, K)
            score = logits.gather(1, target.view(-1, 1))           # (N, 1): the relevance to start from
            if not score.requires_grad:
                raise MethodError("lrp: the score does not depend on the input through the model's layers")
            start = torch.zeros_like(logits).scatter(1, target.view(-1, 1), score.detach())
            (relevance,) = torch.autograd.grad(logits, x, grad_outputs=start)
        finally:
            rules.remove()
    twice = {name: n for name, n in calls.items() if n > 1}
    if twice:
        name, n = next(iter(twice.items()))
        raise MethodError(f"lrp: layer {name!r} runs {n} times in one forward pass; LRP's rules keep one "
                          "input per layer (zennit), so its relevance would be wrong")
    return relevance.detach(), score.detach()[:, 0]


@register_method("lrp", "LRP (layer-wise relevance)", cost="cheap", bounds={"epsilon": EPSILON})
def lrp(model, video, target, *, composite: Literal["epsilon_plus_flat", "epsilon_gamma_box"] = "epsilon_plus_flat",
        epsilon: float = 1e-6):
    """The score passed back layer by layer to the pixels: evidence for (+) and against (-) the class.

    Layer-wise relevance propagation (Bach et al. 2015; Montavon et al. 2019) by zennit (Anders
    et al. 2021) with the project's canonizers for video nets. Relevance (N, T, H, W) in logit
    units, summed over colour channels: it adds up to the target's logit f(x) minus the shares
    the layers' biases absorb (exactly f(x) on a net without biases; the RGB stream's part of it
    on a two-stream net). `composite`:
      epsilon_plus_flat   the flat rule on the first layer (relevance spread over its receptive
                          field), z+ on convolutions, epsilon on dense layers
      epsilon_gamma_box   the box rule on the first convolution, bounded by the pixel values 0
                          and 1 normalised as the model's input spec says; gamma (0.25) on the
                          other convolutions, epsilon on dense layers
    `epsilon` stabilises the epsilon rule (and the LSTM's sums): larger absorbs more of weak or
    contradictory evidence. Raises MethodError for a model in training mode, a layer without a
    rule here, a layer run twice per forward pass, or a box composite on a model without pixel
    bounds (module docstring).
    """
    relevance, _ = lrp_relevance(model, video, target, composite, epsilon, video_canonizers(epsilon))
    return relevance.sum(1)                                        # (N, C, T, H, W) -> (N, T, H, W)

"""LRP (xai_core/methods/lrp.py): conservation on every bundled model and torchvision's video ResNets,
the canonizers (same logits, every batch norm merged, residual sums that do not inflate relevance),
the LSTM rule computed by hand, agreement with zennit's own call, and clear refusals.

Conservation, precisely. The rules hand each layer's relevance to its inputs in proportion to
their contributions; a bias b_j takes the share b_j / z_j and the stabilisers (epsilon = 1e-6 on
dense layers and the LSTM's sums, zennit's 1e-6 elsewhere) a share eps / |z_j|. So the nets here
have no biases: every bias and every batch norm shift (running mean, beta) is zero, and batch norm
scales are calibrated on the clips (a train-mode pass), so that activations are of order 1 and
the stabilisers' share is ~1e-6; heads are scaled so the largest |logit| is 1 (the random
cnn_lstm's logits are ~3e-3, where epsilon alone would take 3e-4). Then sum R = f(x) up to that,
and |sum R - f(x)| / |f(x)| <= 1e-3 catches any relevance lost or doubled by a canonizer (a
residual sum without one doubles it per block: the inflation test). Float32 suffices: measured,
the errors are 3e-6 .. 6e-5 (i3d_k400, its trained weights without biases: 2e-5 .. 3e-5), and the
same nets in float64 give errors of the same size (c3d_small 3.2e-6 vs 3.3e-6, r3d_18 5.3e-5 vs
4.7e-5): the stabilisers' share, not rounding.
"""
from __future__ import annotations

import functools
import os

import pytest
import torch
from torch import nn
from torchvision.models.video import mc3_18, r2plus1d_18, r3d_18

from xai_core.data.synthetic import CLASSES
from xai_core.errors import MethodError
from xai_core.methods import run_method
from xai_core.methods.canonizers import MergeBatchNormExact, video_canonizers
from xai_core.methods.lrp import COMPOSITES, composite_for, lrp_relevance
from xai_core.methods.lrp_lstm import lrp_forward
from xai_core.models import i3d_weights
from xai_core.models.base import ModelInfo, VideoModel
from xai_core.models.registry import bundled_names
from xai_core.spec import InputSpec

from .test_methods import SMALL, clips, hooks_left, targets, video_model

INSTALLED = i3d_weights.find_checkpoint() is not None
if not INSTALLED and os.environ.get("XAI_REQUIRE_I3D"):
    pytest.fail(f"I3D's weights are not installed: {i3d_weights.INSTALL}", pytrace=False)
needs_i3d = pytest.mark.skipif(not INSTALLED, reason=f"I3D's weights not installed ({i3d_weights.INSTALL})")

VIDEO_RESNETS = {"r3d_18": r3d_18, "mc3_18": mc3_18, "r2plus1d_18": r2plus1d_18}


class FrameResNet(nn.Module):
    """torchvision's image resnet18 on every frame, logits averaged over time: zennit's own ResNet
    canonizer (its Sum over stacked summands, given our Shares rule) inside a video net."""

    def __init__(self, num_classes: int):
        super().__init__()
        from torchvision.models import resnet18
        self.cnn = resnet18(num_classes=num_classes)

    def forward(self, x):
        N, C, T, H, W = x.shape
        logits = self.cnn(x.transpose(1, 2).reshape(N * T, C, H, W))   # (N*T, K)
        return logits.view(N, T, -1).mean(1)   # (N, K); a plain mean's gradient splits relevance evenly

TV_SPEC = InputSpec(8, 32, 32, (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))  # torchvision's
MODELS = (bundled_names() + list(VIDEO_RESNETS) + ["frame_resnet18"]
          + [pytest.param("i3d_k400", marks=needs_i3d)])


# ---- the nets --------------------------------------------------------------------------------

def unbiased(model: nn.Module, x: torch.Tensor, classes: int) -> nn.Module:
    """`model` without biases, batch norm scales calibrated on `x`, heads scaled to |logit| <= 1 (eval mode)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.momentum = None                                     # the calibration pass's own statistics
        bn.reset_running_stats()
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.rsplit(".", 1)[-1].startswith("bias"):     # bias, bias_ih_l0, bias_hh_l0
                p.zero_()
        for bn in bns:
            bn.running_mean.zero_()
        heads = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == classes]
        scale = model(x).abs().max()
        for head in heads:
            head.weight /= scale
    return model


@functools.lru_cache(maxsize=None)
def net_and_clip(name: str):
    """(model in eval mode, clips (N, C, T, H, W), targets (N,), what sum R must equal (N,))."""
    if name in VIDEO_RESNETS or name == "frame_resnet18":
        torch.manual_seed(0)
        x = torch.randn(1, 3, 8, 32, 32)
        net = VIDEO_RESNETS.get(name, FrameResNet)(num_classes=len(CLASSES))
        model = VideoModel(net, ModelInfo(name, list(CLASSES), TV_SPEC))
        unbiased(model, x, len(CLASSES))
    elif name == "i3d_k400":
        from xai_core.models.loader import load_model
        model = load_model("i3d_k400")
        with torch.no_grad():
            for p_name, p in model.named_parameters():
                if p_name.endswith("bias"):
                    p.zero_()
            for bn in model.modules():
                if isinstance(bn, nn.BatchNorm3d):
                    bn.running_mean.zero_()
        x = torch.rand(1, 3, 8, 224, 224, generator=torch.Generator().manual_seed(0)) * 2 - 1  # [-1, 1]
    else:
        model, x = video_model(name), clips()
        unbiased(model, x, len(CLASSES))
    with torch.no_grad():
        logits = model(x)
        t = logits.argmax(1)
        f = logits.gather(1, t[:, None])[:, 0]
        if name == "two_stream":                               # the RGB stream's part of the fused logit
            f = model.net.rgb(x).gather(1, t[:, None])[:, 0]
    return model, x, t, f


def relative_error(relevance: torch.Tensor, f: torch.Tensor) -> float:
    """max over clips of |sum R - f(x)| / |f(x)|, summed in float64."""
    total = relevance.flatten(1).double().sum(1)
    return float(((total - f.double()).abs() / f.double().abs()).max())


# ---- conservation ----------------------------------------------------------------------------

@pytest.mark.parametrize("composite", COMPOSITES)
@pytest.mark.parametrize("name", MODELS)
def test_relevance_sums_to_the_logit(name, composite):
    model, x, t, f = net_and_clip(name)
    relevance = run_method("lrp", model, x, t, composite=composite)         # (N, T, H, W)
    assert relevance.shape == (x.shape[0], *x.shape[2:])
    assert relative_error(relevance, f) <= 1e-3, relative_error(relevance, f)


def test_a_video_resnet_without_the_canonizer_inflates_relevance():
    """Each residual addition left to the gradient hands its whole relevance to both summands:
    torchvision's r3d_18 has 8 blocks, so relevance comes out about 2^8 times the logit."""
    model, x, t, f = net_and_clip("r3d_18")
    merged_only, _ = lrp_relevance(model, x, t, "epsilon_plus_flat", 1e-6, [MergeBatchNormExact()])
    canonized, _ = lrp_relevance(model, x, t, "epsilon_plus_flat", 1e-6, video_canonizers(1e-6))
    inflated = relative_error(merged_only.sum(1), f)
    assert inflated > 10, inflated                             # measured: 255 (the sum is 256 f(x))
    assert relative_error(canonized.sum(1), f) <= 1e-3


def test_two_stream_relevance_is_its_rgb_streams():
    """The fused logit splits by shares: the RGB stream's relevance is the RGB stream's own LRP."""
    model, x, t, _ = net_and_clip("two_stream")
    rgb = VideoModel(model.net.rgb, ModelInfo("rgb", list(CLASSES), SMALL))
    for composite in COMPOSITES:
        torch.testing.assert_close(run_method("lrp", model, x, t, composite=composite),
                                   run_method("lrp", rgb, x, t, composite=composite), rtol=1e-4, atol=1e-9)


# ---- the canonizers --------------------------------------------------------------------------

@pytest.mark.parametrize("name", MODELS)
def test_canonized_models_compute_the_same_logits_and_are_restored(name):
    model, x, _, _ = net_and_clip(name)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        plain = model(x)
        rules = composite_for("epsilon_plus_flat", model, x, 1e-6, video_canonizers(1e-6))
        rules.register(model)
        try:
            canonized = model(x)
            merged = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
            assert all(bool((m.running_mean == 0).all() and (m.weight == 1).all() and (m.bias == 0).all())
                       for m in merged), "a batch norm was not merged into the layer before it"
        finally:
            rules.remove()
    torch.testing.assert_close(canonized, plain, rtol=1e-5, atol=1e-5 * float(plain.abs().max()))
    after = model.state_dict()
    assert list(after) == list(before) and all(torch.equal(after[k], before[k]) for k in before)
    assert hooks_left(model) == [] and not any(n.startswith("lrp_") or ".lrp_" in n
                                               for n, _ in model.named_modules())


def test_the_same_rules_as_zennits_own_call_where_its_canonizers_suffice():
    """A net without residuals or functional means: our call equals zennit's EpsilonPlusFlat and
    EpsilonGammaBox (box bounds as a (1, C, 1, 1, 1) tensor) with its SequentialMergeBatchNorm
    (batch norm eps = 0, where zennit's merge is exact too)."""
    from zennit.attribution import Gradient
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv3d(3, 8, 3, padding=1), nn.BatchNorm3d(8), nn.ReLU(),
                        nn.MaxPool3d(2), nn.Conv3d(8, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool3d(1),
                        nn.Flatten(), nn.Linear(8, 4))
    x = torch.randn(2, 3, 6, 8, 8)
    unbiased(net, x, 4)
    net[1].eps = 0.0                                           # zennit's merge leaves sqrt(1 + eps)
    with torch.no_grad():
        net[1].running_mean.normal_()
        net[1].bias.normal_()                                  # a real shift to merge
    spec = InputSpec(6, 8, 8, (0.4, 0.5, 0.6), (0.2, 0.25, 0.3))
    model, t = VideoModel(net, ModelInfo("seq", ["a", "b", "c", "d"], spec)), torch.tensor([1, 3])
    low = torch.tensor([(0 - m) / s for m, s in zip(spec.mean, spec.std)]).view(1, 3, 1, 1, 1)
    high = torch.tensor([(1 - m) / s for m, s in zip(spec.mean, spec.std)]).view(1, 3, 1, 1, 1)
    theirs = {"epsilon_plus_flat": EpsilonPlusFlat(canonizers=[SequentialMergeBatchNorm()]),
              "epsilon_gamma_box": EpsilonGammaBox(low, high, canonizers=[SequentialMergeBatchNorm()])}
    start = torch.eye(4)[t]                                    # (N, K): one-hot x logit below
    for name, composite in theirs.items():
        with Gradient(model, composite) as attributor:
            _, reference = attributor(x.clone(), lambda y: y * start)
        torch.testing.assert_close(run_method("lrp", model, x, t, composite=name), reference.sum(1))


def test_without_same_padding_inside_the_convolution_i3d_would_lose_relevance():
    """The first layer's flat rule spreads relevance over every input it reads, padding included:
    padded before the layer, the share on the padding is cut off with it."""
    from xai_core.methods.canonizers import SamePaddingCanonizer
    from xai_core.models.i3d import Unit3D

    torch.manual_seed(0)
    net = nn.Sequential(Unit3D(3, 4, (3, 7, 7), (2, 2, 2)), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 2))
    x = torch.randn(1, 3, 5, 9, 9)
    unbiased(net, x, 2)
    t = net(x).argmax(1)
    f = net(x).detach().gather(1, t[:, None])[:, 0]
    without = [c for c in video_canonizers(1e-6) if not isinstance(c, SamePaddingCanonizer)]
    lost, _ = lrp_relevance(net, x, t, "epsilon_plus_flat", 1e-6, without)
    kept, _ = lrp_relevance(net, x, t, "epsilon_plus_flat", 1e-6, video_canonizers(1e-6))
    assert relative_error(lost.sum(1), f) > 0.05
    assert relative_error(kept.sum(1), f) <= 1e-5


# ---- the LSTM rule ---------------------------------------------------------------------------

def test_the_lstm_forward_is_nn_lstms():
    torch.manual_seed(0)
    for kwargs in (dict(batch_first=True), dict(batch_first=False, num_layers=2)):
        lstm = nn.LSTM(5, 4, **kwargs).double()
        x = torch.randn(3, 6, 5, dtype=torch.float64)
        out, (h, c) = lstm(x)
        ours, (h2, c2) = lrp_forward(lstm, 1e-6, x)
        for a, b in ((out, ours), (h, h2), (c, c2)):
            torch.testing.assert_close(a, b)


def test_the_lstm_rule_by_hand_over_two_steps():
    """Arras et al. 2017 written out for T = 2, one layer (float64, epsilon 1e-12):
    R_c1 = R_h1; c1 = f1 c0 + i1 g1 splits it by shares; g1's share goes to x1 and h0 through
    z_g1 = W x1 + U h0; at t = 0, c0 gets R_h0 plus its share of c1, and all of it goes to g0
    (c_{-1} = 0), then to x0."""
    torch.manual_seed(1)
    D, H = 3, 2
    lstm = nn.LSTM(D, H, batch_first=True).double()
    with torch.no_grad():
        lstm.bias_ih_l0.zero_()
        lstm.bias_hh_l0.zero_()
    x = torch.rand(1, 2, D, dtype=torch.float64).requires_grad_(True)
    R_out = torch.tensor([[[0.0, 0.0], [0.7, -0.2]]], dtype=torch.float64)   # relevance of h1 only
    out, _ = lrp_forward(lstm, 1e-12, x)
    (ours,) = torch.autograd.grad(out, x, grad_outputs=R_out)

    W, U = lstm.weight_ih_l0.detach()[2 * H:3 * H], lstm.weight_hh_l0.detach()[2 * H:3 * H]
    gates = lambda z: [z[k * H:(k + 1) * H] for k in range(4)]                   # noqa: E731
    x0, x1 = x.detach()[0]
    zi, zf, zg0, zo = gates(lstm.weight_ih_l0.detach() @ x0)
    i0, g0, o0 = zi.sigmoid(), zg0.tanh(), zo.sigmoid()
    c0 = i0 * g0
    h0 = o0 * c0.tanh()
    zi, zf, zg1, zo = gates(lstm.weight_ih_l0.detach() @ x1 + lstm.weight_hh_l0.detach() @ h0)
    i1, f1, g1 = zi.sigmoid(), zf.sigmoid(), zg1.tanh()
    c1 = f1 * c0 + i1 * g1
    R_c1 = R_out[0, 1]
    R_g1, R_c0 = i1 * g1 / c1 * R_c1, f1 * c0 / c1 * R_c1
    R_x1 = x1 * (W.T @ (R_g1 / zg1))
    R_h0 = h0 * (U.T @ (R_g1 / zg1))
    R_g0 = (R_c0 + R_h0)                                       # c0 = i0 g0: all of it to g0
    R_x0 = x0 * (W.T @ (R_g0 / zg0))
    torch.testing.assert_close(ours[0], torch.stack([R_x0, R_x1]))
    assert abs(float(ours.sum() - R_out.sum())) < 1e-9        # conserved: no biases


def test_relevance_from_h_n_reaches_the_input():
    """A model reading the LSTM's h_n (not its outputs) gets the same relevance as one reading out[:, -1]."""
    torch.manual_seed(0)
    lstm = nn.LSTM(4, 3, num_layers=2, batch_first=True).double()
    x = torch.rand(2, 5, 4, dtype=torch.float64).requires_grad_(True)
    R = torch.randn(2, 3, dtype=torch.float64)
    out, (h_n, _) = lrp_forward(lstm, 1e-9, x)
    (by_out,) = torch.autograd.grad(out[:, -1], x, grad_outputs=R)
    out, (h_n, _) = lrp_forward(lstm, 1e-9, x)
    (by_h,) = torch.autograd.grad(h_n[-1], x, grad_outputs=R)
    torch.testing.assert_close(by_h, by_out)


# ---- refusals --------------------------------------------------------------------------------

class Recurrent(nn.Module):
    """A per-pixel recurrent head over time: (N, C, T, H, W) -> (N, K)."""

    def __init__(self, rnn: nn.Module):
        super().__init__()
        self.rnn, self.head = rnn, nn.Linear(rnn.hidden_size * (2 if rnn.bidirectional else 1), 3)

    def forward(self, x):
        out, _ = self.rnn(x.mean((3, 4)).transpose(1, 2))    # (N, T, C) -> (N, T, H)
        return self.head(out[:, -1])


class Twice(nn.Module):
    """One convolution applied twice."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 3, 1)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(self.conv(self.conv(x)).mean((2, 3, 4)))


@pytest.mark.parametrize("model, options, message", [
    (Recurrent(nn.GRU(3, 4, batch_first=True)), {}, r"layer 'rnn': GRU has no LRP rule here"),
    (Recurrent(nn.LSTM(3, 4, batch_first=True, bidirectional=True)), {}, "bidirectional LSTM is not supported"),
    (Twice(), {}, r"layer 'conv' runs 2 times in one forward pass"),
    (Twice(), {"composite": "epsilon_gamma_box"}, "needs the model's input spec"),
    (nn.Sequential(nn.Flatten(), nn.LayerNorm(3 * 8 * 64 * 64), nn.Linear(3 * 8 * 64 * 64, 2)), {},
     "LayerNorm has no LRP rule here"),
])
def test_what_lrp_cannot_explain_is_a_clear_method_error(model, options, message):
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(MethodError, match=message):
        run_method("lrp", model, clips(), targets(2), **options)
    assert hooks_left(model) == [] and all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_a_model_in_training_mode_is_refused_and_left_in_it():
    model = video_model("c3d_small").train()
    with pytest.raises(MethodError, match=r"layer 'net.stem.1' \(BatchNorm3d\) is in training mode.*model.eval\(\)"):
        run_method("lrp", model, clips(), targets(2))
    assert model.training and all(m.training for m in model.modules())


def test_the_box_rule_needs_pixel_bounds():
    from xai_core.motion.streams import flow_stream

    stream = flow_stream(video_model("two_stream"))
    flow = torch.randn(1, 2, 7, 64, 64)
    with pytest.raises(MethodError, match="'flow', which has no pixel bounds"):
        run_method("lrp", stream, flow, targets(1), composite="epsilon_gamma_box")
    assert run_method("lrp", stream, flow, targets(1)).shape == (1, 7, 64, 64)   # the flat rule needs none

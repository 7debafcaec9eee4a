"""Counterfactual motion reliance: identities of the decomposition, hand-built models whose reliance
is known by construction, an order-blind shipped model, and clear errors."""
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from xai_core.data.synthetic import CLASSES, make_dataset
from xai_core.models.loader import load_model
from xai_core.models.train import DEFAULT_SPEC
from xai_core.motion.counterfactual import static
from xai_core.motion.reliance import (CHANGE_SHARE, COUNTERFACTUALS, ORDER_SHARE, PARTS, TOLERANCE, Reliance,
                                      decompose, kind_of, motion_reliance, reliance_batch)
from xai_core.video.clip import to_tensor
from xai_core.video.sample import clip_from_array

SEED = 37                      # unused by training (1-4), the demo clips (7), the threshold choice (6)


# --------------------------------------------------------------------- hand-built models
# Four classes, logits [f(x), 0, 0, 0]: the target 0 sits at chance (1/4) exactly when f(x) = 0.


class _OneFeature(nn.Module):
    def __init__(self, gain: float = 4.0):
        super().__init__()
        self.gain = gain

    def forward(self, x):                                       # (N, C, T, H, W) -> (N, 4)
        f = self.gain * self.feature(x)
        return torch.stack([f, *[torch.zeros_like(f)] * 3], 1)


class OrderOnly(_OneFeature):
    """Scores only the direction of a brightness trend: relu(mean of the 2nd half - mean of the
    1st half). Reversed: the trend turns negative (relu 0); static: no trend. Both at chance."""

    def feature(self, x):
        T = x.shape[2]
        return torch.relu(x[:, :, T // 2:].mean((1, 2, 3, 4)) - x[:, :, :T // 2].mean((1, 2, 3, 4)))


class ChangeOnly(_OneFeature):
    """Scores only the amount of change: the temporal mean of |frame t+1 - frame t|. The same
    backwards; 0 on a static clip."""

    def feature(self, x):
        return (x[:, :, 1:] - x[:, :, :-1]).abs().mean((1, 2, 3, 4))


class StaticOnly(_OneFeature):
    """Scores only the static content: the spatial mean of the per-pixel temporal median, which
    reversal and the static counterfactual (the median itself) leave unchanged."""

    def feature(self, x):
        return x.median(2).values.mean((1, 2, 3))


class MeanPool(nn.Module):
    """Order-blind by construction: per-frame features (a conv), averaged over time, then linear."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.head = nn.Conv2d(3, 8, 3), nn.Linear(8, 5)

    def forward(self, x):
        N, C, T, H, W = x.shape
        f = torch.relu(self.conv(x.transpose(1, 2).reshape(N * T, C, H, W))).mean((2, 3))   # (N*T, 8)
        return self.head(f.view(N, T, -1).mean(1))


class Constant(nn.Module):
    def forward(self, x):
        return torch.zeros(x.shape[0], 3)


def _trend_clips(n=4, T=8, seed=0):
    """(n, 3, T, 16, 16): noise plus a brightness ramp rising in time, positive on average."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, T).view(1, 1, T, 1, 1)
    return 0.5 + ramp + 0.1 * torch.randn(n, 3, T, 16, 16, generator=g)


@pytest.fixture(scope="module")
def data():
    return make_dataset(16, SEED)


@pytest.fixture(scope="module")
def videos(data):
    return torch.stack([to_tensor(c, DEFAULT_SPEC) for c in data.clips])                # (16, 3, 16, 64, 64)


# --------------------------------------------------------------------------- identities


def _check_identities(r: Reliance):
    assert set(r.parts) == set(r.shares) == set(PARTS)
    assert math.isclose(sum(r.parts.values()), r.score - r.chance, abs_tol=1e-12)     # telescoping
    assert math.isclose(sum(r.shares.values()) + r.remainder, 1.0, abs_tol=1e-12)
    assert all(v >= 0 for v in r.shares.values()) and r.remainder >= 0
    z = sum(abs(v) for v in r.parts.values())
    for k, v in r.parts.items():
        assert math.isclose(r.shares[k], max(v, 0) / z if z else 0.0, abs_tol=1e-15)
    assert math.isclose(r.remainder, sum(-v for v in r.parts.values() if v < 0) / z if z else 1.0, abs_tol=1e-12)
    # the parts are the documented differences of the counterfactuals' own target probabilities
    rev, st = r.counterfactual("reversed").target_probability, r.counterfactual("static").target_probability
    assert abs(r.parts["order"] - (r.score - rev)) < TOLERANCE
    assert abs(r.parts["appearance"] - (st - r.chance)) < TOLERANCE
    assert [c.name for c in r.counterfactuals] == list(COUNTERFACTUALS)


def test_decompose_by_hand():
    parts, shares, rem = decompose(0.9, 0.2, 0.3, 0.25)
    assert parts == pytest.approx({"order": 0.7, "motion": -0.1, "appearance": 0.05})
    z = 0.7 + 0.1 + 0.05
    assert shares == pytest.approx({"order": 0.7 / z, "motion": 0.0, "appearance": 0.05 / z})
    assert rem == pytest.approx(0.1 / z)
    # below the tolerance a difference is exactly 0, and the parts still telescope
    parts, shares, rem = decompose(0.8, 0.8 + 3e-7, 0.1, 0.25)
    assert parts["order"] == 0.0 and shares["order"] == 0.0
    assert sum(parts.values()) == pytest.approx(0.8 - 0.25, abs=1e-15)
    # nothing moves: Z = 0
    assert decompose(0.25, 0.25, 0.25, 0.25) == ({"order": 0.0, "motion": 0.0, "appearance": 0.0},
                                                 {"order": 0.0, "motion": 0.0, "appearance": 0.0}, 1.0)


def test_kind_rule():
    assert kind_of({"order": ORDER_SHARE, "motion": 0.0, "appearance": 0.2}) == "order"
    assert kind_of({"order": ORDER_SHARE - 0.01, "motion": CHANGE_SHARE, "appearance": 0.0}) == "change"
    assert kind_of({"order": 0.0, "motion": CHANGE_SHARE - 0.01, "appearance": 0.9}) == "appearance"
    assert kind_of({"order": 0.0, "motion": 0.0, "appearance": 0.0}) == "none"


@pytest.mark.parametrize("model, part, kind", [(OrderOnly(), "order", "order"), (ChangeOnly(), "motion", "change"),
                                               (StaticOnly(), "appearance", "appearance")])
def test_a_model_that_scores_one_thing_relies_on_it_alone(model, part, kind):
    """By construction the other two counterfactual levels equal chance (order, change) or the
    clip's own score (static): the matching share is 1 up to the tolerance, the others 0."""
    for clip in _trend_clips():
        r = motion_reliance(model, clip, target=0)
        _check_identities(r)
        assert r.score > r.chance + 0.05
        assert r.shares[part] == pytest.approx(1.0, abs=1e-5), r.shares
        assert r.remainder == pytest.approx(0.0, abs=1e-5)
        assert r.kind == kind


def test_order_blind_models_have_no_order_reliance(data, videos):
    """frame2d_pool (per-frame CNN, mean over time) and a hand-built mean pool: reversal changes
    nothing but the summation order, so the order part is exactly 0 (the tolerance) on every clip."""
    frame2d = load_model("frame2d_pool")
    for r in reliance_batch(frame2d, videos, data.labels.tolist()):
        _check_identities(r)
        assert r.parts["order"] == 0.0 and r.shares["order"] == 0.0
        assert r.counterfactual("reversed").label == r.label
    for i in (0, 3, 8):                                       # one clip at a time: the same
        r = motion_reliance(frame2d, videos[i], int(data.labels[i]))
        assert r.parts["order"] == 0.0
    pool = MeanPool()
    for clip in _trend_clips(n=6, seed=1):
        for target in range(5):
            r = motion_reliance(pool, clip, target)
            _check_identities(r)
            assert r.parts["order"] == 0.0 and r.shares["order"] == 0.0


def test_shipped_model_on_known_clips(data, videos):
    """c3d_small sees order: on walk / sit clips order carries the score (reversed = the twin
    class); on hold clips the still content does. Batch and single-clip runs agree."""
    c3d = load_model("c3d_small")
    rs = reliance_batch(c3d, videos, data.labels.tolist())
    hold_kinds = []
    for r, y in zip(rs, data.labels):
        _check_identities(r)
        name = CLASSES[y]
        if name in ("walk_left", "walk_right", "sit_down", "stand_up"):
            assert r.kind == "order" and r.shares["order"] > 0.7, (name, r.shares)
        if name.startswith("hold_"):            # the still keeps the class; the larger share is appearance
            assert r.counterfactual("static").label == name
            assert r.shares["appearance"] == max(r.shares.values()), (name, r.shares)
            hold_kinds.append(r.kind)
    assert hold_kinds.count("appearance") >= len(hold_kinds) - 1, hold_kinds
    one = motion_reliance(c3d, videos[2], int(data.labels[2]))
    for k in PARTS:
        assert one.parts[k] == pytest.approx(rs[2].parts[k], abs=1e-5)


def test_default_target_is_the_prediction_and_clip_input(data):
    c3d = load_model("c3d_small")
    clip = clip_from_array(data.clips[4], c3d.spec)                 # wave
    r = motion_reliance(c3d, clip)
    assert r.target_label == r.label == "wave"
    assert motion_reliance(c3d, clip, "wave").parts == r.parts
    assert motion_reliance(c3d, clip.tensor.unsqueeze(0), 4).parts == pytest.approx(r.parts, abs=1e-6)


def test_counterfactuals_report_predictions_and_ood(data, videos):
    """Each counterfactual's own prediction; the OOD verdict of the calibrated model: the reversed
    clip has the same input noise as the clip, the static clip has no change between frames (the
    detector's input term flags that)."""
    c3d = load_model("c3d_small")
    r = motion_reliance(c3d, videos[0], int(data.labels[0]))       # walk_left
    assert r.ood.calibrated
    rev, st = r.counterfactual("reversed"), r.counterfactual("static")
    assert rev.label == "walk_right" and rev.probability >= rev.target_probability
    assert all(c.ood is not None and c.ood.calibrated for c in r.counterfactuals)
    assert rev.ood.terms["input_noise"] == pytest.approx(r.ood.terms["input_noise"], abs=1e-6)
    assert st.out_of_distribution is True
    assert any("out of the model's training world" in n and "static" in n for n in r.notes)
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["counterfactuals"][0]["name"] == "reversed" and d["kind"] == r.kind
    assert set(d) >= {"target", "target_label", "score", "chance", "parts", "shares", "remainder", "kind",
                      "kind_rule", "tolerance", "counterfactuals", "notes", "ood", "prediction"}


def test_uncalibrated_model_says_so():
    r = motion_reliance(OrderOnly(), _trend_clips()[0], 0)
    assert all(c.ood is not None and not c.ood.calibrated for c in r.counterfactuals)
    assert all(c.out_of_distribution is None for c in r.counterfactuals)
    json.dumps(r.to_dict(), allow_nan=False)


def test_nothing_to_measure_when_the_model_ignores_the_clip():
    r = motion_reliance(Constant(), _trend_clips()[0])
    assert r.shares == {"order": 0.0, "motion": 0.0, "appearance": 0.0} and r.remainder == 1.0
    assert r.kind == "none" and any("no reliance" in n for n in r.notes)


def test_a_negative_part_is_stated():
    """A model that prefers the reversed clip: the order part is negative, counted in the remainder."""
    r = motion_reliance(OrderOnly(), _trend_clips()[0].flip(1), 0)        # a falling trend: reversal helps
    assert r.parts["order"] < 0 and r.remainder > 0 and r.shares["order"] == 0.0
    assert any(n.startswith("order part negative") for n in r.notes)


def test_static_is_order_free():
    x = _trend_clips()[0]
    torch.testing.assert_close(static(x), static(x.flip(1)), rtol=0, atol=0)


def test_bad_inputs_are_clear():
    model, x = OrderOnly(), _trend_clips()
    with pytest.raises(ValueError, match="one clip"):
        motion_reliance(model, x)                                         # (4, C, T, H, W): several
    with pytest.raises(ValueError, match="one clip"):
        motion_reliance(model, x[0, 0])                                   # (T, H, W)
    with pytest.raises(ValueError, match="T >= 2"):
        motion_reliance(model, x[0, :, :1])
    with pytest.raises(ValueError, match="NaN"):
        motion_reliance(model, x[0].clone().fill_(float("nan")))
    with pytest.raises(ValueError, match="Clip or a tensor"):
        motion_reliance(model, np.zeros((3, 8, 16, 16), np.float32))
    with pytest.raises(ValueError, match="float"):
        motion_reliance(model, torch.zeros(3, 8, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="class index"):
        motion_reliance(model, x[0], target=7)
    with pytest.raises(ValueError, match=r"\(N, C, T, H, W\)"):
        reliance_batch(model, x[0])
    with pytest.raises(ValueError, match="4 clips but 2 targets"):
        reliance_batch(model, x, [0, 1])
    c3d = load_model("c3d_small")
    with pytest.raises(ValueError, match=r"c3d_small takes clips"):
        motion_reliance(c3d, torch.zeros(3, 8, 64, 64))
    from xai_core.errors import ModelSpecError
    with pytest.raises(ModelSpecError):
        motion_reliance(c3d, torch.zeros(3, 16, 64, 64), target="no_such_class")


def test_order_check_is_the_reliance_reversed_prediction(data):
    """compare.order_check and motion reliance run the same reversed clip: the same answer, and
    OrderCheck.from_reliance rebuilds the check from a reliance."""
    from xai_core.relevance.compare import OrderCheck, order_check, reversed_class

    c3d = load_model("c3d_small")
    for i in (0, 3, 5):                                             # walk_left, stand_up, jump
        clip = clip_from_array(data.clips[i], c3d.spec)
        check, r = order_check(c3d, clip), motion_reliance(c3d, clip)
        again = OrderCheck.from_reliance(r)
        assert (check.label, check.reversed_label) == (again.label, again.reversed_label)
        assert check.probability == pytest.approx(again.probability, abs=1e-5)
        assert check.reversed_probability == pytest.approx(again.reversed_probability, abs=1e-5)
        assert check.logit_change == pytest.approx(again.logit_change, abs=1e-4)
        assert check.reversed_ood.calibrated and again.reversed_ood is r.counterfactual("reversed").ood
        assert check.reversed_label == (reversed_class(check.label) or check.label)


def test_relevance_draws_nothing():
    """relevance/ is numbers: no module of it imports render (the colour scales live in relevance.scale)."""
    import ast
    from pathlib import Path

    import xai_core.relevance as relevance

    for path in Path(relevance.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "render" not in (node.module or ""), f"{path.name} imports {node.module}"
            elif isinstance(node, ast.Import):
                assert not any("render" in a.name for a in node.names), path.name

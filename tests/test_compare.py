"""Compare: models with different input specs on one video, the table, shared curves and scale."""
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from xai_core import load_model, load_video, render
from xai_core.errors import MethodError, ModelSpecError, VideoError
from xai_core.models.registry import bundled
from xai_core.relevance import compare as cmp
from xai_core.relevance.temporal import peak_span
from xai_core.video import clip_from_array

SAMPLES = Path(__file__).resolve().parents[1] / "assets" / "samples" / "synthetic"
STAND_UP = SAMPLES / "stand_up.mp4"


@pytest.fixture(scope="module")
def c3d():
    return load_model("c3d_small")


@pytest.fixture(scope="module")
def user_model(tmp_path_factory, c3d):
    """A tiny torchvision r3d_18 with random weights, at 112 x 112 and 8 frames (not the c3d spec)."""
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.video.r3d_18(num_classes=len(c3d.class_names))
    path = tmp_path_factory.mktemp("user") / "r3d.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return load_model({"name": "my_r3d", "factory": "torchvision.models.video:r3d_18",
                       "kwargs": {"num_classes": len(c3d.class_names)}, "weights": str(path),
                       "class_names": list(c3d.class_names),
                       "input": {"frames": 8, "height": 112, "width": 112}})


@pytest.fixture(scope="module")
def exps(c3d, user_model):
    return cmp.compare([c3d, user_model], STAND_UP, ["grad_cam", "saliency"])


def test_every_model_x_method_on_its_own_sampling_of_the_same_video(exps):
    assert [(e.model, e.method) for e in exps] == [("c3d_small", "grad_cam"), ("c3d_small", "saliency"),
                                                   ("my_r3d", "grad_cam"), ("my_r3d", "saliency")]
    c3d_clip, user_clip = exps[0].clip, exps[2].clip
    assert exps[1].clip is c3d_clip                                   # one sampling per spec
    assert c3d_clip.source == user_clip.source == str(STAND_UP)
    assert exps[0].relevance.shape == (16, 64, 64) and exps[2].relevance.shape == (8, 112, 112)
    assert set(user_clip.source_indices) < set(c3d_clip.source_indices) == set(range(16))
    assert cmp.common_frames(exps) == list(range(16))


def test_table_rows_match_each_explanation(exps):
    rows = cmp.comparison_table(exps, truth="stand_up")
    assert len(rows) == len(exps)
    for row, e in zip(rows, exps):
        numbers = e.clip.source_indices
        a, b = peak_span(e.curve)
        assert row["span"] == (numbers[a], numbers[b])
        assert row["share in span"] == pytest.approx(float(e.curve[a:b + 1].sum())) and row["share in span"] >= 0.5
        assert row["confidence"] == pytest.approx(float(e.probabilities.max()))
        assert row["target probability"] == pytest.approx(float(e.probabilities[e.target]))
        assert row["prediction"] == e.predicted_label and row["target"] == e.target_label
        said = e.predicted_label
        assert row["verdict"] == ("right" if said == "stand_up" else f"wrong (it says {said})")
        assert 0.0 <= row["focus in time"] <= 1.0
    assert len({row["column"] for row in rows}) == len(rows)


def test_shared_curves_live_on_the_source_frame_axis(exps):
    curves = cmp.shared_curves(exps)
    assert list(curves) == cmp.column_labels(exps)
    for curve, e in zip(curves.values(), exps):
        assert curve.shape == (16,) and curve.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(curves[cmp.column_labels(exps)[0]], exps[0].curve, atol=1e-6)  # own axis: unchanged
    user = exps[2]                                                    # 8 of the 16 frames: the same shape
    on_axis = curves[cmp.column_labels(exps)[2]][user.clip.source_indices]
    np.testing.assert_allclose(on_axis / on_axis.sum(), user.curve, atol=1e-5)


def test_one_colour_scale_per_method_across_columns(exps):
    scales = cmp.column_scales(exps)
    for method in ("grad_cam", "saliency"):
        same = [s for s, e in zip(scales, exps) if e.method == method]
        assert same == [render.shared_scale([e.relevance for e in exps if e.method == method])] * 2
    single = [e for e in exps if e.method == "grad_cam"]
    assert cmp.column_scales(single) == [render.shared_scale([e.relevance for e in single])] * 2


def test_clip_of_another_spec_is_resampled_from_its_source(c3d, user_model):
    clip = load_video(STAND_UP, c3d.spec)
    clips = cmp.clips_for([c3d, user_model], clip)
    assert clips["c3d_small"] is clip and clips["my_r3d"].frames.shape == (8, 112, 112, 3)
    frames = clip.display                                             # (T, h, w, 3) source frames in memory
    assert cmp.clips_for([user_model], frames)["my_r3d"].frames.shape == (8, 112, 112, 3)
    orphan = clip_from_array(frames, c3d.spec)                        # no file behind it
    with pytest.raises(VideoError, match="model 'my_r3d' needs 8 frames at 112x112"):
        cmp.clips_for([c3d, user_model], orphan)


def test_one_target_for_all_options_per_method_and_progress(c3d):
    steps = []
    exps = cmp.compare([c3d], STAND_UP, ["grad_cam", "temporal_occlusion"], target="sit_down", segment=2,
                       progress=lambda *step: steps.append(step))
    assert [e.target_label for e in exps] == ["sit_down", "sit_down"]
    assert exps[0].options == {} and exps[1].options == {"segment": 2}
    assert steps == [(0, 2, "c3d_small", "grad_cam"), (1, 2, "c3d_small", "temporal_occlusion")]
    with pytest.raises(ModelSpecError, match="model 'c3d_small': unknown target 'dance'"):
        cmp.compare([c3d], STAND_UP, "grad_cam", target="dance")
    with pytest.raises(MethodError, match=r"option\(s\) \['steps'\] fit none of the methods grad_cam"):
        cmp.compare([c3d], STAND_UP, "grad_cam", steps=8)


@pytest.mark.parametrize("curve, focus", [([1, 1, 1, 1], 0.0), ([0, 0, 3, 0], 1.0), ([0, 1, 1, 0, 0], 0.75),
                                          ([0, 0, 0], 0.0)])
def test_temporal_focus(curve, focus):
    assert cmp.temporal_focus(np.array(curve, float)) == pytest.approx(focus)


# ------------------------------------------------------------- the demo on the shipped weights


def _needs(name):
    if not bundled(name).weights.exists():
        pytest.skip(f"{name} has no trained weights yet (python -m xai_core train --model {name})")
    return load_model(name)


def _logits(model, clip):
    with torch.no_grad():
        return model(clip.tensor.unsqueeze(0))[0]


@pytest.mark.parametrize("name, reverse", [("stand_up", "sit_down"), ("sit_down", "stand_up")])
def test_demo_3d_model_sees_the_order_frame_pooling_cannot(name, reverse):
    """c3d_small is right on the clip and on its reversal; frame2d_pool gives both one answer."""
    c3d, pool = _needs("c3d_small"), _needs("frame2d_pool")
    frames = load_video(SAMPLES / f"{name}.mp4", c3d.spec, display_size=None).display  # decoded, source size
    clip, backwards = clip_from_array(frames, c3d.spec), clip_from_array(frames[::-1].copy(), c3d.spec)
    assert c3d.class_names[int(_logits(c3d, clip).argmax())] == name
    assert c3d.class_names[int(_logits(c3d, backwards).argmax())] == reverse
    # float64 (in place): reordering the mean of T = 16 frames errs by <= 2 T 2**-53 ~ 4e-15 of the
    # features; 1e-10 of the largest logit leaves room for the head's weights (measured: 1e-16)
    pool64 = pool.double()
    forward, backward = (pool64(c.tensor.double()[None])[0].detach() for c in (clip, backwards))
    torch.testing.assert_close(forward, backward, rtol=0, atol=1e-10 * float(forward.abs().max()))
    check = cmp.order_check(pool.float(), clip)
    # float32: the temporal mean of 16 frames in another order, measured 1-2 ulps of logits <= 4.4
    # (5e-7); 1e-4 is 200 times that, and far below a change that flips an answer (c3d_small's)
    assert check.same and check.logit_change < 1e-4                   # so it is wrong on one of the two
    assert not cmp.order_check(c3d, clip).same


def test_evidence_share_on_each_models_grid(exps):
    """A mask over the 16 source frames is put onto each grid; all-true holds everything, none nothing."""
    full, none = np.ones((16, 256, 256), bool), np.zeros((16, 256, 256), bool)
    left = full.copy()
    left[:, :, 128:] = False                                          # the left half of every frame
    for e in exps:
        assert cmp.evidence_share(e, full) == pytest.approx(1.0) and cmp.evidence_share(e, none) == 0.0
        positive = np.clip(e.relevance, 0, None)
        W = e.relevance.shape[2]
        assert cmp.evidence_share(e, left) == pytest.approx(positive[..., :W // 2].sum() / positive.sum(), rel=1e-5)
    rows = cmp.comparison_table(exps, evidence=left)
    assert [r["in evidence"] for r in rows] == [pytest.approx(cmp.evidence_share(e, left)) for e in exps]


def test_demo_verdicts_in_the_table():
    """The table says it at a glance: the 3D model is right both ways, the pooling model is not."""
    c3d, pool = _needs("c3d_small"), _needs("frame2d_pool")
    exps = cmp.compare([c3d, pool], STAND_UP, "grad_cam")
    order = {m.name: cmp.order_check(m, e.clip) for m, e in zip([c3d, pool], exps)}
    rows = cmp.comparison_table(exps, truth="stand_up", order=order, reversed_truth=cmp.reversed_class("stand_up"))
    assert rows[0]["verdict"] == "right both ways" and rows[0]["reversed clip"].startswith("sit_down")
    assert rows[1]["verdict"] != "right both ways" and "wrong" in rows[1]["verdict"]


def test_verdict_and_reversed_class(exps):
    e = exps[0]                                                       # c3d_small says stand_up
    said = e.predicted_label
    check = lambda backwards: cmp.OrderCheck(said, 0.9, backwards, 0.9, 1.0)   # noqa: E731
    assert cmp.verdict(e, None) is None and cmp.verdict(e, said) == "right"
    assert cmp.verdict(e, "wave") == f"wrong (it says {said})"
    assert cmp.verdict(e, said, check("sit_down"), "sit_down") == "right both ways"
    assert cmp.verdict(e, said, check(said), "sit_down") == "right by chance, wrong backwards"
    assert cmp.reversed_class("stand_up") == "sit_down" and cmp.reversed_class("walk_right") == "walk_left"
    assert cmp.reversed_class("wave") is None and cmp.reversed_class(None) is None


def test_half_the_relevance_band_holds_the_peak():
    """The band marked "half the relevance" contains the curve's highest frame (a broad shoulder
    once won: frames 2-6 beside a peak at 9), and is the shortest such run (brute force)."""
    shoulder = np.array([0.02, 0.03, 0.09, 0.09, 0.09, 0.09, 0.09, 0.09, 0.04, 0.12, 0.04, 0.03, 0.03, 0.02,
                         0.01, 0.01])
    assert peak_span(shoulder) == (4, 9)                # the shortest run through the peak at 9
    rng = np.random.default_rng(0)
    for _ in range(300):
        c = rng.random(int(rng.integers(1, 20))) ** 3
        a, b = peak_span(c)
        p = int(np.argmax(c))
        assert a <= p <= b and c[a:b + 1].sum() >= 0.5 * c.sum() * (1 - 1e-9)
        shortest = min(j - i for i in range(p + 1) for j in range(p, len(c))
                       if c[i:j + 1].sum() >= 0.5 * c.sum() * (1 - 1e-9))
        assert b - a == shortest
    assert peak_span(np.zeros(5)) == (0, 4)


def test_a_method_whose_columns_differ_many_fold_gets_a_scale_per_column():
    """Grad-CAM of I3D and of a small bundled net differ about 30-fold: one shared scale would draw
    the smaller map blank, so past max_ratio each column keeps its own (and the page says so)."""
    import numpy as np
    from xai_core.relevance.explanation import Explanation

    rng = np.random.default_rng(0)
    base = rng.random((4, 8, 8)).astype(np.float32)

    def exp(model, method, factor):
        return Explanation(base * factor, 0, np.array([1.0, 0.0]), ["a", "b"], method, model)

    exps = [exp("big", "grad_cam", 30.0), exp("small", "grad_cam", 1.0), exp("big", "saliency", 2.0),
            exp("small", "saliency", 1.0)]
    assert cmp.unshared_methods(exps, max_ratio=10) == {"grad_cam": pytest.approx(30.0)}
    own = [render.shared_scale([e.relevance]) for e in exps]
    shared = cmp.column_scales(exps)
    split = cmp.column_scales(exps, max_ratio=10)
    assert split[:2] == pytest.approx(own[:2])                         # Grad-CAM: each its own
    assert split[2:] == shared[2:] and split[2] == split[3]            # saliency (2-fold): still shared
    assert cmp.column_scales(exps, max_ratio=100) == shared

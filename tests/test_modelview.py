"""The model's own view (xai_core.modelview): kernel selectivity, class-maximising clips, layer
activations, and the `global` CLI."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from xai_core import load_model, load_video
from xai_core.cli import main
from xai_core.methods.progress import Cancelled
from xai_core.modelview.activations import layer_activations, layer_choices, step_of_frame
from xai_core.modelview.kernels import (NoTemporalKernels, compose_2plus1d, default_views, kernel_grid,
                                        kernel_view, kernel_views, selectivity_order, temporal_selectivity)
from xai_core.modelview.maximise import maximise_class, maximise_seeds, max_clip_tube, seeds_image
from xai_core.video.clip import from_frames

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "samples" / "synthetic" / "sit_down.mp4"


@pytest.fixture(scope="module")
def c3d():
    return load_model("c3d_small")


def no_hooks(model) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


# ------------------------------------------------------------------------ temporal selectivity

@pytest.mark.parametrize("T", [2, 3, 4, 7])
def test_selectivity_identities(T):
    rng = np.random.default_rng(T)
    slice_ = rng.normal(size=(3, 5, 5))
    constant = np.repeat(slice_[:, None], T, axis=1)                         # (C, T, H, W)
    alternating = constant * ((-1.0) ** np.arange(T))[None, :, None, None]
    assert temporal_selectivity(constant) == 0.0                             # constant in time: 0
    assert temporal_selectivity(alternating) == pytest.approx(1.0, abs=1e-12)  # sign flips: the maximum
    random = rng.normal(size=(200, 3, T, 3, 3))
    s = temporal_selectivity(random)
    assert s.shape == (200,) and (s >= 0).all() and (s <= 1 + 1e-12).all() and s.max() < 1
    # the same number a second way: (1 - r) / 2, r the lag-1 correlation of successive slices
    a, b = random[:, :, :-1].reshape(200, -1), random[:, :, 1:].reshape(200, -1)
    r = 2 * (a * b).sum(1) / ((a ** 2).sum(1) + (b ** 2).sum(1))
    np.testing.assert_allclose(s, (1 - r) / 2, rtol=1e-12)
    one_slice = np.zeros((1, T, 3, 3))
    one_slice[0, T // 2, 1, 1] = 1.0                                         # all weight in one slice
    assert temporal_selectivity(one_slice) == pytest.approx(0.5)


def test_selectivity_conventions():
    assert temporal_selectivity(np.ones((4, 3, 1, 5, 5))).tolist() == [0.0] * 4    # T = 1: no time axis
    assert temporal_selectivity(np.zeros((2, 3, 3, 3, 3))).tolist() == [0.0, 0.0]  # no energy
    k = np.random.default_rng(0).normal(size=(5, 3, 2, 3, 3))               # T = 2: half the plain ratio
    plain = ((k[:, :, 1] - k[:, :, 0]) ** 2).reshape(5, -1).sum(1) / (k ** 2).reshape(5, -1).sum(1)
    np.testing.assert_allclose(temporal_selectivity(k), plain / 2, rtol=1e-12)
    with pytest.raises(ValueError):
        temporal_selectivity(np.zeros((3, 3)))


def test_ordering_puts_motion_selective_filters_first():
    conv = nn.Conv3d(3, 4, (3, 3, 3), bias=False)
    base = torch.randn(3, 1, 3, 3)
    with torch.no_grad():
        conv.weight[0] = base.repeat(1, 3, 1, 1)                               # constant: 0
        conv.weight[1] = base * torch.tensor([1.0, -1.0, 1.0]).view(1, 3, 1, 1)  # alternating: 1
        conv.weight[2] = base * torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)   # one slice: 0.5
        conv.weight[3] = base * torch.tensor([1.0, 1.0, 0.0]).view(1, 3, 1, 1)   # E / (2 * 3E) = 1/6
    view = kernel_views(nn.Sequential(conv))[0]
    np.testing.assert_allclose(view.selectivity, [0, 1, 0.5, 1 / 6], atol=1e-12)
    assert view.order.tolist() == [1, 2, 3, 0]
    assert selectivity_order([0.3, 0.3, 0.9]).tolist() == [2, 0, 1]          # ties keep index order
    assert [f["index"] for f in view.to_dict()["filters"]] == [1, 2, 3, 0]


def test_bundled_kernel_views(c3d):
    views = kernel_views(c3d)
    assert [v.name for v in views] == ["stem.0", "block2.0"]
    stem = views[0]
    assert stem.kernels.shape == (16, 3, 3, 5, 5) and stem.channels == "RGB"
    assert views[1].channels == "features"
    np.testing.assert_array_equal(stem.kernels, c3d.net.stem[0].weight.detach().double().numpy())
    assert np.all(np.diff(stem.selectivity[stem.order]) <= 0)
    image = kernel_grid(stem)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[0] > 16 * 40
    r21 = load_model("r2plus1d_small")
    assert default_views(r21)[0] == "stem.0+stem.3"                            # a (2+1)D pair, composed
    v = kernel_view(r21, "stem.0+stem.3")
    assert v.kind == "(2+1)d" and v.kernels.shape == (16, 3, 3, 5, 5) and v.channels == "RGB"
    assert kernel_view(r21, "stem.3").kind == "temporal"
    with pytest.raises(NoTemporalKernels, match="no 3D convolution kernels"):
        kernel_views(load_model("frame2d_pool"))


def test_composed_2plus1d_kernel_is_the_pair():
    """Without a nonlinearity between them, the composed kernel convolved once equals the spatial
    then the temporal convolution (no padding, stride 1): two independent computations."""
    torch.manual_seed(0)
    spatial = nn.Conv3d(3, 6, (1, 5, 5), bias=False).double()
    temporal = nn.Conv3d(6, 4, (3, 1, 1), bias=False).double()
    x = torch.randn(1, 3, 8, 12, 12, dtype=torch.float64)
    k = compose_2plus1d(spatial.weight.detach().numpy(), temporal.weight.detach().numpy())
    direct = torch.nn.functional.conv3d(x, torch.from_numpy(k))
    np.testing.assert_allclose(direct.numpy(), temporal(spatial(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------- class-maximising clips

@pytest.mark.parametrize("target", ["sit_down", "wave", "jump"])
def test_class_maximising_clip_reaches_090(c3d, target):
    """16 steps take these classes to p = 1.0000 on 1 and 2 threads (p >= 0.998 from 10 steps); the
    slowest class, hold_red, needs about 60 (the CLI's default is 96)."""
    calls = []
    clip = maximise_class(c3d, target, steps=16, progress=lambda f, m: calls.append(f))
    assert clip.frames.shape == (16, 64, 64, 3) and clip.frames.dtype == np.uint8
    assert clip.probability >= 0.9, (target, clip.probability)
    # the probability is the model's on exactly these uint8 frames, read as a decoded video would be
    x = from_frames(clip.frames, c3d.spec).tensor[None]
    with torch.no_grad():
        p = torch.softmax(c3d(x), 1)[0, c3d.target_index(target)].item()
    assert p == pytest.approx(clip.probability, abs=1e-5)
    assert clip.label == target and clip.predicted == target and len(clip.history) == 16
    assert calls == pytest.approx([(i + 1) / 16 for i in range(16)])
    assert all(p.grad is None for p in c3d.parameters()) and no_hooks(c3d)
    assert max_clip_tube(clip).dtype == np.uint8


def test_seeds_side_by_side(c3d):
    run = maximise_seeds(c3d, "wave", seeds=[0, 1], steps=12)
    assert [c.seed for c in run.clips] == [0, 1]
    for m in (run.pixel_corr, run.feature_corr, run.motion_corr):
        assert m.shape == (2, 2) and np.allclose(m, m.T) and np.allclose(np.diag(m), 1)
        assert -1 <= m[0, 1] <= 1
    assert not np.array_equal(run.clips[0].frames, run.clips[1].frames)      # seeds differ
    s = run.stability
    assert s["seeds"] == 2 and s["feature_layer"] == "head.1"
    assert s["feature_correlation"] > s["pixel_correlation"]                  # same idea, drawn apart
    assert seeds_image(run).dtype == np.uint8


def test_cancel_stops_the_run(c3d):
    def cancel(fraction, message):
        if fraction >= 3 / 50:
            raise Cancelled("stop")
    with pytest.raises(Cancelled):
        maximise_class(c3d, "wave", steps=50, progress=cancel)
    assert all(p.grad is None for p in c3d.parameters()) and no_hooks(c3d)


def test_bad_steps_and_target(c3d):
    from xai_core.errors import MethodError, ModelSpecError
    with pytest.raises(MethodError):
        maximise_class(c3d, "wave", steps=0)
    with pytest.raises(ModelSpecError):
        maximise_class(c3d, "fly", steps=2)


# ---------------------------------------------------------------------------- layer activations

def test_step_of_frame():
    assert step_of_frame(16, 16).tolist() == list(range(16))
    assert step_of_frame(8, 16).tolist() == [j for j in range(8) for _ in range(2)]
    m = step_of_frame(15, 16)                                                 # a flow stream: T - 1
    assert m[0] == 0 and m[-1] == 14 and set(m.tolist()) == set(range(15)) and np.all(np.diff(m) >= 0)
    assert step_of_frame(1, 16).tolist() == [0] * 16


def test_activation_energy_per_frame(c3d):
    clip = load_video(SAMPLE, c3d.spec)
    act = layer_activations(c3d, clip, "block4", top=3)
    assert act.maps.shape == (128, 8, 8, 8) and act.layout == "NCTHW"
    assert act.energy_per_step.shape == (8,) and act.energy_per_frame.shape == (16,)
    assert act.step_of_frame.tolist() == [j for j in range(8) for _ in range(2)]
    np.testing.assert_array_equal(act.energy_per_frame[0::2], act.energy_per_step)
    np.testing.assert_array_equal(act.energy_per_frame[1::2], act.energy_per_step)
    # the same energy computed by hand: the block4 output of the same pass
    with torch.no_grad():
        n = c3d.net
        y = n.block4(n.pool3(n.block3(n.pool2(n.block2(n.stem(clip.tensor[None]))))))[0]   # (C, T', H', W')
    np.testing.assert_allclose(act.energy_per_step, (y.double() ** 2).mean((0, 2, 3)).numpy(), rtol=1e-5)
    assert act.top.tolist() == np.argsort(-(y.double() ** 2).mean((1, 2, 3)).numpy())[:3].tolist()
    assert act.top_maps().shape == (3, 16, 8, 8)
    assert no_hooks(c3d)


def test_per_frame_layer_and_choices():
    model = load_model("frame2d_pool")
    choices = {c.name: c for c in layer_choices(model)}
    assert choices["encoder.cnn.0"].layout == "per-frame" and choices["encoder.cnn.0"].shape == (16, 16, 32, 32)
    assert choices["encoder"].layout == "NCTHW" and "head" not in choices and "head.1" not in choices
    x = torch.randn(3, 16, 64, 64)
    act = layer_activations(model, x, "encoder.cnn.0")
    assert act.layout == "per-frame" and act.step_of_frame.tolist() == list(range(16))
    with torch.no_grad():
        y = model.net.encoder.cnn[0](x.transpose(0, 1))                      # frames alone: (T, C, H, W)
    np.testing.assert_allclose(act.energy_per_frame, (y.double() ** 2).mean((1, 2, 3)).numpy(), rtol=1e-5)
    lstm = load_model("cnn_lstm")
    assert "lstm" not in {c.name for c in layer_choices(lstm)}
    from xai_core.errors import MethodError
    with pytest.raises(MethodError, match="no layer 'nope'"):
        layer_activations(model, x, "nope")
    assert no_hooks(model)


# ------------------------------------------------------------------------------------------ CLI

def test_cli_global_writes_the_files(tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["global", "--model", "c3d_small", "--out", str(out), "--classes", "wave", "--steps", "4",
                 "--seeds", "2", "--video", str(SAMPLE), "--layer", "block3", "--quiet"]) == 0
    std = capsys.readouterr()
    assert "wave: p = " in std.out and std.err == ""                          # --quiet: no bar
    for name in ("kernels_stem.0.png", "kernels_block2.0.png", "max_wave.webm", "max_wave_tube.png",
                 "max_wave_seeds.png", "activations_block3.png"):
        assert (out / name).stat().st_size > 1000, name
    kernels = json.loads((out / "kernels.json").read_text())
    assert [v["name"] for v in kernels["views"]] == ["stem.0", "block2.0"] and kernels["message"] is None
    s = [f["selectivity"] for f in kernels["views"][0]["filters"]]
    assert s == sorted(s, reverse=True) and len(s) == 16
    body = json.loads((out / "max_wave.json").read_text())
    assert body["steps"] == 4 and len(body["seeds"]) == 2 and 0 <= body["probability"] <= 1
    assert set(body["stability"]) >= {"pixel_correlation", "feature_correlation", "motion_correlation"}
    act = json.loads((out / "activations.json").read_text())
    assert act["layer"] == "block3" and len(act["energy_per_frame"]) == 16
    summary = json.loads((out / "global.json").read_text())
    assert summary["classes"][0]["label"] == "wave"


def test_cli_global_on_a_2d_model_says_there_are_no_kernels(tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["global", "--model", "frame2d_pool", "--out", str(out), "--classes", "0", "--steps", "2",
                 "--seeds", "1"]) == 0
    std = capsys.readouterr()
    assert "note: model 'frame2d_pool' has no 3D convolution kernels" in std.out
    assert "[" in std.err                                                      # the progress bar
    kernels = json.loads((out / "kernels.json").read_text())
    assert kernels["views"] == [] and "no 3D convolution" in kernels["message"]
    assert (out / "max_walk_left.webm").exists() and not (out / "max_walk_left_seeds.png").exists()


@pytest.mark.parametrize("extra, words", [
    (["--model", "nope"], "nope"),
    (["--model", "c3d_small", "--classes", "fly"], "unknown target 'fly'"),
    (["--model", "c3d_small", "--classes", "wave,,jump"], "empty name"),
    (["--model", "c3d_small", "--steps", "0"], "--steps"),
    (["--model", "c3d_small", "--seeds", "99"], "--seeds"),
    (["--model", "c3d_small", "--layer", "block3"], "--layer needs --video"),
    (["--model", "c3d_small", "--video", str(SAMPLE), "--layer", "head"], "--layer 'head'"),
    (["--model", "c3d_small", "--video", "/no/such.mp4"], "such.mp4"),
    (["--model", "c3d_small", "--kernel-layers", "stem"], "--kernel-layers"),
    (["--model", "frame2d_pool", "--kernel-layers", "encoder.cnn.0.0"], "no 3D convolution kernels"),
])
def test_cli_bad_input_is_one_line(tmp_path, capsys, extra, words):
    out = tmp_path / "g"
    assert main(["global", "--out", str(out), "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and words in err[0], err
    assert not out.exists()                                                   # nothing written, no work done


def test_cli_bad_input_exit_code(tmp_path):
    bad = tmp_path / "file"
    bad.write_text("x")
    r = subprocess.run([sys.executable, "-m", "xai_core", "global", "--model", "c3d_small", "--out", str(bad)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"error: --out {bad}: exists and is not a directory"]


def test_cli_limits_match_the_core():
    """The parser's limits are copied (so building it imports no torch): they must stay the core's."""
    from xai_core.modelview import cli, maximise
    assert (cli.MAX_STEPS, cli.MAX_SEEDS) == (maximise.MAX_STEPS, maximise.MAX_SEEDS)


def test_start_from_noise_where_grey_has_no_gradient(c3d):
    """cnn_lstm's frame embedding is all off on a near-grey clip (its class gradient is exactly 0
    there): "auto" starts it from pixel noise; c3d_small has a gradient at grey and starts there."""
    from xai_core.modelview.maximise import FourierClip, Regulariser, _noise
    assert maximise_class(load_model("cnn_lstm"), "walk_left", steps=1).start == "noise"
    assert maximise_class(c3d, "wave", steps=1).start == "grey"
    assert maximise_class(c3d, "wave", steps=1, start="noise").start == "noise"
    # the start clip is exactly the noise: the parameterisation inverted (logit, colour, FFT)
    clip = FourierClip([0], (6, 10, 12), Regulariser())
    noise = _noise(0, (6, 10, 12))
    clip.set_clip(0, noise)
    np.testing.assert_allclose(clip()[0].detach().numpy(), noise.numpy(), atol=1e-5)
    from xai_core.errors import MethodError
    with pytest.raises(MethodError, match="start"):
        maximise_class(c3d, "wave", steps=1, start="white")

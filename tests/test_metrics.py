"""5-D faithfulness metrics: each checked against a case whose answer is known in closed form.

The models here are tiny and in float64 (so "optimal" and "equal" can be asserted to 1e-12, far
below any difference the metrics measure), the clips a few frames of 8 x 8 px: every test runs in
well under a second on one thread.
"""
import itertools
import json

import numpy as np
import pytest
import torch
from torch import nn

from xai_core.metrics.deletion import (MIN_RANDOM_ORDERS, deletion, insertion, map_ranks, perturbed_scores,
                                       random_curve, random_ranks)
from xai_core.metrics.fill import blur, blur_sigma, fill_like, grey, temporal_mean
from xai_core.metrics.ground_truth import pointing_game, pointing_hit, pointing_rate
from xai_core.metrics.rank import average_ranks, spearman
from xai_core.metrics.sanity import cascade_layers, map_ssim, sanity_check
from xai_core.metrics.stability import is_stochastic, stability

N, C, T, H, W = 2, 3, 4, 8, 8            # batch, channels, time, height, width: 256 voxels a clip
EXACT = 1e-12                            # float64 sums of 768 terms of size ~1: rounding ~1e-14


class Linear(nn.Module):
    """Two classes: logit 0 = w·x (over channels and voxels), logit 1 = 0; p0 = sigmoid(w·x)."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        s = (x * self.w).sum((1, 2, 3, 4))                      # (N,)
        return torch.stack([s, torch.zeros_like(s)], 1)          # (N, 2)


@pytest.fixture
def linear():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, C, T, H, W, generator=g, dtype=torch.float64)
    w = 0.3 * torch.randn(C, T, H, W, generator=g, dtype=torch.float64)
    model = Linear(w)
    relevance = ((x - temporal_mean(x)) * w).sum(1).detach()     # (N, T, H, W): each voxel's share of w·x - w·fill
    return model, x, torch.zeros(N, dtype=torch.long), relevance


def test_deleting_in_order_of_w_x_is_optimal_on_a_linear_model(linear):
    """Removing a voxel lowers w·x by its share w·(x - fill); removing the largest shares first gives
    the lowest logit, so the lowest probability, at every step: no order's curve is below it."""
    model, x, target, rel = linear
    best = deletion(model, x, target, rel, steps=16)
    worst = deletion(model, x, target, -rel, steps=16)          # reversed order
    for seed in range(5):
        ranks = torch.from_numpy(np.stack([random_ranks((T, H, W), "voxel", np.random.default_rng([seed, i]))
                                           for i in range(N)]))
        other = perturbed_scores(model, x, target, ranks, temporal_mean(x), "deletion",
                                 [round(k * T * H * W / 16) for k in range(17)])
        assert (best.scores <= other + EXACT).all()
    assert (best.scores <= worst.scores + EXACT).all()
    assert (best.auc < best.random_auc).all() and (best.random_auc < worst.auc).all()
    assert (best.relative_auc < 1).all() and best.scores[:, 0] == pytest.approx(best.scores[:, 0])
    # the first point is the clip itself, the last the fill: the same for every order
    np.testing.assert_allclose(best.scores[:, [0, -1]], worst.scores[:, [0, -1]], rtol=0, atol=EXACT)


def test_frame_order_is_optimal_among_all_frame_orders(linear):
    """Whole frames: a frame's share is the sum of its voxels' shares; the curve of frames by summed
    relevance is at or below the curve of each of the 4! frame orders."""
    model, x, target, rel = linear
    best = deletion(model, x, target, rel, order="frame")
    assert best.fractions.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    for perm in itertools.permutations(range(T)):
        ranks = torch.tensor(perm).view(1, T, 1, 1).expand(N, T, H, W)
        other = perturbed_scores(model, x, target, ranks, temporal_mean(x), "deletion", list(range(T + 1)))
        assert (best.scores <= other + EXACT).all()


def test_random_baseline_is_the_mean_of_seeded_orders(linear):
    model, x, target, rel = linear
    base = random_curve(model, x, target, steps=16, random_orders=3, seed=7)
    runs = []
    for r in range(3):
        ranks = torch.from_numpy(np.stack([random_ranks((T, H, W), "voxel", np.random.default_rng([7, r, i]))
                                           for i in range(N)]))
        runs.append(perturbed_scores(model, x, target, ranks, temporal_mean(x), "deletion",
                                     [16 * k for k in range(17)]))
    np.testing.assert_allclose(base, np.mean(runs, 0), rtol=0, atol=EXACT)
    # computed in the same run by default, and the same as given
    c = deletion(model, x, target, rel, steps=16, seed=7)
    np.testing.assert_allclose(c.random, base, rtol=0, atol=EXACT)
    assert c.random_orders == 3
    with pytest.raises(ValueError, match="at least 3"):
        deletion(model, x, target, rel, random_orders=MIN_RANDOM_ORDERS - 1)


def test_insertion_mirrors_deletion_of_the_reversed_order(linear):
    """Inserting the first k of an order keeps what deleting the last V - k of it keeps: insertion's
    curve is the reversed order's deletion curve read backwards (256 voxels / 16 steps: whole counts)."""
    model, x, target, rel = linear
    ins = insertion(model, x, target, rel, steps=16)
    dele = deletion(model, x, target, -rel, steps=16)
    np.testing.assert_allclose(ins.scores, dele.scores[:, ::-1], rtol=0, atol=EXACT)
    assert ins.auc == pytest.approx(dele.auc, abs=EXACT)
    assert (ins.relative_auc > 1).all()                         # the best map inserts faster than chance


def test_progress_hears_every_batch_and_can_cancel(linear):
    from xai_core.methods.progress import CancelToken, Cancelled
    model, x, target, rel = linear
    heard = []
    deletion(model, x, target, rel, steps=4, batch_size=3, progress=lambda f, m: heard.append(f))
    # (4 + 1) steps x 2 clips = 10 perturbed clips per order, 4 orders (the map's, 3 random), 3 a batch
    assert len(heard) == 4 * 4 and heard[-1] == 1.0 and heard == sorted(heard)
    token = CancelToken()

    def stop(f, m):
        token.cancel()
        token.check()
    with pytest.raises(Cancelled):
        deletion(model, x, target, rel, progress=stop)


def test_map_ranks_break_ties_by_a_seeded_shuffle_not_by_memory_order():
    flat = np.zeros((T, H, W))
    a, b = map_ranks(flat, seed=0), map_ranks(flat, seed=1)
    assert sorted(a.ravel()) == list(range(T * H * W)) and not np.array_equal(a, b)
    assert a.reshape(-1)[0] != 0 or b.reshape(-1)[0] != 0      # not simply the first voxel first
    frames = map_ranks(np.arange(T)[:, None, None] * np.ones((T, H, W)), "frame")
    assert frames[:, 0, 0].tolist() == [3, 2, 1, 0]             # the last frame has the most relevance


# ---------------------------------------------------------------------------------------- fills


def test_temporal_mean_of_a_static_clip_is_the_clip():
    frame = torch.randn(1, C, 1, H, W)
    still = frame.expand(1, C, T, H, W).contiguous()
    # the mean of T equal float32 values: T - 1 roundings of at most half an ulp each
    np.testing.assert_allclose(temporal_mean(still), still, rtol=T * np.finfo(np.float32).eps, atol=0)
    moving = torch.randn(1, C, T, H, W)
    assert (temporal_mean(moving).diff(dim=2) == 0).all()       # no change over time is left


def test_blur_keeps_each_clips_mean_and_matches_scipy():
    x = torch.randn(N, C, 16, 32, 32, dtype=torch.float64)
    b = blur(x)
    assert blur_sigma(x.shape) == (2.0, 2.0, 2.0)
    # half-sample mirrored edges: exactly mean-preserving, up to float64 rounding of 16k-term sums
    np.testing.assert_allclose(b.mean((2, 3, 4)), x.mean((2, 3, 4)), rtol=0, atol=1e-13)
    assert (b - x).abs().max() > 0.5                            # it did blur
    ndimage = pytest.importorskip("scipy.ndimage")
    ref = np.stack([[ndimage.gaussian_filter(c, (2.0, 2.0, 2.0), mode="reflect", truncate=3.0) for c in clip]
                    for clip in x.numpy()])
    np.testing.assert_allclose(b.numpy(), ref, rtol=0, atol=1e-12)
    constant = torch.full((1, 1, 4, 8, 8), 0.7, dtype=torch.float64)
    np.testing.assert_allclose(blur(constant), constant, rtol=0, atol=1e-15)


def test_grey_is_pixel_value_one_half():
    from xai_core.spec import InputSpec
    spec = InputSpec(mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    g = grey(torch.zeros(1, 3, 2, 4, 4), spec)
    pixel = g[0, :, 0, 0, 0] * torch.tensor(spec.std) + torch.tensor(spec.mean)
    np.testing.assert_allclose(pixel, [0.5] * 3, rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="input spec"):
        fill_like(torch.zeros(1, 3, 2, 4, 4), "grey")
    with pytest.raises(ValueError, match="unknown kind"):
        fill_like(torch.zeros(1, 3, 2, 4, 4), "pink")


# -------------------------------------------------------------------------------- pointing game


def test_pointing_game_with_a_flat_peak_frame_is_nan_with_a_reason():
    mask = np.zeros((4, 16, 16), bool)
    mask[2, 0:3, 0:3] = True                                    # covers (t, 0, 0): argmax's lucky pixel
    r = np.random.default_rng(0).random((4, 16, 16))
    r[2] = 5.0                                                  # the peak frame is flat
    p = pointing_game(r, mask)
    assert p.hit is None and np.isnan(p.score) and "not a point" in p.reason
    assert pointing_hit(r, mask) is None and pointing_rate([p.hit, True]) == 1.0


def test_pointing_game_with_a_shared_maximum():
    mask = np.zeros((4, 16, 16), bool)
    mask[1, 4:8, 4:8] = True
    r = np.zeros((4, 16, 16))
    r[1, 5, 5] = r[1, 6, 6] = 1.0                               # both in the evidence: a hit
    assert pointing_game(r, mask, tolerance=0).hit is True
    r[1, 14, 14] = 1.0                                          # one more, outside: which one argmax finds is luck
    p = pointing_game(r, mask, tolerance=0)
    assert p.hit is None and "3 voxels, 2 in the evidence" in p.reason
    r[1, 5, 5] = r[1, 6, 6] = 0.5                               # only the outside one left at the top
    assert pointing_game(r, mask, tolerance=0).hit is False


# ---------------------------------------------------------------------------------------- ranks


def test_spearman_agrees_with_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, (4, 8, 8)).astype(float)             # many ties
    b = a + rng.normal(0, 2, a.shape)
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a.ravel(), b.ravel())[0], abs=1e-12)
    np.testing.assert_allclose(average_ranks(a), stats.rankdata(a.ravel()), rtol=0, atol=0)
    assert spearman(a, a) == pytest.approx(1.0) and spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(np.zeros(5), np.arange(5)) == 0.0 and np.isnan(spearman(np.zeros(5), np.ones(5)))


# ------------------------------------------------------------------------------- sanity check


class TinyLinear(nn.Module):
    """logits = W x + b over the flattened clip: a linear model with a Linear layer to re-initialise."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(C * T * H * W, 2).double()

    def forward(self, x):
        return self.fc(x.flatten(1))


def gradient_times_input(model, video, target):
    x = video.detach().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(model(x).gather(1, target.view(-1, 1)).sum(), x)
    return (g * video).sum(1)                                   # (N, T, H, W)


def edges(model, video, target):
    """An edge detector on the input: never asks the model."""
    return video.diff(dim=-1, append=video[..., -1:]).abs().sum(1)


@pytest.fixture
def trained_linear():
    """A 'trained' linear model: its weights pick out one corner of the clip (class 0 looks there),
    as training on evidence in that corner would make them; everywhere else they are 0."""
    model = TinyLinear()
    with torch.no_grad():
        w = torch.zeros(C, T, H, W, dtype=torch.float64)
        w[:, :, :4, :4] = 1.0
        model.fc.weight.copy_(torch.stack([w.flatten(), -w.flatten()]))
    x = torch.randn(3, C, T, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return model, x, torch.zeros(3, dtype=torch.long)


def test_sanity_check_fails_a_method_that_ignores_the_model(trained_linear):
    model, x, y = trained_linear
    s = sanity_check(model, x, y, edges)
    assert s.layers == ["fc"] and s.method == "edges"
    assert s.spearman[-1] == pytest.approx([1.0] * 3) and s.ssim[-1] == pytest.approx([1.0] * 3)
    assert s.passed is False


def test_sanity_check_passes_gradient_times_input_of_a_trained_linear_model(trained_linear):
    """Trained: the map is 0 outside the corner (3/4 of the voxels, tied); randomised, every voxel's
    weights are drawn anew, so outside the corner its ranking owes nothing to the trained one, and
    inside only the shared |x| links them: Spearman near 0 (per clip within +-0.15 for reinit seeds
    0-7, the mean of 3 clips within +-0.1), far below the 0.5 a pass needs; 0.3 leaves a margin."""
    model, x, y = trained_linear
    before = [p.clone() for p in model.parameters()]
    s = sanity_check(model, x, y, gradient_times_input, seed=0)
    assert s.passed is True and abs(s.final_spearman) < 0.3
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))   # the caller's model untouched
    state = torch.random.get_rng_state()
    sanity_check(model, x, y, gradient_times_input, seed=0)
    assert torch.equal(state, torch.random.get_rng_state())     # the caller's random state untouched


def test_cascade_goes_from_the_logits_down():
    net = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.BatchNorm3d(4), nn.ReLU(),
                        nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    assert cascade_layers(net, torch.zeros(1, 3, 4, 8, 8)) == ["5", "1", "0"]
    heard = []
    s = sanity_check(net, torch.randn(2, 3, 4, 8, 8), torch.tensor([0, 1]), edges, steps=[0],
                     progress=lambda f, m: heard.append(f))
    assert s.steps == [0, 2] and s.spearman.shape == (2, 2)     # the measured step and full randomisation
    assert heard and heard[-1] == pytest.approx(1.0)


def test_map_ssim_of_a_map_with_itself_is_one():
    a = np.random.default_rng(0).random((8, 16, 16))
    assert map_ssim(a, 3 * a) == pytest.approx(1.0) and map_ssim(a, -a) == pytest.approx(1.0)
    assert map_ssim(a, np.random.default_rng(1).random((8, 16, 16))) < 0.2


# ---------------------------------------------------------------------------------- stability


def test_stability_of_a_deterministic_method_is_one(trained_linear):
    model, x, y = trained_linear
    assert not is_stochastic(gradient_times_input) and not is_stochastic("saliency")
    assert is_stochastic("smoothgrad")
    s = stability(model, x, y, gradient_times_input, seeds=(0, 1, 2))
    assert s.value == 1.0 and s.spearman.shape == (3, 3)
    s = stability(model, x, y, "saliency", seeds=(0, 1))
    assert s.value == 1.0


def test_stability_of_a_noisy_method_is_below_one(trained_linear):
    model, x, y = trained_linear

    def noisy(model, video, target, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        return gradient_times_input(model, video, target) + torch.randn(video.shape[0], T, H, W, generator=g,
                                                                        dtype=video.dtype)
    s = stability(model, x, y, noisy, seeds=(0, 1))
    assert is_stochastic(noisy) and 0 < s.value < 0.9
    with pytest.raises(ValueError, match="2 different seeds"):
        stability(model, x, y, noisy, seeds=(3, 3))


def test_maps_already_computed_are_reused_with_the_same_result(trained_linear):
    """evaluate() hands the sanity check its trained maps and stability the maps of the method's own
    seed: the figures are those of computing them again, and those runs are not made."""
    from xai_core.metrics.maps import relevance_maps
    model, x, y = trained_linear
    calls = []

    def noisy(model, video, target, seed: int = 0):
        calls.append(seed)
        g = torch.Generator().manual_seed(seed)
        return gradient_times_input(model, video, target) + 0.1 * torch.randn(video.shape[0], T, H, W, generator=g,
                                                                              dtype=video.dtype)
    maps = relevance_maps(model, noisy, x, y, {})
    calls.clear()
    fresh = stability(model, x, y, noisy, seeds=(0, 1, 2))
    n = len(calls)
    calls.clear()
    reused = stability(model, x, y, noisy, seeds=(0, 1, 2), known={0: maps})
    assert np.array_equal(fresh.spearman, reused.spearman, equal_nan=True) and len(calls) == n * 2 // 3
    calls.clear()
    fresh = sanity_check(model, x, y, noisy)
    n = len(calls)
    calls.clear()
    reused = sanity_check(model, x, y, noisy, trained=maps)
    assert np.array_equal(fresh.spearman, reused.spearman, equal_nan=True) and len(calls) == n // 2
    with pytest.raises(ValueError, match="trained maps"):
        sanity_check(model, x, y, noisy, trained=maps[:1])


# ------------------------------------------------------------------------------ evaluate + CLI

QUICK = ["--n", "2", "--steps", "4", "--sanity-clips", "1", "--sanity-steps", "1", "--stability-clips", "1"]


def strict_json(text: str):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def test_evaluate_cli_json_and_its_cache(tmp_path, monkeypatch, capsys):
    """Two clips of c3d_small with Grad-CAM and saliency: strict JSON with every metric; the second run
    reads every row from the cache (and gives the same figures) without a forward pass."""
    from xai_core.cli import main
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path))
    args = ["evaluate", "--model", "c3d_small", "--methods", "grad_cam,saliency", "--json", "--quiet", *QUICK]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert err == ""
    first = strict_json(out)
    assert first["model"] == "c3d_small" and first["settings"]["fill"] == "temporal_mean"
    assert [r["method"] for r in first["methods"]] == ["grad_cam", "saliency"]
    row = first["methods"][0]
    assert not row["cached"] and row["stability"] is None        # Grad-CAM takes no seed
    for kind in ("deletion", "insertion"):
        for order, points in (("voxel", 5), ("frame", 17)):
            c = row[kind][order]
            assert len(c["scores"]) == len(c["random"]) == points and c["random_orders"] == 3
            assert c["relative_auc"] == pytest.approx(c["auc"] / c["random_auc"])
    assert [s["step"] for s in row["sanity"]["steps"]] == [9]    # c3d_small: 9 layers, the last measured
    assert row["sanity"]["passed"] in (True, False) and 0 <= row["energy_in_mask"] <= 1
    assert first["evidence_kind"]["clips"] == 2
    assert len(list((tmp_path / "evaluate").glob("c3d_small-*.json"))) == 3   # the model part + 2 methods
    import xai_core.metrics.deletion as deletion_module
    monkeypatch.setattr(deletion_module, "perturbed_scores", lambda *a, **k: pytest.fail("not cached"))
    assert main(args) == 0
    second = strict_json(capsys.readouterr().out)
    assert all(r["cached"] for r in second["methods"])
    assert [r["deletion"] for r in second["methods"]] == [r["deletion"] for r in first["methods"]]


def test_evaluate_cli_table_and_progress_bar(tmp_path, monkeypatch, capsys):
    from xai_core.cli import main
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path))
    assert main(["evaluate", "--model", "c3d_small", "--methods", "grad_cam", "--fill", "grey", *QUICK]) == 0
    out, err = capsys.readouterr()
    assert "fill grey" in out and out.splitlines()[2].startswith("grad_cam")
    assert "evidence kind" in out and err.splitlines()[-1].startswith("[" + "#" * 28 + "] 100%")   # a line a tenth


EVALUATE = ["evaluate", "--model", "c3d_small"]
BAD_EVALUATE = [
    (EVALUATE + ["--methods", "lime2"], "unknown method 'lime2'"),
    (EVALUATE + ["--methods", "grad_cam,,saliency"], "an empty method name"),
    (EVALUATE + ["--methods", "grad_cam,grad_cam"], "named twice"),
    (EVALUATE + ["--n", "0"], "--n must be in 1..1000"),
    (EVALUATE + ["--n", "many"], "argument --n: invalid int value"),
    (EVALUATE + ["--seed", "-1"], "--seed must be >= 0"),
    (EVALUATE + ["--fill", "pink"], "argument --fill: invalid choice: 'pink'"),
    (EVALUATE + ["--steps", "0"], "--steps must be at least 1"),
    (EVALUATE + ["--sanity-steps", "0"], "--sanity-steps must be at least 1"),
    (EVALUATE + ["--methods", "grad_cam", "--option", "occlusion.stride=2"], "not among the methods evaluated"),
    (EVALUATE + ["--methods", "occlusion", "--option", "stride=2"], "--option needs METHOD.KEY=VALUE"),
    (EVALUATE + ["--methods", "occlusion", "--option", "occlusion.stride=0"], "option 'stride': got 0"),
    (EVALUATE + ["--methods", "occlusion", "--option", "occlusion.bogus=1"], "unknown option(s) ['bogus']"),
    (EVALUATE + ["--device", "bogus"], "--device 'bogus' is not a device"),
    (["evaluate", "--model", "nope", "--methods", "grad_cam"], "unknown model 'nope'"),
    (["evaluate", "--methods", "grad_cam"], "--model"),
]


@pytest.mark.parametrize("args, message", BAD_EVALUATE, ids=[" ".join(a[3:]) or a[2] for a, _ in BAD_EVALUATE])
def test_evaluate_cli_bad_input_is_one_line_and_exit_2(args, message, tmp_path, monkeypatch, capsys):
    from xai_core.cli import main
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path))
    import xai_core.metrics.evaluate as evaluate_module
    monkeypatch.setattr(evaluate_module, "evaluate", lambda *a, **k: pytest.fail("work started"))
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and err.count("\n") == 1 and message in err, err


def test_evaluate_needs_a_model_of_the_procedural_classes():
    from types import SimpleNamespace
    from xai_core.errors import ModelSpecError
    from xai_core.metrics.evaluate import procedural_clips
    from xai_core.spec import InputSpec
    other = SimpleNamespace(name="kinetics", class_names=["a", "b"], spec=InputSpec())
    with pytest.raises(ModelSpecError, match="procedural data set's 8 classes"):
        procedural_clips(other, 2, 4)


def test_evaluate_progress_covers_the_run_and_can_cancel(tmp_path):
    from xai_core import load_model
    from xai_core.methods.progress import Cancelled
    from xai_core.metrics.evaluate import Settings, evaluate
    model = load_model("c3d_small")
    heard = []
    settings = Settings(n=1, steps=2, sanity_clips=1, sanity_steps=1, stability_clips=1)
    e = evaluate(model, ["saliency"], settings, cache_dir=tmp_path, progress=lambda f, m: heard.append((f, m)))
    fractions = [f for f, _ in heard]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert any(m.startswith("saliency: sanity") for _, m in heard)
    assert e.rows["saliency"]["sanity"]["steps"][-1]["step"] == 9

    def stop(f, m):
        if m.startswith("grad_cam"):
            raise Cancelled("stop")
    with pytest.raises(Cancelled):
        evaluate(model, ["saliency", "grad_cam"], settings, cache_dir=tmp_path, progress=stop)


def test_warnings_and_the_verdicts_file(tmp_path):
    from xai_core.metrics.verdicts import load_verdicts, verdicts_for, warnings
    curve = {"auc": 0.5, "relative_auc": 1.2}
    row = {"sanity": {"final_spearman": 0.68, "passed": False},
           "deletion": {"voxel": curve, "frame": curve}, "insertion": {"voxel": {"auc": 0.4, "relative_auc": 0.9}},
           "pointing": {"rate": 0.5, "not_applicable": 1}, "energy_in_mask": 0.1, "stability": {"spearman": 0.62}}
    said = warnings(row)
    assert [w.split(":")[0] for w in said] == ["fails the sanity check on this model", "deletion worse than random",
                                               "insertion worse than random (AUC 0.90x random)",
                                               "unstable across seeds"]
    assert "Spearman 0.68" in said[0]
    row.update(sanity={"final_spearman": 0.2, "passed": True}, stability=None,
               deletion={"voxel": {"auc": 0.2, "relative_auc": 0.4}, "frame": curve},
               insertion={"voxel": {"auc": 0.9, "relative_auc": 1.5}})
    assert warnings(row) == []
    assert load_verdicts(tmp_path / "none.json") == {} and verdicts_for("c3d_small", tmp_path / "none.json") == {}
    (tmp_path / "v.json").write_text(json.dumps({"models": {"c3d_small": {"methods": {"saliency": {"warnings": []}}}}}))
    assert verdicts_for("c3d_small", tmp_path / "v.json") == {"saliency": {"warnings": []}}


def test_figures_measured_on_other_weights_are_not_shown(tmp_path):
    """The verdicts file records each model's weights digest; after a retraining its figures are
    "not measured on these weights", never shown as the new model's."""
    from xai_core.metrics.verdicts import stale, table_rows, verdict_line, verdicts_for, weights_digest
    entry = {"warnings": [], "sanity_spearman": 0.2, "sanity_passed": True, "deletion_relative": 0.5,
             "deletion_frame_relative": 0.9, "insertion_relative": 1.2, "pointing": 0.5, "stability": None}
    path = tmp_path / "v.json"
    for digest, shown in ((weights_digest("c3d_small"), True), ("0" * 64, False)):
        path.write_text(json.dumps({"models": {"c3d_small": {"weights_sha256": digest,
                                                             "methods": {"saliency": entry}}}}))
        assert stale("c3d_small", path) is not shown
        assert (verdicts_for("c3d_small", path) == {"saliency": entry}) is shown
        assert ("not measured on these weights" in verdict_line("c3d_small", "saliency", path=path)) is not shown
        row = table_rows("c3d_small", {"saliency": "Saliency"}, path)[0]
        assert (row["Sanity"] == "not measured") is not shown
        assert ("not measured on these weights" in row["Warnings"]) is not shown
    assert len(weights_digest("c3d_small")) == 64 and weights_digest("i3d_k400") is None


def test_the_bundled_verdicts_in_brief_in_a_table_and_in_a_sentence():
    """Every warning of assets/verdicts.json has a short form (the pickers') that begins the same way;
    a method the file lacks is "not measured" with no figure; a report's sentence names both cases."""
    from xai_core.metrics.verdicts import (MEASURES, brief, load_verdicts, table_rows, verdict_line,
                                           verdicts_for)
    for model in load_verdicts()["models"]:
        for method, entry in verdicts_for(model).items():
            short = brief(entry)
            assert len(short) == len(entry["warnings"]), (model, method)
            assert all(w.startswith(s.split(" (")[0]) for s, w in zip(short, entry["warnings"]))
    assert brief(verdicts_for("c3d_small")["smoothgrad"]) == ["fails the sanity check (Spearman 0.74)"]
    rows = table_rows("c3d_small", {"smoothgrad": "SmoothGrad", "no_such": "None such"})
    assert rows[0]["Sanity"] == "FAIL" and rows[0]["Sanity ρ"] == 0.7352
    assert rows[1]["Sanity"] == "not measured" and all(rows[1][c] is None for c in MEASURES if c != "Sanity")
    assert set(MEASURES) <= set(rows[0])
    assert "fails the sanity check on this model" in verdict_line("c3d_small", "smoothgrad")
    assert "no warning" in verdict_line("c3d_small", "grad_cam")
    assert "with n_samples=1000" in verdict_line("c3d_small", "lime") and "with" not in verdict_line("c3d_small", "grad_cam")
    assert "not measured" in verdict_line("i3d_k400", "grad_cam")

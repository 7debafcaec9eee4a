"""The out-of-distribution warning: the stored calibration (reloaded and recomputed), what it flags
and what it leaves alone, its hooks (gone after every check, also on error), and where its result
travels (Explanation, result.json, Live windows, the CLI); a model without calibration says so;
I3D (a real model) calibrated on real footage: quiet on the real sample clips where c3d_small warns."""
import copy
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from xai_core import cli, explain, load_model, load_video
from xai_core.data.synthetic import CLASSES, make_dataset
from xai_core.models import i3d_weights
from xai_core.models.base import ModelInfo, VideoModel
from xai_core.models.registry import DEFAULT_SPEC, bundled, bundled_names
from xai_core.ood import OODResult, calibration_path, check, detector_for
from xai_core.ood.calibrate import TermSpec, auroc, features, fit_detector
from xai_core.ood.check import (
    calibration_file,
    packaged_calibration_path,
    weights_digest,
)
from xai_core.ood.gaussian import fit_gaussians
from xai_core.ood.shrinkage import ledoit_wolf
from xai_core.relevance.export import result_json
from xai_core.relevance.stream import stream
from xai_core.video.clip import from_frames

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "assets" / "samples"
REAL = sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in {".mp4", ".mkv", ".gif"})
SYNTHETIC = sorted((SAMPLES / "synthetic").glob("*.mp4"))
CALIBRATED = [n for n in bundled_names() if calibration_path(bundled(n).weights).is_file()]
FRESH_SEED = 23          # never used by training, evaluation, the demo clips or other tests


def no_hooks(module: nn.Module) -> bool:
    return all(not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks) for m in module.modules())


@pytest.fixture(scope="module")
def models():
    if not CALIBRATED:
        pytest.skip("no calibrated model (python -m xai_core calibrate-ood --model all)")
    return {n: load_model(n) for n in CALIBRATED}


@pytest.fixture(scope="module")
def real_clips():
    return {p.name: load_video(p, DEFAULT_SPEC) for p in REAL}


@pytest.fixture(scope="module")
def shipped_clips():
    return {p.name: load_video(p, DEFAULT_SPEC) for p in SYNTHETIC}


@pytest.fixture(scope="module")
def fresh_clips():
    return make_dataset(100, FRESH_SEED).clips


# ------------------------------------------------------------------ the statistics, two ways


def test_ledoit_wolf_matches_the_per_sample_formula():
    rng = np.random.default_rng(0)
    for n, p in ((60, 6), (4, 12)):                     # many samples; fewer samples than dimensions
        X = rng.normal(size=(n, p)) @ rng.normal(size=(p, p)) + 3.0
        cov, shrinkage = ledoit_wolf(X)
        Xc = X - X.mean(0)
        S = Xc.T @ Xc / n
        mu = np.trace(S) / p
        delta2 = np.sum((S - mu * np.eye(p)) ** 2) / p
        beta2 = sum(np.sum((np.outer(x, x) - S) ** 2) for x in Xc) / n ** 2 / p      # Ledoit & Wolf 2004
        expected = min(beta2, delta2) / delta2
        assert shrinkage == pytest.approx(expected, rel=1e-10)
        np.testing.assert_allclose(cov, (1 - expected) * S + expected * mu * np.eye(p), rtol=1e-10, atol=1e-12)
        assert np.linalg.eigvalsh(cov).min() > 0


def test_class_conditional_mahalanobis_matches_a_direct_computation():
    rng = np.random.default_rng(1)
    labels = np.arange(120) % 4
    X = rng.normal(size=(120, 5)) + labels[:, None] * np.array([3.0, 0, 1, 0, 0])
    g = fit_gaussians(X, labels)
    means = np.stack([X[labels == k].mean(0) for k in range(4)])
    precision = np.linalg.inv(ledoit_wolf(X - means[labels])[0])
    Y = rng.normal(size=(7, 5)) * 4
    direct = [min((y - m) @ precision @ (y - m) for m in means) for y in Y]
    np.testing.assert_allclose(g.means, means, rtol=1e-12)
    np.testing.assert_allclose(g.distance(Y), direct, rtol=1e-9)
    one = fit_gaussians(X)                                    # no labels: one Gaussian
    assert one.means.shape == (1, 5)
    np.testing.assert_allclose(one.means[0], X.mean(0), rtol=1e-12)


def test_diagonal_gaussian_is_the_ledoit_wolf_diagonal_and_survives_the_file(tmp_path):
    from xai_core.ood.detector import Detector, Term, load_detector
    from xai_core.ood.gaussian import fit_diagonal

    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 6)) * np.array([1.0, 2, 3, 0.01, 5, 6]) + 7
    g = fit_diagonal(X)
    cov, shrinkage = ledoit_wolf(X)
    np.testing.assert_allclose(g.precision, 1 / np.diag(cov), rtol=1e-12)
    assert g.shrinkage == pytest.approx(shrinkage)
    Y = rng.normal(size=(5, 6))
    np.testing.assert_allclose(g.distance(Y), (((Y - X.mean(0)) ** 2) / np.diag(cov)).sum(1), rtol=1e-10)
    path = Detector([Term("t", "layer", "x", g, 0.5, 2.0)], 1.0).save(tmp_path / "d.ood.safetensors")
    back = load_detector(path)
    np.testing.assert_array_equal(back.terms[0].gaussians.precision, g.precision)


def test_threshold_is_the_stated_percentile_and_auroc_counts_pairs():
    rng = np.random.default_rng(2)
    fit = {"x": rng.normal(size=(200, 3))}
    held = {"x": rng.normal(size=(100, 3))}
    detector, scores = fit_detector([TermSpec("x", "input", None, per_class=False)], fit, None, held, 99.0)
    assert detector.threshold == pytest.approx(np.percentile(scores, 99.0))
    assert np.median(scores) == pytest.approx(0.0, abs=1e-12)        # z scores centred on held-out clips
    neg, pos = np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0])
    pairs = [(p > q) + 0.5 * (p == q) for p in pos for q in neg]
    assert auroc(neg, pos) == pytest.approx(np.mean(pairs))


# -------------------------------------------------------------------- the stored calibration


@pytest.mark.parametrize("name", CALIBRATED)
def test_stored_calibration_loads_and_matches_a_recomputation(models, name):
    model = models[name]
    detector, reason = detector_for(model)
    assert detector is not None, reason
    path = calibration_path(bundled(name).weights)
    assert path.stat().st_size < 64 * 1024                     # means, precisions, metadata: small
    meta = detector.meta
    assert meta["model"]["name"] == name and "threshold_rule" in meta["calibration"]
    assert meta["calibration"]["fit"]["seed"] == 1             # the training seed (models/train.py)
    ref = meta["check"]
    clips = make_dataset(ref["n"], ref["seed"]).clips
    feats, _ = features(model, clips, detector.terms)
    # float32 features (sums over <= 10^6 voxels) move a log distance by ~1e-5: 1e-3 is ample
    np.testing.assert_allclose(detector.score(feats), ref["scores"], atol=1e-3)
    one = check(model, from_frames(clips[0], model.spec))      # the public entry, one clip at a time
    assert one.calibrated and one.score == pytest.approx(ref["scores"][0], abs=1e-3)
    assert one.threshold == pytest.approx(detector.threshold)


@pytest.mark.parametrize("name", CALIBRATED)
def test_real_sample_clips_are_flagged(models, real_clips, name):
    model = models[name]
    missed = [f for f, clip in real_clips.items() if not check(model, clip).out_of_distribution]
    assert not missed, f"{name} did not flag {missed}"


@pytest.mark.parametrize("name", CALIBRATED)
def test_fresh_and_shipped_synthetic_clips_are_not_flagged(models, fresh_clips, shipped_clips, name):
    model = models[name]
    detector, _ = detector_for(model)
    scores = detector.score(features(model, fresh_clips, detector.terms)[0])
    # threshold: 99th percentile of held-out clips -> ~1 of 100 expected; P(more than 5) < 1e-3
    assert np.sum(scores > detector.threshold) <= 5
    flagged = [f for f, clip in shipped_clips.items() if check(model, clip).out_of_distribution]
    assert not flagged, f"{name} flagged the shipped synthetic demo clips {flagged}"


# --------------------------------------------------------------------------------- hooks


class Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("forced failure after the hooked layers")


def test_hooks_are_removed_after_the_check_on_success_and_on_error(models, real_clips):
    model = models[CALIBRATED[0]]
    clip = next(iter(real_clips.values()))
    assert no_hooks(model)
    check(model, clip)
    assert no_hooks(model)
    explain(model, clip, "grad_cam")
    assert no_hooks(model)
    head = model.net.head
    model.net.head = Boom()
    try:
        with pytest.raises(RuntimeError, match="forced failure"):
            check(model, clip)
        assert no_hooks(model)
        with pytest.raises(RuntimeError, match="forced failure"):
            explain(model, clip, "grad_cam")
        assert no_hooks(model)
    finally:
        model.net.head = head


# -------------------------------------------------------------- where the result travels


def test_explanation_and_result_json_carry_the_check(models, real_clips):
    model = models[CALIBRATED[0]]
    clip = real_clips[REAL[0].name]
    exp = explain(model, clip, "grad_cam")
    assert isinstance(exp.ood, OODResult) and exp.ood.out_of_distribution
    assert exp.ood.score == pytest.approx(check(model, clip).score, abs=1e-4)   # the same forward pass
    assert exp.ood.model in exp.ood.message and "treat its answer with caution" in exp.ood.message
    body = json.loads(json.dumps(result_json(exp), allow_nan=False))            # strict JSON
    assert body["ood"]["calibrated"] is True and body["ood"]["out_of_distribution"] is True
    assert body["ood"]["threshold"] == pytest.approx(exp.ood.threshold)
    assert set(body["ood"]["terms"]) == {t.name for t in detector_for(model)[0].terms}


def test_live_windows_carry_the_check(models):
    model = models[CALIBRATED[0]]
    gif = SAMPLES / "intel_face-demographics-walking.gif"
    first = next(iter(stream(model, gif, "grad_cam", stride=16)))
    assert isinstance(first.ood, OODResult) and first.ood.calibrated
    assert first.ood is first.explanation.ood


def test_cli_prints_one_warning_line_for_real_footage(models, tmp_path, capsys):
    real = SAMPLES / "intel_asl_yes.mkv"
    assert cli.main(["explain", str(real), "--model", CALIBRATED[0], "--method", "grad_cam",
                     "--out", str(tmp_path / "real")]) == 0
    out = capsys.readouterr().out.splitlines()
    warnings = [line for line in out if line.startswith("warning: ")]
    assert len(warnings) == 1 and "unlike anything" in warnings[0]
    result = json.loads((tmp_path / "real" / "result.json").read_text())
    assert result["ood"]["out_of_distribution"] is True


def test_the_html_report_warns_about_real_footage(models):
    from xai_core import explain, load_video
    from xai_core.render import html_report
    model = models[CALIBRATED[0]]
    real = explain(model, load_video(SAMPLES / "intel_asl_yes.mkv", model.spec), "grad_cam")
    synthetic = explain(model, load_video(SAMPLES / "synthetic" / "jump.mp4", model.spec), "grad_cam")
    assert 'data-figure="ood"' in html_report([real]) and "unlike anything" in html_report([real])
    assert 'data-figure="ood"' not in html_report([synthetic])


# ---------------------------------------------------------------- no calibration, honestly


def _copy_of(name: str, folder: Path, *, calibration: bool, alter_weights: bool = False) -> VideoModel:
    """A bundled model loaded as a user model from weights in `folder`, with or without a copy of
    its calibration file next to them; `alter_weights` moves one weight by 1e-3."""
    source = load_model(name)
    net = bundled(name).factory(len(CLASSES))
    net.load_state_dict(source.net.state_dict())
    if alter_weights:
        with torch.no_grad():
            next(net.parameters()).add_(1e-3)
    weights = folder / f"{name}_copy.safetensors"
    shutil.copy(bundled(name).weights, weights)
    if calibration:
        shutil.copy(calibration_path(bundled(name).weights), calibration_path(weights))
    info = ModelInfo(f"{name}_copy", list(CLASSES), DEFAULT_SPEC, source.info.cam_layer, source.info.family,
                     source="user", weights=str(weights))
    return VideoModel(net, info).eval()


def test_a_model_without_calibration_says_not_calibrated(models, real_clips, tmp_path):
    model = _copy_of(CALIBRATED[0], tmp_path, calibration=False)
    clip = real_clips[REAL[0].name]
    result = check(model, clip)
    assert result.calibrated is False and result.score is None and result.out_of_distribution is None
    assert result.message.startswith("not calibrated")
    exp = explain(model, clip, "grad_cam")
    assert exp.ood.calibrated is False
    body = json.loads(json.dumps(result_json(exp), allow_nan=False))
    assert body["ood"]["calibrated"] is False and body["ood"]["score"] is None
    assert no_hooks(model)


def test_a_calibration_for_other_weights_or_a_broken_file_is_not_used(models, real_clips, tmp_path):
    clip = real_clips[REAL[0].name]
    altered = _copy_of(CALIBRATED[0], tmp_path, calibration=True, alter_weights=True)
    result = check(altered, clip)
    assert not result.calibrated and "other weights" in result.message
    (tmp_path / "same").mkdir()
    same = _copy_of(CALIBRATED[0], tmp_path / "same", calibration=True)    # identical bytes: accepted
    assert check(same, clip).calibrated
    broken = _copy_of(CALIBRATED[0], tmp_path, calibration=False)
    calibration_path(broken.info.weights).write_bytes(b"not a safetensors file")
    result = check(broken, clip)
    assert not result.calibrated and calibration_path(broken.info.weights).name in result.message


def test_non_finite_input_is_out_of_distribution_and_strict_json(models):
    model = models[CALIBRATED[0]]
    video = torch.full((1, 3, model.spec.frames, *model.spec.size), float("nan"))   # (1, C, T, H, W)
    result = check(model, video)
    assert result.out_of_distribution is True and "not finite" in result.message
    assert json.loads(json.dumps(result.to_dict(), allow_nan=False))["score"] is None


# ------------------------------------------------- a real model: I3D, calibrated on real footage


@pytest.fixture(scope="module")
def i3d():
    if i3d_weights.find_checkpoint() is None:
        if os.environ.get("XAI_REQUIRE_I3D"):
            pytest.fail(f"I3D's weights are not installed: {i3d_weights.INSTALL}", pytrace=False)
        pytest.skip(f"I3D's weights not installed ({i3d_weights.INSTALL})")
    return load_model("i3d_k400")


def test_i3d_calibration_ships_in_the_repo_for_exactly_the_converted_weights(i3d):
    path = packaged_calibration_path("i3d_k400")
    assert path.parent == ROOT / "assets" / "weights" and path.is_file()
    assert calibration_file(i3d) == path                      # not next to the weights in the user's cache
    assert path.stat().st_size < 64 * 1024                    # diagonal precision: small
    detector, reason = detector_for(i3d)
    assert detector is not None, reason
    meta = detector.meta
    assert meta["model"]["name"] == "i3d_k400" and meta["model"]["weights_digest"] == weights_digest(i3d.net)
    assert meta["calibration"]["kind"] == "real footage" and meta["measured"]["evaluation"] == "leave one video out"
    assert meta["measured"]["fpr_held_out_videos"] == meta["measured"]["detector"]["fpr"]
    altered = VideoModel(copy.deepcopy(i3d.net), i3d.info).eval()   # one weight moved: the calibration is refused
    with torch.no_grad():
        next(altered.net.parameters()).add_(1e-3)
    result = check(altered, torch.zeros(1, 3, i3d.spec.frames, *i3d.spec.size))     # no forward pass runs
    assert not result.calibrated and "other weights" in result.message


def test_compare_page_i3d_is_quiet_on_real_sample_clips_where_c3d_small_warns(i3d, models):
    """The same real clip beside each model, at each model's own input (I3D: T = 32, 224 x 224)."""
    stored = detector_for(i3d)[0].meta["check"]["whole"]
    for path in REAL:
        result = check(i3d, load_video(path, i3d.spec))
        assert result.calibrated and result.out_of_distribution is False, f"{path.name}: {result.message}"
        # the calibration read the same file whole (display_size=None: the same model frames here)
        assert result.score == pytest.approx(stored[path.name], abs=0.05)
        assert check(models["c3d_small"], load_video(path, DEFAULT_SPEC)).out_of_distribution is True


def test_i3d_warns_on_procedural_clips_and_noise(i3d):
    detector, _ = detector_for(i3d)
    stored = detector.meta["check"]["ood"]
    for name in ("jump.mp4", "sit_down.mp4"):                  # two shipped demo clips the bundled models know
        result = check(i3d, load_video(SAMPLES / "synthetic" / name, i3d.spec))
        assert result.out_of_distribution is True, result.message
        assert result.score == pytest.approx(stored[f"synthetic_shipped/{name}"], abs=0.05)
    noise = np.random.default_rng(0).integers(0, 256, (i3d.spec.frames, *i3d.spec.size, 3), dtype=np.uint8)
    assert check(i3d, from_frames(noise, i3d.spec)).out_of_distribution is True
    flagged = detector.meta["measured"]["in_sample"]["ood_flagged"]
    assert flagged["synthetic_shipped"] >= 6 and flagged["noise_uniform"] == 6    # as docs/models.md reports


def test_observe_reads_only_the_first_pass_of_its_own_thread():
    """The hooks sit on a model other threads (other sessions) may run at the same time: a pass run
    by another thread inside the block, or a second pass of this thread, is not read as the first
    (found under load by tests/test_concurrency.py: "the first pass ran 1 clips, not 6")."""
    import threading

    from xai_core.ood.capture import observe

    model = load_model("c3d_small")
    detector, _ = detector_for(model)
    assert detector is not None
    x = torch.from_numpy(make_dataset(3, 9).clips).permute(0, 4, 1, 2, 3).float().div(255)
    x = (x - torch.tensor(DEFAULT_SPEC.mean).view(1, 3, 1, 1, 1)) / torch.tensor(DEFAULT_SPEC.std).view(1, 3, 1, 1, 1)
    with torch.no_grad():
        with observe(model, detector.terms) as alone:
            model(x)
        with observe(model, detector.terms) as seen:
            other = threading.Thread(target=lambda: model(x[:1]))
            other.start()
            other.join()                                       # another thread's pass: not counted
            model(x)
            model(x[:2])                                       # a second pass: not counted
    assert seen.batch == 3 and set(seen.features) == set(alone.features)
    for k in alone.features:
        np.testing.assert_array_equal(seen.features[k], alone.features[k])

"""Rendering: colour scales, overlays, the tube and its path, curves, videos, PNGs."""
from __future__ import annotations

import cv2
import torch
import numpy as np
import pytest

from xai_core.errors import XaiError
from xai_core.relevance.explanation import Explanation
from xai_core.render import (colorize, curve_figure, curve_png, frame_strip, normalise, overlay,
                             overlay_video, relevance_path, render_tube, robust_scale, save_png,
                             shared_scale, to_png, tube_image, write_outputs, write_video)
from xai_core.spec import InputSpec
from xai_core.video.clip import from_frames

T, H, W = 16, 64, 64


def _frames(T=T, h=96, w=128, seed=0):
    """Smooth random frames (T, h, w, 3) uint8 at a display size unlike the model grid."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (T, 6, 8, 3)).astype(np.uint8)
    return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in small])


def _moving_blob(T=T, start=8, step=3, y=32, r=3):
    """One hot blob per frame whose centre moves `step` pixels per frame along x."""
    rel = np.zeros((T, H, W), np.float32)
    centres = []
    for t in range(T):
        cx = start + step * t
        rel[t, y - r:y + r, cx - r:cx + r] = 1.0
        centres.append((cx, y))                # pixel-centre coordinates of the blob's middle
    return rel, np.array(centres, float)


# ------------------------------------------------------------------------------ colour scale


def test_normalise_ranges_and_sign():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(T, H, W)).astype(np.float32)
    pos, sig, ab = normalise(r, "positive"), normalise(r, "signed"), normalise(r, "absolute")
    assert pos.min() >= 0 and pos.max() <= 1 and pos.dtype == np.float32
    assert sig.min() >= -1 and sig.max() <= 1
    assert np.array_equal(np.sign(sig), np.sign(r))          # signed keeps every sign
    assert np.all(pos[r <= 0] == 0)
    np.testing.assert_allclose(ab, np.abs(sig))              # same |r| scale for both


def test_shared_scale_with_one_clip_is_the_clips_own_scale():
    r = np.random.default_rng(1).normal(size=(T, H, W)).astype(np.float32)
    for mode in ("positive", "signed", "absolute"):
        s = shared_scale([r], mode)
        assert s == robust_scale(r, mode)
        np.testing.assert_array_equal(normalise(r, mode, scale=s), normalise(r, mode))


def test_shared_scale_gives_equal_colours_for_equal_values():
    a = np.random.default_rng(2).random((T, H, W)).astype(np.float32)
    b = 3 * a
    s = shared_scale([a, b])
    np.testing.assert_allclose(normalise(b, scale=s)[b < s], 3 * normalise(a, scale=s)[b < s], rtol=1e-5)
    assert robust_scale(a) < s < robust_scale(b) + 1e-6


def test_one_hot_voxel_does_not_wash_out_the_rest():
    r = np.random.default_rng(3).random((T, H, W)).astype(np.float32)
    r[5, 10, 10] = 1e4
    v = normalise(r)
    assert 0.4 < np.median(v) < 0.6                          # a max scale would give ~5e-5
    assert v[5, 10, 10] == 1.0


def test_no_relevance_normalises_to_zero():
    assert not normalise(np.zeros((T, H, W))).any()
    assert not normalise(-np.ones((T, H, W)), "positive").any()


def test_colorize_maps_into_rgb():
    rgb = colorize(np.linspace(-1, 1, 11), "signed")
    assert rgb.shape == (11, 3) and rgb.dtype == np.uint8
    assert rgb[-1, 0] > rgb[-1, 2] and rgb[0, 2] > rgb[0, 0]   # red for, blue against


# ---------------------------------------------------------------------------------- overlay


def test_overlay_shape_and_zero_relevance_is_the_frame():
    frames = _frames()
    out = overlay(frames, np.zeros((T, H, W), np.float32))
    assert out.shape == frames.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, frames)


def test_overlay_leaves_low_relevance_areas_untouched():
    frames = _frames()
    rel, _ = _moving_blob(step=0, start=12, y=12)            # a blob in the top-left corner
    for mode, contour in (("positive", None), ("signed", 0.5)):
        out = overlay(frames, rel, mode=mode, contour=contour)
        np.testing.assert_array_equal(out[:, 48:, 64:], frames[:, 48:, 64:])   # far from the blob
        assert np.abs(out[:, 18, 24].astype(int) - frames[:, 18, 24]).max() > 20  # on the blob


def test_overlay_rejects_mismatched_frames():
    with pytest.raises(ValueError, match="T=16"):
        overlay(_frames(), np.zeros((8, H, W)))


# ------------------------------------------------------------------------------------- tube


def test_tube_image_size_and_content():
    frames = _frames(h=256, w=256)
    rel, _ = _moving_blob()
    image = tube_image(frames, rel, width=900, title="test")
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[1] == 900
    assert 200 < image.shape[0] < 600
    assert image.std() > 20                                   # not blank


def test_relevance_path_finds_the_blob_centre():
    rel, centres = _moving_blob()
    np.testing.assert_allclose(relevance_path(rel), centres, atol=1e-6)
    assert np.abs(relevance_path(rel, how="peak") - centres).max() <= 3     # a pixel of the blob
    rel[4] = 0
    assert np.isnan(relevance_path(rel)[4]).all()


def _tile_fraction(tube, points):
    """Invert each shown frame's shear: canvas points -> (x, y) as fractions of the frame."""
    out = []
    for (tl, tr, br, bl), p in zip(tube.corners, points):
        basis = np.stack([tr - tl, bl - tl], 1)               # columns: frame x and y axes
        out.append(np.linalg.solve(basis, p - tl))
    return np.array(out)


@pytest.mark.parametrize("step, front", [(3, "last"), (-3, "last"), (3, "first")])
def test_tube_path_passes_through_the_relevance_peaks(step, front):
    rel, centres = _moving_blob(start=8 if step > 0 else 56, step=step)
    tube = render_tube(_frames(), rel, front=front)
    assert tube.indices == list(range(T))
    assert not np.isnan(tube.path).any()
    frac = _tile_fraction(tube, tube.path)                   # (T, 2) in [0, 1]
    np.testing.assert_allclose(frac, centres / [W, H], atol=0.02)
    assert np.all(np.sign(np.diff(frac[:, 0])) == np.sign(step))   # the path moves with the blob


def test_tube_subsamples_long_clips_and_keeps_key_frames():
    rel, _ = _moving_blob(T=40, start=4, step=1)
    rel[23] *= 5                                              # a frame that must be shown
    tube = render_tube(_frames(T=40), rel, max_frames=12, key_frames=[23, 37])
    assert len(tube.indices) <= 12 and {23, 37} <= set(tube.indices)
    assert tube.indices == sorted(tube.indices) and tube.key_frames == [23, 37]
    assert tube.corners.shape == (len(tube.indices), 4, 2) and tube.path.shape == (len(tube.indices), 2)


def test_tube_without_relevance_has_no_path():
    tube = render_tube(_frames(T=6), np.zeros((6, H, W), np.float32))
    assert np.isnan(tube.path).all() and tube.key_frames == []


def test_a_part_too_faint_to_show_on_a_shared_scale_has_no_path_and_no_key_frame():
    """The spatial part of a motion clip drawn on the scale of the whole: 1e-6 of it is no heat at
    all, so no centroid line and no framed key frame (the fresh-user check saw both on a blank tube);
    a tenth of the scale and more still gets them."""
    rel, _ = _moving_blob()
    scale = float(np.abs(rel).max())
    faint = render_tube(_frames(), rel * 1e-6, scale=scale, key_frames=[3, 9])
    assert np.isnan(faint.path).all() and faint.key_frames == []
    shown = render_tube(_frames(), rel * 0.5, scale=scale, key_frames=[3, 9])
    assert not np.isnan(shown.path).any() and shown.key_frames == [3, 9]


# ------------------------------------------------------------------------------------ curve


def _curves():
    rel, _ = _moving_blob()
    rel *= np.linspace(0.2, 2.0, T)[:, None, None]
    from xai_core.relevance.temporal import temporal_curve
    return {"rising": temporal_curve(rel), "falling": temporal_curve(rel[::-1])}


def test_curve_png_decodes():
    curves = _curves()
    for c in (curves, curves["rising"]):
        png = curve_png(c, thumbnails=_frames(), title="curve")
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[1] == 900 and image.std() > 5


def test_curve_figure_has_one_trace_per_curve():
    curves = _curves()
    fig = curve_figure(curves, key_frames=[3, 9], thumbnails=_frames())
    assert len(fig.data) == len(curves)
    assert [t.name for t in fig.data] == list(curves)
    assert len(fig.layout.images) == 2                      # a thumbnail per key frame
    assert len(curve_figure(curves["rising"]).data) == 1


def test_curves_must_share_a_length():
    with pytest.raises(ValueError, match="same length"):
        curve_png({"a": np.ones(4), "b": np.ones(5)})


# ------------------------------------------------------------------------------------ video


@pytest.mark.parametrize("suffix", [".webm", ".mp4"])
def test_write_video_reads_back(tmp_path, suffix):
    frames = _frames(T=12, h=64, w=64)
    path = write_video(tmp_path / f"clip{suffix}", frames, fps=8)
    cap = cv2.VideoCapture(str(path))
    read = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        read.append(f)
    cap.release()
    assert len(read) == 12
    assert read[0].shape == (256, 256, 3)                     # 64 px grown 4x, whole pixels


def test_write_video_makes_even_sizes_and_overlays(tmp_path):
    frames = _frames(T=4, h=135, w=241)
    path = overlay_video(tmp_path / "odd.mp4", frames, np.random.default_rng(0).random((4, H, W)))
    cap = cv2.VideoCapture(str(path))
    w, h = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
    assert (h % 2, w % 2) == (0, 0) and min(h, w) >= 256


def test_webm_falls_back_to_opencv_without_pyav(tmp_path, monkeypatch):
    from xai_core.render import video

    def broken(*args):
        raise ImportError("no av")
    monkeypatch.setattr(video, "_write_av", broken)
    path = write_video(tmp_path / "clip.webm", _frames(T=3, h=64, w=64))
    cap = cv2.VideoCapture(str(path))
    assert cap.read()[0] and cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 256
    with pytest.raises(XaiError, match="no av"):
        write_video(tmp_path / "clip.mp4", _frames(T=3))


def test_write_video_rejects_unknown_suffix(tmp_path):
    with pytest.raises(XaiError, match=".avi"):
        write_video(tmp_path / "clip.avi", _frames(T=2))


# ---------------------------------------------------------------------------- png and export


def test_png_round_trip_keeps_rgb(tmp_path):
    image = _frames(T=1)[0]
    decoded = cv2.imdecode(np.frombuffer(to_png(image), np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    np.testing.assert_array_equal(decoded, image)
    assert save_png(tmp_path / "a" / "x.png", image).read_bytes() == to_png(image)


def test_frame_strip_shows_the_chosen_frames():
    rel, _ = _moving_blob()
    strip = frame_strip(_frames(), rel, [0, 5, 10], height=96)
    assert strip.dtype == np.uint8 and strip.shape[0] > 96 and strip.shape[1] > 3 * 128


def test_write_outputs_for_an_explanation(tmp_path):
    spec = InputSpec(frames=T, height=H, width=W, mean=(0.5,) * 3, std=(0.25,) * 3)
    model_frames = _frames(h=H, w=W)
    clip = from_frames(model_frames, spec, display=_frames(h=128, w=128))
    rel, _ = _moving_blob()
    exp = Explanation(rel, 1, np.array([0.3, 0.7]), ["a", "b"], "saliency", "toy", clip=clip)
    paths = write_outputs(exp, tmp_path)
    assert {p.name for p in paths.values()} == {"tube.png", "curve.png", "overlay.webm"}
    assert all(p.stat().st_size > 0 for p in paths.values())


# ------------------------------------------------------------------- no evidence for the class


class _Dimmer(torch.nn.Module):
    """A tiny video classifier whose class 0 score falls as the clip gets brighter: -mean(x)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):                                         # (N, C, T, H, W) -> (N, 2)
        m = x.mean((1, 2, 3, 4)) * self.w
        return torch.stack([-m, m], 1)


@pytest.fixture(scope="module")
def against():
    """Occlusion of class 0 of _Dimmer on a bright clip: greying out any box (to 0) raises the
    score, so every voxel's relevance is < 0 (no evidence for the class at all)."""
    from xai_core.models.base import ModelInfo, VideoModel
    from xai_core.relevance.explanation import explain

    spec = InputSpec(frames=8, height=32, width=32, mean=(0.0,) * 3, std=(1.0,) * 3)
    model = VideoModel(_Dimmer(), ModelInfo("dimmer", ["dark", "bright"], spec)).eval()
    frames = (64 + _frames(T=8, h=32, w=32) // 2).astype(np.uint8)             # every pixel > 0
    clip = from_frames(frames, spec, source="bright.webm", display=_frames(T=8, h=96, w=128))
    return model, explain(model, clip, "occlusion", target=0, window=(2, 8, 8), stride=(2, 8, 8))


def test_the_case_has_only_evidence_against(against):
    from xai_core.relevance.evidence import evidence
    _, exp = against
    r = exp.relevance
    assert r.max() < 0                                            # every box lowered nothing: all against
    ev = evidence(r)
    assert not ev.positive and ev.kind == "against" and ev.for_class == 0
    assert ev.against == pytest.approx(float(-r.astype(np.float64).sum()), rel=1e-6)
    assert not exp.curve.any() and exp.key_frames() == []         # the positive curve is empty


def test_tube_without_evidence_for_draws_the_evidence_against(against):
    _, exp = against
    frames = exp.clip.display
    tube = render_tube(frames, exp.relevance, title="t")
    blank = render_tube(frames, np.zeros_like(exp.relevance), title="t")
    assert tube.mode == "against" and "No evidence for the class" in tube.note
    assert tube.image.shape == blank.image.shape and blank.note.startswith("No relevance at all")
    changed = np.abs(tube.image.astype(int) - blank.image.astype(int)).sum(-1) > 30
    assert changed.mean() > 0.05                                  # not an empty tube
    moved = tube.image[changed].astype(int) - blank.image[changed].astype(int)
    assert (moved[:, 2] - moved[:, 0]).mean() > 10                # what was added is blue
    assert not np.isnan(tube.path).any()                          # a path through the evidence against
    signed = render_tube(frames, exp.relevance, mode="signed")    # not an all-blue signed tube without words
    assert signed.mode == "against" and signed.note


def test_curves_without_evidence_say_so(against):
    from xai_core.relevance.temporal import temporal_curve
    _, exp = against
    against_curve = temporal_curve(exp.relevance, "against")
    assert against_curve.sum() == pytest.approx(1.0) and against_curve.min() > 0
    fig = curve_figure(against_curve, against=True)
    words = " ".join(a.text for a in fig.layout.annotations)
    assert "No evidence for the class" in words and fig.layout.yaxis.title.text == "share of evidence against"
    empty = curve_figure({"a": exp.curve, "b": exp.curve})           # all-zero curves: said in words
    assert any("No evidence" in a.text for a in empty.layout.annotations)
    assert "No evidence" not in " ".join(a.text or "" for a in curve_figure(_curves()).layout.annotations)
    image = cv2.imdecode(np.frombuffer(curve_png(against_curve, against=True), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.std() > 5


def test_outputs_json_summary_and_report_without_evidence_for(against, tmp_path):
    import json

    from xai_core.relevance.export import result_json
    from xai_core.relevance.summary import summarise
    from xai_core.render import html_report
    _, exp = against
    body = json.loads(json.dumps(result_json(exp), allow_nan=False))     # strict JSON
    assert body["evidence"]["positive"] is False and body["evidence"]["for"] == 0
    assert body["evidence"]["against"] == pytest.approx(float(-exp.relevance.astype(np.float64).sum()), rel=1e-6)
    sentence = summarise(exp)
    assert "no evidence for this class" in sentence and "evidence against it lies mostly in" in sentence

    paths = write_outputs(exp, tmp_path)
    cap = cv2.VideoCapture(str(paths["overlay"]))
    ok, first = cap.read()
    assert ok and first.shape[0] * 128 > first.shape[1] * 96 * 1.1    # a band of words under the frames
    tube = cv2.imread(str(paths["tube"]))
    assert tube is not None and tube.std() > 20

    html = html_report([exp])
    assert 'data-figure="no-evidence"' in html and "No evidence for dark" in html
    assert "the evidence against, in blue, on its own scale" in html


def test_positive_evidence_is_not_flagged():
    from xai_core.relevance.evidence import evidence, no_evidence_note, shown_mode
    rel, _ = _moving_blob()
    assert evidence(rel).positive and shown_mode(rel) == "positive" and no_evidence_note(rel) is None
    assert shown_mode(rel - 0.5, "signed") == "signed"              # some for, some against: as asked
    noise = -np.ones((T, H, W), np.float32)
    noise[0, 0, 0] = 1e-7                                           # float noise is not evidence
    assert not evidence(noise).positive and shown_mode(noise) == "against"
    assert render_tube(_frames(), rel).note is None


def test_cli_says_when_there_is_no_evidence_for_the_class(against, tmp_path, monkeypatch, capsys):
    import json

    import xai_core
    from xai_core.cli import main
    model, exp = against
    video = write_video(tmp_path / "bright.webm", exp.clip.frames, fps=8)
    monkeypatch.setattr(xai_core, "load_model", lambda name, device="cpu", trust=(): model)
    code = main(["explain", str(video), "--model", "dimmer", "--method", "occlusion", "--target", "dark",
                 "--option", "window=[2, 8, 8]", "--option", "stride=[2, 8, 8]", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(out) == 2
    assert out[1].startswith("No evidence for dark: the method found only evidence against it")
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["evidence"]["positive"] is False and result["evidence"]["against"] > 0


# ----------------------------------------------------------------------- tube of a long, wide clip


@pytest.mark.parametrize("aspect, most", [(1.0, 16), (16 / 9, 12), (3.0, 8)])
def test_wide_frames_get_fewer_larger_frames(aspect, most):
    from xai_core.render.tube import fit_frames
    n = fit_frames(80, aspect, 900)
    assert 4 <= n <= most
    assert fit_frames(80, 1.0, 900) >= fit_frames(80, 16 / 9, 900) >= fit_frames(80, 3.0, 900)
    h = round(256 / aspect)
    tube = render_tube(_frames(T=80, h=h, w=256), np.random.default_rng(0).random((80, H, W)), width=900)
    tile_h = tube.corners[0, 3, 1] - tube.corners[0, 0, 1]
    assert len(tube.indices) == n and tile_h >= 0.16 * 900 - 1 or len(tube.indices) == 4


def test_path_runs_dashed_through_weak_frames_instead_of_breaking():
    rel, centres = _moving_blob()
    rel[5:9] *= 0.2                                               # four weak frames in the middle
    rel[11] *= 0.01                                               # one with almost nothing: no point
    tube = render_tube(_frames(), rel)
    assert np.isnan(tube.path[:, 0]).tolist() == [t == 11 for t in range(T)]
    assert tube.faint.tolist() == [5 <= t < 9 or t == 11 for t in range(T)]
    frac = _tile_fraction(tube, tube.path)
    ok = ~np.isnan(frac[:, 0])
    np.testing.assert_allclose(frac[ok], (centres / [W, H])[ok], atol=0.02)   # weak frames at their centre
    # the line is unbroken: drawn between the points of frames 10 and 12, across frame 11
    bare = render_tube(_frames(), rel, path=None).image.astype(int)
    a, b = tube.path[10], tube.path[12]
    along = [np.round(a + (b - a) * f).astype(int) for f in np.linspace(0.15, 0.85, 40)]
    drawn = [np.abs(tube.image[y, x].astype(int) - bare[y, x]).sum() > 60 for x, y in along]
    assert np.mean(drawn) > 0.4                                   # dashes: more than half the way

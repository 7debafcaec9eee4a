"""One picture for space and time (render/spacetime.py) and the colour science that checks it
(render/colorvision.py): hues that colour-blind viewers can tell apart, a monotone scale, and the
renderings' behaviour on purely temporal, purely spatial and empty splits.

The simulated legend goes to test-artifacts/spacetime_cvd.png (normal, protanopia, deuteranopia,
tritanopia, left to right): look at it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xai_core.motion.split import Split
from xai_core.render import (spacetime_colors, spacetime_legend, spacetime_overlay, spacetime_tube,
                             spacetime_video)
from xai_core.render.colorvision import (MACHADO, delta_e_2000, lab_to_srgb, simulate_cvd,
                                         srgb_to_lab)
from xai_core.render.png import save_png
from xai_core.render.spacetime import APPEARANCE, MOTION, share_lut, spacetime_field
from xai_core.render.tube import render_tube

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
KINDS = list(MACHADO)                                   # protanopia, deuteranopia, tritanopia


def de(a, b):
    return delta_e_2000(srgb_to_lab(a), srgb_to_lab(b))


# -------------------------------------------------------------------------------- colorvision


@pytest.mark.parametrize("lab1, lab2, expected", [    # Sharma, Wu & Dalal 2005, Table 1
    ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
    ((50, -1.3802, -84.2814), (50, 0, -82.7485), 1.0000),
    ((50, 0, 0), (50, -1, 2), 2.3669),
    ((50, 2.49, -0.001), (50, -2.49, 0.0009), 7.1792),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.694), (23.0331, 14.973, -42.5619), 2.0373),
    ((90.8027, -2.0831, 1.441), (91.1528, -1.6435, 0.0447), 1.4441),
    ((2.0776, 0.0795, -1.135), (0.9033, -0.0636, -0.5514), 0.9082),
])
def test_ciede2000_matches_sharmas_table(lab1, lab2, expected):
    assert float(delta_e_2000(lab1, lab2)) == pytest.approx(expected, abs=1e-4)
    assert float(delta_e_2000(lab2, lab1)) == pytest.approx(expected, abs=1e-4)


def test_srgb_lab_round_trip_and_reference_values():
    assert srgb_to_lab(np.array([255, 0, 0], np.uint8)) == pytest.approx([53.2408, 80.0925, 67.2032], abs=1e-3)
    assert srgb_to_lab(np.array([255, 255, 255], np.uint8)) == pytest.approx([100, 0, 0], abs=1e-3)
    rgb = np.random.default_rng(0).integers(0, 256, (500, 3)).astype(np.uint8)
    assert np.array_equal(lab_to_srgb(srgb_to_lab(rgb)), rgb)


def test_cvd_simulation_keeps_greys_and_merges_red_with_green():
    greys = np.repeat(np.arange(0, 256, 15, dtype=np.uint8)[:, None], 3, 1)
    red, green = np.array([200, 40, 40], np.uint8), np.array([90, 120, 40], np.uint8)
    for kind in KINDS:
        assert np.abs(simulate_cvd(greys, kind).astype(int) - greys).max() <= 1   # rows sum to 1
    normal = float(de(red, green))                              # far apart with normal vision ...
    assert normal > 40
    for kind in ("protanopia", "deuteranopia"):                 # ... and close without L or M cones
        assert de(simulate_cvd(red, kind), simulate_cvd(green, kind)) < normal / 3
    with pytest.raises(ValueError, match="deuteranopia"):
        simulate_cvd(red, "nope")


# ------------------------------------------------------------------------- hues and the scale


@pytest.fixture(scope="module")
def field():
    """The legend's colour field, 64 shares x 32 magnitudes over white, and its simulations."""
    f = spacetime_field(64, 32)
    views = {"normal": f, **{k: simulate_cvd(f, k) for k in KINDS}}
    ARTIFACTS.mkdir(exist_ok=True)
    legend = spacetime_legend(260, 150)
    save_png(ARTIFACTS / "spacetime_cvd.png", np.concatenate(
        [legend] + [np.pad(simulate_cvd(legend, k), ((0, 0), (6, 0), (0, 0)), constant_values=255)
                    for k in KINDS], 1))
    return views


@pytest.mark.parametrize("view", ["normal"] + KINDS)
def test_the_two_hue_ends_stay_far_apart(field, view):
    """At full magnitude, appearance and motion differ by CIEDE2000 >= 40 in every view (10 is
    already 'clearly different'; a red-green pair measures < 12 under deuteranopia, above)."""
    f = field[view]
    assert float(de(f[0, 0], f[0, -1])) >= 40


@pytest.mark.parametrize("view", ["normal"] + KINDS)
def test_the_share_scale_is_monotone(field, view):
    """Along the share axis at full magnitude, every step moves further from the appearance end
    and closer to the motion end (CIEDE2000, in the simulated view)."""
    row = field[view][0]
    from_start = de(row[0], row)                                # (64,)
    to_end = de(row[-1], row)
    steps = np.arange(0, 64, 4)
    assert (np.diff(from_start[steps]) > 0).all() and (np.diff(to_end[steps]) < 0).all()


@pytest.mark.parametrize("view", ["normal"] + KINDS)
def test_the_magnitude_scale_is_monotone(field, view):
    """Down each column (magnitude falling), the colour moves towards the background, step by
    step, and stands out from it clearly at full magnitude."""
    f = field[view]
    white = np.array([255, 255, 255], np.uint8)
    for x in (0, 21, 42, 63):
        away = de(white, f[:, x])                               # (32,) top = full magnitude
        assert (np.diff(away) <= 1e-9).all() and away[0] > 25 and away[-1] == 0


def test_the_lut_runs_from_appearance_to_motion():
    lut = share_lut()
    assert tuple(lut[0]) == APPEARANCE and tuple(lut[-1]) == MOTION
    assert not lut.flags.writeable


# --------------------------------------------------------------------------------- renderings


def split_of(kind: str, shape=(6, 8, 8)) -> Split:
    """A blob of relevance in the middle, all temporal, all spatial, or none."""
    total = np.zeros(shape)
    total[:, 2:6, 2:6] = 1.0
    if kind == "none":
        total[:] = 0.0
    spatial = total if kind == "spatial" else np.zeros(shape)
    return Split.from_parts(total, spatial, "test")


def test_colors_follow_the_share_and_the_magnitude():
    for kind, colour in (("temporal", MOTION), ("spatial", APPEARANCE)):
        rgb, alpha = spacetime_colors(split_of(kind))
        assert rgb.shape == (6, 8, 8, 3) and rgb.dtype == np.uint8 and alpha.shape == (6, 8, 8)
        assert (rgb[:, 2:6, 2:6] == colour).all()
        assert (alpha[:, 2:6, 2:6] == 1.0).all() and (alpha[:, :2] == 0).all()
    rgb, alpha = spacetime_colors(split_of("none"))
    assert not alpha.any()


def frames_of(value=128, shape=(6, 32, 32)):
    return np.full((*shape, 3), value, np.uint8)


def test_overlay_draws_motion_orange_and_appearance_blue():
    frames = frames_of()
    hot = (slice(None), slice(12, 20), slice(12, 20))           # inside the blob on the 32 px grid
    temporal = spacetime_overlay(frames, split_of("temporal")).astype(int)
    spatial = spacetime_overlay(frames, split_of("spatial")).astype(int)
    assert temporal.shape == frames.shape
    assert (temporal[hot][..., 0] > 170).all() and (temporal[hot][..., 2] < 60).all()     # orange
    assert (spatial[hot][..., 2] > 170).all() and (spatial[hot][..., 0] < 80).all()       # blue
    assert (temporal[:, :4, :4] == 128).all() and (spatial[:, :4, :4] == 128).all()       # no relevance


def test_overlay_of_zero_relevance_is_the_frame():
    frames = np.random.default_rng(0).integers(0, 256, (6, 20, 30, 3)).astype(np.uint8)
    assert np.array_equal(spacetime_overlay(frames, split_of("none")), frames)


def test_overlay_rejects_mismatched_input():
    with pytest.raises(ValueError, match="T=5"):
        spacetime_overlay(frames_of(shape=(5, 8, 8)), split_of("temporal"))
    with pytest.raises(TypeError, match="Split"):
        spacetime_overlay(frames_of(), np.zeros((6, 8, 8)))


def colour_pixels(image, colour, tol=40):
    return int((np.abs(image.astype(int) - colour).sum(-1) < tol).sum())


def hue_pixels(image, kind: str, margin: int = 60) -> int:
    """Pixels clearly orange (red - blue > margin) or clearly blue (blue - red > margin)."""
    r, b = image[..., 0].astype(int), image[..., 2].astype(int)
    return int(((r - b > margin) if kind == "motion" else (b - r > margin)).sum())


@pytest.mark.parametrize("kind, shown, hidden", [("temporal", "motion", "appearance"),
                                                 ("spatial", "appearance", "motion")])
def test_tube_is_drawn_in_the_parts_hue(kind, shown, hidden):
    image = spacetime_tube(frames_of(200), split_of(kind), width=600, title=f"a {kind} split")
    ARTIFACTS.mkdir(exist_ok=True)
    save_png(ARTIFACTS / f"spacetime_tube_{kind}.png", image)
    stack = image[60:]                                         # below the header and its legend bar
    assert hue_pixels(stack, shown) > 500 and hue_pixels(stack, hidden) == 0
    header = image[:40]
    assert hue_pixels(header, "motion") > 100 and hue_pixels(header, "appearance") > 100   # the bar


def test_tube_rgba_hook_checks_its_shape():
    frames, r = frames_of(), np.ones((6, 8, 8), np.float32)
    with pytest.raises(ValueError, match="rgba"):
        render_tube(frames, r, rgba=np.ones((6, 8, 8, 3)))
    plain = render_tube(frames, r, width=500).image
    clear = render_tube(frames, r, width=500, rgba=np.zeros((6, 8, 8, 4))).image
    assert plain.shape == clear.shape and not np.array_equal(plain, clear)


def test_video_and_legend(tmp_path):
    path = spacetime_video(tmp_path / "split.webm", frames_of(), split_of("temporal"), fps=4)
    assert path.exists() and path.stat().st_size > 0
    legend = spacetime_legend(200, 100)
    assert legend.shape == (100, 200, 3) and legend.dtype == np.uint8
    assert colour_pixels(legend, MOTION, 30) > 0 and colour_pixels(legend, APPEARANCE, 30) > 0
    with pytest.raises(ValueError, match="at least"):
        spacetime_legend(50, 50)

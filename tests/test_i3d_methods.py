"""Every registered method on I3D (i3d_k400) at its I3D defaults: sized for a minute on two CPU
cores at T = 32, and run here on a short real clip (8 frames at 224 x 224, about a quarter of the
work) through `explain()`, as the dashboard runs it.

The budget test needs no weights; the runs skip when I3D's weights are not installed, and fail
then if XAI_REQUIRE_I3D is set (as tests/test_i3d.py does).
"""
import os
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from xai_core.methods import get_method, list_methods
from xai_core.methods.options import expected_passes, validate_options
from xai_core.models import i3d_weights
from xai_core.models.packaged import I3D_SPEC, packaged

ROOT = Path(__file__).resolve().parents[1]
INSTALLED = i3d_weights.find_checkpoint() is not None
if not INSTALLED and os.environ.get("XAI_REQUIRE_I3D"):
    pytest.fail(f"I3D's weights are not installed: {i3d_weights.INSTALL}", pytrace=False)
needs_i3d = pytest.mark.skipif(not INSTALLED, reason=f"I3D's weights not installed ({i3d_weights.INSTALL})")

METHODS = [m.name for m in list_methods()]
DEFAULTS = packaged("i3d_k400").method_defaults
FRAMES = 8                                  # I3D's shortest clip: Mixed_5c has one time step
CLIP = ROOT / "assets" / "samples" / "intel_asl_thanks.mkv"


# ---------------------------------------------------------------- the budget, without the weights

# A minute on two CPU cores at T = 32 (docs/benchmarks.md, "I3D"): a no_grad forward pass takes
# about 1.1 s there, a forward + backward to the input about 2.2 s per clip (batch 2). So a method's
# work in forward-pass equivalents, a gradient pass counted as 2, must stay within 40 (~44 s on a
# quiet machine, 60 s at 1.5 s a forward): a margin for a busier machine and for explain()'s own
# forward passes (the prediction, the OOD features, integrated gradients' completeness check).
BUDGET = 40


@pytest.mark.parametrize("name", METHODS)
def test_i3d_defaults_are_valid_and_within_a_minute_on_two_cores(name):
    info = get_method(name)
    shape = (1, 3, I3D_SPEC.frames, I3D_SPEC.height, I3D_SPEC.width)
    options = validate_options(info, DEFAULTS.get(name, {}), shape)     # raises on a bad default
    _, most = expected_passes(info, options, shape)                      # with every refinement round
    units = most * (2 if info.needs_gradients else 1)
    assert units <= BUDGET, (f"{name} on I3D at T = {I3D_SPEC.frames}: {most} passes "
                             f"(~{units} forward passes) exceed the budget of {BUDGET}; set smaller "
                             "defaults in method_defaults of i3d_k400 (xai_core/models/packaged.py)")


def test_every_i3d_default_names_a_registered_method():
    assert set(DEFAULTS) <= set(METHODS)


# ---------------------------------------------------------------- the runs, on a short real clip

@lru_cache(maxsize=None)
def explained(method: str):
    import xai_core
    model = xai_core.load_model("i3d_k400")
    clip = xai_core.load_video(CLIP, replace(model.spec, frames=FRAMES))
    return xai_core.explain(model, clip, method)


@needs_i3d
@pytest.mark.parametrize("name", METHODS)
def test_every_method_runs_on_i3d_at_its_defaults(name):
    e = explained(name)
    assert e.options == DEFAULTS.get(name, {})                           # explain() used I3D's defaults
    assert e.relevance.shape == (FRAMES, 224, 224) and e.relevance.dtype == np.float32
    assert np.isfinite(e.relevance).all() and np.abs(e.relevance).max() > 0


# Integrated gradients at I3D's defaults refines its path until the relevance sums to the score's
# change within 1% (its own tolerance) or 19 intervals. Measured on the 8-frame clips of
# intel_asl_thanks / walk / yes: 0.70 / 0.03 / 0.61% with 10 / 20 / 18 path points (12 evenly
# spaced Gauss-Legendre points left 8.2 / 2.5% on the first two). explain() measures the gap again
# with its own forward passes, in another batch: float32 moves it by ~1e-6, far below the margin.
IG_TOLERANCE = 0.01


@needs_i3d
def test_integrated_gradients_on_i3d_is_complete_within_the_derived_tolerance():
    e = explained("integrated_gradients")
    assert e.extras["completeness_gap"] <= IG_TOLERANCE, e.extras["completeness_gap"]

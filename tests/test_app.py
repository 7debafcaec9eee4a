"""The dashboard in AppTest: every role x every page it lists renders; the Explain page follows the role;
uploads work and bad ones are a message; a broken role file is a named error.

AppTest reruns only the page script after the first run, so the role is picked before the first run
(as the sidebar would) and the browser test (test_browser.py) covers switching role live.
"""
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from user_roles import load_roles
from user_roles.roles import ROLES_DIR
from xai_core import list_methods

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
ROLES = load_roles()
VIEWS = {"explain": "views/explain.py", "compare": "views/compare.py", "live": "views/live.py",
         "model": "views/model.py", "evaluate": "views/evaluate.py"}


def app_as(role: str, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    at.session_state["role"] = role
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def assert_clean(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("role, page", [(r, p) for r, role in ROLES.items() for p in role.pages])
def test_every_role_renders_every_page_it_lists(role, page):
    at = app_as(role)
    assert_clean(at)
    assert at.session_state["active_role"].name == role
    at.switch_page(VIEWS[page]).run()
    assert_clean(at)
    assert at.title and at.title[0].value


def test_roles_list_different_pages():
    assert ROLES["operator"].pages != ROLES["analyst"].pages
    assert "live" in ROLES["operator"].pages and "live" not in ROLES["analyst"].pages
    for role in ROLES:
        at = app_as(role)
        assert at.session_state["active_role"].pages == ROLES[role].pages


@pytest.mark.parametrize("role", list(ROLES))
def test_explain_page_follows_the_role(role):
    r = ROLES[role]
    at = app_as(role)
    if r.pages[0] != "explain":
        at.switch_page(VIEWS["explain"]).run()
    assert_clean(at)
    offered = at.sidebar.selectbox(key="method").options
    assert len(offered) == len(r.methods) and at.sidebar.selectbox(key="method").value == r.default_method
    has_tube = any(img.captions and "Staggered-frame tube" in img.captions[0] for img in at.get("image"))
    assert has_tube == ("tube" in r.renderings)
    assert (len(at.get("video")) > 0) == ("overlay_video" in r.renderings)
    assert any("Internals" in e.label for e in at.expander) == r.internals
    downloads = at.get("download_button")
    assert (len(downloads) == 5) == ("export" in r.renderings)
    motion = any("Motion or appearance" in m.value for m in at.markdown)
    assert motion == ("motion" in r.renderings)
    sentence = at.subheader[0].value if at.subheader else ""
    assert "relies on" in sentence or "from how it" in sentence, sentence   # every role: the measured reliance


def test_motion_view_on_explain():
    """Analyst, stand_up, Grad-CAM: the reliance names the order of frames (c3d_small), the split's
    three pictures, the flow, the counterfactual clips with their predictions, and the ground truth
    agreeing with the measured kind."""
    at = app_as("analyst", method="grad_cam", clip="synthetic · stand_up")
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "it relies on motion (the order of frames" in text
    assert "the measured reliance says **order**: it matches" in text
    assert "of this explanation's positive relevance lies on moving pixels" in text
    assert any("reversed**: sit_down" in c.value for c in at.caption)       # the clip played backwards
    assert at.get("button_group") or at.get("segmented_control")
    for variant in ("selective", "reversed"):
        at.segmented_control(key=next(k for k in at.session_state if str(k).startswith("split-"))).set_value(variant).run()
        assert_clean(at)
        assert any(f"Split **{variant}**" in c.value for c in at.caption)


def test_upload_path_works_with_a_small_clip(tmp_path):
    """A small clip, uploaded, is sampled from a temporary file and explained (then the file is gone)."""
    from xai_core.data.synthetic import make_dataset
    from xai_core.render import write_video
    clip = make_dataset(3, seed=123).clips[2]                  # sit_down
    path = write_video(tmp_path / "mine.webm", clip, fps=8)
    at = app_as("developer")
    at.sidebar.selectbox(key="clip").set_value("Upload a video…").run()
    assert any("up to 50 MB" in i.value for i in at.info)
    at = _upload(at, path.read_bytes(), "mine.webm")
    assert_clean(at)
    prediction = next(m for m in at.metric if m.label == "Prediction")
    assert prediction.value == "sit_down"                     # c3d_small, the default model, gets it right


def test_a_bad_upload_is_a_message_and_the_page_stays(tmp_path):
    at = app_as("developer")
    at.sidebar.selectbox(key="clip").set_value("Upload a video…").run()
    at = _upload(at, b"this is not a video at all", "notes.mp4")
    assert not at.exception
    assert any("notes.mp4" in e.value and "cannot be used" in e.value for e in at.error)
    at.sidebar.selectbox(key="clip").set_value("synthetic · jump").run()   # still usable
    assert_clean(at)


def _upload(at, data: bytes, name: str) -> AppTest:
    return at.sidebar.file_uploader(key="clip_upload").set_value((name, data, "video/mp4")).run()


def test_broken_role_file_is_a_named_error(tmp_path, monkeypatch):
    for p in ROLES_DIR.glob("*.yaml"):
        (tmp_path / p.name).write_text(p.read_text())
    data = yaml.safe_load((ROLES_DIR / "operator.yaml").read_text())
    data["pages"] = ["live", "holodeck"]
    (tmp_path / "operator.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("XAI_ROLES_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("operator.yaml" in e.value and "unknown page 'holodeck'" in e.value for e in at.error)


def test_a_model_from_the_models_yaml_is_offered_and_explained(tmp_path, monkeypatch):
    """A user's model declared in a models YAML appears next to the bundled ones and is explained."""
    import torch
    import torchvision
    from safetensors.torch import save_file
    torch.manual_seed(0)
    net = torchvision.models.video.r3d_18(num_classes=3)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "r3d.safetensors"))
    (tmp_path / "models.yaml").write_text(yaml.safe_dump({"models": [{
        "name": "my_r3d", "factory": "torchvision.models.video:r3d_18", "kwargs": {"num_classes": 3},
        "weights": "r3d.safetensors", "class_names": ["clap", "run", "sit"],
        "input": {"frames": 8, "size": 64, "mean": [0.43, 0.39, 0.37], "std": [0.22, 0.22, 0.21]}}]}))
    monkeypatch.setenv("XAI_MODELS", str(tmp_path / "models.yaml"))
    at = app_as("developer")
    box = at.sidebar.selectbox(key="model")
    assert "my_r3d" in box.options and "c3d_small" in box.options
    at = box.set_value("my_r3d").run()
    assert_clean(at)
    prediction = next(m for m in at.metric if m.label == "Prediction")
    assert prediction.value in {"clap", "run", "sit"}


def test_a_broken_models_yaml_leaves_the_bundled_models(tmp_path, monkeypatch):
    (tmp_path / "models.yaml").write_text("models:\n  - factory: x:y\n")
    monkeypatch.setenv("XAI_MODELS", str(tmp_path / "models.yaml"))
    at = app_as("developer")
    assert not at.exception
    assert any("models[0] needs a 'name'" in w.value for w in at.sidebar.warning)
    assert "c3d_small" in at.sidebar.selectbox(key="model").options


EXPLAIN = str(ROOT / "views" / "explain.py")


def _explain_page(role: str, **state) -> AppTest:
    at = AppTest.from_file(EXPLAIN, default_timeout=240)
    at.session_state["active_role"] = ROLES[role]
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


@pytest.mark.parametrize("method, after", [("grad_cam", "integrated_gradients"),     # the old default
                                           ("saliency", "integrated_gradients"),     # not offered
                                           ("smoothgrad", "smoothgrad")])            # chosen, offered
def test_the_method_picker_follows_a_role_switch(method, after):
    at = _explain_page("developer", method=method)
    assert_clean(at)
    assert at.sidebar.selectbox(key="method").value == method
    at.session_state["active_role"] = ROLES["analyst"]
    at.run()
    assert_clean(at)
    assert at.sidebar.selectbox(key="method").value == after


def test_the_frame_slider_counts_the_videos_frames():
    """On a real clip the model sees frames 0, 5, 10, ... of the video: the slider, the image captions,
    the sentence and the curve all count those numbers, not the model's frame index."""
    at = _explain_page("analyst", clip="real · intel_asl_walk", method="grad_cam", model="c3d_small")  # 16 frames
    assert_clean(at)
    slider = at.select_slider[0]
    numbers = [int(o) for o in slider.options]
    assert len(numbers) == 16 and numbers == sorted(numbers) and numbers[-1] > 15   # source frames
    frame = next(img for img in at.get("image") if img.captions and img.captions[0].startswith("frame "))
    assert frame.captions[0] == f"frame {numbers[slider.value]}"          # the value is the model's index
    at = slider.set_value(15).run()
    frame = next(img for img in at.get("image") if img.captions and img.captions[0].startswith("frame "))
    assert frame.captions[0] == f"frame {numbers[-1]}"
    curve = next(c for c in at.get("plotly_chart") if "When:" in c.proto.spec)
    assert f'"ticktext":[{",".join(chr(34) + str(n) + chr(34) for n in numbers)}]' in curve.proto.spec.replace(" ", "")


def _no_evidence_page():
    """The Explain page's renderings of an explanation with only evidence against its class."""
    from dataclasses import replace
    from pathlib import Path

    import ui
    from ui.blocks import BLOCKS, View, no_evidence_block
    from user_roles import load_roles
    from xai_core import explain, get_method, load_model, load_video

    model = load_model("c3d_small")
    root = Path(ui.__file__).resolve().parents[1]
    clip = load_video(str(root / "assets" / "samples" / "synthetic" / "walk_left.mp4"), model.spec)
    exp = explain(model, clip, "grad_cam")
    exp = replace(exp, relevance=-exp.relevance)          # Grad-CAM >= 0, negated: all against
    role = load_roles()["developer"]
    view = View(exp, get_method("grad_cam"), role, None)
    no_evidence_block(view)
    for name in role.renderings:
        BLOCKS[name](view)


def test_without_evidence_for_the_class_every_rendering_says_so():
    at = AppTest.from_function(_no_evidence_page, default_timeout=240).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.warning[0].value.startswith("No evidence for walk_left")
    assert "no evidence for this class" in at.subheader[0].value
    captions = [img.captions[0] for img in at.get("image") if img.captions]
    assert any(c.startswith("Staggered-frame tube") and "evidence against" in c for c in captions)
    assert "evidence against on it" in captions
    assert any("Blue: the evidence against" in c.value for c in at.caption)
    assert any(m.label == "Share of the evidence against" for m in at.metric)
    curve = next(c for c in at.get("plotly_chart") if "When:" in c.proto.spec)
    assert "No evidence for the class" in curve.proto.spec and "share of evidence against" in curve.proto.spec


def test_model_page_kernels_maximising_and_activations():
    """Developer, Model page on c3d_small: the kernel grid with its selectivity range, a
    class-maximising clip made from the button (p >= 0.9 with a short budget), a layer's activations."""
    at = app_as("developer")
    at.switch_page(VIEWS["model"]).run()
    assert_clean(at)
    assert at.title[0].value == "The model's own view"
    assert any("Temporal selectivity S" in c.value for c in at.caption)
    at.number_input(key="max_steps").set_value(32)
    at.number_input(key="max_seeds").set_value(1)
    at.selectbox(key="max_class").set_value("walk_left").run()
    at.button(key="max_go").click().run()
    for _ in range(60):                                # the job runs in a worker: rerun until it is there
        assert_clean(at)
        if any("p(walk_left) = " in c.value for c in at.caption):
            break
        at.run()
    text = next(c.value for c in at.caption if "p(walk_left) = " in c.value)
    assert float(text.split("p(walk_left) = ")[1].split(";")[0]) >= 0.9, text
    assert any("most active channels" in c.value for c in at.caption)


def test_influence_panel_on_explain(tmp_path, monkeypatch):
    """Analyst, stand_up on c3d_small: the training clips behind the answer come after a click (the
    index is built once; here over the first 200 training clips, in a fresh cache folder); the
    proponents are stand_up clips, the opponents include sit_down (its reversal)."""
    import xai_core.influence.reference as reference

    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(reference, "default_reference",
                        lambda model, checkpoints=None: reference.TrainingSet(1, 200, model.spec.frames,
                                                                              model.spec.height))
    at = app_as("analyst", method="grad_cam", clip="synthetic · stand_up")
    assert_clean(at)
    assert any("Training clips behind this decision" in m.value for m in at.markdown)
    go = next(b for b in at.button if str(b.key).startswith("influence-go-"))
    go.click().run()
    for _ in range(60):                                # the job runs in a worker: rerun until it is there
        assert_clean(at)
        if any("same class" in c.value for c in at.caption):
            break
        at.run()
    captions = [c.value for c in at.caption if "\ntraining clip " in c.value]
    assert len(captions) == 16, captions                        # 8 proponents, 8 opponents
    assert all(c.startswith("**stand_up**") for c in captions[:8])
    assert any(c.startswith("**sit_down**") for c in captions[8:])


def test_influence_per_column_on_compare(tmp_path, monkeypatch):
    """Compare, stand_up, c3d_small vs frame2d_pool: the toggle shows each model's training clips (a
    200-clip reference set in a fresh cache folder); frame2d_pool, blind to order, leans on sit_down."""
    import xai_core.influence.reference as reference

    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(reference, "default_reference",
                        lambda model, checkpoints=None: reference.TrainingSet(1, 200, model.spec.frames,
                                                                              model.spec.height))
    at = app_as("analyst", compare_clip="synthetic · stand_up")
    at.switch_page(VIEWS["compare"]).run()
    assert_clean(at)
    at.toggle(key="compare_influence").set_value(True).run()
    for _ in range(90):
        assert_clean(at)
        if sum("for: **" in c.value for c in at.caption) >= 8:
            break
        at.run()
    pros = [c.value for c in at.caption if c.value.startswith("for: **")]
    assert len(pros) == 8, pros                        # 4 per model
    assert all(p.startswith("for: **stand_up**") for p in pros[:4])      # c3d_small sees the order


def test_evaluate_page_shows_the_measured_table_for_analyst_and_developer():
    """c3d_small: a row per method the role offers, SmoothGrad failing the sanity check at 0.74, the
    settings it was measured under; the page is not the operator's."""
    for role in ("analyst", "developer"):
        at = app_as(role, model="c3d_small")
        at.switch_page(VIEWS["evaluate"]).run()
        assert_clean(at)
        assert at.title[0].value == "How far to trust each method"
        table = at.dataframe[0].value
        assert len(table) == len([m for m in list_methods() if ROLES[role].allows(m)])
        smooth = table[table["Method"].str.startswith("SmoothGrad")].iloc[0]
        assert smooth["Sanity"] == "FAIL" and smooth["Sanity ρ"] == "0.735"
        assert "fails the sanity check (Spearman 0.74)" in smooth["Warnings"]
        pointing = dict(zip(table["Method"], table["Pointing"]))   # the rate over the clips where it applies
        assert pointing["Occlusion"] == "0% of 1 (7 n/a)" and pointing["Temporal occlusion"] == "n/a on all 8"
        assert pointing["Grad-CAM"] == "75%"
        used = dict(zip(table["Method"], table["Measured with"]))     # the cheaper options it was measured with
        assert used["Grad-CAM"] == "defaults" and used["Occlusion"] == "window=(4, 16, 16), stride=(4, 16, 16)"
        assert any("Measured on 8 procedural clips (seed 4" in c.value for c in at.caption)
        assert any(w.value.startswith("**SmoothGrad** fails the sanity check on this model") for w in at.warning)
    assert "evaluate" not in ROLES["operator"].pages
    at = app_as("operator")                            # its address is the hidden "not this role's" page
    assert_clean(at)
    assert "evaluate" not in at.session_state["active_role"].pages


def test_evaluate_page_marks_a_model_without_verdicts_not_measured(tmp_path, monkeypatch):
    """An empty verdicts file: every row "not measured", no figure invented."""
    from xai_core.metrics import verdicts

    empty = tmp_path / "verdicts.json"
    empty.write_text('{"models": {}}')
    monkeypatch.setattr(verdicts, "VERDICTS_FILE", empty)
    monkeypatch.setattr(verdicts.verdicts_for, "__defaults__", (empty,))
    monkeypatch.setattr(verdicts.table_rows, "__defaults__", (empty,))
    from ui import cache
    cache.verdicts.clear()                         # the pickers' cached verdicts: of the empty file, then of
    try:                                           # the real one again (tests after this one read it)
        at = app_as("developer", model="c3d_small")
        at.switch_page(VIEWS["evaluate"]).run()
        assert_clean(at)
        table = at.dataframe[0].value
        assert set(table["Sanity"]) == {"not measured"} and set(table["Sanity ρ"]) == {"—"}
        assert any("Not measured on c3d_small" in i.value for i in at.info)
    finally:
        cache.verdicts.clear()


def test_the_method_picker_carries_the_measured_verdict():
    """Explain on c3d_small: SmoothGrad's label says it fails the sanity check there; Grad-CAM's says nothing."""
    at = _explain_page("developer", model="c3d_small", method="smoothgrad")
    assert_clean(at)
    box = at.sidebar.selectbox(key="method")
    smooth = next(o for o in box.options if o.startswith("SmoothGrad"))      # options are the labels
    assert "⚠ fails the sanity check (Spearman 0.74)" in smooth, box.options
    assert not any("⚠" in o for o in box.options if o.startswith("Grad-CAM")), box.options
    assert "fails the sanity check on this model" in box.help
    assert any("⚠ Measured: fails the sanity check on this model" in c.value for c in at.sidebar.caption)
    assert "*Measured on this model (with n_samples=1000):* fails the sanity check" in box.help   # KernelSHAP's


def test_the_report_carries_the_measured_verdict():
    from xai_core import explain, load_model, load_video, render

    model = load_model("c3d_small")
    clip = load_video(str(ROOT / "assets" / "samples" / "synthetic" / "walk_left.mp4"), model.spec)
    html = render.html_report([explain(model, clip, "smoothgrad", samples=2)])
    assert "Measured trust" in html
    assert "fails the sanity check on this model" in html and "Spearman 0.74" in html


def test_evaluate_page_measures_one_method_live_and_plots_its_curves(tmp_path, monkeypatch):
    """The button runs xai_core.metrics.evaluate for Grad-CAM on one clip in a worker; the page then
    plots deletion/insertion against random and the sanity check per layer."""
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path))
    at = app_as("developer", model="c3d_small", eval_method="grad_cam", eval_clips=1)
    at.switch_page(VIEWS["evaluate"]).run()
    assert_clean(at)
    at.button(key="eval_go").click().run()
    for _ in range(120):                               # the job runs in a worker: rerun until it is there
        assert_clean(at)
        if any("Sanity check" in m.value for m in at.markdown):
            break
        at.run()
    assert any(m.value.startswith("**Sanity check**: Spearman ") for m in at.markdown)
    assert len(at.get("plotly_chart")) == 2

"""Exports: JSON and NPZ round trips, and the self-contained HTML report (parsed, decoded, and
opened offline in a real browser)."""
import base64
import io
import json
import shutil
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from xai_core.relevance.export import (explanation_keys, result_json, to_json, to_json_many, to_npz,
                                       to_npz_many)
from xai_core.relevance.summary import summarise
from xai_core.render import html_report

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "samples" / "synthetic" / "stand_up.mp4"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def exps():
    """Three cheap explanations of one clip: grad_cam, saliency, grad_cam of another class."""
    from xai_core import explain, load_model, load_video

    model = load_model("c3d_small")
    clip = load_video(SAMPLE, model.spec)
    return [explain(model, clip, "grad_cam"), explain(model, clip, "saliency"),
            explain(model, clip, "grad_cam", target="sit_down")]


@pytest.fixture(scope="module")
def one(exps):
    return html_report(exps[:1], notes=["a test report"])


@pytest.fixture(scope="module")
def three(exps):
    return html_report(exps, scale="shared")


# ------------------------------------------------------------------------------------ JSON


def test_json_round_trip_gives_the_explanations_numbers(exps):
    exp = exps[0]
    body = json.loads(to_json(exp))
    assert np.array_equal(np.array(body["probabilities"], np.float32), exp.probabilities)
    assert body["target"] == {"index": exp.target, "label": exp.target_label}
    assert body["predicted"]["index"] == exp.predicted
    assert np.array_equal(np.array(body["curve"], np.float32), exp.curve)
    assert body["key_frames"] == exp.key_frames()
    assert body["summary"] == summarise(exp, exp.clip.source_indices)
    assert body["input"]["source_indices"] == list(exp.clip.source_indices)
    assert "relevance" not in body                                  # only when asked


def test_json_carries_the_relevance_only_when_asked(exps):
    body = json.loads(to_json(exps[0], include_relevance=True))
    relevance = np.array(body["relevance"], np.float32)
    assert relevance.shape == tuple(body["relevance_shape"]) == exps[0].relevance.shape
    assert np.array_equal(relevance, exps[0].relevance)


def test_json_body_extends_the_cli_result(exps):
    base = result_json(exps[0], exps[0].clip)
    assert set(base) == {"model", "method", "options", "target", "predicted", "probabilities",
                         "classes", "input", "curve", "key_frames", "evidence", "extras", "ood"}
    body = json.loads(to_json(exps[0]))
    assert {k: body[k] for k in base} == json.loads(json.dumps(base))
    assert json.loads(to_json(replace(exps[0], clip=None)))["input"] is None


def test_json_many_keys_each_explanation(exps):
    doc = json.loads(to_json_many(exps))
    assert doc["keys"] == ["grad_cam", "saliency", "grad_cam#2"]
    assert [e["target"]["label"] for e in doc["explanations"]] == [e.target_label for e in exps]


# ------------------------------------------------------------------------------------- NPZ


def test_npz_round_trip_is_exact_without_pickle(exps):
    exp = exps[0]
    z = np.load(io.BytesIO(to_npz(exp)), allow_pickle=False)
    assert z["relevance"].dtype == np.float32 and np.array_equal(z["relevance"], exp.relevance)
    assert np.array_equal(z["probabilities"], exp.probabilities.astype(np.float32))
    assert np.array_equal(z["curve"], exp.curve)
    assert z["source_indices"].tolist() == list(exp.clip.source_indices)
    assert int(z["target"]) == exp.target and z["class_names"].tolist() == exp.class_names
    assert str(z["model"]) == "c3d_small" and json.loads(str(z["meta"]))["method"] == "grad_cam"


def test_npz_many_prefixes_keys(exps):
    z = np.load(io.BytesIO(to_npz_many(exps)), allow_pickle=False)
    assert z["keys"].tolist() == ["grad_cam", "saliency", "grad_cam#2"]
    for key, exp in zip(z["keys"].tolist(), exps):
        assert np.array_equal(z[f"{key}/relevance"], exp.relevance)
        assert int(z[f"{key}/target"]) == exp.target


@pytest.mark.parametrize("pairs, keys", [
    ([("a", "m"), ("b", "m")], ["a", "b"]),                       # models differ: model names
    ([("a", "m"), ("a", "n")], ["m", "n"]),                       # methods differ: method names
    ([("a", "m"), ("b", "n")], ["a/m", "b/n"]),
    ([("a", "m")], ["a/m"]),
    ([("a", "m"), ("a", "m"), ("a", "m")], ["a/m", "a/m#2", "a/m#3"]),
])
def test_explanation_keys_are_short_and_unique(pairs, keys):
    assert explanation_keys([SimpleNamespace(model=a, method=m) for a, m in pairs]) == keys


def test_empty_exports_fail_loudly():
    for fn in (to_json_many, to_npz_many, html_report):
        with pytest.raises(ValueError, match="explanation"):
            fn([])


# ---------------------------------------------------------------------------------- report


class _Elements(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str) -> list[dict]:
        return [a for t, a in self.tags if t == tag]


def _data(uri: str, mime: str) -> bytes:
    prefix = f"data:{mime};base64,"
    assert uri.startswith(prefix), uri[:40]
    return base64.b64decode(uri[len(prefix):])


def _figures(html: str) -> dict[str, list[np.ndarray]]:
    """The report's <img> figures, decoded, by their data-figure name."""
    out: dict[str, list[np.ndarray]] = {}
    for attrs in _Elements(html).find("img"):
        image = cv2.imdecode(np.frombuffer(_data(attrs["src"], "image/png"), np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.size, attrs.get("alt")
        out.setdefault(attrs["data-figure"], []).append(image[..., ::-1])     # RGB
    return out


def test_report_fetches_nothing(one, three):
    for html in (one, three):
        elements = _Elements(html)
        links = [v for _, a in elements.tags for k, v in a.items() if k in ("src", "href", "poster") and v]
        assert links and all(v.startswith("data:") for v in links), [v[:60] for v in links]
        assert not elements.find("link") and not elements.find("script")
        assert "http://" not in html and "https://" not in html and "url(" not in html


def test_report_embeds_one_png_per_figure(one, three):
    assert {k: len(v) for k, v in _figures(one).items()} == {"tube": 1, "curve": 1, "strip": 1}
    assert {k: len(v) for k, v in _figures(three).items()} == {"tube": 3, "curve": 1, "strip": 3}


def test_report_video_is_a_readable_webm(one, exps, tmp_path):
    (video,) = _Elements(one).find("video")
    assert "controls" in video and "loop" in video
    path = tmp_path / "overlay.webm"
    path.write_bytes(_data(video["src"], "video/webm"))
    assert path.read_bytes()[:4] == b"\x1a\x45\xdf\xa3"                 # EBML: Matroska / WebM
    cap = cv2.VideoCapture(str(path))
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
    assert frames == exps[0].clip.num_frames


def test_report_says_what_was_explained(one, exps):
    exp = exps[0]
    assert summarise(exp, exp.clip.source_indices) in one
    assert "a test report" in one and "stand_up.mp4" in one and "torch" in one
    assert "How to read" in one


def _heat(image: np.ndarray) -> float:
    """How much warm colour (relevance) an RGB image holds: mean of max(R - B, 0)."""
    rgb = image.astype(np.float32)
    return float(np.clip(rgb[..., 0] - rgb[..., 2], 0, None).mean())


@pytest.mark.parametrize("scale", ["shared", "own"])
def test_shared_scale_shows_weaker_relevance_dimmer(exps, scale):
    strong = exps[0]
    weak = replace(strong, relevance=strong.relevance * 0.5)
    tubes = _figures(html_report([strong, weak], scale=scale))["tube"]
    if scale == "own":                          # each on its own scale: the same picture
        assert np.array_equal(tubes[0], tubes[1])
    else:
        assert _heat(tubes[0]) > 1.15 * _heat(tubes[1]), (_heat(tubes[0]), _heat(tubes[1]))


def test_interactive_report_inlines_plotly_and_a_role_template(exps):
    html = html_report(exps[:1], summary_template="{label}, {frames}", interactive=True)
    scripts = _Elements(html).find("script")
    assert scripts and not any("src" in a for a in scripts)          # plotly.js inline, not fetched
    assert 'data-figure="curve"' in html and "Plotly.newPlot" in html
    fields = summarise(exps[0], exps[0].clip.source_indices, "{label}, {frames}")
    assert fields in html and set(_figures(html)) == {"tube", "strip"}


def test_report_rejects_bad_input(exps):
    with pytest.raises(ValueError, match="scale"):
        html_report(exps[:1], scale="global")
    with pytest.raises(ValueError, match="no clip"):
        html_report([replace(exps[0], clip=None)])


# --------------------------------------------------------------------------------- browser


@pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("chromium") is None,
                    reason="needs Debian's chromium")
@pytest.mark.parametrize("name", ["one", "three"])
def test_report_opens_offline_in_chromium(name, request, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    html = request.getfixturevalue(name)
    page_file = tmp_path / f"report_{name}.html"
    page_file.write_text(html, encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    fetched = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            context.set_offline(True)
            context.route("**/*", lambda route: route.continue_()
                          if route.request.url.startswith(("file:", "data:"))
                          else (fetched.append(route.request.url), route.abort()))
            page = context.new_page()
            page.goto(page_file.as_uri(), wait_until="load")
            widths = page.evaluate("[...document.images].map(i => i.complete ? i.naturalWidth : 0)")
            assert len(widths) == (3 if name == "one" else 7) and min(widths) > 0, widths
            page.wait_for_function("[...document.querySelectorAll('video')]"
                                   ".every(v => v.readyState >= 2 && v.duration > 0)", timeout=20_000)
            started = page.evaluate("document.querySelector('video').currentTime")
            page.evaluate("document.querySelector('video').play()")
            page.wait_for_function(f"document.querySelector('video').currentTime > {started} + 0.2",
                                   timeout=10_000)
            page.evaluate("document.querySelectorAll('video').forEach(v => {v.pause(); v.currentTime = 0})")
            page.wait_for_timeout(800)                # let the controls' loading spinner settle
            page.screenshot(path=str(ARTIFACTS / f"report_{name}.png"), full_page=True)
        finally:
            browser.close()
    assert not fetched, fetched

"""A self-contained HTML report of one or several explanations of a clip, that opens offline.

    html = html_report([exp])                               # one explanation
    html = html_report([e1, e2, e3], scale="shared")        # side by side, one colour scale
    Path("report.html").write_text(html, encoding="utf-8")

Everything is inside the one file: figures as base64 PNG data URIs, the overlay video as a
base64 WebM data URI, CSS inline, no script (unless interactive=True, which inlines plotly.js,
about 4.6 MB). Nothing is fetched from the network.
"""
from __future__ import annotations

import base64
import subprocess
import tempfile
from datetime import datetime, timezone
from functools import lru_cache
from html import escape
from pathlib import Path

import cv2
import numpy as np

from ..errors import XaiError
from ..relevance.evidence import curve_mode, evidence, no_evidence_note, shown_mode
from ..relevance.export import explanation_keys
from ..relevance.summary import DEFAULT_TEMPLATE, summarise, summary_fields
from ..relevance.temporal import key_frames as find_key_frames
from ..relevance.temporal import temporal_curve
from .colormap import shared_scale
from .curve import curve_figure, curve_png
from .draw import ACCENT
from .export import explanation_frames
from .overlay import overlay, overlay_style
from .strip import frame_strip
from .tube import choose_frames, tube_image
from .video import write_video

SCALES = ("shared", "own")
TOP_K = 5
TUBE_CAPTION = ("The clip as a stack of frames in time order, the relevance on each; teal: key "
                "frames; the line follows the centre of the evidence.")
STRIP_CAPTION = "Frames with their share of the evidence; teal: key frames."


def html_report(explanations, *, title: str | None = None, summary_template: str | None = None,
                scale: str = "shared", notes=(), mode: str = "positive", overlay: str = "full",
                interactive: bool = False, video_max_side: int = 512) -> str:
    """A self-contained HTML report (figures and video embedded) of explanations of one clip.

    explanations      Explanation objects with their clip (several: shown side by side)
    summary_template  the plain-language sentence (a role's template; default: the core's)
    scale             "shared": one colour scale for all, so equal colour means equal relevance;
                      "own": each explanation on its own robust scale
    notes             lines shown in the header (e.g. who made it and why)
    mode              colour mode as in normalise(): "positive", "signed" or "absolute"
    overlay           overlay style of the video and images: "full" or "light"
    interactive       the temporal curve as a plotly chart (inlines plotly.js, ~4.6 MB)
    video_max_side    the overlay video's longest side in pixels (the file grows with it)
    """
    exps = _checked(explanations, scale)
    keys = explanation_keys(exps)
    s = shared_scale([e.relevance for e in exps], mode) if scale == "shared" and len(exps) > 1 else None
    look = _Look(mode, s, overlay_style(overlay), summary_template or DEFAULT_TEMPLATE, video_max_side)
    heading = title or _default_title(exps)
    body = [_masthead(exps, heading, notes, look)]
    if len(exps) == 1:
        body.append(_single(exps[0], look, interactive))
    else:
        body += [_comparison(exps, keys, look, interactive), _cards(exps, keys, look)]
    body += [_how_to_read(len(exps), scale, exps), _footer()]
    scripts = _plotly_js() if interactive else ""
    return _page(heading, "\n".join(body), scripts)


class _Look:
    """How every figure of a report is drawn: colour mode and scale, overlay, summary wording."""

    def __init__(self, mode, scale, style, template, video_max_side):
        self.mode, self.scale, self.template, self.video_max_side = mode, scale, template, video_max_side
        self.counts = curve_mode(mode)                        # what the curves count
        self.contour = style.pop("contour", None)
        self.blend = style                                   # alpha, floor

    def shown(self, exp) -> tuple[str, float | None]:
        """The colour mode and scale to draw exp in: the evidence against, on its own scale,
        when there is none for the class."""
        mode = shown_mode(exp.relevance, self.mode)
        return (mode, self.scale) if mode == self.mode else (mode, None)

    def along(self, exp) -> str:
        """What exp's temporal curve counts: as the report's mode, or the evidence against."""
        return curve_mode(self.shown(exp)[0])

    def heat(self, exp) -> np.ndarray:
        """The clip's display frames with the relevance overlaid: (T, h, w, 3) uint8."""
        mode, scale = self.shown(exp)
        return overlay(explanation_frames(exp), exp.relevance, mode=mode, scale=scale,
                       contour=self.contour, **self.blend)


def _checked(explanations, scale: str) -> list:
    exps = list(explanations)
    if not exps:
        raise ValueError("html_report needs at least one explanation (got none)")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)} (got {scale!r})")
    for e in exps:
        explanation_frames(e)                                 # each needs its clip's frames
    return exps


def _default_title(exps) -> str:
    name = Path(exps[0].clip.source).name or "clip"
    return f"Why {exps[0].predicted_label}? — {name}" if len(exps) == 1 else f"Comparison — {name}"


# ------------------------------------------------------------------------------- helpers


def _png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB image, compressed harder than the UI's (noisy frames are large)."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise XaiError("could not encode a report figure as PNG")
    return buf.tobytes()


def _png_uri(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(_png(image)).decode("ascii")


def _img(image: np.ndarray, figure: str, alt: str) -> str:
    """An <img> with the image as a PNG data URI and its pixel size (for layout before load)."""
    h, w = image.shape[:2]
    return (f'<img data-figure="{figure}" src="{_png_uri(image)}" width="{w}" height="{h}" '
            f'alt="{escape(alt)}">')


def _img_bytes(png: bytes, figure: str, alt: str) -> str:
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<img data-figure="{figure}" src="{uri}" alt="{escape(alt)}">'


def _figure(content: str, caption: str = "", cls: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure class="{cls}">{content}{cap}</figure>'


def _numbers(exp) -> list[int]:
    return [int(v) for v in exp.clip.source_indices]


def _label(exp) -> str:
    from ..methods.registry import get_method

    return f"{exp.model} · {get_method(exp.method).label}"


def _pct(p: float) -> str:
    return f"{p:.1%}" if p < 0.995 else f"{p:.0%}"


# ------------------------------------------------------------------------------- header


def _masthead(exps, heading: str, notes, look: _Look) -> str:
    """Title, what was explained and how: clip, frames, fps, models, methods, target, date."""
    clips = list(dict.fromkeys(e.clip.source for e in exps))
    clip = exps[0].clip
    numbers = _numbers(exps[0])
    frames = f"{clip.num_frames} frames sampled from video frames {numbers[0]}–{numbers[-1]}"
    if clip.fps:
        frames += f" ({clip.fps:g} fps: {(numbers[-1] - numbers[0]) / clip.fps:.1f} s)"
    grid = sorted({f"{e.relevance.shape[1]}×{e.relevance.shape[2]}" for e in exps})
    rows = [("Clip", ", ".join(escape(Path(c).name or c) for c in clips)),
            ("Frames", escape(frames) + f" · model input {', '.join(grid)}"),
            ("Model" + ("s" if len({e.model for e in exps}) > 1 else ""),
             escape(", ".join(dict.fromkeys(e.model for e in exps)))),
            ("Method" + ("s" if len({e.method for e in exps}) > 1 else ""),
             escape(", ".join(dict.fromkeys(_label(e).split(" · ", 1)[1] for e in exps)))),
            ("Explained class", escape(", ".join(dict.fromkeys(e.target_label for e in exps)))),
            ("Colour scale", escape(_scale_text(exps, look))),
            ("Created", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))]
    rows.append(("Measured trust", "<br>".join(escape(t) for t in _verdicts(exps))))
    all_notes = [*clip.notes, *notes]
    if all_notes:
        rows.append(("Notes", "<br>".join(escape(str(n)) for n in all_notes)))
    facts = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    lede = ("" if len(exps) > 1 else
            f'<p class="lede">{escape(summarise(exps[0], numbers, look.template))}</p>')
    return (f'<header class="masthead"><p class="kicker">Video explanation report</p>'
            f"<h1>{escape(heading)}</h1>{lede}<dl class=\"facts\">{facts}</dl></header>")


def _verdicts(exps) -> list[str]:
    """Per model x method reported: what assets/verdicts.json measured of it (metrics.verdicts)."""
    from ..metrics.verdicts import verdict_line

    pairs = dict.fromkeys((e.model, e.method, _label(e).split(" · ", 1)[1]) for e in exps)
    return [verdict_line(model, method, label) for model, method, label in pairs]


def _scale_text(exps, look: _Look) -> str:
    what = {"positive": "evidence for the class", "absolute": "|relevance|",
            "signed": "red for, blue against the class", "against": "evidence against the class"}[look.mode]
    against = [e for e in exps if look.shown(e)[0] != look.mode]
    if len(exps) == 1 and against:
        return "evidence against the class (there is none for it), on its own scale (full colour at its 99.5th percentile)"
    if against:
        what += (f"; {len(against)} of them without evidence for the class show the evidence against it, "
                 "in blue, each on its own scale")
    if look.scale is None:
        own = "each explanation on its own scale" if len(exps) > 1 else "the clip's own scale"
        return f"{what}; {own} (full colour at its 99.5th percentile)"
    mixed = ("; the methods' relevances have different units, so compare colours within a method"
             if len({e.method for e in exps}) > 1 else "")
    return f"{what}; one scale for all {len(exps)} (full colour at relevance {look.scale:.3g}){mixed}"


# ------------------------------------------------------------------------------- single


def _single(exp, look: _Look, interactive: bool) -> str:
    """One explanation: prediction and details beside the video, then tube, curve, frame strip."""
    heat = look.heat(exp)                                             # (T, h, w, 3)
    numbers = _numbers(exp)
    keys = find_key_frames(temporal_curve(exp.relevance, look.along(exp)))
    duo = f'<div class="duo"><div>{_prediction(exp)}{_details(exp)}</div>{_video(exp, heat, look)}</div>'
    parts = [_warning(exp), duo, _tube(exp, keys, numbers, look),
             _curve(exp, keys, numbers, heat, look, interactive), _strip(exp, keys, numbers, look)]
    return f'<section class="single">{"".join(parts)}</section>'


# --------------------------------------------------------------------------- comparison


def _comparison(exps, keys, look: _Look, interactive: bool) -> str:
    """Several explanations: a table of what each says, their curves on one plot, then their
    tubes and frame strips one under another, so that their time axes line up."""
    found = [find_key_frames(temporal_curve(e.relevance, look.along(e))) for e in exps]
    T = {e.relevance.shape[0] for e in exps}
    shown = (choose_frames(T.pop(), 10, sorted(set(sum(found, []))))  # one set of frames for all
             if len(T) == 1 else None)
    tubes, strips = [], []
    for key, e, frames in zip(keys, exps, found):
        numbers = _numbers(e)
        head = (f'<h3 class="rowhead">{escape(key)} <span class="muted">{escape(_label(e))} · '
                f'{escape(e.target_label)}</span></h3>')
        tubes.append(f'<div class="row">{head}{_warning(e)}{_tube(e, frames, numbers, look, caption=False)}</div>')
        strips.append(f'<div class="row">{head}{_strip(e, frames, numbers, look, shown, caption=False)}'
                      "</div>")
    return (f'<section class="comparison"><h2>At a glance</h2>{_glance(exps, keys)}</section>'
            f'<section class="comparison"><h2>When: the evidence over time</h2>'
            f'{_combined_curve(exps, keys, look, interactive)}</section>'
            f'<section class="rows"><h2>Where and when: relevance tubes</h2>'
            f'<p class="muted">{TUBE_CAPTION} Colour: {escape(_scale_text(exps, look))}.</p>'
            f'{"".join(tubes)}</section>'
            f'<section class="rows"><h2>Frames</h2><p class="muted">{STRIP_CAPTION} The same frames '
            f'in every row.</p>{"".join(strips)}</section>')


def _glance(exps, keys) -> str:
    """A table: prediction, explained class, where and when the evidence sits, per explanation."""
    head = ("<tr><th>Explanation</th><th>Prediction</th><th>Explained class</th>"
            "<th>Evidence peaks</th><th>Where</th></tr>")
    rows = []
    for key, e in zip(keys, exps):
        f = summary_fields(e, _numbers(e))
        p = float(e.probabilities[e.predicted])
        rows.append(f"<tr><td><b>{escape(key)}</b><br><span class=muted>{escape(_label(e))}</span></td>"
                    f"<td>{escape(e.predicted_label)} <span class=num>{_pct(p)}</span></td>"
                    f"<td>{escape(e.target_label)} <span class=num>{_pct(float(e.probabilities[e.target]))}"
                    f"</span></td><td>{_peaks(e, f)}</td><td>{escape(f['where'])}</td></tr>")
    return f'<table class="glance">{head}{"".join(rows)}</table>'


def _peaks(exp, fields: dict) -> str:
    """The glance table's "evidence peaks" cell: the frames and their share, or that there is none."""
    if not evidence(exp.relevance).positive:
        return '<span class="warn">no evidence for the class</span>'
    return f"{escape(fields['frames'])} <span class=muted>({fields['share']} of the evidence)</span>"


def _combined_curve(exps, keys, look: _Look, interactive: bool) -> str:
    """One plot with every explanation's temporal curve (if their clips have one frame count)."""
    if len({e.relevance.shape[0] for e in exps}) != 1:
        return '<p class="muted">The clips differ in frame count: no combined curve.</p>'
    curves = {k if evidence(e.relevance).positive else f"{k} (no evidence for)":
              temporal_curve(e.relevance, look.counts) for k, e in zip(keys, exps)}
    numbers = _numbers(exps[0])
    caption = ("Share of each explanation's evidence per frame; diamonds mark its key frames. "
               "Where the curves part, the explanations disagree about <i>when</i> the evidence is.")
    if interactive:
        fig = curve_figure(curves, frame_indices=numbers, height=300)
        return _figure(_plotly_div(fig, "curve"), caption, "curve")
    png = curve_png(curves, frame_indices=numbers, size=(1000, 300))
    return _figure(_img_bytes(png, "curve", "temporal curves of all explanations"), caption, "curve")


# -------------------------------------------------------------------------------- cards


def _cards(exps, keys, look: _Look) -> str:
    """Each explanation in a column: summary, prediction, overlay video, how it was computed."""
    cards = []
    for key, e in zip(keys, exps):
        summary = escape(summarise(e, _numbers(e), look.template))
        cards.append(f'<article class="card" data-key="{escape(key)}"><header class="card-head">'
                     f'<h2>{escape(key)}</h2><p class="muted">{escape(_label(e))}</p></header>'
                     f'<p class="summary">{summary}</p>{_prediction(e)}{_video(e, look.heat(e), look)}'
                     f"{_details(e)}</article>")
    columns = min(len(exps), 3)
    return (f'<section class="cards-section"><h2>Side by side</h2>'
            f'<section class="cards n{columns}">{"".join(cards)}</section></section>')


def _prediction(exp) -> str:
    """The top-5 classes with inline bars; the predicted class bold, the explained one tagged."""
    p = np.asarray(exp.probabilities, np.float64)
    order = list(np.argsort(-p, kind="stable")[:TOP_K])
    if exp.target not in order:
        order.append(exp.target)
    rows = []
    for i in order:
        tag = ' <span class="tag">explained</span>' if i == exp.target != exp.predicted else ""
        cls = ' class="top"' if i == exp.predicted else ""
        rows.append(f'<tr{cls}><td class="cls">{escape(exp.class_names[i])}{tag}</td>'
                    f'<td class="bar"><span style="width:{100 * p[i]:.1f}%"></span></td>'
                    f'<td class="num">{_pct(float(p[i]))}</td></tr>')
    return (f'<div class="prediction"><h3>Prediction</h3><table class="probs">'
            f'{"".join(rows)}</table></div>')


def _warning(exp) -> str:
    """Paragraphs that say, in words, when the clip is unlike the model's training data and when an
    explanation has no evidence for its class."""
    ood = getattr(exp, "ood", None)
    out = (f'<p class="warning" data-figure="ood">{escape(ood.message)}</p>'
           if ood is not None and ood.out_of_distribution else "")
    note = no_evidence_note(exp.relevance, exp.target_label)
    return out + (f'<p class="warning" data-figure="no-evidence">{escape(note)}</p>' if note else "")


def _tube(exp, keys, numbers, look: _Look, width: int = 1000, caption: bool = True) -> str:
    mode, scale = look.shown(exp)
    image = tube_image(explanation_frames(exp), exp.relevance, mode=mode, scale=scale,
                       key_frames=keys, frame_numbers=numbers, width=width, **look.blend)
    return _figure(_img(image, "tube", f"relevance tube of {exp.model} ({exp.method})"),
                   TUBE_CAPTION if caption else "", "tube")


def _curve(exp, keys, numbers, heat, look: _Look, interactive: bool) -> str:
    against = look.along(exp) == "against"
    curves = {exp.method: temporal_curve(exp.relevance, look.along(exp))}
    what = "evidence against the class" if against else "evidence"
    caption = (f"Share of the {what} in each frame; diamonds: key frames (thumbnails above); "
               "shaded: the shortest run of frames around the peak holding half of it.")
    if interactive:
        fig = curve_figure(curves, key_frames=keys, frame_indices=numbers, thumbnails=heat, height=300,
                           against=against)
        return _figure(_plotly_div(fig, "curve"), caption, "curve")
    png = curve_png(curves, key_frames=keys, frame_indices=numbers, thumbnails=heat, size=(1000, 300),
                    against=against)
    return _figure(_img_bytes(png, "curve", "temporal relevance curve"), caption, "curve")


def _strip(exp, keys, numbers, look: _Look, indices: list[int] | None = None,
           caption: bool = True) -> str:
    mode, scale = look.shown(exp)
    image = frame_strip(explanation_frames(exp), exp.relevance, indices, mode=mode,
                        scale=scale, key_frames=keys, frame_numbers=numbers, count=6,
                        height=150 if indices is None or len(indices) <= 7 else 128, **look.blend)
    return _figure(_img(image, "strip", f"frames with the relevance of {exp.model} ({exp.method})"),
                   STRIP_CAPTION if caption else "", "strip")


def _video(exp, heat: np.ndarray, look: _Look) -> str:
    """The overlay video as a WebM data URI in a looping <video>, its peak frame as the poster."""
    T = len(heat)
    fps = max(1.0, T / 2)                                   # as write_outputs: two seconds a clip
    with tempfile.TemporaryDirectory() as tmp:
        path = write_video(Path(tmp) / "overlay.webm", heat, fps, max_side=look.video_max_side)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    peak = int(np.argmax(temporal_curve(exp.relevance, look.along(exp))))
    poster = _png_uri(_poster(heat[peak]))
    video = (f'<video data-figure="video" controls loop muted playsinline preload="auto" '
             f'poster="{poster}" src="data:video/webm;base64,{data}"></video>')
    caption = f"The clip with the relevance overlaid, {T} frames at {fps:g} fps, looping."
    return _figure(video, caption, "video")


def _poster(frame: np.ndarray, max_side: int = 384) -> np.ndarray:
    """The video's still before it plays: a frame at most max_side pixels on its long side."""
    h, w = frame.shape[:2]
    k = max_side / max(h, w)
    if k >= 1:
        return frame
    return cv2.resize(frame, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)


def _details(exp) -> str:
    """Method, its options (defaults included), timings, extras, the relevance's grid and range."""
    from ..methods.registry import get_method

    info = get_method(exp.method)
    options = {**info.options, **exp.options}
    rows = [("method", f"{info.label} — {info.description}"),
            ("kind", f"{info.cost}, {info.box}-box" + (", video-native" if info.native_video else "")),
            ("options", ", ".join(f"{k}={_value(v)}" + ("" if k in exp.options else " (default)")
                                  for k, v in options.items()) or "none"),
            ("timings", ", ".join(f"{k} {v:.0f} ms" for k, v in exp.timings_ms.items()) or "—")]
    rows += [(_EXTRA_NAMES.get(k, k.replace("_", " ")), _value(v)) for k, v in exp.extras.items()]
    r = np.asarray(exp.relevance)
    rows.append(("relevance", f"{'×'.join(map(str, r.shape))} (T×H×W), range "
                              f"{float(r.min()):.3g} to {float(r.max()):.3g}"))
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return f'<div class="details"><h3>How it was computed</h3><table class="kv">{cells}</table></div>'


_EXTRA_NAMES = {"completeness_gap": "completeness gap (0 = relevance sums to the score change)",
                "path_points": "path points (forward + backward passes the integral took)"}


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# ------------------------------------------------------------------------- how to, footer


def _how_to_read(n: int, scale: str, exps) -> str:
    mixed = len({e.method for e in exps}) > 1 and scale == "shared"
    caveat = (" The explanations come from different methods, whose relevance has different "
              "units: one shared scale compares them only roughly (scale=\"own\" gives each its own)."
              if mixed else "")
    compare = (f" With {n} explanations, colours share one scale: a dimmer tube means less relevance, "
               f"not a blurrier picture.{caveat}" if n > 1 and scale == "shared" else "")
    return ('<section class="howto"><h2>How to read this report</h2>'
            "<p><b>The tube</b> lays the clip's frames left to right in time, like pages in a "
            "slanted stack. Colour marks where the method found evidence for the explained class "
            "(bright yellow strongest, no colour none); frames with little evidence fade. Key "
            "frames, where the evidence peaks, have a teal border and a bold number. The line "
            "through the stack follows the centre of the evidence: a line that travels means the "
            "model follows something that moves; a line that stays put means it looks at "
            f"something still.{escape(compare)}</p>"
            "<p><b>The curve</b> gives each frame's share of all the evidence; the shaded band is the "
            "shortest run of frames holding half of it. <b>The sentence</b> at the top is made from "
            "these numbers.</p><p class=\"muted\">A heat map shows where a method attributes the "
            "score, not whether the model is right for the right reason: a second method that "
            "agrees makes the reading stronger.</p></section>")


def _footer() -> str:
    import torch

    made = (f"Made with xai_core {_commit()} · torch {torch.__version__} · numpy {np.__version__} · "
            f"OpenCV {cv2.__version__}. Self-contained: opens offline, nothing is fetched.")
    return f'<footer class="foot">{escape(made)}</footer>'


@lru_cache(maxsize=1)
def _commit() -> str:
    """The source's git commit (and "+changes" if the tree is dirty), or "" outside a checkout."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():                     # an installed copy: no commit to tell
        return ""
    try:
        run = lambda *a: subprocess.run(["git", *a], cwd=root, capture_output=True, text=True,  # noqa: E731
                                        timeout=3)
        head = run("rev-parse", "--short", "HEAD")
        if head.returncode:
            return ""
        dirty = run("status", "--porcelain", "--untracked-files=no", "--", "xai_core").stdout.strip()
        return f"(commit {head.stdout.strip()}{'+changes' if dirty else ''})"
    except (OSError, subprocess.SubprocessError):
        return ""


# ----------------------------------------------------------------------------------- page


def _plotly_div(fig, figure: str) -> str:
    html = fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
    return f'<div data-figure="{figure}" class="plotly-figure">{html}</div>'


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return f"<script>{get_plotlyjs()}</script>"


def _page(heading: str, body: str, scripts: str) -> str:
    return ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="generator" content="xai_core">'
            f"<title>{escape(heading)}</title><style>{_CSS}</style>{scripts}</head>"
            f'<body><main class="report">{body}</main></body></html>\n')


_TEAL = "#%02x%02x%02x" % ACCENT
_CSS = """
:root { --ink:#26262c; --muted:#6e6e78; --rule:#e2e2e8; --soft:#f6f6f9; --teal:%(teal)s; --bar:#3b5ba5; }
* { box-sizing:border-box; }
html { background:#fff; }
body { margin:0; color:var(--ink); font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
  "Helvetica Neue",Arial,"Noto Sans","Liberation Sans",sans-serif; -webkit-print-color-adjust:exact;
  print-color-adjust:exact; }
.report { max-width:1180px; margin:0 auto; padding:28px 32px 40px; }
h1 { font-size:26px; line-height:1.25; margin:2px 0 8px; letter-spacing:-0.01em; }
h2 { font-size:18px; margin:0 0 4px; }
h3 { font-size:12px; text-transform:uppercase; letter-spacing:0.06em; color:var(--muted); margin:0 0 6px; }
p { margin:0 0 8px; }
.muted { color:var(--muted); }
.num { font-variant-numeric:tabular-nums; }
.kicker { color:var(--teal); font-weight:600; font-size:12px; text-transform:uppercase;
  letter-spacing:0.08em; margin:0; }
.masthead { border-bottom:2px solid var(--ink); padding-bottom:14px; margin-bottom:22px; }
.lede { font-size:19px; font-weight:600; margin:4px 0 14px; padding:10px 14px; background:var(--soft);
  border-left:4px solid var(--teal); }
.facts { display:grid; grid-template-columns:max-content 1fr; gap:3px 18px; margin:0; font-size:14px; }
.facts dt { color:var(--muted); }
.facts dd { margin:0; }
figure { margin:0; }
figure img, figure video { display:block; max-width:100%%; height:auto; }
figcaption { font-size:12.5px; color:var(--muted); margin-top:4px; }
section { margin-bottom:26px; }
section > h2 { border-bottom:1px solid var(--rule); padding-bottom:4px; margin-bottom:10px; }
table { border-collapse:collapse; }
.glance { width:100%%; font-size:14px; }
.glance th { text-align:left; font-size:12px; color:var(--muted); font-weight:600;
  border-bottom:1px solid var(--ink); padding:4px 10px 4px 0; }
.glance td { border-bottom:1px solid var(--rule); padding:6px 10px 6px 0; vertical-align:top; }
.single { display:flex; flex-direction:column; gap:22px; }
.duo { display:grid; grid-template-columns:minmax(0, 1fr) auto; gap:28px; align-items:start; }
.duo .video video { width:320px; }
.duo .details { margin-top:18px; }
.rows .row { margin-bottom:14px; }
.rowhead { font-size:15px; text-transform:none; letter-spacing:0; color:var(--ink); margin:0 0 2px; }
.rowhead .muted { font-weight:400; font-size:13px; margin-left:6px; }
.cards { display:grid; gap:26px 22px; margin:0; }
.cards.n2 { grid-template-columns:repeat(2, minmax(0, 1fr)); }
.cards.n3 { grid-template-columns:repeat(3, minmax(0, 1fr)); }
.card { display:grid; grid-template-rows:subgrid; grid-row:span 5; gap:12px; align-content:start;
  border-top:3px solid var(--ink); padding-top:10px; }
.card-head h2 { margin:0; }
.card-head p { font-size:13px; margin:0; }
.warn { color:#8a3d00; font-weight:600; }
.warning { font-weight:600; color:#8a3d00; background:#fff4e5; border-left:4px solid #b04e00;
  padding:8px 12px; margin:0; }
.summary { font-weight:600; background:var(--soft); border-left:4px solid var(--teal);
  padding:8px 10px; margin:0; }
.probs { width:100%%; max-width:520px; font-size:14px; }
.probs td { padding:2px 8px 2px 0; }
.probs td.cls { white-space:nowrap; width:1%%; }
.probs td.num { text-align:right; width:1%%; white-space:nowrap; font-variant-numeric:tabular-nums; }
.probs td.bar { width:100%%; }
.probs td.bar span { display:block; height:10px; min-width:1px; background:#c9cbd6; border-radius:2px; }
.probs tr.top td { font-weight:700; }
.probs tr.top td.bar span { background:var(--bar); }
.tag { font-size:11px; font-weight:600; color:#fff; background:var(--teal); border-radius:3px;
  padding:0 5px; margin-left:4px; }
.video video { background:#000; width:100%%; max-width:512px; }
.details { font-size:13px; }
.kv th { text-align:left; color:var(--muted); font-weight:500; vertical-align:top;
  padding:2px 12px 2px 0; white-space:nowrap; }
.kv td { padding:2px 0; overflow-wrap:anywhere; }
.howto { font-size:14px; max-width:860px; }
.foot { margin-top:22px; padding-top:10px; border-top:1px solid var(--rule); font-size:12px;
  color:var(--muted); }
@media (max-width:900px) { .cards.n2, .cards.n3, .duo { grid-template-columns:1fr; }
  .card { grid-row:auto; display:flex; flex-direction:column; } }
@page { size:A4; margin:12mm; }
@media print {
  body { font-size:11pt; }
  .report { max-width:none; padding:0; }
  .video { display:none; }
  .card, figure, .row, .glance, .howto { break-inside:avoid; }
  .duo { grid-template-columns:1fr; }
  .cards.n3 { gap:14px 10px; }
}
""" % {"teal": _TEAL}

"""The temporal relevance curve: the share of relevance in each frame, key frames marked,
as an interactive plotly figure (the dashboard) or a PNG made without a browser (reports, CLI).

    curves = {"grad_cam": temporal_curve(r1), "occlusion": temporal_curve(r2)}
    fig = curve_figure(curves, thumbnails=overlay_frames)     # plotly, one trace per curve
    png = curve_png(curves, thumbnails=overlay_frames)        # bytes, matplotlib Agg

Thumbnails (T, h, w, 3) uint8, e.g. the frames with their overlay, are shown above the key
frames, as Srinivasan et al. (2017) show relevance over time with frames at the key points.
The x axis counts the source video's frames (frame_indices), as the tube and captions do.

A curve of the evidence *against* the class (against=True, drawn when there is none for it) is
blue and says so in words on the plot; so does a plot whose curves are all zero.
"""
from __future__ import annotations

import base64
import io

import cv2
import numpy as np

from ..relevance.temporal import key_frames as default_key_frames
from ..relevance.temporal import peak_span
from .draw import ACCENT, INK, MUTED

AGAINST = "#2a6bb0"              # the colour of a curve of evidence against (the tube's blues)
NOTE = "#b04e00"                 # words about what the plot shows, as in the tube's note
AGAINST_NOTE = "No evidence for the class: the curve shows the evidence against it"
EMPTY_NOTE = "No evidence for the class in any frame"
PALETTE = ("#3b5ba5", "#e4572e", "#8e6c8a", "#f3a712", "#5a9e3a", "#5d5d5d", "#d64f9b", "#7f5539")
_HEX = lambda rgb: "#%02x%02x%02x" % tuple(rgb)   # noqa: E731


def _as_curves(curves) -> dict[str, np.ndarray]:
    """A dict label -> (T,) curve; a bare array becomes {"relevance": array}."""
    if not isinstance(curves, dict):
        curves = {"relevance": curves}
    out = {str(k): np.asarray(v, np.float64).ravel() for k, v in curves.items()}
    lengths = {len(v) for v in out.values()}
    if not out or len(lengths) != 1:
        raise ValueError("curves must be one or more (T,) arrays of the same length "
                         f"(got lengths {sorted(lengths)})")
    return out


def _key_frames_for(curves: dict, key_frames) -> dict[str, list[int]]:
    """Key frames per curve: given for all (a list), per label (a dict), or found (None)."""
    if key_frames is None:
        return {k: default_key_frames(v) for k, v in curves.items()}
    if isinstance(key_frames, dict):
        return {k: [int(t) for t in key_frames.get(k, [])] for k in curves}
    return {k: [int(t) for t in key_frames] for k in curves}


def _thumbnail(image: np.ndarray, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    size = (max(1, round(w * height / h)), height)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if h > height else cv2.INTER_LINEAR)


def _check_thumbnails(thumbnails, T: int) -> np.ndarray:
    thumbnails = np.asarray(thumbnails)
    if thumbnails.ndim != 4 or len(thumbnails) != T or thumbnails.dtype != np.uint8:
        raise ValueError(f"thumbnails must be (T={T}, h, w, 3) uint8 frames "
                         f"(got {thumbnails.dtype} {thumbnails.shape})")
    return thumbnails


def _note(curves: dict, against: bool, note: str | None) -> str | None:
    """The words on the plot: given, or said when it shows evidence against or nothing at all."""
    if note is not None:
        return note or None
    if against:
        return AGAINST_NOTE
    return EMPTY_NOTE if all(not c.sum() > 0 for c in curves.values()) else None


def _y_title(against: bool) -> str:
    return "share of evidence against" if against else "share of relevance"


def _thumb_frames(keys: dict[str, list[int]]) -> list[int]:
    """The frames that get a thumbnail: the first curve's key frames."""
    return sorted(next(iter(keys.values()), []))


# ------------------------------------------------------------------------------------ plotly


def curve_figure(curves, key_frames=None, frame_indices=None, thumbnails=None,
                 title: str | None = None, height: int = 320, span: bool | None = None,
                 against: bool = False, note: str | None = None):
    """Relevance over time as a plotly Figure: one line per curve, key frames marked.

    curves         {label: (T,) share of relevance per frame} or one (T,) array
    key_frames     a list for every curve, {label: list}, or None (each curve's peaks)
    frame_indices  the source video's frame number of each of the T frames (hover and axis)
    thumbnails     (T, h, w, 3) uint8 frames; those at the key frames are shown above the plot
    span           shade the shortest run of frames around the peak holding half the relevance
                   (default: when there is one curve)
    against        the curves are evidence against the class (blue, the axis and a note say so)
    note           words shown on the plot ("" for none; default: said for against / all-zero)
    """
    import plotly.graph_objects as go

    curves = _as_curves(curves)
    keys = _key_frames_for(curves, key_frames)
    T = len(next(iter(curves.values())))
    x = np.arange(T)
    source = list(range(T)) if frame_indices is None else [int(v) for v in frame_indices]
    fig = go.Figure([_trace(label, c, keys[label], source, _colour(n, len(curves), against), against)
                     for n, (label, c) in enumerate(curves.items())])
    for t in _thumb_frames(keys):
        fig.add_vline(x=t, line={"color": _HEX(ACCENT), "width": 1, "dash": "dot"})
    if span if span is not None else len(curves) == 1:
        a, b = peak_span(next(iter(curves.values())))
        fig.add_vrect(x0=a - 0.5, x1=b + 0.5, fillcolor=_HEX(ACCENT), opacity=0.08, line_width=0,
                      annotation_text=_span_text(against), annotation_position="bottom left",
                      annotation_font={"size": 10, "color": _HEX(MUTED)})
    words = _note(curves, against, note)
    if words:
        fig.add_annotation(text=f"<b>{words}</b>", xref="paper", yref="paper", x=0.01, y=0.99,
                           xanchor="left", yanchor="top", showarrow=False, bgcolor="rgba(255,255,255,0.85)",
                           font={"size": 12, "color": NOTE})
    margin = {"l": 56, "r": 16, "t": 40 if title else 16, "b": 44}
    if thumbnails is not None:
        plot_height = height - margin["t"] - margin["b"]
        margin["t"] += _plotly_thumbnails(fig, thumbnails, _thumb_frames(keys), T, plot_height)
    ticks = x if T <= 24 else x[:: int(np.ceil(T / 16))]
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "xref": "container", "y": 1, "yref": "container",
               "yanchor": "top", "pad": {"t": 10, "l": 10}} if title else None,
        height=height + margin["t"] - (40 if title else 16), template="plotly_white",
        margin=margin,
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1, "yanchor": "top",
                "bgcolor": "rgba(255,255,255,0.75)"}, showlegend=len(curves) > 1,
        xaxis={"title": "frame of the video", "range": [-0.6, T - 0.4], "tickvals": ticks.tolist(),
               "ticktext": [str(source[t]) for t in ticks]},
        yaxis={"title": _y_title(against), "tickformat": ".0%", "rangemode": "tozero",
               **({"range": [0, _headroom(curves)]} if words else {})})
    return fig


def _headroom(curves: dict) -> float:
    """The y range's top when a note sits on the plot: room above the highest point for it."""
    top = max(float(c.max()) for c in curves.values())
    return 1.3 * top if top > 0 else 0.1


def _span_text(against: bool) -> str:
    return "half the evidence against" if against else "half the relevance"


def _colour(n: int, count: int, against: bool = False) -> str:
    """Ink (blue for evidence against) for a single curve, the palette for several."""
    if count == 1:
        return AGAINST if against else _HEX(INK)
    return PALETTE[n % len(PALETTE)]


def _trace(label: str, curve: np.ndarray, keys: list[int], source: list[int], colour: str,
           against: bool = False):
    """One curve as a plotly line; its key frames as larger diamonds ringed in teal."""
    import plotly.graph_objects as go

    is_key = np.isin(np.arange(len(curve)), keys)
    return go.Scatter(
        x=np.arange(len(curve)), y=curve, name=label, mode="lines+markers",
        line={"color": colour, "width": 2.2},
        marker={"size": np.where(is_key, 11, 5).tolist(), "color": colour,
                "symbol": np.where(is_key, "diamond", "circle").tolist(),
                "line": {"color": np.where(is_key, _HEX(ACCENT), "white").tolist(), "width": 1.5}},
        customdata=np.array(source)[:, None],
        hovertemplate="frame %{customdata[0]} of the video<br>%{y:.1%} of the "
                      + ("evidence against" if against else "relevance") + "<extra>" + label + "</extra>")


def _data_uri(image: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _gap(frames: list[int], T: int) -> float:
    """The room each thumbnail has along the time axis, in frames: the closest key frames' gap."""
    return float(min(np.diff(sorted(frames)), default=T)) if len(frames) > 1 else float(T)


def _plotly_thumbnails(fig, thumbnails, frames: list[int], T: int, plot_height: int,
                       px: int = 76) -> int:
    """Key-frame thumbnails (at most px tall, and never wider than the gap to the next key frame,
    so that they do not overlap in a narrow plot) above the plot area; returns the top margin."""
    thumbnails = _check_thumbnails(thumbnails, T)
    room = 0.92 * _gap(frames, T)
    for t in frames:    # "contain" fits each image into room frames x px of height, centred on its frame
        fig.add_layout_image(source=_data_uri(_thumbnail(thumbnails[t], px * 2)), xref="x",
                             yref="paper", x=t, y=1 + 8 / plot_height, sizex=room, sizey=px / plot_height,
                             xanchor="center", yanchor="bottom", sizing="contain", layer="above")
    return px + 14


# ------------------------------------------------------------------------------- matplotlib


def curve_png(curves, key_frames=None, frame_indices=None, thumbnails=None,
              title: str | None = None, size: tuple[int, int] = (900, 340), dpi: int = 100,
              span: bool | None = None, against: bool = False, note: str | None = None) -> bytes:
    """Relevance over time as PNG bytes (matplotlib Agg, no browser); options as curve_figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curves = _as_curves(curves)
    keys = _key_frames_for(curves, key_frames)
    T = len(next(iter(curves.values())))
    source = list(range(T)) if frame_indices is None else [int(v) for v in frame_indices]
    thumb_h = 92 if thumbnails is not None else 0
    W, H = size[0], size[1] + thumb_h                                   # figure pixels
    fig = Figure(figsize=(W / dpi, H / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    bottom, top = 48 / H, 1 - (thumb_h + (34 if title else 12)) / H
    ax = fig.add_axes((64 / W, bottom, 1 - 80 / W, top - bottom))        # (left, bottom, width, height)
    _mpl_curves(ax, curves, keys, span, against)
    _mpl_axes(ax, T, source, len(curves) if len(curves) > 1 else 0, against)
    words = _note(curves, against, note)
    if words:
        ax.set_ylim(0, _headroom(curves))
        ax.text(0.99, 0.98, words, transform=ax.transAxes, ha="right", va="top", fontsize=10,
                fontweight="bold", color=NOTE, zorder=7,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 2})
    if thumbnails is not None:
        _mpl_thumbnails(ax, _check_thumbnails(thumbnails, T), _thumb_frames(keys), thumb_h, dpi,
                        (W - 80) / (T + 0.2))                            # pixels per frame on the axis
    if title:
        fig.text(64 / W, 1 - 8 / H, title, ha="left", va="top", fontsize=12,
                 fontweight="bold", color=np.array(INK) / 255)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def _mpl_curves(ax, curves: dict, keys: dict, span, against: bool = False) -> None:
    """The curves with dots per frame, teal-ringed diamonds at key frames, the half span."""
    accent = np.array(ACCENT) / 255
    for n, (label, c) in enumerate(curves.items()):
        colour = _colour(n, len(curves), against)
        x = np.arange(len(c))
        ax.plot(x, c, color=colour, lw=2.0, label=label, zorder=3)
        if len(curves) == 1:
            ax.fill_between(x, 0, c, color=accent, alpha=0.10, lw=0, zorder=1)
        ax.scatter(x, c, s=14, color=colour, edgecolors="white", linewidths=0.8, zorder=4)
        k = [t for t in keys[label] if 0 <= t < len(c)]
        ax.scatter(k, c[k], s=70, marker="D", color=colour, edgecolors=accent, linewidths=1.6, zorder=5)
    for t in _thumb_frames(keys):
        ax.axvline(t, color=accent, lw=1, ls=(0, (2, 3)), zorder=2)
    if span if span is not None else len(curves) == 1:
        a, b = peak_span(next(iter(curves.values())))
        ax.axvspan(a - 0.5, b + 0.5, color=accent, alpha=0.07, lw=0, zorder=0)
        ax.text((a + b) / 2, 0.03, _span_text(against), transform=ax.get_xaxis_transform(),
                fontsize=8, color=np.array(MUTED) / 255, ha="center", va="bottom", zorder=6,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})


def _mpl_axes(ax, T: int, source: list[int], legend: int, against: bool = False) -> None:
    """Light axes, percent ticks, the source frame numbers; a legend of `legend` entries."""
    from matplotlib.ticker import PercentFormatter

    muted = np.array(MUTED) / 255
    ax.set_xlim(-0.6, T - 0.4)
    ax.set_ylim(0, None)
    ticks = np.arange(T) if T <= 24 else np.arange(0, T, int(np.ceil(T / 16)))
    ax.set_xticks(ticks, [str(source[t]) for t in ticks])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("frame of the video", color=muted, fontsize=9)
    ax.set_ylabel(_y_title(against), color=muted, fontsize=9)
    ax.tick_params(colors=muted, labelsize=8, length=3)
    ax.grid(axis="y", color="#e6e6ea", lw=0.8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#bbbbc2")
    if legend:
        ax.legend(frameon=False, fontsize=8, ncols=min(4, legend), loc="upper left")


def _mpl_thumbnails(ax, thumbnails: np.ndarray, frames: list[int], height: int, dpi: int,
                    frame_px: float) -> None:
    """Each key frame's thumbnail above the plot, centred on its frame, with a teal border; at most
    `height` pixels tall and no wider than the gap to the next key frame (frame_px per frame)."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    h, w = thumbnails.shape[1:3]
    tall = int(min(height - 8, 0.9 * _gap(frames, len(thumbnails)) * frame_px * h / w - 6))
    for t in frames:
        image = OffsetImage(_thumbnail(thumbnails[t], max(8, tall)), zoom=72 / dpi)
        box = AnnotationBbox(image, (t, 1.0), xycoords=("data", "axes fraction"), box_alignment=(0.5, -0.08),
                             frameon=True, pad=0.12, annotation_clip=False,
                             bboxprops={"edgecolor": np.array(ACCENT) / 255, "lw": 1.5})
        ax.add_artist(box)

"""The temporal relevance curve: the share of relevance in each frame, key frames marked,
as an interactive plotly figure (the dashboard) or a PNG made without a browser (reports, CLI).

    curves = {"grad_cam": temporal_curve(r1), "occlusion": temporal_curve(r2)}
    fig = curve_figure(curves, thumbnails=overlay_frames)     # plotly, one trace per curve
    png = curve_png(curves, thumbnails=overlay_frames)        # bytes, matplotlib Agg

Thumbnails (T, h, w, 3) uint8, e.g. the frames with their overlay, are shown above the key
frames, as Srinivasan et al. (2017) show relevance over time with frames at the key points.
"""
from __future__ import annotations

import base64
import io

import cv2
import numpy as np

from ..relevance.temporal import key_frames as default_key_frames
from ..relevance.temporal import peak_span
from .draw import ACCENT, INK, MUTED

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


def _thumb_frames(keys: dict[str, list[int]]) -> list[int]:
    """The frames that get a thumbnail: the first curve's key frames."""
    return sorted(next(iter(keys.values()), []))


# ------------------------------------------------------------------------------------ plotly


def curve_figure(curves, key_frames=None, frame_indices=None, thumbnails=None,
                 title: str | None = None, height: int = 320, span: bool | None = None):
    """Relevance over time as a plotly Figure: one line per curve, key frames marked.

    curves         {label: (T,) share of relevance per frame} or one (T,) array
    key_frames     a list for every curve, {label: list}, or None (each curve's peaks)
    frame_indices  the source video's frame number of each of the T frames (hover and axis)
    thumbnails     (T, h, w, 3) uint8 frames; those at the key frames are shown above the plot
    span           shade the shortest run of frames holding half the relevance (default: one curve)
    """
    import plotly.graph_objects as go

    curves = _as_curves(curves)
    keys = _key_frames_for(curves, key_frames)
    T = len(next(iter(curves.values())))
    x = np.arange(T)
    source = list(range(T)) if frame_indices is None else [int(v) for v in frame_indices]
    fig = go.Figure([_trace(label, c, keys[label], source, _colour(n, len(curves)))
                     for n, (label, c) in enumerate(curves.items())])
    for t in _thumb_frames(keys):
        fig.add_vline(x=t, line={"color": _HEX(ACCENT), "width": 1, "dash": "dot"})
    if span if span is not None else len(curves) == 1:
        a, b = peak_span(next(iter(curves.values())))
        fig.add_vrect(x0=a - 0.5, x1=b + 0.5, fillcolor=_HEX(ACCENT), opacity=0.08, line_width=0,
                      annotation_text="half the relevance", annotation_position="bottom left",
                      annotation_font={"size": 10, "color": _HEX(MUTED)})
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
        xaxis={"title": "frame", "range": [-0.6, T - 0.4], "tickvals": ticks.tolist(),
               "ticktext": [str(source[t]) for t in ticks]},
        yaxis={"title": "share of relevance", "tickformat": ".0%", "rangemode": "tozero"})
    return fig


def _colour(n: int, count: int) -> str:
    """Ink for a single curve, the palette for several."""
    return _HEX(INK) if count == 1 else PALETTE[n % len(PALETTE)]


def _trace(label: str, curve: np.ndarray, keys: list[int], source: list[int], colour: str):
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
        hovertemplate="frame %{x} (video frame %{customdata[0]})<br>%{y:.1%} of relevance"
                      "<extra>" + label + "</extra>")


def _data_uri(image: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _plotly_thumbnails(fig, thumbnails, frames: list[int], T: int, plot_height: int,
                       px: int = 76) -> int:
    """Key-frame thumbnails (px tall) above the plot area; returns the top margin they need."""
    thumbnails = _check_thumbnails(thumbnails, T)
    for t in frames:    # "contain" fits each image into px of height, centred on its frame
        fig.add_layout_image(source=_data_uri(_thumbnail(thumbnails[t], px * 2)), xref="x",
                             yref="paper", x=t, y=1 + 8 / plot_height, sizex=T, sizey=px / plot_height,
                             xanchor="center", yanchor="bottom", sizing="contain", layer="above")
    return px + 14


# ------------------------------------------------------------------------------- matplotlib


def curve_png(curves, key_frames=None, frame_indices=None, thumbnails=None,
              title: str | None = None, size: tuple[int, int] = (900, 340), dpi: int = 100,
              span: bool | None = None) -> bytes:
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
    _mpl_curves(ax, curves, keys, span)
    _mpl_axes(ax, T, source, len(curves) if len(curves) > 1 else 0)
    if thumbnails is not None:
        _mpl_thumbnails(ax, _check_thumbnails(thumbnails, T), _thumb_frames(keys), thumb_h, dpi)
    if title:
        fig.text(64 / W, 1 - 8 / H, title, ha="left", va="top", fontsize=12,
                 fontweight="bold", color=np.array(INK) / 255)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def _mpl_curves(ax, curves: dict, keys: dict, span) -> None:
    """The curves with dots per frame, teal-ringed diamonds at key frames, the half span."""
    accent = np.array(ACCENT) / 255
    for n, (label, c) in enumerate(curves.items()):
        colour = _colour(n, len(curves))
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
        ax.text((a + b) / 2, 0.03, "half the relevance", transform=ax.get_xaxis_transform(),
                fontsize=8, color=np.array(MUTED) / 255, ha="center", va="bottom", zorder=6,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})


def _mpl_axes(ax, T: int, source: list[int], legend: int) -> None:
    """Light axes, percent ticks, the source frame numbers; a legend of `legend` entries."""
    from matplotlib.ticker import PercentFormatter

    muted = np.array(MUTED) / 255
    ax.set_xlim(-0.6, T - 0.4)
    ax.set_ylim(0, None)
    ticks = np.arange(T) if T <= 24 else np.arange(0, T, int(np.ceil(T / 16)))
    ax.set_xticks(ticks, [str(source[t]) for t in ticks])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("frame", color=muted, fontsize=9)
    ax.set_ylabel("share of relevance", color=muted, fontsize=9)
    ax.tick_params(colors=muted, labelsize=8, length=3)
    ax.grid(axis="y", color="#e6e6ea", lw=0.8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#bbbbc2")
    if legend:
        ax.legend(frameon=False, fontsize=8, ncols=min(4, legend), loc="upper left")


def _mpl_thumbnails(ax, thumbnails: np.ndarray, frames: list[int], height: int, dpi: int) -> None:
    """Each key frame's thumbnail above the plot, centred on its frame, with a teal border."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    for t in frames:
        image = OffsetImage(_thumbnail(thumbnails[t], height - 8), zoom=72 / dpi)
        box = AnnotationBbox(image, (t, 1.0), xycoords=("data", "axes fraction"), box_alignment=(0.5, -0.08),
                             frameon=True, pad=0.12, annotation_clip=False,
                             bboxprops={"edgecolor": np.array(ACCENT) / 255, "lw": 1.5})
        ax.add_artist(box)

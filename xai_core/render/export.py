"""Render an Explanation to files: tube.png, curve.png and overlay.webm (or .mp4)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..relevance.evidence import curve_mode, short_note, shown_mode
from ..relevance.temporal import key_frames, temporal_curve
from .curve import curve_png
from .overlay import caption_frames, overlay
from .png import save_png
from .tube import tube_image
from .video import write_video


def explanation_title(exp) -> str:
    """A one-line caption: method · model · target (probability)."""
    p = float(exp.probabilities[exp.target])
    return f"{exp.method} · {exp.model} · {exp.target_label} ({p:.0%})"


def explanation_frames(exp) -> np.ndarray:
    """The frames to draw an explanation on: its clip's display frames (T, h, w, 3) uint8."""
    if exp.clip is None:
        raise ValueError(f"explanation ({exp.method} on {exp.model}) has no clip: pass frames=")
    return exp.clip.display


def write_outputs(exp, out_dir, frames: np.ndarray | None = None, video: str = ".webm",
                  mode: str = "positive", fps: float | None = None, scale: float | None = None,
                  ) -> dict[str, Path]:
    """Write tube.png, curve.png and overlay<video> for an Explanation into out_dir.

    frames  (T, h, w, 3) uint8 to draw on (default: the clip's display frames); fps defaults
    to 8 for a 16-frame clip (two seconds), scaled with the frame count.
    With no evidence for the class, all three show the evidence against it on its own scale,
    and say so (the tube and curve on the figure, the video in a band under the frames)."""
    out = Path(out_dir)
    frames = explanation_frames(exp) if frames is None else np.asarray(frames)
    relevance = np.asarray(exp.relevance, np.float32)
    shown = shown_mode(relevance, mode)
    scale = scale if shown == mode else None                     # evidence against: its own scale
    curve = temporal_curve(relevance, curve_mode(shown))
    keys = key_frames(curve)
    numbers = list(exp.clip.source_indices) if exp.clip is not None else None
    title = explanation_title(exp)
    heat = overlay(frames, relevance, mode=shown, scale=scale)                # (T, h, w, 3)
    note = short_note(relevance, exp.target_label)
    paths = {
        "tube": save_png(out / "tube.png", tube_image(frames, relevance, mode=shown, scale=scale,
                                                      key_frames=keys, frame_numbers=numbers,
                                                      title=title)),
        "curve": out / "curve.png",
        "overlay": write_video(out / f"overlay{video}", caption_frames(heat, note) if note else heat,
                               fps or max(1.0, len(frames) / 2)),
    }
    paths["curve"].write_bytes(curve_png({exp.method: curve}, key_frames=keys, frame_indices=numbers,
                                         thumbnails=heat, title=title, against=shown == "against"))
    return paths

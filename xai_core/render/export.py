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


MOTION_FILES = ["split.npz", "spacetime_tube.png", "spacetime_legend.png", "flow_tube.png",
                "flow_stream_tube.png", "reliance.json"]


def write_motion_outputs(analysis, exp, out_dir, frames: np.ndarray | None = None, video: str = ".webm",
                         fps: float | None = None) -> dict[str, Path]:
    """Write a motion.analysis.MotionAnalysis of `exp` into out_dir; returns {name: path}.

    split.npz            total, spatial, temporal (T, H, W) float64: spatial + temporal == total
                         exactly (motion.split), with the variant's name
    spacetime_tube.png   the split in one picture (hue: temporal share, opacity: |relevance|)
    spacetime<video>     the same over the clip's frames; spacetime_legend.png its 2-D legend
    flow_tube.png        the clip's DIS flow (Middlebury colours: hue = direction, saturation =
                         speed) where it moves (motion.moving.moving_speed),
                         + flow_legend.png (the colour wheel)
    flow_stream_tube.png a two-stream model's flow-stream relevance on the flow field
    reliance.json        MotionAnalysis.to_dict(): reliance, split shares, moving share, flow stream
    """
    from ..motion.moving import RULE, moving_speed
    from ..relevance.export import strict_dumps
    from .flow import default_max_flow, flow_legend, flow_tube
    from .spacetime import spacetime_legend, spacetime_tube, spacetime_video

    out = Path(out_dir)
    frames = explanation_frames(exp) if frames is None else np.asarray(frames)
    numbers = list(exp.clip.source_indices) if exp.clip is not None else None
    paths: dict[str, Path] = {}
    split = analysis.split
    if split is not None:
        np.savez_compressed(out / "split.npz", total=split.total, spatial=split.spatial,
                            temporal=split.temporal, variant=np.array(split.variant))
        paths["split"] = out / "split.npz"
        title = f"{exp.model} · {exp.target_label}: {split.temporal_share:.0%} temporal ({split.variant})"
        paths["spacetime_tube"] = save_png(out / "spacetime_tube.png",
                                           spacetime_tube(frames, split, title=title, frame_numbers=numbers))
        paths["spacetime_legend"] = save_png(out / "spacetime_legend.png", spacetime_legend())
        paths["spacetime"] = spacetime_video(out / f"spacetime{video}", frames, split,
                                             fps=fps or max(1.0, len(frames) / 2))
    flow = analysis.flow
    top = default_max_flow(flow)
    moving = moving_speed(flow)                                              # (T-1, H, W): drawn where it moves
    paths["flow_tube"] = save_png(out / "flow_tube.png",
                                  flow_tube(flow, moving, frames, max_flow=top,
                                            title=f"DIS optical flow where it moves ({RULE})"))
    paths["flow_legend"] = save_png(out / "flow_legend.png", flow_legend(96, top))
    fs = analysis.flow_stream
    if fs is not None:
        share = fs.moving_share()
        paths["flow_stream_tube"] = save_png(
            out / "flow_stream_tube.png",
            flow_tube(fs.flow, fs.relevance, frames, max_flow=top,
                      title=f"{exp.model} flow stream · {fs.method} · {fs.label}: "
                            f"{share:.0%} of relevance on moving pixels"))
    (out / "reliance.json").write_text(strict_dumps(analysis.to_dict(), indent=2))
    paths["reliance"] = out / "reliance.json"
    return paths

"""Rendering: overlays, the staggered-frame tube, temporal curves, videos and PNG exports.

Every function takes plain arrays first: frames (T, h, w, 3) uint8 RGB at display resolution
and relevance (T, H, W) float on the model grid (resized onto the frames, same field of view).
"""
from .colormap import colorbar, colorize, lut, normalise, robust_scale, shared_scale
from .curve import curve_figure, curve_png, default_key_frames
from .export import explanation_title, write_motion_outputs, write_outputs
from .flow import default_max_flow, flow_legend, flow_relevance_frames, flow_to_rgb, flow_tube
from .overlay import OVERLAY_STYLES, caption_frames, overlay, overlay_style
from .png import save_png, to_png
from .report import html_report
from .spacetime import (spacetime_colors, spacetime_legend, spacetime_overlay, spacetime_tube,
                        spacetime_video)
from .strip import frame_strip
from .tube import Tube, relevance_path, render_tube, tube_image
from .video import overlay_video, write_video

__all__ = [
    "colorbar", "colorize", "lut", "normalise", "robust_scale", "shared_scale",
    "curve_figure", "curve_png", "default_key_frames", "explanation_title", "write_outputs",
    "write_motion_outputs", "default_max_flow", "flow_legend", "flow_relevance_frames", "flow_to_rgb", "flow_tube",
    "overlay", "OVERLAY_STYLES", "overlay_style", "caption_frames", "save_png", "to_png", "frame_strip", "Tube", "relevance_path", "render_tube",
    "tube_image", "overlay_video", "write_video", "html_report",
    "spacetime_colors", "spacetime_overlay", "spacetime_tube", "spacetime_video", "spacetime_legend",
]

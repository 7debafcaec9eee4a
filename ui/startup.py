"""Everything the pages import, imported once, in one thread, before any page runs (app.py's first import).

Why: every browser session runs the script in its own thread. On a fresh server several sessions
run their first script together and import the same large packages (torch, pandas, plotly,
matplotlib ...) in different orders; Python's per-module import locks then break the apparent
deadlock by handing one thread a half-imported module, and the page shows
`AttributeError: partially initialized module 'pandas' ...`. Importing them all here first
leaves nothing to import concurrently: a second session's `import ui.startup` waits on this
module's lock while holding no other import lock, so it gets the finished module.

Streamlit runs no code of ours before the first session connects (`streamlit run` has no
start-up hook; `st.App`'s lifespan would make the app an ASGI module with another entry
point), so this runs inside the first session's first script run, and the others wait for it.
"""
import importlib
import os
import pkgutil

# FFmpeg inside OpenCV prints its own complaints about a damaged file to the server's stderr (an
# AV1 file: hundreds of lines); the page says what went wrong once. Set before cv2 is imported.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

# Third-party packages imported lazily by the core (inside functions) or by Streamlit's elements
# (st.plotly_chart, st.dataframe, st.metric's chart, st.image).
import av  # noqa: F401  (PyAV fallback decoder, WebM writer)
import captum.attr  # noqa: F401  (integrated gradients)
import cv2  # noqa: F401
import matplotlib  # noqa: F401  (colour maps)
import matplotlib.backends.backend_agg  # noqa: F401  (the Model page's plots, drawn off-screen)
import numpy  # noqa: F401
import pandas  # noqa: F401
import PIL.Image  # noqa: F401
import plotly.express  # noqa: F401  (pulls in plotly.io, narwhals and the plotly/pandas glue)
import plotly.graph_objects  # noqa: F401
import plotly.subplots  # noqa: F401
import pyarrow  # noqa: F401
import safetensors.numpy  # noqa: F401  (influence: checkpoints and cached indexes)
import streamlit.emojis  # noqa: F401  (loaded on a page's first icon)
import streamlit.material_icon_names  # noqa: F401
import torch  # noqa: F401

# Imported on first use by Streamlit's elements, plotly's JSON writer, pyarrow's pandas glue, the
# model loader and the decoder.
for _name in ("numpy.polynomial", "orjson", "packaging.tags", "plotly.io._json", "plotly.offline", "plotly.tools",
              "pyarrow.pandas_compat", "pyarrow.vendored.version", "safetensors.torch", "av.subtitles.stream", "narwhals._interchange.dataframe",
              "streamlit.components.v2.manifest_scanner", "streamlit.runtime.scriptrunner.magic_funcs"):
    try:
        importlib.import_module(_name)
    except ImportError:       # optional for its package (orjson), or moved in another version: nothing to warm
        pass

import xai_core

SKIP = ("__main__",)    # modules that do something when imported (the CLI)


def import_all(package) -> list[str]:
    """Import every module of `package` (except SKIP); the names imported."""
    names = [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
             if m.name.rsplit(".", 1)[-1] not in SKIP]
    for name in names:
        importlib.import_module(name)
    return names


def warm_up() -> None:
    """Draw what the pages draw, tiny, once: plotly and Pillow import most of their modules only
    on first use (a figure's default template loads every trace type; a picture's format loads
    its plugin), and those imports must not happen in several sessions at once either."""
    import numpy as np
    import plotly.io

    from ui.live import timeline_figure
    from ui.widgets import probabilities_figure
    from xai_core import render
    from xai_core.relevance.stream import StreamPlan, Timeline, WindowResult

    PIL.Image.init()                                                   # every image format's plugin
    window = WindowResult(0, 0, 1, [0, 1], np.array([0.6, 0.4]), ["a", "b"], 0, np.ones((2, 4, 4), np.float32),
                          np.zeros((2, 4, 4, 3), np.uint8), 10.0, {"decode": 1.0, "explain": 1.0})
    timeline = Timeline(10.0)
    timeline.append(window)
    figures = [timeline_figure(timeline, StreamPlan(2, 10.0, 2, 1, [0]), window),
               probabilities_figure([0.6, 0.4], ["a", "b"], highlight=0),
               render.curve_figure({"m": np.array([0.6, 0.4])}, key_frames=[0], frame_indices=[0, 1],
                                   thumbnails=np.zeros((2, 8, 8, 3), np.uint8), title="t")]
    for figure in figures:
        plotly.io.to_json(figure)


CORE = import_all(xai_core)

import ui  # noqa: E402  (the dashboard's own modules, after the core they use)

UI = import_all(ui)
warm_up()

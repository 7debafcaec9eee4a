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
import pkgutil

# Third-party packages imported lazily by the core (inside functions) or by Streamlit's elements
# (st.plotly_chart, st.dataframe, st.metric's chart, st.image).
import av  # noqa: F401  (PyAV fallback decoder, WebM writer)
import captum.attr  # noqa: F401  (integrated gradients)
import cv2  # noqa: F401
import matplotlib  # noqa: F401  (colour maps)
import numpy  # noqa: F401
import pandas  # noqa: F401
import PIL.Image  # noqa: F401
import plotly.express  # noqa: F401  (pulls in plotly.io, narwhals and the plotly/pandas glue)
import plotly.graph_objects  # noqa: F401
import plotly.subplots  # noqa: F401
import pyarrow  # noqa: F401
import streamlit.emojis  # noqa: F401  (loaded on a page's first icon)
import streamlit.material_icon_names  # noqa: F401
import torch  # noqa: F401

import xai_core

SKIP = ("__main__",)    # modules that do something when imported (the CLI)


def import_all(package) -> list[str]:
    """Import every module of `package` (except SKIP); the names imported."""
    names = [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
             if m.name.rsplit(".", 1)[-1] not in SKIP]
    for name in names:
        importlib.import_module(name)
    return names


CORE = import_all(xai_core)

import ui  # noqa: E402  (the dashboard's own modules, after the core they use)

UI = import_all(ui)

"""xai_core: explain video recognition models, UI-free.

    from xai_core import load_model, load_video, explain
    model = load_model("c3d_small")
    clip = load_video("clip.mp4", model.spec)
    exp = explain(model, clip, "grad_cam")

Names are imported on first use, so `import xai_core.data.synthetic` stays light.
"""
from importlib import import_module

_EXPORTS = {
    "Clip": "video", "load_video": "video",
    "Explanation": "relevance.explanation", "explain": "relevance.explanation",
    "get_method": "methods.registry", "list_methods": "methods.registry",
    "ModelInfo": "models.base", "VideoModel": "models.base",
    "list_models": "models.loader", "load_model": "models.loader",
    "InputSpec": "spec",
    "XaiError": "errors", "VideoError": "errors", "ModelSpecError": "errors", "MethodError": "errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'xai_core' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value

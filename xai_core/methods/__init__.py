"""Attribution methods, registered with metadata and run through one entry point.

    from xai_core.methods import list_methods, run_method
    relevance = run_method("grad_cam", model, video, target)   # (N, T, H, W)
"""
from .registry import MethodInfo, get_method, list_methods, register_method, run_method

__all__ = ["MethodInfo", "get_method", "list_methods", "register_method", "run_method"]

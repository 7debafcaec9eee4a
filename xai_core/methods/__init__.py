"""Attribution methods, registered with metadata and run through one entry point.

    from xai_core.methods import list_methods, run_method
    relevance = run_method("grad_cam", model, video, target)   # (N, T, H, W)
    options = validate_options("occlusion", {"stride": [2, 4, 4]}, video.shape)  # what run_method checks
"""
from .options import OptionSpec, validate_options
from .registry import MethodInfo, get_method, list_methods, register_method, run_method

__all__ = ["MethodInfo", "OptionSpec", "get_method", "list_methods", "register_method", "run_method",
           "validate_options"]

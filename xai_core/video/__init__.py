"""Video input: decode a file (OpenCV, PyAV fallback), sample it to a model's input spec, slide windows."""
from .clip import Clip, from_frames, to_tensor
from .decode import VideoInfo, probe
from .sample import SAMPLINGS, clip_from_array, load_video, sample_indices
from .windows import iter_windows, window_length, window_starts

__all__ = ["Clip", "SAMPLINGS", "VideoInfo", "clip_from_array", "from_frames", "iter_windows", "load_video",
           "probe", "sample_indices", "to_tensor", "window_length", "window_starts"]

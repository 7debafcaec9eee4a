"""The model's own view (developer role): what the model has learned, independent of any one clip.

    kernels.py      the first 3D layers' kernels as time slices, filters ordered by temporal
                    selectivity (temporal_selectivity, kernel_views, kernel_grid)
    maximise.py     class-maximising clips by regularised activation maximisation, from several
                    seeds with their similarity (maximise_class, maximise_seeds, max_clip_tube)
    activations.py  a layer's activations on a clip: energy per frame, top channels as tubes
                    (layer_choices, layer_activations, activation_figure)
    grid.py         the labelled grids and legends these pictures are drawn with
    cli.py          python -m xai_core global (its parser is built without importing the rest)

Names are imported on first use, as in xai_core itself.
"""
from importlib import import_module

_EXPORTS = {
    **dict.fromkeys(("Activations", "LayerChoice", "activation_figure", "layer_activations", "layer_choices"),
                    "activations"),
    **dict.fromkeys(("KernelView", "NoTemporalKernels", "conv_layers", "kernel_grid", "kernel_layer_names",
                     "kernel_view", "kernel_views", "temporal_selectivity"), "kernels"),
    **dict.fromkeys(("MaxClip", "Regulariser", "SeedRun", "max_clip_tube", "maximise_class", "maximise_seeds",
                     "seeds_image", "write_loop"), "maximise"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'xai_core.modelview' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value

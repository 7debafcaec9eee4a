"""Out of its world: does a clip look like the data the model was trained on?

    from xai_core import ood
    result = ood.check(model, clip)        # OODResult(score, threshold, out_of_distribution, message)
    exp = explain(model, clip, "grad_cam")
    exp.ood                                # the same, from the prediction's own forward pass

One concept per module: statistics (per-clip summaries), shrinkage (Ledoit-Wolf), gaussian
(class-conditional Mahalanobis, Lee et al. 2018), energy (Liu et al. 2020; measured, see
calibrate), detector (terms + threshold, the .ood.safetensors file), capture (the hooks),
check (the public entry), result (OODResult), calibrate (python -m xai_core calibrate-ood).
"""
from .check import calibration_path, check, detector_for, watch
from .result import OODResult

__all__ = ["OODResult", "calibration_path", "check", "detector_for", "watch"]

"""Explain the flow stream of a two-stream model on its own input: relevance on the flow field.

    flow_stream(model)                          -> VideoModel on flow (N, 2, T-1, H, W), px/frame
    explain_flow_stream(model, clip, method, target=None, **options) -> FlowExplanation

A two-stream model (xai_core.models.zoo.TwoStream) computes its optical flow without gradients,
so gradient methods run on the whole model see its RGB stream only. Here the flow stream is
wrapped as a model of its own whose input is the flow field, so every registered method runs on
it unchanged: its InputSpec has T-1 "frames" (one flow field per pair of frames) and two
channels (dx, dy) of kind "flow" (xai_core.spec.DERIVED), mean 0 and std 1, so the methods'
zero baseline (integrated gradients, occlusion) is "no motion". Its relevance (T-1, H, W) lies
on the flow field: entry t on the motion from frame t to t+1.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ModelSpecError
from ..methods import run_method
from ..models.base import ModelInfo, VideoModel
from ..spec import InputSpec
from .moving import THRESHOLD, WINDOW, field_motion, moving_share


def is_two_stream(model) -> bool:
    """Whether `model` (a VideoModel or its net) has a flow stream: compute_flow, flow and rgb."""
    net = getattr(model, "net", model)
    return all(hasattr(net, a) for a in ("compute_flow", "flow", "rgb"))


def _two_stream(model):
    net = getattr(model, "net", model)
    if not is_two_stream(net):
        name = getattr(model, "name", type(model).__name__)
        raise ModelSpecError(f"model {name!r} has no flow stream: only two-stream models "
                             "(e.g. two_stream) compute optical flow")
    return net


def flow_stream(model: VideoModel) -> VideoModel:
    """The flow stream of two-stream `model` as a VideoModel on flow (N, 2, T-1, H, W) -> logits (N, K).

    Shares its parameters with `model` (no copy) and keeps its mode (eval stays eval). Raises
    ModelSpecError for a model without a flow stream.
    """
    net = _two_stream(model)
    spec = model.spec
    flow_spec = InputSpec(frames=spec.frames - 1, height=spec.height, width=spec.width,
                          mean=(0.0, 0.0), std=(1.0, 1.0), channels="flow")
    info = ModelInfo(f"{model.name}:flow", list(model.class_names), flow_spec, cam_layer=net.flow.cam_layer,
                     family="two-stream", description=f"the optical-flow stream of {model.name}",
                     source=model.info.source, weights=model.info.weights,
                     notes=["input: DIS optical flow (dx, dy) in pixels per frame, T-1 fields for T frames"])
    wrapper = VideoModel(net.flow, info)
    wrapper.training = model.training       # this object only: the shared stream keeps its own mode
    wrapper.lock = getattr(model, "lock", wrapper.lock)   # hooks on the shared stream never interleave
    return wrapper


@dataclass
class FlowExplanation:
    """Relevance on the flow field of one clip, by one method, for one class.

    relevance  (T-1, H, W) float32: entry t on the flow from frame t to t+1 (the model's grid)
    flow       (T-1, H, W, 2) float32: the flow the stream saw, (dx, dy) pixels per frame
    target     the class index explained; label its name
    method     the method's registered name
    probabilities         (K,) the whole model's class probabilities
    stream_probabilities  {"rgb": (K,), "flow": (K,)}: each stream's own softmax
    """

    relevance: np.ndarray
    flow: np.ndarray
    target: int
    label: str
    method: str
    probabilities: np.ndarray
    stream_probabilities: dict = field(default_factory=dict)
    model: str = ""

    def moving_share(self, threshold: float = THRESHOLD, window: int = WINDOW) -> float:
        """The share of positive relevance on flow-field pixels moving above `threshold` px/frame
        (steady motion over `window` fields, motion.moving.field_motion); nan: none positive."""
        return moving_share(self.relevance, field_motion(self.flow, window), threshold)


def explain_flow_stream(model: VideoModel, clip, method: str, target: int | str | None = None,
                        **options) -> FlowExplanation:
    """Explain two-stream `model`'s flow stream on `clip` with registered `method`: relevance on the flow.

    `clip`: a Clip (video.clip), or its normalised tensor (3, T, H, W) / (1, 3, T, H, W). The flow
    is computed as the model computes it (cached per clip). `target` (index or label) defaults to
    the whole model's prediction, so the flow stream is asked about the class the model chose.
    `options` go to the method. Raises ModelSpecError for a model without a flow stream, and the
    method's MethodError for bad options.
    """
    net = _two_stream(model)
    x = clip.tensor if hasattr(clip, "tensor") else torch.as_tensor(clip)
    x = x.unsqueeze(0) if x.dim() == 4 else x
    if x.dim() != 5 or x.shape[0] != 1:
        raise ModelSpecError(f"explain_flow_stream: expected one clip (3, T, H, W), got shape {tuple(x.shape)}")
    device = next(model.parameters()).device
    x = x.to(device)                                                       # (1, 3, T, H, W)
    stream = flow_stream(model)
    with getattr(model, "lock", stream.lock):
        with torch.no_grad():
            flow = net.compute_flow(x)                                     # (1, 2, T-1, H, W)
            rgb_logits, flow_logits = net.rgb(x), net.flow(flow)          # (1, K) each
            logits = rgb_logits + flow_logits                              # the model's late fusion
        index = int(logits.argmax(1)) if target is None else model.target_index(target)
        relevance = run_method(method, stream, flow, torch.tensor([index], device=device), **options)
    soft = lambda z: torch.softmax(z.float(), 1)[0].cpu().numpy()          # noqa: E731
    return FlowExplanation(
        relevance=relevance[0].detach().float().cpu().numpy(),             # (T-1, H, W)
        flow=flow[0].permute(1, 2, 3, 0).float().cpu().numpy(),            # (T-1, H, W, 2)
        target=index, label=model.label(index), method=method, probabilities=soft(logits),
        stream_probabilities={"rgb": soft(rgb_logits), "flow": soft(flow_logits)}, model=model.name)

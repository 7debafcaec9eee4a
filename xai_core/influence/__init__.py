"""Influence examples: the reference clips that most supported or opposed a decision (ref [23]).

    from xai_core import load_model, load_video
    from xai_core.influence import influence
    model = load_model("c3d_small")
    result = influence(model, load_video("clip.mp4", model.spec), top=8)
    result.proponents[0].label, result.proponents[0].clip()     # a training clip, back as a Clip

Modules, one concept each:

    reference.py    the reference set: a bundled model's training set regenerated from its seed,
                    or a folder DIR/<label>/*.mp4
    checkpoints.py  the last-layer snapshots training saved (NAME.checkpoints.safetensors)
    head.py         the last layer: which module, and its input (features) and output per clip
    tracin.py       TracIn-CP, fast form for the last layer (Pruthi et al. 2020)
    similarity.py   the fallback without checkpoints: feature cosine signed by label
    index.py        per reference clip features and loss gradients, built once, cached on disk
    query.py        influence(model, clip, ...) -> InfluenceResult
    result.py       InfluenceResult, Example (to_dict for JSON)
    thumbnails.py   each example as a small looping video or a frame strip
    cli.py          python -m xai_core influence

What captum (0.9) has and lacks here: `captum.influence.TracInCPFast` computes the same scores
(without the bias term; the tests check agreement), but it re-runs the model over the training
data for every checkpoint and every call, keeps nothing between processes, and takes a DataLoader
of tensors. This package runs each reference clip through the model once (the logits at every
checkpoint follow from the last layer's input and output), caches the result on disk keyed by
the weights, checkpoints and reference set, and reads reference sets of videos.
"""
from .checkpoints import Checkpoints, find_checkpoints, read_checkpoints
from .index import InfluenceIndex, cache_root, index_for
from .query import METHODS, index_ready, influence
from .reference import FolderSet, ReferenceSet, TrainingSet, reference_for
from .result import Example, InfluenceResult

__all__ = ["Checkpoints", "Example", "FolderSet", "InfluenceIndex", "InfluenceResult", "METHODS", "ReferenceSet",
           "TrainingSet", "cache_root", "find_checkpoints", "index_for", "index_ready", "influence", "read_checkpoints",
           "reference_for"]

"""Explanations as data: JSON (the CLI's result.json body) and NPZ (the arrays), one or several.

    text = to_json(exp)                          # result.json body + summary, no relevance
    text = strict_dumps(body)                    # any body: strict JSON, NaN/inf -> null + a note
    text = to_json(exp, include_relevance=True)  # ... and the relevance as nested lists
    blob = to_npz(exp)                           # np.load(io.BytesIO(blob), allow_pickle=False)
    blob = to_npz_many([e1, e2])                 # keys prefixed: "c3d_small/relevance", ...
"""
from __future__ import annotations

import io
import json
import math

import numpy as np

from .evidence import evidence
from .summary import DEFAULT_TEMPLATE, summarise


def result_json(exp, clip=None) -> dict:
    """The contract's result.json body for one explanation (timings added by the caller)."""
    clip = exp.clip if clip is None else clip
    p = exp.predicted
    return {"model": exp.model, "method": exp.method, "options": _jsonable(exp.options),
            "target": {"index": exp.target, "label": exp.target_label},
            "predicted": {"index": p, "label": exp.predicted_label,
                          "probability": float(exp.probabilities[p])},
            "probabilities": [float(v) for v in exp.probabilities],
            "classes": list(exp.class_names),
            "input": None if clip is None else _input(clip),
            "curve": [float(v) for v in exp.curve], "key_frames": exp.key_frames(),
            "evidence": evidence(exp.relevance).as_dict(),   # sums for / against; positive: any for
            "extras": _jsonable(exp.extras),
            "ood": None if getattr(exp, "ood", None) is None else exp.ood.to_dict(),
            **({} if getattr(exp, "reliance", None) is None              # measured motion reliance
               else {"reliance": exp.reliance.to_dict()})}


def _input(clip) -> dict:
    """What the model saw: frame count and grid, which source frames, fps, source, notes, and how
    the frames were sampled (spread or at the model's rate) over which span of the source."""
    return {"frames": clip.num_frames, "height": int(clip.frames.shape[1]),
            "width": int(clip.frames.shape[2]), "source_indices": list(map(int, clip.source_indices)),
            "fps": clip.fps, "source": clip.source, "notes": list(clip.notes),
            "sampling": clip.sampling_info()}


def _jsonable(d: dict) -> dict:
    return {str(k): _plain(v) for k, v in d.items()}


def _plain(value):
    """A value JSON can hold: tuples -> lists, numpy scalars -> Python, anything else -> its str."""
    if isinstance(value, (str, bool, int, float, type(None))):
        return value
    if isinstance(value, dict):
        return _jsonable(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)):
        return _plain(value.tolist())
    return str(value)


def strict_dumps(body, indent: int | None = 2) -> str:
    """`body` as strict JSON (never a bare NaN or Infinity, which most parsers refuse).

    A non-finite float anywhere is written as null, and a dict body gets a "notes" entry per
    value replaced (e.g. "extras.completeness_gap: nan written as null").
    """
    notes: list[str] = []
    clean = _finite_or_null(body, [], notes)
    if notes and isinstance(clean, dict):
        clean["notes"] = [*clean.get("notes", []), *notes]
    return json.dumps(clean, indent=indent, allow_nan=False)


def _finite_or_null(value, path: list, notes: list[str]):
    """`value` with every non-finite float replaced by None, noted with its path (a key stack)."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        notes.append(f"{_path(path)}: {value} written as null")
        return None
    if isinstance(value, (np.floating, np.integer, np.ndarray)):
        return _finite_or_null(value.tolist(), path, notes)
    if isinstance(value, (list, tuple)):
        if all(type(v) is float and math.isfinite(v) for v in value):  # the common case, fast
            return list(value)
        items = []
        for i, v in enumerate(value):
            path.append(i)
            items.append(_finite_or_null(v, path, notes))
            path.pop()
        return items
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            path.append(str(k))
            out[k] = _finite_or_null(v, path, notes)
            path.pop()
        return out
    return value


def _path(keys: list) -> str:
    """["extras", "gap"] -> "extras.gap"; list indices as [i]."""
    text = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys).lstrip(".")
    return text or "value"


def explanation_dict(exp, clip=None, *, include_relevance: bool = False,
                     summary_template: str = DEFAULT_TEMPLATE) -> dict:
    """result.json's body plus the summary sentence, the timings and (if asked) the relevance."""
    clip = exp.clip if clip is None else clip
    body = result_json(exp, clip)
    numbers = None if clip is None else list(map(int, clip.source_indices))
    body["summary"] = summarise(exp, numbers, summary_template)
    body["timings_ms"] = {k: round(float(v), 1) for k, v in exp.timings_ms.items()}
    if include_relevance:
        r = np.asarray(exp.relevance, np.float32)                      # (T, H, W)
        body["relevance_shape"] = list(r.shape)
        body["relevance"] = r.tolist()          # float32 -> float: exact, json writes it back
    return body


def to_json(exp, clip=None, *, include_relevance: bool = False,
            summary_template: str = DEFAULT_TEMPLATE, indent: int | None = 2) -> str:
    """One explanation as JSON: prediction, probabilities, curve, key frames, summary, input."""
    return strict_dumps(explanation_dict(exp, clip, include_relevance=include_relevance,
                                         summary_template=summary_template), indent=indent)


def explanation_keys(explanations) -> list[str]:
    """A short unique name per explanation: the model (methods all equal), the method (models
    all equal), else model/method; repeats get #2, #3, ..."""
    exps = list(explanations)
    models, methods = {e.model for e in exps}, {e.method for e in exps}
    if len(exps) > 1 and len(methods) == 1 and len(models) > 1:
        names = [e.model for e in exps]
    elif len(exps) > 1 and len(models) == 1 and len(methods) > 1:
        names = [e.method for e in exps]
    else:
        names = [f"{e.model}/{e.method}" for e in exps]
    seen: dict[str, int] = {}
    keys = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return keys


def to_json_many(explanations, *, include_relevance: bool = False,
                 summary_template: str = DEFAULT_TEMPLATE, indent: int | None = 2) -> str:
    """Several explanations of one clip (a comparison) as one JSON document, each under its key."""
    exps = list(explanations)
    _check_nonempty(exps)
    items = [{"key": k, **explanation_dict(e, include_relevance=include_relevance,
                                          summary_template=summary_template)}
             for k, e in zip(explanation_keys(exps), exps)]
    return strict_dumps({"keys": [i["key"] for i in items], "explanations": items}, indent=indent)


def npz_arrays(exp, clip=None) -> dict[str, np.ndarray]:
    """The arrays of one explanation, none of them object arrays (allow_pickle=False loads them)."""
    clip = exp.clip if clip is None else clip
    T = np.asarray(exp.relevance).shape[0]
    indices = range(T) if clip is None else clip.source_indices
    return {"relevance": np.asarray(exp.relevance, np.float32),                    # (T, H, W)
            "probabilities": np.asarray(exp.probabilities, np.float32),            # (K,)
            "curve": np.asarray(exp.curve, np.float32),                            # (T,)
            "key_frames": np.asarray(exp.key_frames(), np.int64),
            "source_indices": np.asarray(list(indices), np.int64),                 # (T,)
            "target": np.asarray(exp.target, np.int64),
            "predicted": np.asarray(exp.predicted, np.int64),
            "class_names": np.asarray(list(exp.class_names), np.str_),             # (K,) unicode
            "model": np.asarray(exp.model, np.str_), "method": np.asarray(exp.method, np.str_),
            "meta": np.asarray(to_json(exp, clip, indent=None), np.str_)}          # the JSON body


def to_npz(exp, clip=None) -> bytes:
    """One explanation as .npz bytes: relevance float32 (T, H, W), probabilities, curve, ..."""
    return _savez(npz_arrays(exp, clip))


def to_npz_many(explanations) -> bytes:
    """Several explanations as one .npz; each array's key starts with the explanation's key and
    "/" (e.g. "c3d_small/relevance"); "keys" lists them in order."""
    exps = list(explanations)
    _check_nonempty(exps)
    keys = explanation_keys(exps)
    arrays = {"keys": np.asarray(keys, np.str_)}
    for key, e in zip(keys, exps):
        arrays.update({f"{key}/{name}": a for name, a in npz_arrays(e).items()})
    return _savez(arrays)


def _savez(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _check_nonempty(exps: list) -> None:
    if not exps:
        raise ValueError("no explanations to export (got an empty list)")

"""A plain-language sentence about an explanation: what, how sure, when and where the evidence is."""
from __future__ import annotations

import numpy as np

from .evidence import evidence
from .temporal import peak_span, temporal_curve

DEFAULT_TEMPLATE = "{label} ({confidence}){motion}: evidence peaks in {frames}, {where}"


def where(relevance: np.ndarray, frames: tuple[int, int] | None = None, mode: str = "positive") -> str:
    """Where in the frame the positive relevance (mode "against": the negative) sits: 'lower left', ..."""
    r = np.asarray(relevance, np.float64)
    r = np.clip(-r if mode == "against" else r, 0, None)          # (T, H, W)
    if frames is not None:
        r = r[frames[0]:frames[1] + 1]
    heat = r.sum(0)                                               # (H, W)
    if heat.sum() <= 0:
        return "nowhere in particular"
    H, W = heat.shape
    y = (heat.sum(1) * np.arange(H)).sum() / heat.sum() / H      # centroid in [0, 1)
    x = (heat.sum(0) * np.arange(W)).sum() / heat.sum() / W
    row = "upper" if y < 0.4 else "lower" if y > 0.6 else "middle"
    col = "left" if x < 0.4 else "right" if x > 0.6 else "centre"
    return "centre" if (row, col) == ("middle", "centre") else f"{row} {col}"


# What a model relies on, by the kind motion_reliance calls (xai_core/motion/reliance.py): the long
# phrase names the kind and its share, the short one is for a sentence read in a second.
RELIANCE_PHRASE = {"order": ("motion", "the order of frames", "order"),
                   "change": ("motion", "change over time", "motion"),
                   "appearance": ("appearance", "what single frames show", "appearance")}
RELIANCE_SHORT = {"order": "from how it moves", "change": "from how it moves", "appearance": "from how it looks"}


def motion_phrase(reliance, short: bool = False) -> str:
    """'it relies on motion (the order of frames, 81%)' (short: 'from how it moves'); '' when the
    reliance was not measured (None) or no counterfactual changed the score (kind 'none').

    reliance  a motion.reliance.Reliance (its .kind and .shares), or its to_dict()
    """
    if reliance is None:
        return ""
    kind = reliance["kind"] if isinstance(reliance, dict) else reliance.kind
    shares = reliance["shares"] if isinstance(reliance, dict) else reliance.shares
    if kind not in RELIANCE_PHRASE:
        return ""
    if short:
        return RELIANCE_SHORT[kind]
    word, detail, key = RELIANCE_PHRASE[kind]
    return f"it relies on {word} ({detail}, {float(shares[key]):.0%})"


def reliance_headline(reliance) -> str:
    """'order 89%' / 'change 92%' / 'appearance 96%' (the kind and its share; change counts the
    motion part), 'none' when no counterfactual changed the score, '' when not measured. For
    tables: one cell per model."""
    if reliance is None:
        return ""
    kind = reliance["kind"] if isinstance(reliance, dict) else reliance.kind
    shares = reliance["shares"] if isinstance(reliance, dict) else reliance.shares
    if kind not in RELIANCE_PHRASE:
        return kind
    return f"{kind} {float(shares[RELIANCE_PHRASE[kind][2]]):.0%}"


def summary_fields(exp, frame_numbers: list[int] | None = None) -> dict:
    """The facts a summary sentence is made of (label, confidence, frames, where, share, ...).

    `motion` / `motion_short` are '; it relies on motion (the order of frames, 81%)' / ', from how
    it moves' when the explanation carries a measured motion reliance (`exp.reliance`), else ''
    (a template puts them straight after another field, with no punctuation of its own)."""
    from ..methods.registry import get_method

    curve = temporal_curve(exp.relevance)
    span = peak_span(curve, 0.5)
    start, end = span if frame_numbers is None else (frame_numbers[span[0]], frame_numbers[span[1]])
    return {"label": exp.target_label, "confidence": f"{float(exp.probabilities[exp.target]):.0%}",
            "frames": f"frame {start}" if start == end else f"frames {start}–{end}",
            "where": where(exp.relevance, span), "share": f"{float(curve[span[0]:span[1] + 1].sum()):.0%}",
            "method": get_method(exp.method).label, "model": exp.model,
            **_motion_fields(getattr(exp, "reliance", None))}


def _motion_fields(reliance) -> dict:
    long, short = motion_phrase(reliance), motion_phrase(reliance, short=True)
    return {"motion": f"; {long}" if long else "", "motion_short": f", {short}" if short else ""}


def summarise(exp, frame_numbers: list[int] | None = None, template: str = DEFAULT_TEMPLATE) -> str:
    """'walk_left (94%): evidence peaks in frames 6–11, lower centre' (or a role's own template).

    Without evidence for the class, a fixed sentence says so, and where the evidence against is."""
    kind = evidence(exp.relevance).kind
    if kind == "for":
        return template.format(**summary_fields(exp, frame_numbers))
    head = f"{exp.target_label} ({float(exp.probabilities[exp.target]):.0%}): the method found no evidence for this class"
    if kind == "none":
        return f"{head}, and none against it"
    a, b = peak_span(temporal_curve(exp.relevance, "against"), 0.5)
    start, end = (a, b) if frame_numbers is None else (frame_numbers[a], frame_numbers[b])
    frames = f"frame {start}" if start == end else f"frames {start}–{end}"
    return f"{head}; the evidence against it lies mostly in {frames}, {where(exp.relevance, (a, b), 'against')}"

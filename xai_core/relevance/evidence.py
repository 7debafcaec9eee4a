"""For or against: how much of a relevance map is evidence for the class, and how much against it.

    ev = evidence(exp.relevance)          # Evidence(for_class=..., against=...)
    ev.positive                           # False: the method found nothing for the class
    mode = shown_mode(exp.relevance)      # "against" then: draw -relevance, on its own scale
    note = no_evidence_note(exp.relevance, "walk_left")   # the words to say so, or None

A method can find no evidence for a class at all: occlusion where hiding any region *raises*
the score, integrated gradients of a class the model rules out. A picture of the positive part
of such a map is empty (or an all-blue signed map), and a curve of it is flat zero: the
renderings then draw the evidence against instead, on its own colour scale, and say so in words.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Positive relevance below this share of all |relevance| is float noise, not evidence: a
# difference of two float32 scores is exact only to ~1e-7 of the score (occlusion, temporal
# occlusion), and the colour scale would stretch such noise to full colour.
NOISE_SHARE = 1e-4


@dataclass(frozen=True)
class Evidence:
    """The sums of a relevance map's positive part (for the class) and negative part (against)."""

    for_class: float           # sum of relevance > 0, in the method's units
    against: float             # sum of |relevance < 0|, in the same units

    @property
    def positive(self) -> bool:
        """Is there evidence for the class (more than float noise, see NOISE_SHARE)?"""
        return self.for_class > NOISE_SHARE * (self.for_class + self.against)

    @property
    def kind(self) -> str:
        """"for" (some evidence for the class), "against" (only against), or "none" (all zero)."""
        return "for" if self.positive else "against" if self.against > 0 else "none"

    def as_dict(self) -> dict:
        """{"positive": bool, "for": float, "against": float}: the result.json field."""
        return {"positive": self.positive, "for": self.for_class, "against": self.against}


def evidence(relevance: np.ndarray) -> Evidence:
    """Sum the evidence for and against the class in relevance (any shape; NaN counts as none)."""
    r = np.nan_to_num(np.asarray(relevance, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return Evidence(float(np.clip(r, 0, None).sum()), float(np.clip(-r, 0, None).sum()))


def shown_mode(relevance: np.ndarray, mode: str = "positive") -> str:
    """The colour mode to draw relevance in: `mode`, or "against" when a "positive" or "signed"
    picture would show no evidence for the class but there is evidence against it."""
    if mode in ("positive", "signed") and evidence(relevance).kind == "against":
        return "against"
    return mode


def curve_mode(mode: str) -> str:
    """What a temporal curve counts for a colour mode: "positive", "against" or "absolute"."""
    return mode if mode in ("against", "absolute") else "positive"


def no_evidence_note(relevance: np.ndarray, label: str | None = None) -> str | None:
    """The sentence that says a map has no evidence for the class (None when it has some)."""
    what = f"for {label}" if label else "for the class"
    kind = evidence(relevance).kind
    if kind == "against":
        return (f"No evidence {what}: the method found only evidence against it. "
                "Shown instead: the evidence against, in blue, on its own scale.")
    if kind == "none":
        return f"No relevance at all: the method found no evidence {what} or against it."
    return None


def short_note(relevance: np.ndarray, label: str | None = None) -> str | None:
    """A few words for a figure: "No evidence for the class: showing the evidence against it"."""
    what = label or "the class"
    kind = evidence(relevance).kind
    if kind == "against":
        return f"No evidence for {what}: showing the evidence against it (own scale)"
    if kind == "none":
        return f"No relevance at all: nothing for or against {what}"
    return None

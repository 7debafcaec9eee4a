"""The plain-language sentence states what the model relies on, with its number, in each role's words."""
from dataclasses import replace

import numpy as np
import pytest

from user_roles.roles import load_roles
from xai_core.relevance.explanation import Explanation
from xai_core.relevance.summary import motion_phrase, summarise

ORDER = {"kind": "order", "shares": {"order": 0.81, "motion": 0.1, "appearance": 0.07, "remainder": 0.02}}
APPEARANCE = {"kind": "appearance", "shares": {"order": 0.0, "motion": 0.04, "appearance": 0.96, "remainder": 0.0}}


class _Reliance:
    """The two attributes the sentence reads, as a Reliance carries them."""

    def __init__(self, d):
        self.kind, self.shares = d["kind"], d["shares"]

    def to_dict(self):
        return {"kind": self.kind, "shares": self.shares}


def _exp(reliance=None):
    r = np.zeros((16, 8, 8), np.float32)
    r[5:13, 5:8, 3:5] = 1.0                       # evidence in frames 5-12, lower centre
    p = np.full(8, 0.06 / 7, np.float32)
    p[0] = 0.94
    names = ["walk_left", "walk_right", "sit_down", "stand_up", "wave", "jump", "hold_red", "hold_blue"]
    e = Explanation(r, 0, p, names, "grad_cam", "c3d_small")
    return replace(e, reliance=None if reliance is None else _Reliance(reliance))


def test_phrase_names_the_kind_and_its_share():
    assert motion_phrase(ORDER) == "it relies on motion (the order of frames, 81%)"
    assert motion_phrase({**ORDER, "kind": "change"}) == "it relies on motion (change over time, 10%)"
    assert motion_phrase(APPEARANCE) == "it relies on appearance (what single frames show, 96%)"
    assert motion_phrase(ORDER, short=True) == "from how it moves"
    assert motion_phrase(APPEARANCE, short=True) == "from how it looks"
    assert motion_phrase(None) == "" and motion_phrase({**ORDER, "kind": "none"}) == ""


@pytest.mark.parametrize("role", ["analyst", "developer", "operator"])
def test_each_role_states_the_reliance_and_reads_well_without_it(role):
    template = load_roles()[role].summary
    with_it, without = summarise(_exp(ORDER), None, template), summarise(_exp(), None, template)
    assert "walk_left" in with_it and "94%" in with_it
    if role == "operator":                              # one short sentence, no numbers beyond the confidence
        assert "from how it moves" in with_it and "81%" not in with_it
    else:
        assert "it relies on motion (the order of frames, 81%)" in with_it
    assert "relies" not in without and "how it moves" not in without
    assert "  " not in without and " ;" not in without and " ," not in without and " :" not in without


def test_analyst_sentence_matches_the_issue_example_shape():
    s = summarise(_exp(ORDER), None, load_roles()["analyst"].summary)
    assert s.startswith("walk_left — 94% sure; it relies on motion (the order of frames, 81%): lower centre, frames 5–")

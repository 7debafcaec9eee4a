"""The session's role: chosen in app.py's sidebar, read by every page."""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from user_roles import Role, load_roles
from user_roles.roles import ROLES_DIR

DEFAULT_ROLE = "analyst"


def roles_dir() -> Path:
    """The roles folder: user_roles/, or $XAI_ROLES_DIR (tests point it at broken files)."""
    return Path(os.environ.get("XAI_ROLES_DIR") or ROLES_DIR)


@st.cache_data(show_spinner=False, ttl=5)
def cached_roles(folder: str) -> dict[str, Role]:
    """The roles in `folder` (re-read every few seconds, so an edited YAML shows up)."""
    return load_roles(folder)


def role_ui(roles: dict[str, Role]) -> Role:
    """The sidebar's role picker; the choice is remembered for the session."""
    names = list(roles)
    default = names.index(DEFAULT_ROLE) if DEFAULT_ROLE in names else 0
    name = st.selectbox("Role", names, index=default, key="role",
                        format_func=lambda n: roles[n].title, help="\n\n".join(
                            f"**{r.title}** — {r.description}" for r in roles.values()))
    st.caption(roles[name].description)
    return roles[name]


def current_role() -> Role:
    """The role app.py chose for this run."""
    return st.session_state["active_role"]


def follow_role(key: str, offered: list[str], default) -> None:
    """Carry a picker's choice (a str, or a list for a multiselect) over a change of what is
    offered (a role switch): it becomes the new `default` when it was the old default or is no
    longer offered, and stays when the user chose it and it still is. Call before the widget."""
    marker = f"_offer_{key}"
    before, now = st.session_state.get(marker), (tuple(offered), default)
    st.session_state[marker] = now
    if key not in st.session_state:
        return
    chosen = st.session_state[key]
    changed = before is not None and before != now
    if isinstance(chosen, (list, tuple)):
        kept = [c for c in chosen if c in offered]
        if not kept or (changed and list(chosen) == list(before[1])):
            st.session_state[key] = list(default)
        elif len(kept) != len(chosen):
            st.session_state[key] = kept
    elif chosen not in offered or (changed and chosen == before[1]):
        st.session_state[key] = default


def picked(key: str) -> None:
    """A picker's on_change: the user chose its value (follow_default keeps it from then on)."""
    st.session_state[f"_picked_{key}"] = st.session_state.get(key)


def follow_default(key: str, offered: list[str], default) -> None:
    """A picker whose default depends on another choice (the model on the clip): the value moves
    to a new `default` when it is the old default and the user did not pick it in the widget
    (`picked`, its on_change); a value the user picked, or set otherwise, stays while offered; a
    value no longer offered becomes the default. Call before the widget; a str or a list
    (multiselect)."""
    def norm(v):
        return list(v) if isinstance(v, (list, tuple)) else v

    marker = f"_default_{key}"
    old = norm(st.session_state.get(marker))
    st.session_state[marker] = default
    if key not in st.session_state:
        return
    chosen, user, new = norm(st.session_state[key]), norm(st.session_state.get(f"_picked_{key}")), norm(default)
    if isinstance(chosen, list):
        kept = [c for c in chosen if c in offered]
        if not chosen:                        # nothing picked: the page asks for a pick
            return
        if not kept:
            st.session_state[key] = new
            return
        if kept != chosen:
            st.session_state[key] = chosen = kept
    elif chosen not in offered:
        st.session_state[key] = new
        return
    if user is not None and user == chosen:
        return
    if old is not None and chosen == old and chosen != new:
        st.session_state[key] = new


def relabel(key: str, labels: list[str]) -> None:
    """Call before a keyed picker whose option labels change between runs (a method's expected
    time, a model "(not installed)"): when they changed, the value is set again, so the browser is
    sent the new label. Without it the browser keeps the old label as the widget's value, sends it
    back on the next run, and Streamlit, finding no such option, resets the picker to its default."""
    marker = f"_labels_{key}"
    before = st.session_state.get(marker)
    st.session_state[marker] = list(labels)
    if before is not None and before != list(labels) and key in st.session_state:
        st.session_state[key] = st.session_state[key]       # read with the old labels, sent with the new

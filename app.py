"""The dashboard: explain video recognition models. Run with `streamlit run app.py`.

The chosen role (user_roles/*.yaml) decides which pages exist; pages are listed with
st.navigation from the role, so switching role changes the page list. A page the role lacks,
opened by its address (e.g. /live as an Analyst), says which roles have it.
"""
import ui.startup  # noqa: F401  (first: every package the pages need, imported once; see its docstring)

import streamlit as st  # noqa: E402

from ui.state import cached_roles, role_ui, roles_dir  # noqa: E402
from user_roles import RoleError  # noqa: E402

st.set_page_config(page_title="Video XAI", page_icon="🎞️", layout="wide")

PAGES = {  # page name in role files -> (file, title, icon)
    "explain": ("views/explain.py", "Explain", ":material/search:"),
    "compare": ("views/compare.py", "Compare", ":material/view_column:"),
    "live": ("views/live.py", "Live", ":material/videocam:"),
    "model": ("views/model.py", "Model", ":material/neurology:"),
    "evaluate": ("views/evaluate.py", "Evaluate", ":material/fact_check:"),
}


def not_in_role(name: str, role, roles: dict):
    """A hidden page at a page's address for a role without it: which roles have the page."""
    title = PAGES[name][1]
    having = [r.title for r in roles.values() if name in r.pages]

    def page():
        st.title(title)
        where = f"Roles with it: {', '.join(having)}." if having else "No role has it."
        st.warning(f"**{title}** is not a page of the **{role.title}** role. {where} "
                   "Pick a role in the sidebar, or open one of this role's pages.",
                   icon=":material/lock:")
    page.__name__ = f"not_in_role_{name}"
    return page


try:
    roles = cached_roles(str(roles_dir()))
except RoleError as e:
    st.error(f"The roles cannot be loaded: {e}")
    st.stop()

with st.sidebar:
    role = role_ui(roles)
st.session_state["active_role"] = role
pages = [st.Page(PAGES[p][0], title=PAGES[p][1], icon=PAGES[p][2], url_path=p, default=i == 0)
         for i, p in enumerate(role.pages)]
pages += [st.Page(not_in_role(p, role, roles), title=PAGES[p][1], icon=PAGES[p][2], url_path=p,
                  visibility="hidden") for p in PAGES if p not in role.pages]
st.navigation(pages).run()

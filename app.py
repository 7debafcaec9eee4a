"""The dashboard: explain video recognition models. Run with `streamlit run app.py`.

The chosen role (user_roles/*.yaml) decides which pages exist; pages are listed with
st.navigation from the role, so switching role changes the page list.
"""
import streamlit as st

from ui.state import cached_roles, role_ui, roles_dir
from user_roles import RoleError

st.set_page_config(page_title="Video XAI", page_icon="🎞️", layout="wide")

PAGES = {  # page name in role files -> (file, title, icon)
    "explain": ("views/explain.py", "Explain", ":material/search:"),
    "compare": ("views/compare.py", "Compare", ":material/view_column:"),
    "live": ("views/live.py", "Live", ":material/videocam:"),
}

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
st.navigation(pages).run()

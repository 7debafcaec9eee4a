"""The dashboard: explain video recognition models. Run with `streamlit run app.py`."""
import streamlit as st

st.set_page_config(page_title="Video XAI", page_icon="🎞️", layout="wide")

pages = [st.Page("pages/explain.py", title="Explain", icon="🔍", default=True)]
st.navigation(pages).run()

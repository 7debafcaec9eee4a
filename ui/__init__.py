"""Streamlit glue: cached loaders and small widgets. Pages arrange these; maths lives in xai_core."""

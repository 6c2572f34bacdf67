"""Streamlit page scripts of the dlsa app (listed explicitly by ``app.py``)."""

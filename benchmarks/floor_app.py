"""The floor for ``bench_page_latency.py``: Streamlit's and Plotly's own cost on this machine.

A title, one slider and one three-point Plotly chart that follows it, and nothing else: no dlsa code,
no imports beyond Streamlit and Plotly. Whatever a dlsa page takes beyond this page, measured in the
same run, is the app's own cost; what this page takes is the browser's and the framework's (parsing
the 4.7 MB Plotly bundle, rendering the shell) and no app change can remove it.
"""

import plotly.graph_objects as go
import streamlit as st

st.title("Floor: one Plotly chart")
k = st.slider("k", 0, 10, 1)
st.plotly_chart(go.Figure(go.Scatter(x=[0, 1, 2], y=[0, k, 2 * k])), key="floor")

"""Pure Plotly figure builders, one module per topic: state in, ``plotly.graph_objects.Figure`` out.

Figures are built here rather than in the pages so that they can be unit-tested without Streamlit.
"""

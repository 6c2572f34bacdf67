"""dlsa_core: the science behind the dlsa app, usable without Streamlit.

Submodules are imported lazily by their users (``from dlsa_core import device``) so that importing
the package itself stays cheap and never pulls in Streamlit.
"""

__version__ = "0.1.0"

"""dlsa: interactive exploration of deep-learning theory results. Run with ``streamlit run app.py``.

The entry point only routes: it sets the page config, builds the navigation from the topic
catalog (only pages that exist are listed) and shows the compute device in the sidebar.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="dlsa — see and check deep-learning theory", page_icon="🔬", layout="wide")

from app_pages import _ui
from app_pages._catalog import SECTIONS, available_topics


@st.cache_resource(show_spinner=False)
def _setup_compute() -> str:
    """Once per process: apply the thread policy (torch and BLAS) and return the device's name."""
    from dlsa_core.device import configure_threads, device_name

    configure_threads()
    return device_name()


home = st.Page("app_pages/home.py", title="Home", icon="🏠", url_path="home", default=True)
sections: dict[str, list] = {"": [home]}
for section in SECTIONS:
    pages = [
        st.Page(t.page_file, title=t.title, icon=t.icon, url_path=t.url_path)
        for t in available_topics()
        if t.section == section
    ]
    if pages:
        sections[section] = pages

nav = st.navigation(sections)
# The page's title first, before the page module imports its libraries (see _ui.shell_intro).
current = next((t for t in available_topics() if t.url_path == nav.url_path), None)
if current is not None:
    _ui.shell_intro(current.key)
else:
    st.session_state.pop(_ui.SHELL_INTRO, None)
# Pages that paint without torch: naming the device imports torch (~1.5 s), so it happens after them.
TORCH_LATER = {"", "jointly_smooth", "sgd_stability"}  # "" is the default page (home)

with st.sidebar:
    device_line = st.empty()
    st.caption(
        "dlsa shows each result exactly where the theory is exact, and labels what is measured and what is predicted."
    )
if nav.url_path not in TORCH_LATER:
    device_line.caption(f"Compute device: **{_setup_compute()}**")

nav.run()

if nav.url_path in TORCH_LATER:
    device_line.caption(f"Compute device: **{_setup_compute()}**")

"""Home page: one card per topic that exists — paper, claim, what you can do, link."""

from __future__ import annotations

import streamlit as st

from app_pages._catalog import ROOT, SECTIONS, available_topics


@st.cache_data(max_entries=16, show_spinner=False)
def _thumbnail(path: str):
    """The page's screenshot without Streamlit's sidebar (the left 300 px at 1400 px width)."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
        return im.crop((int(w * 0.22), int(h * 0.08), w, int(h * 0.95))).convert("RGB")


st.title("dlsa — see and check deep-learning theory")
st.markdown(
    "Interactive pages that turn research results into places where you can **see and check** them live: "
    "exact where the theory is exact, simulated beside the prediction, and honest about which is which."
)

topics = available_topics()
if not topics:
    st.info("No topic pages are installed yet.")

for section in SECTIONS:
    in_section = [t for t in topics if t.section == section]
    if not in_section:
        continue
    st.subheader(section)
    cols = st.columns(3)  # fixed width: a lone card stays card-sized
    for i, t in enumerate(in_section):
        with cols[i % len(cols)], st.container(border=True):
            st.markdown(f"#### {t.title}")
            thumb = ROOT / "assets" / "screenshots" / f"{t.key}.png"
            if thumb.is_file():
                st.image(_thumbnail(str(thumb)), width="stretch")
            st.caption(t.paper)
            st.markdown(f"**Claim.** {t.claim}")
            st.markdown(f"**On this page.** {t.what_you_can_do}")
            st.page_link(t.page_file, label=f"Open {t.title}", icon=t.icon)

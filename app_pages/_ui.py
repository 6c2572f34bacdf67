"""Small Streamlit helpers shared by the pages: intro, presets, maths, timing, export, errors.

This is the only UI-side shared module (``dlsa_core`` never imports Streamlit). Pages import it as
``from app_pages import _ui``.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import streamlit as st

from app_pages._catalog import topic

#: Plotly modebar configuration used by every chart: PNG export at 2x, no Plotly logo.
PLOTLY_CONFIG = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
}


def intro(topic_key: str, extra: str | None = None) -> None:
    """Page title plus the two-line intro naming the paper and its claim."""
    t = topic(topic_key)
    st.title(t.title)
    st.markdown(f"**{t.paper}.**  \n{t.claim}" + (f"  \n{extra}" if extra else ""))


def preset_selector(
    key: str,
    presets: Mapping[str, Mapping[str, Any]],
    *,
    label: str = "Preset",
    help: str | None = None,
) -> str:
    """A select box of named presets, bound to the URL.

    Choosing a preset writes its values into ``st.session_state`` (the widgets' keys), so the
    widgets created afterwards show the preset. Returns the chosen preset's name.
    """
    names = list(presets)

    def _apply() -> None:
        for widget_key, value in presets[st.session_state[key]].items():
            st.session_state[widget_key] = value

    return st.selectbox(label, names, key=key, on_change=_apply, help=help, bind="query-params")


def math_expander(equations: Sequence[str], notes: str | None = None, *, title: str = "The math") -> None:
    """A collapsed expander with LaTeX equations and an optional markdown note."""
    with st.expander(title, expanded=False):
        for eq in equations:
            st.latex(eq)
        if notes:
            st.markdown(notes)


@contextlib.contextmanager
def timed(label: str, *, spinner: bool = True) -> Iterator[dict]:
    """Run a block under a spinner and show its latency afterwards as a small caption.

    Yields a dict whose ``"seconds"`` entry is filled in when the block ends.
    """
    result: dict[str, float] = {}
    start = time.perf_counter()
    if spinner:
        with st.spinner(label, show_time=True):
            yield result
    else:
        yield result
    result["seconds"] = time.perf_counter() - start
    st.caption(f"{label.rstrip('.…')}: {result['seconds'] * 1000:.0f} ms")


def plotly(fig, *, key: str, **kwargs: Any):
    """Show a Plotly figure with the house modebar config (PNG export)."""
    return st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG, width="stretch", **kwargs)


def download_csv(label: str, frame, file_name: str, *, key: str) -> None:
    """Download button for a pandas DataFrame as CSV."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    st.download_button(label, buf.getvalue(), file_name=file_name, mime="text/csv", key=key)


def download_json(label: str, payload: Any, file_name: str, *, key: str) -> None:
    """Download button for a JSON-serialisable object (e.g. the page state)."""
    st.download_button(
        label,
        json.dumps(payload, indent=2, default=str),
        file_name=file_name,
        mime="application/json",
        key=key,
    )


def guarded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a core function; show a ``ValueError``/``RuntimeError`` as a clear message, not a traceback.

    Returns ``None`` when the call failed (the page should then stop drawing what depends on it).
    """
    try:
        return fn(*args, **kwargs)
    except (ValueError, RuntimeError) as exc:
        st.error(f"{exc}")
        return None

"""Small Streamlit helpers shared by the pages: intro, presets, maths, timing, export, errors.

This is the only UI-side shared module (``dlsa_core`` never imports Streamlit). Pages import it as
``from app_pages import _ui``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import streamlit as st
from streamlit.runtime.state.session_state_proxy import get_session_state

from app_pages._catalog import topic

#: Plotly modebar configuration used by every chart: PNG export at 2x, no Plotly logo.
PLOTLY_CONFIG = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
}


#: Session-state key through which ``app.py`` says it has already drawn this run's page intro.
SHELL_INTRO = "_ui.intro_drawn_by_shell"


def shell_intro(topic_key: str) -> None:
    """Draw a page's title and paper line from the app shell, before the page module runs.

    Why: on a fresh server a page's first run spends 1-2 s importing its libraries (scikit-learn, scipy,
    torch) before its own ``intro`` call; drawn by the shell, the title paints before that. The page's
    ``intro`` then draws only its extra line.
    """
    t = topic(topic_key)
    st.title(t.title)
    st.markdown(f"**{t.paper}.**  \n{t.claim}")
    st.session_state[SHELL_INTRO] = t.key


def intro(topic_key: str, extra: str | None = None) -> None:
    """Page title plus the two-line intro naming the paper and its claim (or, when the shell has drawn
    those already in this run, see :func:`shell_intro`, only the extra line)."""
    t = topic(topic_key)
    if st.session_state.get(SHELL_INTRO) == t.key:
        if extra:
            st.markdown(extra)
        return
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


def lazy_expander(label: str, key: str):
    """A collapsed expander whose body the caller draws only when it is open (``exp.open``).

    Opening it reruns the page (or the fragment it sits in), about as fast as a slider move. Why: a
    collapsed ``st.expander`` still ships and renders its content, and the browser then downloads and
    compiles KaTeX (0.26 MB) for ``st.latex`` and the syntax highlighter (1.6 MB) for ``st.code`` on every
    first visit, seconds of main-thread work on a slow CPU before the page's figures appear.
    Usage: ``with _ui.lazy_expander("Code", "x.code") as exp:`` then ``if exp.open: st.code(...)``.
    """
    return st.expander(label, key=key, on_change="rerun")


def math_expander(
    equations: Sequence[str], notes: str | None = None, *, title: str = "The math", key: str = "ui.math"
) -> None:
    """A collapsed, lazy expander with LaTeX equations and an optional markdown note (see
    :func:`lazy_expander`; ``key`` holds its open state, ``st.session_state[key] = True`` opens it)."""
    with lazy_expander(title, key) as exp:
        if not exp.open:
            return
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


@st.cache_resource(show_spinner=False)
def _stores() -> dict[str, OrderedDict]:
    return {}


def cached_with_progress(
    name: str, fn: Callable[..., Any], *args: Any, bar=None, max_entries: int = 16
) -> Any:
    """``fn(*args, progress=...)``, remembered across sessions by ``(name, args)`` (the ``max_entries``
    most recent), with its ``progress(fraction, text)`` calls drawn on ``bar`` (an ``st.empty()``).

    Why not ``st.cache_data``: a cached function may not write to an element made outside it, so a long
    computation inside one cannot report its stages. Results are shared, not copied: do not mutate them.
    """
    store = _stores().setdefault(name, OrderedDict())
    if args not in store:
        report = None if bar is None else (lambda frac, text: bar.progress(frac, text=text))
        store[args] = fn(*args, progress=report)
        while len(store) > max_entries:
            store.popitem(last=False)
    store.move_to_end(args)
    return store[args]


def guarded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a core function; show a ``ValueError``/``RuntimeError`` as a clear message, not a traceback.

    Returns ``None`` when the call failed (the page should then stop drawing what depends on it).
    """
    try:
        return fn(*args, **kwargs)
    except (ValueError, RuntimeError) as exc:
        st.error(f"{exc}")
        return None


# ---------------------------------------------------------------------------------------------
# Links: validate URL values before the bound widgets read them
# ---------------------------------------------------------------------------------------------


def number_in(lo: float, hi: float, *, integer: bool = False) -> Callable[[str], bool]:
    """A URL-value check: a finite number in ``[lo, hi]`` (a whole number when ``integer``)."""

    def check(raw: str) -> bool:
        try:
            x = float(raw)
        except (TypeError, ValueError):
            return False
        return math.isfinite(x) and lo <= x <= hi and (not integer or x == int(x))

    check.expects = f"{'a whole number' if integer else 'a number'} in [{lo:g}, {hi:g}]"  # type: ignore[attr-defined]
    return check


def one_of(options: Sequence[Any]) -> Callable[[str], bool]:
    """A URL-value check: one of ``options`` as Streamlit writes them in the URL (plain ``str``)."""
    allowed = {str(o) for o in options}

    def check(raw: str) -> bool:
        return raw in allowed

    check.expects = "one of " + ", ".join(sorted(allowed))  # type: ignore[attr-defined]
    return check


def is_bool(raw: str) -> bool:
    """A URL-value check for toggles and checkboxes."""
    return raw.lower() in ("true", "false")


is_bool.expects = "true or false"  # type: ignore[attr-defined]


def sanitize_url(checks: Mapping[str, Callable[[str], bool]]) -> list[str]:
    """Drop invalid values from the link before the bound widgets read them; say what was ignored.

    Call this at the top of a page, before any widget bound to one of ``checks``' keys is created.
    A value that fails its check is removed from the URL *and* from the values Streamlit seeds the
    widgets from (otherwise ``?seed=inf`` raises inside ``st.number_input``), and a one-line notice
    names it. Returns the ignored ``key=value`` strings (for tests).
    """
    ignored = []
    for key, check in checks.items():
        if key not in st.query_params:
            continue
        raw = st.query_params[key]
        ok = False
        try:
            ok = bool(check(raw))
        except Exception:  # a check that cannot parse the value rejects it
            ok = False
        if ok:
            continue
        expects = getattr(check, "expects", "a valid value")
        ignored.append(f"{key}={raw} (expected {expects})")
        del st.query_params[key]
        # Streamlit seeds bound widgets from the query string of the first request, not from
        # st.query_params; drop the value there too (private API, pinned streamlit 1.67).
        with get_session_state().query_params() as qp:
            qp._initial_query_params.pop(key, None)
    if ignored:
        st.caption("⚠️ Ignored from the link, defaults used instead: " + "; ".join(ignored))
    return ignored

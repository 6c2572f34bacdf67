"""The shared link check: invalid URL values are dropped before the bound widgets read them, and named."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest


def _app():
    import streamlit as st

    from app_pages import _ui

    _ui.sanitize_url({"x.seed": _ui.number_in(0, 100, integer=True), "x.mode": _ui.one_of(["a", "b"])})
    seed = st.number_input("Seed", 0, 100, 0, key="x.seed", bind="query-params")
    mode = st.selectbox("Mode", ["a", "b"], key="x.mode", bind="query-params")
    st.write(f"state {seed} {mode}")


@pytest.mark.parametrize("raw", ["inf", "-inf", "1e400", "nan", "abc", "-3", "2.5", "101"])
def test_invalid_number_is_ignored_and_named(raw):
    at = AppTest.from_function(_app)
    at.query_params["x.seed"] = raw
    at.query_params["x.mode"] = "b"
    at.run()
    assert not at.exception
    assert at.number_input(key="x.seed").value == 0
    assert at.selectbox(key="x.mode").value == "b"  # the valid value survives
    notice = " ".join(c.value for c in at.caption)
    assert f"x.seed={raw}" in notice and "x.mode" not in notice


def test_valid_values_pass_silently():
    at = AppTest.from_function(_app)
    at.query_params["x.seed"] = "42"
    at.query_params["x.mode"] = "Z"
    at.run()
    assert not at.exception
    assert at.number_input(key="x.seed").value == 42
    assert [c.value for c in at.caption] and "x.mode=Z" in at.caption[0].value


def test_cached_with_progress_computes_once_reports_and_evicts():
    from app_pages import _ui

    calls, bars = [], []

    def work(x, *, progress=None):
        calls.append(x)
        progress(0.5, f"half of {x}")
        return x * 2

    class Bar:
        def progress(self, frac, text):
            bars.append((frac, text))

    name = f"test.{id(calls)}"
    assert _ui.cached_with_progress(name, work, 3, bar=Bar(), max_entries=2) == 6
    assert _ui.cached_with_progress(name, work, 3, bar=Bar(), max_entries=2) == 6
    assert calls == [3] and bars == [(0.5, "half of 3")]
    _ui.cached_with_progress(name, work, 4, bar=Bar(), max_entries=2)
    _ui.cached_with_progress(name, work, 5, bar=Bar(), max_entries=2)  # evicts 3, the least recent
    _ui.cached_with_progress(name, work, 3, bar=Bar(), max_entries=2)
    assert calls == [3, 4, 5, 3]

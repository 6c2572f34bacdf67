"""AppTest: the h-space page runs, its metrics follow the strength slider, links are checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "app_pages/hspace_directions.py"


def _open(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def metric(at, label: str):
    return next(m for m in at.metric if m.label == label)


@pytest.fixture(scope="module")
def at():
    return _open()


def test_page_renders_and_strength_zero_is_unedited(at):
    assert at.session_state["hs.dir"] == "thickness"
    assert metric(at, "Thickness").delta not in (None, "+0.00 px")
    assert any("Preview · 5 steps" in c.value for c in at.caption)
    at.select_slider(key="hs.gamma").set_value(0.0).run()
    assert not at.exception
    assert metric(at, "Thickness").delta == "+0.00 px"
    assert metric(at, "Slant").delta == "+0.0°"


def test_direction_and_view_switch(at):
    at.selectbox(key="hs.dir").set_value("slant").run()
    at.select_slider(key="hs.gamma").set_value(2.0).run()
    assert not at.exception
    assert float(metric(at, "Slant").delta.rstrip("°")) > 0  # slant direction leans the digit right
    at.radio(key="hs.view").set_value("effects").run()
    assert not at.exception
    assert any("within-class std" in c.value for c in at.caption)


def test_bad_link_values_are_ignored_and_test_digit_is_inverted():
    at = _open(**{"hs.gamma": "inf", "hs.dir": "nonsense", "hs.source": "held-out", "hs.test": "7"})
    notice = " ".join(c.value for c in at.caption)
    assert "hs.gamma=inf" in notice and "hs.dir=nonsense" in notice
    assert float(metric(at, "Reconstruction PSNR").value.split()[0]) >= 30


def test_reproduce_snippet_runs(capsys):
    from app_pages._hspace_views import snippet

    exec(snippet("slant", 1.5, 12, 5), {})
    out = capsys.readouterr().out
    assert "digit_1_to_7" in out and "(1, 2, 28, 28)" in out


def test_jacobian_view_computes_singular_directions(at):
    at.radio(key="hs.view").set_value("jacobian").run()
    at.segmented_control(key="hs.q").set_value(5).run()
    at.button(key="hs.jgo").click().run()
    assert not at.exception, at.exception
    assert any("singular values σ1 =" in c.value for c in at.caption)

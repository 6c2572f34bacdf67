"""AppTest: the SGD stability page runs, and its verdict and caption follow the sliders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dlsa_core import stability as stab


@pytest.fixture
def at():
    app = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=60)
    app.switch_page("app_pages/sgd_stability.py")
    app.run()
    assert not app.exception
    return app


def caption(app) -> str:
    return next(m.value for m in app.markdown if m.value.startswith("**At B="))


def test_sliders_change_verdict_and_caption(at):
    prob = stab.dominant_sample_2d()
    eta_gd = stab.gd_threshold(prob)
    assert at.session_state["stab.problem"] == "dominant"
    at.slider(key="stab.B").set_value(1).run()
    at.select_slider(key="stab.ratio").set_value(0.1).run()  # 0.1 * eta_GD < eta*(1)
    assert not at.exception
    star1 = stab.sgd_threshold(prob, 1)
    text = caption(at)
    assert f"η\\*={star1:.4g}" in text and "below it" in text and "decays" in text
    assert at.session_state["stab.verdict"] == "stable"
    eta_shown = float(re.search(r"your η=([0-9.e+-]+)", text).group(1))
    assert eta_shown == pytest.approx(0.1 * eta_gd, rel=1e-3)

    at.select_slider(key="stab.ratio").set_value(0.1585).run()  # beyond eta*(1), below eta*(8)
    assert "beyond it" in caption(at) and "grows" in caption(at)
    assert at.session_state["stab.verdict"] == "unstable"
    at.slider(key="stab.B").set_value(8).run()  # full batch: GD, stable again
    assert "B=8" in caption(at) and "below it" in caption(at)
    assert at.session_state["stab.verdict"] == "stable"


def test_preset_switches_problem(at):
    at.selectbox(key="stab.preset").set_value("Incoherent samples (2-D)").run()
    assert not at.exception
    assert at.session_state["stab.problem"] == "incoherent"
    star = stab.sgd_threshold(stab.incoherent_2d(), 2)
    assert f"η\\*={star:.4g}" in caption(at)


@pytest.mark.parametrize(
    "preset,key,b",
    [("Digits least squares", "digits", 4), ("Trained ReLU net minimum", "relu", 2)],
)
def test_heavy_presets_render(at, preset, key, b):
    """The two real-data presets (Lanczos-sized problems) render the region, caption and verdict."""
    at.selectbox(key="stab.preset").set_value(preset).run()
    assert not at.exception
    assert at.session_state["stab.problem"] == key
    text = caption(at)
    assert f"At B={b}," in text and at.session_state["stab.verdict"] in ("stable", "unstable")
    if key == "digits":
        star = stab.sgd_threshold(stab.digits_least_squares(), b)
        assert f"η\\*={star:.4g}" in text
    rho = float(re.search(r"like ([0-9.e+-]+)\^t", text).group(1))  # shown to 4 digits
    assert rho <= 1 if at.session_state["stab.verdict"] == "stable" else rho >= 1

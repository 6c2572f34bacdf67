"""AppTest: the Langevin / Hessian-rank page runs, its captions follow the state, presets and links set the
controls, and the "Reproduce in Python" snippet prints the page's numbers."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_pages._catalog import ROOT
from dlsa_core import langevin as lg

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "app_pages/langevin_rank.py"


def _open(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    return at


def _metric(at, label: str):
    return next(m for m in at.metric if m.label == label)


def _text(at, start: str) -> str:
    return next(m.value for m in list(at.markdown) + list(at.caption) if m.value.startswith(start))


@pytest.fixture(scope="module")
def default_page():
    return _open()


def test_default_view_agrees_with_the_core(default_page):
    at = default_page
    assert not at.error
    assert at.session_state["lgv.kind"] == "riemannian" and at.session_state["lgv.width"] == 16
    assert _metric(at, "c·rank/4").value == f"{0.01 * 5 / 4:.4g}"
    assert _metric(at, "Closed-form level").value == "0.0125"  # matched noise + midpoint reads
    summary = _text(at, "**η = ")
    assert "agree within 3 SE" in summary and "equals c·rank/4" in summary
    run = lg.rank_experiment(16, preconditioner="kron", runs=4, seed=0)
    shown = _metric(at, "Langevin estimate").value
    assert shown.startswith(f"{run.estimate.rank:,.1f}")
    assert abs(run.error_pct) < 3 and f"{run.error_pct:+.2f} %" in _text(at, f"**{run.runs} runs × ")
    base = _metric(at, "Ubaru & Saad")
    assert float(base.value.replace(",", "")) < 0.95 * 256  # the baseline underestimates, as in the paper
    why = _text(at, "The degree-50 KPM density")
    below = int(re.search(r"and ([0-9,]+) true non-zero eigenvalues", why).group(1))
    assert (
        abs((256 - below) - float(base.value.replace(",", ""))) < 0.1 * 256
    )  # the cut explains the shortfall


def test_reproduce_snippet_prints_the_page_numbers(default_page):
    default_page.session_state["lgv.code"] = True  # the expander is lazy: its body is drawn once opened
    default_page.run()
    code = next(
        c.value for c in default_page.code if "rank_experiment" in c.value and "make_quadratic" in c.value
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {})
    text = out.getvalue()
    level = float(re.search(r"E\[L_inf\] - L\* = ([0-9.e+-]+)", text).group(1))
    assert level == pytest.approx(0.0125)
    est = re.search(r"rank 256: estimated ([0-9.]+)", text).group(1)
    assert _metric(default_page, "Langevin estimate").value.startswith(f"{float(est):,.1f}")


def test_unmatched_noise_moves_the_level_with_the_spectrum():
    at = _open()
    at.selectbox(key="lgv.kind").set_value("identity")
    at.toggle(key="lgv.matched").set_value(False).run()
    assert not at.exception
    caption = _text(at, "Continuous-time levels")
    assert "SGD-like moves from" in caption
    quad = lg.make_quadratic(20, 5, 3.0, seed=0)
    p, d = lg.preconditioner_and_noise(quad, "identity", 0.01)
    assert _metric(at, "Closed-form level").value == f"{lg.stationary_excess_loss(quad.hessian, p, d):.4g}"
    assert "× c·rank/4" in _text(at, "**η = ")


def test_preset_sets_every_control():
    at = _open()
    at.selectbox(key="lgv.preset").set_value("Adam-like with its own noise").run()
    assert not at.exception
    values = json.loads((ROOT / "assets/presets/langevin_rank.json").read_text())[
        "Adam-like with its own noise"
    ]
    for key, value in values["values"].items():
        assert at.session_state[key] == value, key
    assert "SGD-like is lower" in _text(at, "Gradient noise Σ = cH")  # c = 0.1 < c*


def test_link_sets_controls_and_bad_values_are_named():
    at = _open({"lgv.width": "8", "lgv.dim": "12", "lgv.rank": "3", "lgv.noise": "abc", "lgv.steps": "1e9"})
    assert at.slider(key="lgv.dim").value == 12 and at.session_state["lgv.width"] == 8
    assert _metric(at, "True rank d²").value == "64"
    notice = _text(at, "⚠️ Ignored from the link")
    assert "lgv.noise=abc" in notice and "lgv.steps=1e9" in notice
    assert at.session_state["lgv.noise"] == 0.01  # the preset's value, the default of the control


def test_link_to_a_preset_keeps_the_presets_other_values():
    at = _open({"lgv.preset": "Adam-like with its own noise", "lgv.dim": "12"})
    assert at.session_state["lgv.kind"] == "adam" and at.session_state["lgv.rank"] == 8
    assert at.slider(key="lgv.dim").value == 12
    at.selectbox(key="lgv.preset").set_value("SGD-like: slow modes lag").run()  # every control follows
    assert at.session_state["lgv.dim"] == 20 and at.session_state["lgv.kind"] == "identity"

"""AppTest: the SGD stability page runs; presets, links and controls set the state they name."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dlsa_core import stability as stab
from dlsa_core.stability import presets

APP = str(Path(__file__).resolve().parents[2] / "app.py")


LIGHT = {"stab.runs": "200", "stab.steps": "40"}  # a smaller simulation keeps the heavy presets quick


def open_page(query: dict | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    for k, v in (query or {}).items():
        app.query_params[k] = v
    app.switch_page("app_pages/sgd_stability.py")
    app.run()
    assert not app.exception, app.exception
    return app


@pytest.fixture(scope="module")
def at():
    return open_page()


def headline(app) -> str:
    return next(m.value for m in app.markdown if m.value.startswith("**At B="))


def metric(app, label: str) -> str:
    return next(m.value for m in app.metric if m.label == label)


def values(v) -> np.ndarray:
    """Plotly JSON arrays: plain lists or typed arrays ``{"dtype": "f8", "bdata": base64}``."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=float)


def region_figure(app) -> dict:
    return next(json.loads(el.proto.spec) for el in app.get("plotly_chart"))


def region_curve(app) -> np.ndarray:
    fig = region_figure(app)
    return values(
        next(t["y"] for t in fig["data"] if (t.get("name") or "").startswith("exact SGD threshold"))
    )


def apply(app, preset: str) -> None:
    app.selectbox(key="stab.preset").set_value(preset).run()
    assert not app.exception, app.exception


def test_default_caption_is_derived_from_the_runs(at):
    """Item 1: at 1.12 eta* on "one sample dominates" paths diverge; the caption must not say they converge."""
    assert at.session_state["stab.problem"] == "dominant"
    prob = stab.dominant_sample_2d()
    star = stab.sgd_threshold(prob, 1)
    assert metric(at, "Exact η*(B)") == f"{star:.4g}"
    caps = " ".join(c.value for c in at.caption)
    mc = stab.mc_report(
        prob, presets.PRESETS["dominant"]["ratio"] * stab.gd_threshold(prob), 1, runs=1000, seed=0
    )
    lyap = mc["mc"]["sgd"]["lyapunov"]
    assert lyap > 0 and "Typical paths diverge" in caps and "most paths still converge" not in caps
    assert f"{lyap:+.3g}" in caps


def test_presets_set_batch_size_every_time():
    """Item 2: Incoherent -> Digits -> ReLU used to leave B = 4 (the preset says 2), then Dominant opened at 4."""
    app = open_page(LIGHT)
    for name in ("incoherent", "digits", "relu", "dominant", "relu"):
        apply(app, name)
        want = presets.PRESETS[name]
        assert app.session_state["stab.problem"] == want["problem"]
        assert app.session_state["stab.B"] == want["B"]
        assert app.session_state["stab.ratio"] == pytest.approx(want["ratio"])
        assert f"At B={want['B']}," in headline(app)
        table = presets.shipped_thresholds(want["problem"], False)  # heavy presets paint from shipped data
        assert f"η\\*={table[want['B'] - 1]:.4g}" in headline(app)
        assert app.session_state["stab.preset"] is None  # the picker is an action, ready for the next one


def test_problem_switch_keeps_the_step_ratio_in_sync():
    """Item 3: the slider stored its display label; switching problems desynchronised eta."""
    app = open_page()
    app.slider(key="stab.ratio").set_value(0.5).run()
    app.selectbox(key="stab.problem").set_value("incoherent").run()
    assert not app.exception
    eta_gd = stab.gd_threshold(stab.incoherent_2d())
    eta = float(re.search(r"your η=([0-9.e+-]+)", headline(app)).group(1))
    assert eta == pytest.approx(0.5 * eta_gd, rel=1e-3)
    assert app.session_state["stab.ratio"] == 0.5
    assert (
        app.query_params["stab.problem"] == ["incoherent"] or app.query_params["stab.problem"] == "incoherent"
    )


def test_plain_problem_link():
    """Item 3: ``?stab.problem=digits`` works as a link."""
    app = open_page({"stab.problem": "digits", "stab.B": "4", **LIGHT})
    assert app.session_state["stab.problem"] == "digits"
    star = stab.sgd_threshold(stab.digits_least_squares(), 4)
    assert f"η\\*={star:.4g}" in headline(app)


def test_replacement_link_draws_the_replacement_region():
    """Item 4: ``?stab.repl=true&stab.B=8`` drew the without-replacement curve beside the 1.263 metric."""
    app = open_page({"stab.repl": "true", "stab.B": "8"})
    prob = stab.dominant_sample_2d()
    star = stab.sgd_threshold(prob, 8, replacement=True)
    assert metric(app, "Exact η*(B)") == f"{star:.4g}"
    curve = region_curve(app)
    ref = stab.stability_report(prob, replacement=True)["eta_star"]
    assert curve[-1] == pytest.approx(ref[-1], rel=1e-9) and curve[-1] < stab.gd_threshold(prob)
    marker = next(t for t in region_figure(app)["data"] if (t.get("name") or "").startswith("your (B"))
    eta = values(marker["y"])[0]
    assert marker["name"].endswith("stable" if eta <= star else "unstable")
    assert "with replacement" in " ".join(c.value for c in app.caption)


def test_snap_buttons_put_eta_at_the_threshold(at):
    at.button(key="stab.snap1.0").click().run()
    assert not at.exception
    assert metric(at, "Your η / η*") == "1.0000" and metric(at, "Mean square") == "stable"
    assert metric(at, "ρ(Q) per step").startswith("1")
    at.button(key="stab.snap1.02").click().run()
    assert metric(at, "Your η / η*") == "1.0200" and metric(at, "Mean square") == "unstable"
    at.button(key="stab.snap0.98").click().run()
    assert metric(at, "Mean square") == "stable"


def test_digits_rate_shows_enough_digits():
    """Item 7: rho = 0.99999963 was printed as "decays like 1^t"."""
    app = open_page({"stab.problem": "digits", "stab.B": "4", "stab.ratio": "0.708", **LIGHT})
    rate = metric(app, "ρ(Q) per step")
    assert rate.startswith("1 − ") and "e-" in rate
    assert "like (1)^t" not in headline(app)


def test_invalid_link_values_are_named_and_ignored():
    app = open_page({"stab.ratio": "inf", "stab.problem": "nope", "stab.B": "2"})
    notice = " ".join(c.value for c in app.caption)
    assert "Ignored from the link" in notice and "stab.ratio=inf" in notice and "stab.problem=nope" in notice
    assert app.session_state["stab.problem"] == "dominant" and app.session_state["stab.B"] == 2


def test_metric_labels_are_short_and_cached_times_are_honest(at):
    """Item 11: truncated metric labels; "in 0.00 s" for cached results."""
    assert all(len(m.label) <= 16 for m in at.metric)
    text = " ".join(c.value for c in at.caption)
    assert "0.00 s" not in text and ("shipped with the app" in text or "computed in" in text)


def test_math_follows_the_replacement_flag():
    app = open_page({"stab.repl": "true"})
    assert not app.get("latex") and not app.code  # lazy: nothing is drawn (or sent) until it is opened
    app.session_state["stab.math"] = True
    app.session_state["stab.code"] = True
    app.run()
    assert "replacement=True" in app.code[0].value
    latex = " ".join(el.value for el in app.get("latex"))
    assert r"\frac{1}{B}" in latex and r"\quadp" not in latex and "(n-B)" not in latex


@pytest.mark.parametrize(
    "tab,title",
    [
        ("ρ(Q) vs η", "Growth factor per step ρ(Q)"),
        ("p axis", "Generalised sharpness on the p axis"),
        ("Regular minimum", "Regular minimum: stationary excess loss"),
        ("Edge of stability", "Edge of stability, small"),
    ],
)
def test_each_view_renders_only_when_open(tab, title):
    """The views of issue 8; tabs are lazy (only the open one runs and is sent)."""
    app = open_page(LIGHT)
    titles = [json.loads(e.proto.spec)["layout"]["title"]["text"] for e in app.get("plotly_chart")]
    assert not any(t.startswith(title) for t in titles)
    app.session_state["stab.tab"] = tab
    app.run()
    assert not app.exception, app.exception
    titles = [json.loads(e.proto.spec)["layout"]["title"]["text"] for e in app.get("plotly_chart")]
    assert any(t.startswith(title) for t in titles) and len(titles) == 2  # region figure + the open view

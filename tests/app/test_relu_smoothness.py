"""AppTest: the stable-ReLU-smoothness page trains, shows theory beside measurement, and follows its controls."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAPER4 = "The digest's points x = 0, 1, 2, 3"


def open_page(query: dict | None = None) -> AppTest:
    """Through the app's navigation; with a query, the page script alone (a page switch drops the query)."""
    if query:
        at = AppTest.from_file(
            str(Path(APP).parent / "app_pages" / "relu_smoothness.py"), default_timeout=180
        )
        for k, v in query.items():
            at.query_params[k] = v
    else:
        at = AppTest.from_file(APP, default_timeout=180)
        at.switch_page("app_pages/relu_smoothness.py")
    at.run()
    assert not at.exception, at.exception
    return at


def headline(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**At η ="))


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label))


def figure(at, title_part: str) -> dict:
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        if title_part in json.dumps(spec["layout"].get("title", "")) + json.dumps(
            spec["layout"].get("annotations", [])
        ):
            return spec
    raise AssertionError(f"no figure mentioning {title_part!r}")


@pytest.fixture(scope="module")
def paper4():
    return open_page({"relu.preset": PAPER4})


def test_preset_trains_and_satisfies_the_bound(paper4):
    """(The default, larger preset is exercised by the browser test.)"""
    at = paper4
    cap = next(c.value for c in at.caption if "worst norm/bound =" in c.value)
    worst = float(re.search(r"worst norm/bound = ([0-9]+\.[0-9]+)", cap).group(1))
    assert 0 < worst <= 1
    assert metric(at, "Worst ratio") == f"{worst:.3f}"
    fits = figure(at, "Fitted functions")
    names = [t.get("name", "") for t in fits["data"]]
    assert "training data" in names and any(n.startswith("knots of η = 0.5") for n in names)
    assert sum(n.startswith("η = ") for n in names) >= 3  # one curve per step size that did not diverge
    bound = figure(at, "vs the bound")
    assert any(t.get("name", "").startswith("theory: bound") for t in bound["data"])
    assert "15 trainings batched" in " ".join(c.value for c in at.caption)


def test_preset_sets_controls_and_inspection_follows(paper4):
    at = paper4
    assert at.session_state["relu.data"] == "paper4"
    assert at.session_state["relu.width"] == 16 and at.session_state["relu.etas"] == [0.1, 0.2, 0.3, 0.5, 0.8]
    assert "At η = 0.5 (seed 0)" in headline(at)
    assert metric(at, "Bound") == "1.5000"
    at.select_slider(key="relu.eta").set_value(0.8).run()
    assert not at.exception
    assert "At η = 0.8 (seed 0)" in headline(at) and metric(at, "Bound") == "0.7500"
    status = at.session_state["relu.status"]
    assert status in ("interpolated", "unstable", "diverged", "dead", "not converged")
    if status == "interpolated":
        norm = float(metric(at, "Norm"))
        assert norm <= 0.75 and f"{norm / 0.75:.3f}" == metric(at, "norm / bound")
    at.slider(key="relu.seed").set_value(2).run()
    assert "(seed 2)" in headline(at)


def test_reproduce_snippet_runs_and_agrees(paper4):
    paper4.session_state["relu.code"] = True  # the expander is lazy: its body is drawn once opened
    paper4.run()
    code = next(c.value for c in paper4.code if "sweep_step_sizes" in c.value)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {})
    worst = float(out.getvalue().strip().splitlines()[-1].split(":")[-1])
    assert f"{worst:.3f}" == metric(paper4, "Worst ratio")


def test_link_values_restore_and_bad_values_are_named():
    at = open_page({"relu.data": "steps", "relu.width": "16", "relu.etas": ["0.3", "0.6"], "relu.seeds": "1",
                    "relu.n": "inf", "relu.steps": "123"})  # fmt: skip
    assert at.session_state["relu.data"] == "steps" and at.session_state["relu.width"] == 16
    assert at.session_state["relu.etas"] == [0.3, 0.6] and at.session_state["relu.seeds"] == 1
    notice = " ".join(c.value for c in at.caption)
    assert "Ignored from the link" in notice and "relu.n=inf" in notice and "relu.steps=123" in notice
    assert "2 trainings batched" in " ".join(c.value for c in at.caption)


@pytest.mark.parametrize("preset", ["2-D bump: knot lines", "MNIST 0 vs 1 (d = 784)"])
def test_2d_and_digits_presets(preset):
    at = open_page({"relu.preset": preset})
    titles = [json.dumps(json.loads(el.proto.spec)["layout"]) for el in at.get("plotly_chart")]
    assert not any("Fitted functions" in t for t in titles)  # no 1-D fits for these
    assert any("vs the bound" in t for t in titles)
    assert any("Fitted surface" in t for t in titles) == preset.startswith("2-D")


def test_table_input_trains_on_the_points():
    at = open_page({"relu.data": "table", "relu.etas": ["0.5"], "relu.seeds": "1"})
    assert not at.error
    assert "1 trainings batched" in " ".join(c.value for c in at.caption)
    assert "your points" in " ".join(
        json.dumps(json.loads(el.proto.spec)["layout"]) for el in at.get("plotly_chart")
    )

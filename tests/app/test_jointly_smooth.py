"""AppTest checks of the jointly smooth functions page: runs, captions from state, URL state, errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dlsa_core.jointly_smooth import analysis as jsa

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "app_pages/jointly_smooth.py"


def _open(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page(PAGE)
    return at.run()


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _array(x) -> np.ndarray:
    """Plotly 7 sends numpy arrays as base64 typed arrays."""
    if isinstance(x, dict):
        return np.frombuffer(base64.b64decode(x["bdata"]), dtype=np.dtype(x["dtype"]))
    return np.asarray(x, float)


def _main_caption(at) -> str:
    return next(c.value for c in at.caption if " paired samples, " in c.value)


def test_default_page_runs_and_caption_matches_core():
    at = _open()
    assert not at.exception and not at.error
    assert len(_charts(at)) == 3  # views, curves, energies
    ref = jsa.analyse("spiral_torus", 1000, 100, 0.3, "gaussian", 12, "analytic", 100, 0)
    cap = _main_caption(at)
    assert cap.startswith("f1 on N = 1,000 paired samples, d = 100")
    assert f"σ²/K = {ref.energy[1]:.3f}" in cap and f"E0 = {ref.threshold:.3f}" in cap
    assert f"{ref.n_significant} of 12 functions" in cap
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["R² vs z (shared)"] == f"{ref.r2['shared: z'][1]:.2f}"


def test_switching_the_function_recolours_every_view():
    at = _open()
    at.slider(key="jsf.fn").set_value(2).run()
    assert not at.exception
    assert _main_caption(at).startswith("f2 on")
    ref = jsa.analyse("spiral_torus", 1000, 100, 0.3, "gaussian", 12, "analytic", 100, 0)
    views = _charts(at)[0]
    colours = [_array(t["marker"]["color"]) for t in views["data"]]
    assert len(colours) == 2  # one trace per view, both coloured by f2
    for col in colours:
        np.testing.assert_allclose(col, ref.functions[:, 2], atol=1e-9)


def test_url_state_sets_the_controls():
    at = _open({"jsf.d": "60", "jsf.dataset": "Parameter redundancy", "jsf.kernel": "k-NN (sparse)"})
    assert not at.exception
    assert at.slider(key="jsf.d").value == 60
    assert "d = 60 eigenvectors" in _main_caption(at) and "(k-NN (sparse))" in _main_caption(at)
    assert "R² vs p1 + p2^3 (shared)" in {m.label for m in at.metric}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"jsf.dataset": "Corrupted digits", "jsf.n": 5000}, "digits has 1797 images"),
        ({"jsf.n": 15_000}, "too large for a dense Gaussian kernel"),
    ],
)
def test_impossible_settings_show_an_error_not_a_traceback(changes, message):
    at = _open()
    for key, value in changes.items():
        widget = at.selectbox(key=key) if key == "jsf.dataset" else at.number_input(key=key)
        widget.set_value(value)
    at.run()
    assert not at.exception
    assert any(message in e.value for e in at.error)


@pytest.mark.slow
def test_digits_preset_with_comparison_shows_accuracy_table():
    at = _open()
    at.selectbox(key="jsf.preset").set_value("Digits, two corrupted sensors").run()
    at.toggle(key="jsf.compare").set_value(True).run()
    assert not at.exception and not at.error
    assert len(_charts(at)) == 4
    table = at.dataframe[-1].value
    assert list(table["features"]) == ["jointly smooth", "linear CCA", "kernel CCA", "concatenated eigenmap"]
    acc = dict(zip(table["features"], table["kNN"], strict=True))
    assert acc["jointly smooth"] > acc["concatenated eigenmap"] + 0.2


@pytest.mark.slow
def test_every_preset_and_the_other_kernels_run_cleanly():
    at = _open()
    for name in at.selectbox(key="jsf.preset").options:
        at.selectbox(key="jsf.preset").set_value(name).run()
        assert not at.exception and not at.error, name
        n = at.session_state["jsf.n"]
        assert _main_caption(at).startswith(f"f1 on N = {n:,} paired samples"), name
    at.selectbox(key="jsf.preset").set_value("Paper toy (d = 100)").run()
    at.radio(key="jsf.threshold").set_value("permutation").run()
    at.selectbox(key="jsf.kernel").set_value("k-NN (sparse)").run()
    assert not at.exception and not at.error
    assert "(permutation)" in _main_caption(at) and "(k-NN (sparse))" in _main_caption(at)

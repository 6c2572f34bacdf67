"""AppTest checks of the jointly smooth functions page: runs, captions from state, URL state, errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dlsa_core.jointly_smooth import analysis as jsa
from dlsa_core.jointly_smooth import captions as cap
from dlsa_core.viz.jointly_smooth import subsample
from dlsa_core.viz.jointly_smooth_views import LIVE_POINTS

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "app_pages/jointly_smooth.py"


def _open(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
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


def _notice(at) -> str:
    return next(c.value for c in at.caption if c.value.startswith("What to notice"))


@pytest.fixture(scope="module")
def default_page():
    return _open()


def test_default_page_runs_and_caption_matches_core(default_page):
    at = default_page
    assert not at.exception and not at.error
    assert len(_charts(at)) == 4  # views, curves, energies, spectrum
    ref = jsa.analyse("spiral_torus", 1000, 100, 0.3, "gaussian", 12, "analytic", 100, 0)
    text = _main_caption(at)
    assert text == cap.main_caption(ref, 1)
    assert f"σ²/K = {ref.energy[1]:.4f} clears E0 + margin = {ref.floor.e0:.4f}" in text
    # One E0 number: the metric shows the caption's value, from the same computation.
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[f"E0 (analytic) · margin {ref.floor.margin:.4f}"] == f"{ref.floor.e0:.4f}"
    assert metrics["R² vs z (shared)"] == f"{ref.r2['shared: z'][1]:.2f}"


def test_noise_is_not_counted_and_its_delta_is_negative(default_page):
    """Misleading 3: f3 of the default preset sits on E0 (0.7997 vs 0.7995) but is noise (R^2(z) < 0)."""
    at = default_page
    at.slider(key="jsf.fn").set_value(3).run()
    assert not at.exception
    text = _main_caption(at)
    assert "does not clear E0 + margin" in text and "treat it as noise" in text
    energy = next(m for m in at.metric if m.label.startswith("Energy"))
    assert energy.proto.delta.startswith("-")  # shown red (below), not a green +0.000


def test_switching_the_function_recolours_every_view(default_page):
    at = default_page
    at.slider(key="jsf.fn").set_value(2).run()
    assert not at.exception
    assert _main_caption(at).startswith("f2 on")
    ref = jsa.analyse("spiral_torus", 1000, 100, 0.3, "gaussian", 12, "analytic", 100, 0)
    views = _charts(at)[0]
    colours = [_array(t["marker"]["color"]) for t in views["data"]]
    assert len(colours) == 2  # one trace per view, both coloured by f2
    for col in colours:
        np.testing.assert_allclose(col, ref.functions[subsample(1000, LIVE_POINTS), 2], atol=1e-9)


def test_url_state_sets_the_controls_with_plain_values():
    at = _open({"jsf.d": "60", "jsf.dataset": "parameter_redundancy", "jsf.kernel": "knn", "jsf.fn": "2"})
    assert not at.exception and not at.error
    assert at.slider(key="jsf.d").value == 60 and at.slider(key="jsf.fn").value == 2
    text = _main_caption(at)
    assert "d = 60 eigenvectors" in text and "(k-NN (sparse))" in text
    assert "median distance to the 30th neighbour" in text  # the k-NN kernel's own bandwidth meaning
    assert "R² vs p1 + p2^3 (shared)" in {m.label for m in at.metric}
    assert "u, the position along p1 + p2³ = const" in _notice(at)  # independent of the shared variable


def test_preset_values_are_the_widget_defaults_so_a_link_restores_them():
    """A link holds only values that differ from the preset; everything else comes from the preset."""
    at = _open({"jsf.preset": "digits", "jsf.kernel": "knn", "jsf.fn": "0", "jsf.n": "300"})
    assert not at.exception
    assert at.selectbox(key="jsf.dataset").value == "digits"  # from the preset
    assert at.slider(key="jsf.scale").value == 1.0  # from the preset
    assert at.selectbox(key="jsf.kernel").value == "knn"  # from the link, not the preset
    assert at.slider(key="jsf.fn").value == 0  # from the link, although 0 != the built-in 1


def test_what_to_notice_follows_a_hand_changed_data_set():
    at = _open({"jsf.preset": "digits", "jsf.n": "300", "jsf.d": "40"})
    assert "digit" in _notice(at)
    at.selectbox(key="jsf.dataset").set_value("spiral_torus").run()
    assert not at.exception
    notice = _notice(at)
    assert "z (across the spiral strip" in notice and "digit" not in notice


@pytest.mark.parametrize(
    "query, ignored",
    [
        ({"jsf.n": "inf"}, "jsf.n=inf"),
        ({"jsf.n": "-inf"}, "jsf.n=-inf"),
        ({"jsf.n": "1e400"}, "jsf.n=1e400"),
        ({"jsf.seed": "inf"}, "jsf.seed=inf"),
        ({"jsf.d": "nan"}, "jsf.d=nan"),
        ({"jsf.dataset": "Corrupted digits"}, "jsf.dataset=Corrupted digits"),  # a label, not a value
    ],
)
def test_invalid_link_values_are_named_and_ignored(query, ignored):
    at = _open(query)
    assert not at.exception and not at.error
    notice = " ".join(c.value for c in at.caption if c.value.startswith("⚠️ Ignored from the link"))
    assert ignored in notice
    assert _main_caption(at).startswith("f1 on N = 1,000 paired samples")  # the preset's values instead


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"jsf.dataset": "digits", "jsf.n": 1797}, "Set N to at most 1,697"),
        ({"jsf.n": 15_000}, "Choose Kernel: Gaussian (landmarks) or k-NN (sparse)"),
        ({"jsf.n": 200, "jsf.d": 300}, "need more than d training samples"),
    ],
)
def test_impossible_settings_show_an_error_in_the_pages_words(changes, message):
    at = _open()
    for key, value in changes.items():
        if key == "jsf.dataset":
            at.selectbox(key=key).set_value(value)
        elif key == "jsf.d":
            at.slider(key=key).set_value(value)
        else:
            at.number_input(key=key).set_value(value)
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(message in e for e in errors), errors
    assert not any("n_samples=" in e or "kernel='knn'" in e for e in errors)  # no code words


def test_numerical_rank_warning_on_too_many_eigenvectors():
    at = _open({"jsf.preset": "too_many_eigenvectors", "jsf.n": "500"})
    assert not at.exception and not at.error
    warnings = " ".join(w.value for w in at.warning)
    assert "Numerical rank" in warnings and "of 400" in warnings


@pytest.mark.slow
def test_digits_preset_with_comparison_shows_single_views_and_accuracy():
    at = _open({"jsf.preset": "digits"})
    at.toggle(key="jsf.compare").set_value(True).run()
    assert not at.exception and not at.error
    table = at.dataframe[-1].value
    assert list(table["features"])[:3] == ["jointly smooth", "view 0 alone", "view 1 alone"]
    acc = dict(zip(table["features"], table["kNN"], strict=True))
    assert acc["jointly smooth"] > max(acc["view 0 alone"], acc["view 1 alone"]) + 0.05
    assert acc["jointly smooth"] > acc["concatenated eigenmap"] + 0.2
    assert any("canonical correlations" in c.value for c in at.caption)


@pytest.mark.slow
def test_every_preset_runs_cleanly():
    at = _open()
    from dlsa_core.jointly_smooth.presets import PRESETS

    for name in PRESETS:
        at.selectbox(key="jsf.preset").set_value(name).run()
        assert not at.exception and not at.error, name
        n = at.session_state["jsf.n"]
        assert _main_caption(at).startswith(f"f1 on N = {n:,} paired samples"), name

"""Figure builders of the flat-minima page: pure functions of the core's results."""

from __future__ import annotations

import numpy as np
import pytest

from dlsa_core.flat_minima import report as fm
from dlsa_core.viz import flat_minima as viz


@pytest.fixture(scope="module")
def rep():
    return fm.training_report([2.0, 1.0, 0.5], 3, 3, 0.1, 2000, seed=0)


def test_training_figure_has_every_init_and_the_theory_lines(rep):
    fig = viz.make_training_figure(rep["runs"], rep["minimal"], 0.1)
    names = [t.name for t in fig.data]
    for label in viz.INIT_NAMES.values():
        assert names.count(label) == 3  # sharpness, loss, imbalance panels
    theory = next(t for t in fig.data if t.name.startswith("minimal"))
    assert list(theory.y) == [rep["minimal"]] * 2
    assert any(t.name == "2/η = 20" for t in fig.data)  # 2/eta within range is drawn
    sharp = next(t for t in fig.data if t.name == viz.INIT_NAMES["resnet"])
    np.testing.assert_allclose(sharp.y, rep["runs"]["resnet"].sharpness)


def test_gains_and_coupling_figures(rep):
    gains = viz.make_gains_figure(rep["gains"])
    assert len(gains.data) == 3 and all(len(b.y) == 3 for b in gains.data)
    coupling = viz.make_coupling_figure(rep["coupling"])
    assert len(coupling.data) == 3 * 2  # three inits x two layer pairs
    np.testing.assert_allclose(coupling.data[0].z, rep["coupling"]["resnet"].overlaps[0])
    assert all(t.zmin == 0 and t.zmax == 1 for t in coupling.data)


def test_rebalance_figure_marks_the_verdict(rep):
    cs = [0.5, 1.0, 2.0, 4.0]
    curve = fm.rebalance_curve(rep["runs"]["resnet"].weights, 1, cs)
    fig = viz.make_rebalance_figure(cs, curve, 4.0, float(curve[-1]), rep["minimal"], 0.1, 1)
    marker = next(t for t in fig.data if t.name.startswith("c = 4"))
    assert marker.marker.symbol == "x"  # 43 > 2/eta = 20: unstable
    fig = viz.make_rebalance_figure(cs, curve, 1.0, float(curve[1]), rep["minimal"], 0.1, 1)
    assert next(t for t in fig.data if t.name.startswith("c = 1")).marker.symbol == "circle"
    assert list(fig.layout.xaxis.ticktext) == ["1/2", "1", "2", "4"]


def test_sweep_figure_separates_settled_and_unsettled_runs():
    sweep = {
        "eta": np.array([0.01, 0.1, 0.3]),
        "sharpness": np.array([12.0, 10.0, np.nan]),
        "converged": np.array([True, True, False]),
        "diverged": np.array([False, False, True]),
        "minimal": 7.56,
        "init": "large",
    }
    fig = viz.make_sweep_figure(sweep, 0.1)
    settled = next(t for t in fig.data if t.name.startswith("GD from large random"))
    assert list(settled.x) == [0.01, 0.1] and list(settled.y) == [12.0, 10.0]
    assert len(next(t for t in fig.data if t.name.startswith("did not settle")).x) == 1
    assert any(t.name == "your η = 0.1" for t in fig.data)

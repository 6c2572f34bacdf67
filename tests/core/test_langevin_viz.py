"""The Langevin page's figure builders draw the numbers they are given (pure functions, no Streamlit)."""

from __future__ import annotations

import numpy as np
import pytest

from dlsa_core import langevin as lg
from dlsa_core.viz import langevin as vz


def test_playground_figure_draws_theory_and_monte_carlo():
    rep = lg.playground_report(6, 2, 1.0, "custom", 0.1, matched=True, step=0.5, steps=200, runs=40)
    fig = vz.make_playground_figure(rep, title="t")
    by_name = {t.name: t for t in fig.data}
    np.testing.assert_allclose(by_name["closed form"].y, rep["theory"])
    assert set(by_name) >= {"Monte Carlo mean", "Monte Carlo ±2 SE"}
    levels = sorted(s.y0 for s in fig.layout.shapes)
    assert levels == pytest.approx(sorted([rep["level_discrete"], rep["rank_level"]]))


def test_log_axis_annotations_use_log10_coordinates():
    reg = lg.regime_report(8, 3, 2.0, noise=1e-4)
    fig = vz.make_regime_figure(reg, current=1e-4)
    assert reg["noise"].min() <= 1e-4 <= reg["noise"].max()  # the grid covers the current noise
    xs = sorted(a.x for a in fig.layout.annotations)
    assert xs == pytest.approx(sorted([np.log10(reg["boundary"]), -4.0]))
    assert fig.layout.xaxis.range == pytest.approx(list(np.log10([reg["noise"].min(), reg["noise"].max()])))
    sp = lg.spread_report(8, 3, 0.01, n_points=3)
    fig = vz.make_spread_figure(sp, matched=True, current=2.0, labels=lg.PRECONDITIONERS)
    label = next(a for a in fig.layout.annotations if a.text == "c·rank/4")
    assert label.y == pytest.approx(np.log10(0.01 * 3 / 4))
    assert sum(t.showlegend for t in fig.data) == 4  # the matched family is the one in the legend


def test_rank_figures_show_the_run():
    run = lg.rank_experiment(4, preconditioner="kron", runs=2, seed=0, steps=200, rel_tol=None)
    fig = vz.make_rank_trace_figure(run)
    names = [t.name for t in fig.data]
    assert "closed form (transient)" in names and "mean of 2 runs" in names
    assert fig.layout.yaxis2.range[1] == pytest.approx(4 * fig.layout.yaxis.range[1] / run.noise)
    row = lg.report.rank_row(run)
    cmp = vz.make_rank_comparison_figure([row])
    assert list(cmp.data[1].y) == [pytest.approx(run.estimate.rank)] and len(cmp.data) == 2  # no baseline

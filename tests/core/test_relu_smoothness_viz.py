"""Figures and page helpers of the stable-ReLU-smoothness page (no Streamlit)."""

from __future__ import annotations

import ast

import numpy as np
import pytest
import torch

import dlsa_core.relu_smoothness as rs
from dlsa_core.relu_smoothness import report
from dlsa_core.viz.relu_smoothness import (
    make_bound_figure,
    make_fits_figure,
    make_loss_figure,
    make_surface_figure,
)


@pytest.fixture(scope="module")
def small_sweep():
    torch.set_num_threads(1)
    d = rs.make_dataset("paper4")
    return rs.sweep_step_sizes(d.x, d.y, 8, [0.1, 0.3, 1.9], range(2), max_steps=3000)


def test_fits_figure_has_curves_weights_and_spikes(small_sweep):
    run = report.find_run(small_sweep, 0.3, 0)
    curves = report.curves_1d(small_sweep, 0)
    k = report.knots(run, small_sweep.x)
    fig = make_fits_figure(small_sweep.x, small_sweep.y, curves, k, 0.3, title="t")
    names = [t.name or "" for t in fig.data]
    assert "training data" in names and "g = min(g+, g−)" in names
    assert sum(n.startswith("η = ") for n in names) == len(curves["fits"])
    spikes = next(t for t in fig.data if (t.name or "").startswith("knots of η = 0.3"))
    heights = np.asarray(spikes.y, dtype=float)
    assert np.nansum(heights) == pytest.approx(run.norm, rel=1e-9)  # spike heights sum to the norm
    np.testing.assert_allclose(np.sort(k["t"]), k["t"])


def test_bound_figure_marks_every_run(small_sweep):
    table = small_sweep.table()
    fig = make_bound_figure(table, 0.3)
    marks = [t for t in fig.data if (t.name or "").startswith("measured") or t.showlegend is False]
    shown = sum(len(t.x) for t in marks if t.xaxis in (None, "x"))
    assert shown == sum(np.isfinite(r["norm"]) for r in table)
    theory = next(t for t in fig.data if t.name == "theory: bound 1/η − 1/2")
    np.testing.assert_allclose(theory.y, 1 / np.asarray(theory.x) - 0.5)


def test_surface_and_knot_lines_2d():
    torch.set_num_threads(1)
    d = rs.make_dataset("bump", 10)
    sw = rs.sweep_step_sizes(d.x, d.y, 6, [0.5], [0], max_steps=200)
    run = sw.runs[0]
    surf = report.surface_2d(run.params, d.x, m=30)
    assert surf["z"].shape == (30, 30)
    np.testing.assert_allclose(surf["z"][3, 7], run.params([[surf["gx"][7], surf["gy"][3]]])[0])
    box = (surf["gx"][0], surf["gx"][-1], surf["gy"][0], surf["gy"][-1])
    segs = report.knot_segments_2d(run, d.x, box)
    assert segs
    for s in segs:  # both end points lie on the knot line and inside the box
        for px, py in zip(s["x"], s["y"], strict=True):
            assert box[0] - 1e-9 <= px <= box[1] + 1e-9 and box[2] - 1e-9 <= py <= box[3] + 1e-9
    fig = make_surface_figure(d.x, d.y, surf, segs)
    assert fig.data[0].type == "heatmap" and len(fig.data) == len(segs) + 2


def test_status_sentence_loss_figure_and_trend(small_sweep):
    text = report.status_sentence(small_sweep)
    n_ok = sum(r.stable_interpolating for r in small_sweep.runs)
    assert text.startswith(f"{n_ok} of 6 runs reached a stable interpolating minimum")
    for status in ("diverged", "dead", "not converged"):
        if any(r.status == status for r in small_sweep.runs):
            assert {"diverged": "diverged", "dead": "dead network", "not converged": "step budget"}[
                status
            ] in text
    hist = {r.eta: (r.losses, r.status) for r in report.runs_for_seed(small_sweep, 0)}
    assert len(make_loss_figure(hist, 10).data) == 3
    tr = report.trend(small_sweep)
    assert tr["eta_first"] <= tr["eta_last"]


def test_sweep_cache_is_lru_and_computes_once():
    cache = report.SweepCache(2)
    calls = []
    for key in ["a", "b", "a", "c", "b"]:
        cache.get_or_compute(key, lambda k=key: calls.append(k) or k.upper())
    assert calls == ["a", "b", "c", "b"]  # "b" was evicted by "c" (the oldest after "a" was reused)
    assert "a" not in cache and "c" in cache and "b" in cache  # re-adding "b" evicted "a"


def test_reproduce_snippet_is_valid_python():
    code = report.reproduce_snippet("wave", 8, 32, [0.2, 0.8], range(2), max_steps=100, init_scale=2.0)
    ast.parse(code)
    pts = report.reproduce_snippet(
        "table", 3, 8, [0.5], range(1), max_steps=50, init_scale=2.0, points=((0, 1), (1, 0))
    )
    ns: dict = {}
    exec(compile(pts.replace("print(", "(lambda *a, **k: None)("), "<s>", "exec"), ns)
    assert ns["sweep"].runs[0].eta == 0.5 and ns["data"].n == 2

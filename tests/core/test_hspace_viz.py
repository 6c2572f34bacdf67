"""h-space figures: mosaics place tiles exactly; figures carry the labels of the state they show."""

from __future__ import annotations

import numpy as np

from dlsa_core.viz import hspace as viz


def test_mosaic_places_tiles_with_gaps():
    tiles = np.arange(2 * 3 * 28 * 28, dtype=np.float32).reshape(2, 3, 28, 28)
    m = viz.mosaic(tiles)
    assert m.shape == (2 * 30 - 2, 3 * 30 - 2)
    np.testing.assert_array_equal(m[30:58, 60:88], tiles[1, 2])
    assert (m[28:30] == 1).all()


def test_strip_and_effect_figures_follow_state():
    imgs = np.random.default_rng(0).random((7, 28, 28))
    s = np.linspace(-2, 2, 7)
    fig = viz.make_strip_figure(imgs, s, current=s[4], title="t")
    ticks = fig.layout.xaxis.ticktext
    assert len(ticks) == 7 and ticks[4].endswith("◀") and ticks[0].startswith("γ = -2.00")
    m = {
        "rows": ["thickness", "random"],
        "columns": ["slant", "thickness"],
        "normalised": np.array([[0.1, 0.5], [0, 0]]),
    }
    d = dict(m, rows=["thickness_disentangled", "random"])
    fig = viz.make_effect_figure(m, d)
    assert list(fig.data[1].y) == ["thickness ⊥", "random"]
    dose = {"strengths": np.array([-1.0, 0.0, 1.0])}
    for k in ("direction", "random"):
        dose[k] = {"slant": np.array([[-3, -2.0], [0, 0], [2, 4]]), "digit_kept": np.ones((3, 2), bool)}
    fig = viz.make_dose_figure(dose, "slant", "deg", "slant")
    line = [t for t in fig.data if t.name == "slant" and t.mode == "lines+markers"][0]
    np.testing.assert_allclose(line.y, [-2.5, 0, 3])

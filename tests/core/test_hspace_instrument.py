"""Instrument checks: exact thickening/thinning and shear, and the transform matched to an edit's mean change."""

from __future__ import annotations

import numpy as np
import pytest

from dlsa_core.data import load_mnist
from dlsa_core.hspace import annotators as ann
from dlsa_core.hspace import instrument
from tests.core.strokes import bar


@pytest.fixture(scope="module")
def digits():
    return load_mnist("test").images[:24].astype(np.float64) / 255.0


def test_blend_thickness_moves_the_stroke_boundary():
    bars = np.stack([bar(3), bar(4)])
    np.testing.assert_array_equal(instrument.blend_thickness(bars, 0.0), bars)
    th = [ann.thickness(instrument.blend_thickness(bars, a)) for a in (-0.8, -0.4, 0.0, 0.4, 0.8)]
    assert np.all(np.diff(np.stack(th), axis=0) > 0)  # monotone in the amount, for every bar
    # a full blend is the 3 x 3 dilation: one pixel on each side of a vertical bar
    np.testing.assert_allclose(
        ann.thickness(instrument.blend_thickness(bars, 1.0)), ann.thickness(bars) + 2, atol=0.3
    )
    for bad in (1.5, -2, np.nan):
        with pytest.raises(ValueError):
            instrument.blend_thickness(bars, bad)


def test_shear_images_changes_slant_by_the_angle():
    upright = bar(3)[None]
    np.testing.assert_allclose(instrument.shear_images(upright, 0.0), upright, atol=1e-12)
    for deg in (-10.0, 5.0, 12.0):
        np.testing.assert_allclose(ann.slant(instrument.shear_images(upright, deg)), deg, atol=0.5)
    # on a slanted bar too: the change, not the result, is the angle
    lean = bar(3, -0.2)[None]
    np.testing.assert_allclose(ann.slant(instrument.shear_images(lean, 6.0)) - ann.slant(lean), 6.0, atol=0.7)
    with pytest.raises(ValueError):
        instrument.shear_images(upright, 75.0)


@pytest.mark.parametrize(
    ("attribute", "target"), [("thickness", 0.12), ("thickness", -0.08), ("slant", -3.0)]
)
def test_matched_transform_hits_the_mean_change(digits, attribute, target):
    before = ann.annotate(digits)
    m = instrument.matched_transform(digits, attribute, target, before=before)
    assert m["mean_change"] == pytest.approx(target, rel=0.02)
    assert np.sign(m["parameter"]) == np.sign(target)
    # the reported rates are those of the returned changes, recomputed independently
    ch = (
        ann.annotate(instrument.TRANSFORMS[attribute][0](digits, m["parameter"]))[attribute]
        - before[attribute]
    )
    np.testing.assert_allclose(ch, m["changes"])
    assert m["right_way"] == pytest.approx(np.mean(np.sign(ch) == np.sign(target)))
    assert 0.0 <= m["digit_kept"] <= 1.0


def test_matched_transform_refuses_bad_requests(digits):
    with pytest.raises(ValueError, match="no exact transform"):
        instrument.matched_transform(digits, "width", 1.0)
    with pytest.raises(ValueError, match="non-zero"):
        instrument.matched_transform(digits, "slant", 0.0)

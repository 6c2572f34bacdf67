"""Synthetic strokes shared by the annotator and instrument tests."""

from __future__ import annotations

import numpy as np


def bar(width: float, shear: float = 0.0) -> np.ndarray:
    """A 28 x 28 vertical bar of ``width`` px (anti-aliased edges), rows 4-23, leaning by ``shear`` px per row
    about row 13.5 (``shear > 0``: the bottom moves right, so the slant is negative)."""
    img = np.zeros((28, 28))
    x = np.arange(28)
    for y in range(4, 24):
        img[y] = np.clip(width / 2 + 0.5 - np.abs(x - 14 - shear * (y - 13.5)), 0, 1)
    return img

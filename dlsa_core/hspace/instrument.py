"""Instrument checks: exact image-space counterparts of an edit, to separate the annotator from the edit.

An h-space edit of one natural unit changes thickness by about a tenth of a pixel and slant by a few
degrees. Whether such a change is "read the right way" depends on the edit *and* on the annotator's
resolution. These functions apply an exact transform (a grey-level thickening/thinning, a shear) to
the same images, sized so that its mean measured change equals the edit's, and report how often the
annotators read *that* the right way and how often the classifier keeps the digit: the rate an ideal
edit of that size would get from the same instruments.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from . import annotators as ann

#: centre row of a 28 x 28 digit, the fixed line of :func:`shear_images`.
CENTRE = 13.5


def blend_thickness(images, amount: float) -> np.ndarray:
    """Thicken (``amount > 0``) or thin (``< 0``) strokes by a fraction of a pixel, ``(N, 28, 28)`` in [0, 1].

    The image is blended with its 3 x 3 grey dilation (or erosion): ``(1 - |a|) x + |a| D(x)``, so the
    ink boundary moves outwards (inwards) by about ``|a|`` pixels while the shape is otherwise kept.
    """
    if not np.isfinite(amount) or abs(amount) > 1:
        raise ValueError(f"amount must be in [-1, 1], got {amount}")
    x = ann.as_images(images)
    op = ndimage.grey_dilation if amount > 0 else ndimage.grey_erosion
    moved = op(x, size=(1, 3, 3))
    return np.clip((1 - abs(amount)) * x + abs(amount) * moved, 0.0, 1.0)


def shear_images(images, degrees: float) -> np.ndarray:
    """Shear each image about its centre row so that slant (:func:`.annotators.slant`) grows by ``degrees``.

    The top moves right for positive ``degrees`` (bilinear resampling), ``(N, 28, 28)`` in [0, 1].
    """
    if not np.isfinite(degrees) or abs(degrees) >= 60:
        raise ValueError(f"degrees must be finite and below 60 in magnitude, got {degrees}")
    return np.clip(ann.shear_rows(images, np.tan(np.radians(degrees)), CENTRE), 0.0, 1.0)


TRANSFORMS = {"thickness": (blend_thickness, 1.0), "slant": (shear_images, 30.0)}


def matched_transform(images, attribute: str, target_mean: float, *, before=None, iters: int = 20) -> dict:
    """The exact transform of ``attribute`` whose mean measured change over ``images`` is ``target_mean``.

    Bisection on the transform's parameter (blend amount for thickness, degrees for slant); the mean
    change grows monotonically with it on digits. ``before``: annotations of ``images`` if known.

    Returns
    -------
    dict with ``parameter`` (float), ``mean_change`` (float, the attribute's unit), ``right_way``
    (fraction of images whose change has the sign of ``target_mean``), ``digit_kept`` (fraction whose
    classifier reading is unchanged) and ``changes (N,)``.
    """
    if attribute not in TRANSFORMS:
        raise ValueError(f"no exact transform for {attribute!r}; choose from {sorted(TRANSFORMS)}")
    if not np.isfinite(target_mean) or target_mean == 0:
        raise ValueError(f"target_mean must be finite and non-zero, got {target_mean}")
    fn, hi = TRANSFORMS[attribute]
    x = ann.as_images(images)
    before = ann.annotate(x) if before is None else before
    sign = np.sign(target_mean)

    def measure(p):
        after = ann.annotate(fn(x, sign * p))
        return after, after[attribute] - before[attribute]

    lo, best = 0.0, None
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        after, ch = measure(mid)
        best = (mid, after, ch)
        if abs(ch.mean()) < abs(target_mean):
            lo = mid
        else:
            hi = mid
    p, after, ch = best
    return {
        "parameter": float(sign * p),
        "mean_change": float(ch.mean()),
        "right_way": float(np.mean(np.sign(ch) == sign)),
        "digit_kept": float(np.mean(after["digit"] == before["digit"])),
        "changes": ch,
    }

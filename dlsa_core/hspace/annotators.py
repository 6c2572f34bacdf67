"""Attribute annotators for 28x28 digits: plain functions on a batch of images, all vectorised.

Conventions follow Morpho-MNIST (Castro et al., 2019): x is horizontal, y points down, images are
binarised at half their intensity range where a shape is needed.

- :func:`slant`: from intensity-weighted second central moments, horizontal shear ``s = mu11 / mu02``
  and ``slant = arctan(-s)``, in degrees (positive = leaning right, like ``/``).
- :func:`thickness`: twice the mean distance-transform value on the stroke's ridge (medial axis
  approximated by local maxima of the distance transform), on a x4 upsampled binarised image, in pixels.
- :func:`height`, :func:`width`: extent of the pixels above half intensity, refined to sub-pixel
  precision at both ends, in pixels.
- :func:`area`: ink mass (sum of intensities), in pixels.
- :func:`digit_proba`: class probabilities of the shipped classifier.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

ATTRIBUTES = ("slant", "thickness", "height", "width", "area")
UNITS = {"slant": "deg", "thickness": "px", "height": "px", "width": "px", "area": "px"}
UPSAMPLE = 4
THRESHOLD = 0.5


def as_images(images) -> np.ndarray:
    """``(N, 28, 28)`` / ``(N, 1, 28, 28)`` float in [0, 1] or uint8 -> ``(N, 28, 28) float64``."""
    x = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    x = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"images must be (N, H, W) or (N, 1, H, W), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("images contain NaN or inf")
    return x


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, h, w = x.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    mass = x.sum(axis=(1, 2)) + 1e-12
    cx = (x * xs).sum(axis=(1, 2)) / mass
    cy = (x * ys).sum(axis=(1, 2)) / mass
    dx = xs[None] - cx[:, None, None]
    dy = ys[None] - cy[:, None, None]
    mu11 = (x * dx * dy).sum(axis=(1, 2)) / mass
    mu02 = (x * dy * dy).sum(axis=(1, 2)) / mass
    mu20 = (x * dx * dx).sum(axis=(1, 2)) / mass
    return mu11, mu02, mu20


def shear(images) -> np.ndarray:
    """Horizontal shear ``mu11 / mu02`` per image, ``(N,) float64``."""
    mu11, mu02, _ = _moments(as_images(images))
    return mu11 / np.maximum(mu02, 1e-12)


def slant(images) -> np.ndarray:
    """Slant in degrees, ``(N,) float64``: ``degrees(arctan(-mu11 / mu02))``; 0 = upright, > 0 leans right."""
    return np.degrees(np.arctan(-shear(images)))


def _binary(x: np.ndarray) -> np.ndarray:
    lo = x.min(axis=(1, 2), keepdims=True)
    hi = x.max(axis=(1, 2), keepdims=True)
    return x > lo + THRESHOLD * np.maximum(hi - lo, 1e-12)


def thickness(images) -> np.ndarray:
    """Stroke thickness in pixels, ``(N,) float64`` (0 for an empty image).

    The image is upsampled x4 (bilinear), binarised at half its range, and the Euclidean distance
    transform is taken; its ridge (pixels not smaller than any 8-neighbour) approximates the medial
    axis, where the distance is half the local stroke width.
    """
    x = as_images(images)
    out = np.zeros(x.shape[0])
    for i, img in enumerate(x):
        big = ndimage.zoom(img, UPSAMPLE, order=1)
        ink = _binary(big[None])[0]
        if not ink.any():
            continue
        dist = ndimage.distance_transform_edt(ink)
        ridge = ink & (dist >= ndimage.maximum_filter(dist, size=3))
        out[i] = 2.0 * dist[ridge].mean() / UPSAMPLE
    return out


def _extent(x: np.ndarray, axis: int) -> np.ndarray:
    """Sub-pixel extent of the ink along one image axis, ``(N,) float64``.

    The profile is the maximum intensity across the other axis (per row for ``axis=2``); its first and
    last entries above :data:`THRESHOLD` are refined by linear interpolation to where the profile
    crosses the threshold (pixel centres at integers), so a crisp bar of k pixels measures exactly k
    and a stroke that grows by a fraction of a pixel measures a fraction more. Whole-pixel bounding
    boxes tie on most digits (MNIST scales digits to a 20-pixel box), which makes ranking by them
    arbitrary within the ties.
    """
    prof = x.max(axis=axis)  # (N, L)
    n, size = prof.shape
    on = prof > THRESHOLD
    hit = on.any(1)
    first = np.where(hit, on.argmax(1), 0)
    last = np.where(hit, size - 1 - on[:, ::-1].argmax(1), 0)
    rows = np.arange(n)

    def reach(idx: np.ndarray, step: int) -> np.ndarray:
        nb = idx + step
        inside = (nb >= 0) & (nb < size)
        p_in = prof[rows, idx]
        p_out = np.where(inside, prof[rows, np.clip(nb, 0, size - 1)], 0.0)
        frac = (p_in - THRESHOLD) / np.maximum(p_in - p_out, 1e-12)
        return np.where(inside, np.clip(frac, 0.0, 1.0), 0.5)  # at the border: half a pixel

    out = (last + reach(last, 1)) - (first - reach(first, -1))
    return np.where(hit, out, 0.0)


def height(images) -> np.ndarray:
    """Height of the ink (rows whose maximum exceeds half intensity, refined to sub-pixel), ``(N,) float64``."""
    return _extent(as_images(images), axis=2)


def shear_rows(images, k, centre) -> np.ndarray:
    """Shift row ``y`` of image ``i`` so that output column ``c`` reads input column ``c + k_i (y - centre_i)``.

    ``k`` and ``centre``: scalars or ``(N,)`` arrays. Bilinear resampling; rows are kept, so height is
    unchanged, and ``k = 0`` returns the image exactly. Returns ``(N, H, W) float64``.
    """
    x = as_images(images)
    k = np.broadcast_to(np.asarray(k, dtype=np.float64), x.shape[:1])
    centre = np.broadcast_to(np.asarray(centre, dtype=np.float64), x.shape[:1])
    out = np.empty_like(x)
    for i, img in enumerate(x):
        m = np.array([[1.0, 0.0], [k[i], 1.0]])
        out[i] = ndimage.affine_transform(img, m, offset=np.array([0.0, -k[i] * centre[i]]), order=1)
    return out


def deslant(images) -> np.ndarray:
    """Each image sheared about its centroid row so that its slant is zero, ``(N, 28, 28) float64``.

    Reading column ``c + shear * (y - cy)`` undoes the stroke's lean (``mu11`` vanishes); see :func:`shear_rows`.
    """
    x = as_images(images)
    ys = np.arange(x.shape[1], dtype=np.float64)
    cy = (x.sum(axis=2) * ys).sum(axis=1) / (x.sum(axis=(1, 2)) + 1e-12)
    return shear_rows(x, shear(x), cy)


def width(images) -> np.ndarray:
    """Width of the upright digit, ``(N,) float64``: the sub-pixel extent across columns (those whose maximum
    exceeds half intensity) after the slant is sheared out (:func:`deslant`).

    This is the width of Morpho-MNIST's bounding parallelogram (Castro et al., 2019): slanting a digit
    does not widen it, so width and slant are separate attributes. The bounding box of a digit leaning
    by 20 degrees is ~7 px wider than the digit.
    """
    return _extent(deslant(images), axis=1)


def area(images) -> np.ndarray:
    """Ink mass: sum of intensities in [0, 1], in pixels, ``(N,) float64``."""
    return as_images(images).sum(axis=(1, 2))


def digit_proba(images, classifier=None) -> np.ndarray:
    """Class probabilities ``(N, 10) float64`` from the shipped classifier (loaded once if not given)."""
    from ..classifier.model import predict_proba

    clf = classifier if classifier is not None else _default_classifier()
    return predict_proba(clf, as_images(images).astype(np.float32)).numpy().astype(np.float64)


_CLASSIFIER = None


def _default_classifier():
    global _CLASSIFIER
    if _CLASSIFIER is None:
        from ..classifier.model import load_classifier

        _CLASSIFIER = load_classifier(device="cpu")
    return _CLASSIFIER


FUNCTIONS = {"slant": slant, "thickness": thickness, "height": height, "width": width, "area": area}


def annotate(images, classifier=None, *, with_digit: bool = True) -> dict[str, np.ndarray]:
    """All attributes of a batch: ``{name: (N,) float64}``, plus ``digit`` (N,) int and ``proba`` (N, 10)."""
    x = as_images(images)
    out = {name: fn(x) for name, fn in FUNCTIONS.items()}
    if with_digit:
        proba = digit_proba(x, classifier)
        out["proba"] = proba
        out["digit"] = proba.argmax(1)
    return out

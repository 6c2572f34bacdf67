"""Supervised h-space directions (Haas et al., Sec. 3.3): mean differences and disentangling.

- :func:`mean_difference`: mean of h over the top-n minus the bottom-n samples ranked by an attribute,
  taken within each group (digit class) so that identity is not confounded with style, then averaged
  over groups weighted by their size. Strength 1 is the full difference.
- :func:`class_direction`: class-mean difference, e.g. digit 1 -> 7.
- :func:`project_out` / :func:`disentangle`: ``[I - V (V^T V)^-1 V^T] v`` with inner products over the
  whole flattened ``(S * C * H * W)`` tensor, as InterFaceGAN's conditional manipulation.
"""

from __future__ import annotations

import numpy as np


def _flat(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float64).reshape(-1)


def mean_difference(
    h: np.ndarray,
    scores: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    frac: float = 0.2,
    min_group: int = 10,
) -> np.ndarray:
    """Mean h of the highest-scoring minus the lowest-scoring samples, within groups.

    Parameters
    ----------
    h : (n, ...) array
        One h tensor (any shape, e.g. ``(S, d)``) per sample.
    scores : (n,) float
        Attribute value per sample.
    groups : (n,) int, optional
        Group label (digit class); ranking happens inside each group with at least ``min_group`` members.
    frac : float in (0, 0.5]
        Fraction of each group taken from each end.

    Returns
    -------
    (...) float64 array, the shape of one h.
    """
    h = np.asarray(h)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (h.shape[0],) or not np.isfinite(scores).all():
        raise ValueError(f"scores must be finite with shape ({h.shape[0]},), got {scores.shape}")
    if not 0 < frac <= 0.5:
        raise ValueError(f"frac must be in (0, 0.5], got {frac}")
    groups = np.zeros(len(scores), int) if groups is None else np.asarray(groups)
    total = np.zeros(h.shape[1:])
    weight = 0
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        if len(idx) < min_group:
            continue
        q = max(1, int(round(frac * len(idx))))
        order = idx[np.argsort(scores[idx], kind="stable")]
        diff = h[order[-q:]].astype(np.float64).mean(0) - h[order[:q]].astype(np.float64).mean(0)
        total += len(idx) * diff
        weight += len(idx)
    if weight == 0:
        raise ValueError(f"no group has at least {min_group} samples")
    return total / weight


def class_direction(h: np.ndarray, labels: np.ndarray, source: int, target: int) -> np.ndarray:
    """Mean h of class ``target`` minus mean h of class ``source`` (e.g. 1 -> 7)."""
    labels = np.asarray(labels)
    out = []
    for c in (target, source):
        idx = np.flatnonzero(labels == c)
        if len(idx) == 0:
            raise ValueError(f"no sample of class {c}")
        out.append(np.asarray(h[idx], dtype=np.float64).mean(0))
    return out[0] - out[1]


def project_out(v, others) -> np.ndarray:
    """Remove from ``v`` its component in the span of ``others`` (orthogonal projection).

    Parameters
    ----------
    v : array of any shape
    others : sequence of arrays of the same shape

    Returns
    -------
    float64 array of ``v``'s shape, orthogonal to every element of ``others`` (flattened inner product).
    """
    v = np.asarray(v, dtype=np.float64)
    if len(others) == 0:
        return v.copy()
    V = np.stack([_flat(o) for o in others], axis=1)  # (D, m)
    if V.shape[0] != v.size:
        raise ValueError("directions to project out must have the shape of v")
    # least squares solves (V^T V) x = V^T v stably even when V is nearly rank deficient
    x, *_ = np.linalg.lstsq(V, v.reshape(-1), rcond=None)
    return (v.reshape(-1) - V @ x).reshape(v.shape)


def disentangle(directions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each direction with all the others projected out: ``{name: v_name ⊥ span(others)}``."""
    names = list(directions)
    return {n: project_out(directions[n], [directions[m] for m in names if m != n]) for n in names}

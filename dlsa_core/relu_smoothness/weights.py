"""The data-dependent weight function ``g`` of the stability bound (Nacson et al., ICLR 2023).

For a neuron whose hyperplane is ``{x : u^T x = t}`` (``u`` a unit vector) and ``X`` uniform over the
training inputs, the *oriented* weight is

    g~(u, t) = P(u^T X > t)^2 * E[u^T X - t | u^T X > t] * sqrt(1 + ||E[X | u^T X > t]||^2)

(0 when no sample is strictly on the active side), and the *un-oriented* weight is
``g(u, t) = min(g~(u, t), g~(-u, -t))``. ``g`` vanishes for hyperplanes that miss the interior of the
data's convex hull (one side is empty), so curvature there is free; it is largest in the bulk.

Everything here is numpy float64: these are exact finite sums over the training set.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Largest n * (number of hyperplanes) evaluated in one dense (n, m) block; beyond it we chunk.
_BLOCK = 4_000_000


def as_inputs(x_train: Any) -> np.ndarray:
    """Validate training inputs: a finite float64 array of shape ``(n, d)`` (a 1-D array means d = 1)."""
    if hasattr(x_train, "detach"):
        x_train = x_train.detach().cpu().numpy()
    try:
        x = np.asarray(x_train, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"x_train must be numeric, got {type(x_train).__name__}.") from exc
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x_train must have shape (n, d) with n, d >= 1, got {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("x_train contains NaN or infinite values.")
    return x


def _oriented(x: np.ndarray, u: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``g~`` for m hyperplanes at once: ``u (m, d)`` unit rows, ``t (m,)``; returns ``(m,)``."""
    n = x.shape[0]
    out = np.empty(u.shape[0])
    step = max(1, _BLOCK // n)
    for s in range(0, u.shape[0], step):
        uu, tt = u[s : s + step], t[s : s + step]
        margin = x @ uu.T - tt[None, :]  # (n, m): u^T x_i - t
        active = margin > 0
        count = active.sum(0)  # (m,)
        safe = np.maximum(count, 1)
        p = count / n
        mean_margin = np.where(active, margin, 0.0).sum(0) / safe
        mean_x = (active.T.astype(np.float64) @ x) / safe[:, None]  # (m, d)
        val = p**2 * mean_margin * np.sqrt(1.0 + np.sum(mean_x**2, axis=1))
        out[s : s + step] = np.where(count > 0, val, 0.0)
    return out


def _directions(u: Any, t: Any, d: int) -> tuple[np.ndarray, np.ndarray, bool]:
    uu = np.asarray(u, dtype=np.float64)
    tt = np.asarray(t, dtype=np.float64)
    single = uu.ndim == 1
    uu = np.atleast_2d(uu)
    tt = np.atleast_1d(tt).reshape(-1)
    if uu.shape[1] != d:
        raise ValueError(f"direction u must have {d} entries (the input dimension), got {uu.shape[1]}.")
    if tt.shape[0] != uu.shape[0]:
        raise ValueError(f"need one offset t per direction, got {tt.shape[0]} for {uu.shape[0]}.")
    if not (np.all(np.isfinite(uu)) and np.all(np.isfinite(tt))):
        raise ValueError("u and t must be finite.")
    norms = np.linalg.norm(uu, axis=1)
    if np.any(np.abs(norms - 1.0) > 1e-6):
        raise ValueError("u must be a unit vector (normalise w / ||w|| first).")
    return uu / norms[:, None], tt, single


def relu_weight_oriented(x_train: Any, u: Any, t: Any) -> float | np.ndarray:
    """Oriented weight ``g~(u, t)`` of the paper for the empirical distribution of ``x_train``.

    Parameters
    ----------
    x_train : array-like (n, d) float
        Training inputs (``X`` is uniform over them).
    u : array-like (d,) or (m, d) float
        Unit normal(s) of the hyperplane(s); the neuron is active on ``u^T x > t``.
    t : float or array-like (m,)
        Offset(s) ``t = -b / ||w||``.

    Returns
    -------
    float, or (m,) float64 when ``u`` is 2-D.
    """
    x = as_inputs(x_train)
    uu, tt, single = _directions(u, t, x.shape[1])
    g = _oriented(x, uu, tt)
    return float(g[0]) if single else g


def relu_weight(x_train: Any, u: Any, t: Any) -> float | np.ndarray:
    """Un-oriented weight ``g(u, t) = min(g~(u, t), g~(-u, -t))`` (same arguments as the oriented one)."""
    x = as_inputs(x_train)
    uu, tt, single = _directions(u, t, x.shape[1])
    g = np.minimum(_oriented(x, uu, tt), _oriented(x, -uu, -tt))
    return float(g[0]) if single else g


def weight_curve_1d(x_train: Any, grid: Any) -> dict[str, np.ndarray]:
    """``g+``, ``g-`` and ``g = min`` on a grid of knot positions, for 1-D inputs.

    Returns
    -------
    dict with ``"x"`` (m,), ``"g_plus"`` (m,) (``u = +1``: active right of the knot), ``"g_minus"`` (m,)
    and ``"g"`` (m,), all float64.
    """
    x = as_inputs(x_train)
    if x.shape[1] != 1:
        raise ValueError(f"weight_curve_1d needs 1-D inputs, got d = {x.shape[1]}.")
    grid = np.asarray(grid, dtype=np.float64).reshape(-1)
    ones = np.ones((grid.size, 1))
    gp = _oriented(x, ones, grid)
    gm = _oriented(x, -ones, -grid)
    return {"x": grid, "g_plus": gp, "g_minus": gm, "g": np.minimum(gp, gm)}

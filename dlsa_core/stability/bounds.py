"""Closed-form bounds on ``eta*``: the paper's necessary conditions and a sufficient "sandwich" bound.

Every necessary condition is ``2 / (Rayleigh quotient of one test matrix X)`` in the variational form
``lambda_max(C^+ D) = max_X <X, D X> / <X, C X>`` (digest Sections 2.4-2.6), so each is ``>= eta*``:

* (15) ``X = v v^T`` with ``v`` the top eigenvector of ``H``;
* (16) ``X = I``;
* (24) rank-one bound: the best unit ``v`` (maximised by Riemannian gradient ascent on the sphere,
  started at ``v_max``, so it is always at least as tight as (15)).

The sandwich of Section 2.5 uses the single-sample value ``mu_1 = mu(p = 1)`` and convexity of ``mu(p)``:
``2 / ((1-p) lambda_max + p mu_1) <= eta* <= min(2 / lambda_max, 2 / (p mu_1))``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlsa_core.stability.spectral import Spectral, _check_int, batch_p, to_spectral
from dlsa_core.stability.thresholds import generalized_sharpness


def _quad(spec: Spectral, v: np.ndarray) -> np.ndarray:
    """``b_i = v^T H~_i v`` for every sample, shape (n,)."""
    if spec.hess is not None:
        return np.einsum("a,nab,b->n", v, spec.hess, v)
    return np.sum((spec.factors @ v) ** 2, axis=1)


def _quad_grad(spec: Spectral, v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_i w_i H~_i v``, shape (r,)."""
    if spec.hess is not None:
        return np.einsum("n,nab,b->a", w, spec.hess, v)
    gv = spec.factors @ v  # (n, k)
    return np.einsum("nk,nkr->r", gv * w[:, None], spec.factors)


def _frob2(spec: Spectral) -> np.ndarray:
    """``||H_i||_F^2`` per sample, shape (n,)."""
    if spec.hess is not None:
        return np.sum(spec.hess**2, axis=(1, 2))
    g = spec.factors
    return np.sum((g @ g.transpose(0, 2, 1)) ** 2, axis=(1, 2))  # ||G_i^T G_i|| = ||G_i G_i^T||


def _ps(spec: Spectral, batch_sizes: Any, replacement: bool) -> np.ndarray:
    bs = np.atleast_1d(np.asarray(batch_sizes))
    return np.array([batch_p(spec.n, _check_int(b, "batch size", 1), replacement=replacement) for b in bs])


def bound_top_eigvec(hessians: Any, batch_size: Any, *, replacement: bool = False) -> np.ndarray | float:
    """Necessary condition (15): ``eta* <= 2 lam / (lam^2 + (p/n) sum_i (v^T H_i v - lam)^2)``."""
    spec = to_spectral(hessians)
    ps = _ps(spec, batch_size, replacement)
    lam = spec.lam[0]
    var = np.mean((_quad(spec, np.eye(spec.r)[0]) - lam) ** 2)
    out = 2 * lam / (lam**2 + ps * var)
    return out if np.ndim(batch_size) else float(out[0])


def bound_trace(hessians: Any, batch_size: Any, *, replacement: bool = False) -> np.ndarray | float:
    """Necessary condition (16): ``eta* <= 2 tr(H) / ((1-p) ||H||_F^2 + (p/n) sum_i ||H_i||_F^2)``."""
    spec = to_spectral(hessians)
    ps = _ps(spec, batch_size, replacement)
    out = 2 * spec.lam.sum() / ((1 - ps) * np.sum(spec.lam**2) + ps * np.mean(_frob2(spec)))
    return out if np.ndim(batch_size) else float(out[0])


def _rank_one_value(spec: Spectral, v: np.ndarray, p: float) -> tuple[float, np.ndarray]:
    """``f(v) = a + p var_i(b_i) / a`` (a = v^T H v) and its Euclidean gradient."""
    b = _quad(spec, v)
    a = float(np.mean(b))
    var = float(np.mean(b**2)) - a**2
    grad_a = 2 * spec.lam * v
    grad_m2 = 4 * _quad_grad(spec, v, b) / spec.n  # gradient of mean(b^2)
    grad = grad_a + p * ((grad_m2 - 2 * a * grad_a) / a - var * grad_a / a**2)
    return a + p * var / a, grad


def _ascend(spec: Spectral, v: np.ndarray, p: float, iters: int) -> tuple[float, np.ndarray]:
    v = v / np.linalg.norm(v)
    f, g = _rank_one_value(spec, v, p)
    step = 1.0 / spec.lam[0]
    for _ in range(iters):
        g = g - np.dot(g, v) * v  # Riemannian gradient on the sphere
        if np.linalg.norm(g) < 1e-12 * abs(f):
            break
        while step > 1e-14:
            cand = v + step * g
            cand /= np.linalg.norm(cand)
            fc, gc = _rank_one_value(spec, cand, p)
            if fc > f:
                v, f, g, step = cand, fc, gc, step * 1.5
                break
            step *= 0.5
        else:
            break
    return f, v


def bound_rank_one(
    hessians: Any, batch_size: Any, *, replacement: bool = False, iters: int = 100, starts: int = 2
) -> np.ndarray | float:
    """Rank-one necessary condition (24): ``eta* <= 2 / max_v {v^T H v + p var_i(v^T H_i v) / v^T H v}``.

    Any unit ``v`` gives a valid bound. For each batch size we ascend from the top ``starts``
    eigenvectors of ``H``, the top direction of the sharpest sample and the best ``v`` of the previous
    batch size, and keep the best (so the bound is never looser than (15), which is ``v = v_max``).
    """
    spec = to_spectral(hessians)
    ps = _ps(spec, batch_size, replacement)
    eye = np.eye(spec.r)
    inits = [eye[j] for j in range(min(starts, spec.r))]
    sharpest = int(np.argmax(_frob2(spec)))
    h_sharp = (
        spec.hess[sharpest] if spec.hess is not None else spec.factors[sharpest].T @ spec.factors[sharpest]
    )
    inits.append(np.linalg.eigh(h_sharp)[1][:, -1])
    out = np.empty(len(ps))
    prev = None
    for j in np.argsort(-ps):  # decreasing p: the maximiser moves smoothly towards v_max
        results = [
            _ascend(spec, v0, float(ps[j]), iters) for v0 in inits + ([prev] if prev is not None else [])
        ]
        best, prev = max(results, key=lambda fv: fv[0])
        out[j] = 2.0 / best
    return out if np.ndim(batch_size) else float(out[0])


def sandwich_bounds(
    hessians: Any, batch_size: Any, *, replacement: bool = False, mu1: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sufficient (lower) and necessary (upper) closed-form bounds on ``eta*`` from ``mu_1 = mu(p=1)``.

    Returns
    -------
    lower, upper : (len(batch_size),) float64
        ``2/((1-p) lam_max + p mu_1) <= eta* <= min(2/lam_max, 2/(p mu_1))``.
    """
    spec = to_spectral(hessians)
    ps = _ps(spec, batch_size, replacement)
    lam = spec.lam[0]
    if mu1 is None:
        mu1 = generalized_sharpness(spec, 1.0)[0]
    lower = 2.0 / ((1 - ps) * lam + ps * mu1)
    with np.errstate(divide="ignore"):
        upper = np.minimum(2.0 / lam, np.where(ps > 0, 2.0 / (ps * mu1), np.inf))
    return lower, upper

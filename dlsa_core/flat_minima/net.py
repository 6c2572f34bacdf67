"""Deep linear networks ``f(x) = W_N ... W_1 x``: validation, targets, input covariances, factorisations.

Conventions used by the whole package (float64 numpy):

* ``weights = [W_1, ..., W_N]`` with ``W_k`` of shape ``(d_k, d_{k-1})``; the end-to-end map is
  ``P = W_N ... W_1`` of shape ``(d_N, d_0)``.
* Loss ``L = 1/2 E||y - P x||^2`` with ``y = T x`` and ``E[x x^T] = Sigma_x``, i.e.
  ``L = 1/2 tr((P - T) Sigma_x (P - T)^T)``; whitened inputs mean ``Sigma_x = I``.
  Global minima are exactly the factorisations ``P = T`` (for full-rank ``Sigma_x``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dlsa_core.stability.spectral import as_array

#: Largest layer width / input / output dimension accepted (Hessians have sum d_k d_{k-1} rows).
MAX_DIM = 64
#: Largest depth accepted.
MAX_DEPTH = 12


def check_weights(weights: Any) -> list[np.ndarray]:
    """Validate ``[W_1, ..., W_N]`` (numpy or torch), shapes chaining ``(d_k, d_{k-1})``; float64 copies."""
    if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence) or len(weights) == 0:
        raise ValueError("weights must be a non-empty list [W_1, ..., W_N] of 2-D arrays.")
    if len(weights) > MAX_DEPTH:
        raise ValueError(f"depth must be at most {MAX_DEPTH}, got {len(weights)}.")
    out = [as_array(w, f"W_{k + 1}", 2).copy() for k, w in enumerate(weights)]
    for k in range(1, len(out)):
        if out[k].shape[1] != out[k - 1].shape[0]:
            raise ValueError(
                f"W_{k + 1} has shape {out[k].shape} but W_{k} has {out[k - 1].shape[0]} rows: "
                "consecutive layers must chain (W_k is d_k x d_(k-1))."
            )
    if max(max(w.shape) for w in out) > MAX_DIM:
        raise ValueError(f"layer sizes are limited to {MAX_DIM} here.")
    return out


def check_target(target: Any) -> np.ndarray:
    """Validate a target map ``T`` of shape ``(d_out, d_in)``, finite, not all zero."""
    t = as_array(target, "target T", 2)
    if max(t.shape) > MAX_DIM:
        raise ValueError(f"the target may have at most {MAX_DIM} rows and columns, got {t.shape}.")
    if not np.any(t):
        raise ValueError(
            "the target T is zero: every factorisation has a zero layer, no flat minimum to find."
        )
    return t


def check_depth(depth: Any) -> int:
    if isinstance(depth, bool) or not float(depth).is_integer() or not 1 <= int(depth) <= MAX_DEPTH:
        raise ValueError(f"depth must be a whole number in [1, {MAX_DEPTH}], got {depth!r}.")
    return int(depth)


def check_sigma_x(sigma_x: Any, d_in: int) -> np.ndarray:
    """``None`` -> identity; else a symmetric positive-definite ``(d_in, d_in)`` covariance."""
    if sigma_x is None:
        return np.eye(d_in)
    s = as_array(sigma_x, "input covariance Sigma_x", 2)
    if s.shape != (d_in, d_in):
        raise ValueError(f"Sigma_x must have shape ({d_in}, {d_in}), got {s.shape}.")
    if np.max(np.abs(s - s.T)) > 1e-10 * max(1.0, np.max(np.abs(s))):
        raise ValueError("Sigma_x must be symmetric.")
    s = 0.5 * (s + s.T)
    if np.linalg.eigvalsh(s)[0] <= 1e-12 * np.max(np.abs(s)):
        raise ValueError("Sigma_x must be positive definite (otherwise the minimiser T is not unique).")
    return s


def product(weights: Sequence[np.ndarray], start: int = 0, stop: int | None = None) -> np.ndarray:
    """``W_stop ... W_(start+1)`` in 1-based layer numbers, i.e. ``weights[start:stop]`` multiplied right to left.

    The empty product is the identity of size ``d_start``.
    """
    stop = len(weights) if stop is None else stop
    out = np.eye(weights[start].shape[1]) if start < len(weights) else np.eye(weights[-1].shape[0])
    for w in weights[start:stop]:
        out = w @ out
    return out


def minimal_sharpness(T: Any, depth: int) -> float:
    """Smallest sharpness over all global minima, whitened inputs, 1/2-normalised loss.

    ``depth * sigma_1(T) ** (2 (depth - 1) / depth)`` (digest Section 2.2); attained by balanced,
    aligned factorisations (:func:`balanced_factorisation`).

    Parameters
    ----------
    T : (d_out, d_in) array-like
        End-to-end linear map.
    depth : int
        Number of layers N >= 1.
    """
    t = check_target(T)
    n = check_depth(depth)
    s1 = float(np.linalg.norm(t, 2))
    return n * s1 ** (2.0 * (n - 1) / n)


def target_matrix(singular_values: Any, *, seed: int = 0, symmetric: bool = False) -> np.ndarray:
    """Square target ``T = U diag(s) V^T`` with random orthogonal ``U, V`` (``det(U V^T) = +1``).

    ``det > 0`` keeps ``T`` reachable from the identity (a linear ResNet started at ``I`` cannot
    cross ``det(P) = 0``); ``symmetric=True`` gives ``V = U``.

    Returns
    -------
    (d, d) float64, d = len(singular_values)
    """
    s = as_array(np.atleast_1d(np.asarray(singular_values, dtype=float)), "singular values", 1)
    if s.size > MAX_DIM:
        raise ValueError(f"at most {MAX_DIM} singular values, got {s.size}.")
    if np.any(s <= 0):
        raise ValueError("singular values of the target must be > 0 (a zero one makes T singular).")
    rng = np.random.default_rng(seed)
    d = s.size
    u = _orthogonal(rng, d)
    v = u if symmetric else _orthogonal(rng, d)
    if np.linalg.det(u @ v.T) < 0:
        v[:, -1] *= -1
    return (u * np.sort(s)[::-1]) @ v.T


def input_covariance(d: int, rho: float) -> np.ndarray:
    """AR(1) covariance ``Sigma_ij = rho^|i-j|`` (``rho = 0``: whitened), shape (d, d)."""
    if not (math.isfinite(rho) and 0 <= rho < 1):
        raise ValueError(f"input correlation rho must be in [0, 1), got {rho}.")
    idx = np.arange(int(d))
    return rho ** np.abs(idx[:, None] - idx[None, :]).astype(float)


def balanced_factorisation(
    T: Any, depth: int, *, width: int | None = None, seed: int | None = 0
) -> list[np.ndarray]:
    """Balanced, aligned factorisation ``W_k = U_k S^(1/N) U_(k-1)^T`` of ``T = U_N S U_0^T``.

    Intermediate bases ``U_1, ..., U_(N-1)`` are random orthogonal (``seed=None``: identity-like
    embeddings). Hidden layers have ``width >= rank(T)`` units (default ``max(T.shape)``); the
    extra units carry zero weights. This is a flattest global minimum for whitened inputs.
    """
    t = check_target(T)
    n = check_depth(depth)
    d_out, d_in = t.shape
    u, s, vt = np.linalg.svd(t)
    r = int(np.sum(s > 1e-12 * s[0]))
    width = max(d_out, d_in) if width is None else int(width)
    if width < r:
        raise ValueError(f"hidden width {width} is smaller than rank(T) = {r}: T cannot be factorised.")
    root = s[:r] ** (1.0 / n)
    rng = np.random.default_rng(seed) if seed is not None else None
    bases = [vt[:r].T]  # U_0: (d_in, r)
    for _ in range(n - 1):
        q = _orthogonal(rng, width) if rng is not None else np.eye(width)
        bases.append(q[:, :r])
    bases.append(u[:, :r])
    return [(bases[k + 1] * root) @ bases[k].T for k in range(n)]


def rescale(weights: Any, layer: int, c: float) -> list[np.ndarray]:
    """Same function, other minimum: ``W_layer <- c W_layer``, ``W_(layer+1) <- W_(layer+1) / c`` (1-based)."""
    w = check_weights(weights)
    if not 1 <= int(layer) < len(w):
        raise ValueError(
            f"layer must be in [1, {len(w) - 1}] (it is rescaled with the next one), got {layer}."
        )
    if not (math.isfinite(c) and c > 0):
        raise ValueError(f"the rescaling factor c must be finite and > 0, got {c}.")
    w[layer - 1] = w[layer - 1] * c
    w[layer] = w[layer] / c
    return w


def _orthogonal(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))

"""Input validation and the spectral reduction every stability computation starts from.

All of the paper's quantities (C, D, the second-moment operator Q) act on symmetric matrices and only
through the per-sample Hessians ``H_i``. We rotate everything once into the eigenbasis of the mean
Hessian ``H = mean_i H_i`` restricted to its range (null(H) directions never move at an interpolating
minimum), so that ``H`` becomes ``diag(lam)`` and ``C`` acts entrywise: ``C(X)_ab = (lam_a + lam_b)/2 X_ab``.

Two storage forms of the rotated per-sample Hessians are kept, whichever is cheaper:

* ``hess``: ``(n, r, r)`` dense rotated Hessians (general PSD ``H_i``, small ``d``);
* ``factors``: ``(n, k, r)`` with ``H~_i = G_i^T G_i`` (squared loss: ``G_i`` = rotated Jacobian).

For Jacobians with ``n * k < d`` the rotation is the Gram (NTK) reduction of the paper digest
(Section 2.8): with ``K = J J^T = U S U^T`` the surrogate factors are ``G_i = U[block_i] S^(1/2)``, which is
``A_i = K^(1/2) E_i K^(1/2)`` written in ``K``'s eigenbasis. Cost is then independent of ``d``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Relative eigenvalue cut-off defining range(H) (digest pitfall: use a relative cut-off, float64).
RANGE_RTOL = 1e-12
#: Largest number of stored array elements we accept (about 1.6 GB of float64): beyond it, refuse.
MAX_ELEMENTS = 200_000_000


def batch_p(n: int, batch_size: int, *, replacement: bool = False) -> float:
    """Batch parameter ``p`` of the paper: weight of the single-sample part of the second moment.

    Parameters
    ----------
    n : int
        Number of training samples (>= 1).
    batch_size : int
        Batch size ``B``; in ``[1, n]`` without replacement, any ``B >= 1`` with replacement.
    replacement : bool
        ``False`` (the paper): batches are uniform subsets, ``p = (n - B) / (B (n - 1))``.
        ``True``: samples drawn i.i.d. with replacement, ``p = 1 / B``.

    Returns
    -------
    float
        ``p`` in ``[0, 1]``; ``p = 1`` at ``B = 1`` and ``p = 0`` at ``B = n`` (without replacement).
    """
    n = _check_int(n, "number of samples n", 1)
    batch_size = _check_int(batch_size, "batch size", 1)
    if replacement:
        return 1.0 / batch_size
    if batch_size > n:
        raise ValueError(f"batch size must be in [1, n] = [1, {n}] without replacement, got {batch_size}.")
    if n == 1:
        return 0.0
    return (n - batch_size) / (batch_size * (n - 1))


def _check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer, got {value!r}.")
    value = int(value)
    if value < low or (high is not None and value > high):
        rng = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {rng}, got {value}.")
    return value


def check_eta(eta: Any) -> float:
    """Validate a step size: finite and > 0."""
    try:
        eta = float(eta)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"step size eta must be a number, got {eta!r}.") from exc
    if not math.isfinite(eta) or eta <= 0:
        raise ValueError(f"step size eta must be finite and > 0, got {eta}.")
    return eta


def as_array(x: Any, name: str, ndim: int) -> np.ndarray:
    """Convert numpy/torch/array-like input to a finite float64 array with ``ndim`` dimensions."""
    if hasattr(x, "detach"):  # torch tensor: no torch import needed here
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array, got {type(x).__name__}.") from exc
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}).")
    if arr.size > MAX_ELEMENTS:
        raise ValueError(
            f"{name} has {arr.size:,} entries, more than the {MAX_ELEMENTS:,} this tool accepts."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return arr


@dataclass
class Spectral:
    """Problem in the eigenbasis of the mean Hessian, restricted to its range (float64 throughout).

    Attributes
    ----------
    lam : (r,) float64
        Positive eigenvalues of ``H`` in descending order.
    n : int
        Number of samples.
    hess : (n, r, r) float64 or None
        Rotated per-sample Hessians (one of ``hess``/``factors`` is set).
    factors : (n, k, r) float64 or None
        Rotated factors with ``H~_i = factors[i].T @ factors[i]``.
    basis : (d, r) float64 or None
        Orthonormal basis of range(H) in parameter space; ``None`` after the Gram reduction.
    d : int
        Original parameter dimension.
    space : str
        ``"parameter"`` or ``"gram"``.
    """

    lam: np.ndarray
    n: int
    hess: np.ndarray | None = None
    factors: np.ndarray | None = None
    basis: np.ndarray | None = None
    d: int = 0
    space: str = "parameter"
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def r(self) -> int:
        return int(self.lam.shape[0])

    @property
    def c(self) -> np.ndarray:
        """Entries of C in the eigenbasis: ``(lam_a + lam_b) / 2``, shape (r, r)."""
        return 0.5 * (self.lam[:, None] + self.lam[None, :])

    def d1(self, x: np.ndarray) -> np.ndarray:
        """Single-sample part of D: ``(1/n) sum_i H~_i X H~_i`` for X of shape (..., r, r)."""
        if self.hess is not None:
            out = np.zeros(np.broadcast_shapes(x.shape, (self.r, self.r)))
            for h in self.hess:  # n small in this form; each term is a (batched) matmul
                out += h @ x @ h
            return out / self.n
        g = self.factors
        n, k, r = g.shape
        gf = g.reshape(n * k, r)
        if x.ndim == 2:  # one X: two (n k) x r x r GEMMs, everything else is O(n k^2 r)
            gx = gf @ x  # stacked G_i X
            if k == 1:
                w = np.einsum("nr,nr->n", gx, gf)  # g_i^T X g_i
                return (gf.T * w) @ gf / n  # G^T diag(w) G / n
            t = gx.reshape(n, k, r) @ g.transpose(0, 2, 1)  # T_i = G_i X G_i^T, (n, k, k)
            return gf.T @ (t @ g).reshape(n * k, r) / n
        xg = x @ gf.T  # (..., r, n k)
        if k == 1:
            t = np.einsum("nr,...rn->...n", gf, xg)  # g_i^T X g_i
            return (gf.T * t[..., None, :]) @ gf / n
        xg = xg.reshape(*x.shape[:-2], r, n, k)
        t = np.einsum("nkr,...rnj->...nkj", g, xg)  # T_i = G_i X G_i^T, (..., n, k, k)
        z = np.einsum("...nkj,njr->...nkr", t, g)  # T_i G_i
        return gf.T @ z.reshape(*x.shape[:-2], n * k, r) / n

    def d_op(self, x: np.ndarray, p: float) -> np.ndarray:
        """``D(X) = (1 - p) H X H + p (1/n) sum_i H_i X H_i`` in the eigenbasis."""
        lam = self.lam
        out = (1.0 - p) * (lam[:, None] * x * lam[None, :])
        if p > 0:
            out = out + p * self.d1(x)
        return out


def spectral_from_hessians(hessians: Any) -> Spectral:
    """Validate per-sample Hessians ``(n, d, d)`` and reduce them to the range of their mean.

    Raises
    ------
    ValueError
        On NaN/inf, wrong shape, non-symmetric or non-PSD ``H_i``, or an all-zero mean Hessian.
    """
    hs = as_array(hessians, "hessians", 3)
    n, d, d2 = hs.shape
    if d != d2:
        raise ValueError(f"hessians must have shape (n, d, d), got {hs.shape}.")
    scale = max(float(np.max(np.abs(hs))), 1e-300)
    if np.max(np.abs(hs - hs.transpose(0, 2, 1))) > 1e-8 * scale:
        raise ValueError("each per-sample Hessian H_i must be symmetric.")
    hs = 0.5 * (hs + hs.transpose(0, 2, 1))
    if np.min(np.linalg.eigvalsh(hs)) < -1e-9 * scale:
        raise ValueError(
            "each per-sample Hessian H_i must be positive semi-definite (the theorem is about minima "
            "where every H_i is PSD)."
        )
    lam, vecs = np.linalg.eigh(hs.mean(axis=0))
    basis, lam = _range(lam, vecs)
    hess = basis.T @ hs @ basis
    return Spectral(lam=lam, n=n, hess=0.5 * (hess + hess.transpose(0, 2, 1)), basis=basis, d=d)


def spectral_from_factors(factors: Any, *, space: str = "auto") -> Spectral:
    """Reduce ``H_i = W_i^T W_i`` given factors (Jacobians) ``W`` of shape ``(n, k, d)``.

    ``space="parameter"`` diagonalises ``H`` (d x d); ``"gram"`` diagonalises ``K = W W^T`` (nk x nk);
    ``"auto"`` picks the smaller. Both give the same threshold (digest Section 2.8).
    """
    w = as_array(factors, "jacobians", 3)
    n, k, d = w.shape
    if space == "auto":
        space = "gram" if n * k < d else "parameter"
    wf = w.reshape(n * k, d)
    if space == "parameter":
        lam, vecs = np.linalg.eigh(wf.T @ wf / n)
        basis, lam = _range(lam, vecs)
        return Spectral(lam=lam, n=n, factors=w @ basis, basis=basis, d=d, space="parameter")
    if space != "gram":
        raise ValueError(f"space must be 'auto', 'parameter' or 'gram', got {space!r}.")
    s, u = np.linalg.eigh(wf @ wf.T)
    u, s = _range(s, u)
    g = (u * np.sqrt(s)[None, :]).reshape(n, k, -1)  # G_i = U[block_i] S^(1/2)
    return Spectral(lam=s / n, n=n, factors=g, basis=None, d=d, space="gram")


def _range(lam: np.ndarray, vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep eigenpairs above the relative cut-off, sorted descending."""
    top = float(lam.max()) if lam.size else 0.0
    if not top > 0:
        raise ValueError("the mean Hessian is zero: there is no curvature, so every step size is stable.")
    keep = lam > RANGE_RTOL * top
    order = np.argsort(lam[keep])[::-1]
    return vecs[:, keep][:, order], lam[keep][order]


def sym_basis(r: int) -> np.ndarray:
    """Orthonormal basis of symmetric r x r matrices, shape (r(r+1)/2, r, r), float64.

    ``E_aa`` has a single 1; ``E_ab`` (a < b) has ``1/sqrt(2)`` at (a, b) and (b, a).
    """
    ia, ib = np.triu_indices(r)
    e = np.zeros((ia.size, r, r))
    idx = np.arange(ia.size)
    val = np.where(ia == ib, 1.0, 1.0 / np.sqrt(2.0))
    e[idx, ia, ib] = val
    e[idx, ib, ia] = val
    return e


def to_spectral(obj: Any, *, kind: str = "hessians", space: str = "auto") -> Spectral:
    """Accept a :class:`Spectral`, anything with a ``spectral()`` method (a problem), or an array.

    ``kind`` says what a 3-D array is: ``"hessians"`` ``(n, d, d)`` or ``"jacobians"`` ``(n, k, d)``;
    ``"auto"`` treats a stack of square symmetric matrices as Hessians and anything else as Jacobians.
    """
    if isinstance(obj, Spectral):
        return obj
    if hasattr(obj, "spectral") and callable(obj.spectral):
        return obj.spectral(space=space)
    if kind == "auto":
        arr = as_array(obj, "hessians_or_jacobians", 3)
        square = arr.shape[1] == arr.shape[2]
        kind = "hessians" if square and np.allclose(arr, arr.transpose(0, 2, 1)) else "jacobians"
        obj = arr
    if kind == "hessians":
        return spectral_from_hessians(obj)
    if kind == "jacobians":
        return spectral_from_factors(obj, space=space)
    raise ValueError(f"kind must be 'hessians', 'jacobians' or 'auto', got {kind!r}.")

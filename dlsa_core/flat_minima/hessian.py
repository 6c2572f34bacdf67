"""Sharpness of a deep linear net: ``lambda_max`` of the loss Hessian, three independent ways.

* ``"lanczos"``: exact Hessian-vector products (closed form, residual term included) fed to scipy's
  Lanczos (``eigsh``); works anywhere, with or without a residual (``target``).
* ``"dense"``: the full Hessian (the HVP on every unit vector) and ``eigvalsh``, for small nets.
* ``"gram"``: at a global minimum the Hessian is pure Gauss-Newton ``J^T (Sigma_x kron I) J``; its
  nonzero spectrum is that of the NTK Gram matrix ``K = sum_k (B_k^T B_k) kron (A_k A_k^T)`` with
  ``A_k = W_(N:k+1)``, ``B_k = W_(k-1:1) Sigma_x^(1/2)``: size ``(d_in d_out)^2`` whatever the width.

:func:`gauss_newton_matrix` builds ``J^T (Sigma_x kron I) J`` explicitly (Kronecker products) and
:func:`hessian_autograd` the full Hessian by torch autograd: independent references for tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from dlsa_core.device import get_device
from dlsa_core.flat_minima.net import check_sigma_x, check_target, check_weights, product

METHODS = ("auto", "lanczos", "dense", "gram")
#: "auto" uses the dense Hessian up to this many parameters, Lanczos above.
DENSE_MAX_PARAMS = 150
#: Largest number of parameters for the dense Hessian (its size is the square of this).
DENSE_LIMIT = 3000


def loss(weights: Any, T: Any, *, sigma_x: Any = None) -> float:
    """``L = 1/2 tr((P - T) Sigma_x (P - T)^T)`` with ``P = W_N ... W_1``."""
    w = check_weights(weights)
    t = check_target(T)
    r = product(w) - t
    return 0.5 * float(np.sum((r @ check_sigma_x(sigma_x, t.shape[1])) * r))


class _Partials:
    """All partial products ``P[i][j] = W_j ... W_(i+1)`` (1-based layers, ``P[i][i] = I``) of one net."""

    def __init__(self, w: list[np.ndarray]):
        n = len(w)
        dims = [w[0].shape[1]] + [x.shape[0] for x in w]
        self.p = [[None] * (n + 1) for _ in range(n + 1)]
        for i in range(n + 1):
            self.p[i][i] = np.eye(dims[i])
            for j in range(i + 1, n + 1):
                self.p[i][j] = w[j - 1] @ self.p[i][j - 1]

    def __call__(self, i: int, j: int) -> np.ndarray:
        return self.p[i][j]


def _hvp_closed_form(w: list[np.ndarray], t: np.ndarray, s: np.ndarray):
    """``V -> H V`` for a batch ``V`` of directions, exact second derivative of the loss (residual included).

    With ``A_k = W_(N:k+1)``, ``C_k = W_(k-1:1)``, ``R = P - T``, ``dP = sum_j A_j D_j C_j``::

        (H D)_k = A_k^T dP S C_k^T + dA_k^T R S C_k^T + A_k^T R S dC_k^T

    where ``dA_k`` and ``dC_k`` are the first-order changes of the partial products.
    """
    n = len(w)
    pp = _Partials(w)
    rs = (pp(0, n) - t) @ s  # R Sigma
    residual = bool(np.any(rs))
    shapes = [x.shape for x in w]
    sizes = [a * b for a, b in shapes]
    offsets = np.concatenate([[0], np.cumsum(sizes)])

    def hvp(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float64)
        single = v.ndim == 1
        v2 = v[None] if single else v  # (V, n_params)
        d = [v2[:, offsets[k] : offsets[k + 1]].reshape(-1, *shapes[k]) for k in range(n)]
        dp = sum(pp(k + 1, n) @ d[k] @ pp(0, k) for k in range(n))  # (V, d_out, d_in)
        dps = dp @ s
        out = []
        for k in range(n):  # layer k+1 in 1-based terms: A = P[k+1][n], C = P[0][k]
            a, c = pp(k + 1, n), pp(0, k)
            h = a.T @ dps @ c.T
            if residual:
                for j in range(k + 1, n):  # d A_k from layer j+1 > k+1
                    h = h + pp(k + 1, j).T @ d[j].swapaxes(1, 2) @ pp(j + 1, n).T @ rs @ c.T
                for j in range(k):  # d C_k from layer j+1 < k+1
                    h = h + a.T @ rs @ pp(0, j).T @ d[j].swapaxes(1, 2) @ pp(j + 1, k).T
            out.append(h.reshape(h.shape[0], -1))
        res = np.concatenate(out, axis=1)
        return res[0] if single else res

    return hvp, int(offsets[-1])


def _setup(weights, target, sigma_x):
    w = check_weights(weights)
    p = product(w)
    t = p if target is None else check_target(target)
    if t.shape != p.shape:
        raise ValueError(f"target has shape {t.shape}, the network maps {p.shape[1]} -> {p.shape[0]}.")
    return w, t, check_sigma_x(sigma_x, p.shape[1])


def hessian_vector_product(weights: Any, *, target: Any = None, sigma_x: Any = None):
    """A function ``v -> H v`` on flattened parameters (row-major ``W_1``, then ``W_2``, ...).

    Closed form in numpy (exact, residual term included); ``v`` may be ``(n_params,)`` or a batch
    ``(V, n_params)``. ``target=None`` means the minimum this factorisation realises
    (``T = W_N ... W_1``). Returns ``(hvp, n_params)``.
    """
    return _hvp_closed_form(*_setup(weights, target, sigma_x))


def hessian_matrix(weights: Any, *, target: Any = None, sigma_x: Any = None) -> np.ndarray:
    """The full loss Hessian, ``(n_params, n_params)`` float64 (the HVP applied to every unit vector)."""
    hvp, n = hessian_vector_product(weights, target=target, sigma_x=sigma_x)
    if n > DENSE_LIMIT:
        raise ValueError(f"{n} parameters is too many for a dense Hessian (limit {DENSE_LIMIT}).")
    h = hvp(np.eye(n)).T
    return 0.5 * (h + h.T)


def hessian_autograd(weights: Any, *, target: Any = None, sigma_x: Any = None, device=None) -> np.ndarray:
    """The same Hessian by torch autograd (float64), an independent reference for small nets."""
    w, t, s = _setup(weights, target, sigma_x)
    dev = get_device(device)
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float64, device=dev)  # noqa: E731
    shapes = [x.shape for x in w]
    tt, st_ = as_t(t), as_t(s)

    def f(theta: torch.Tensor) -> torch.Tensor:
        parts = torch.split(theta, [a * b for a, b in shapes])
        p = None
        for part, shape in zip(parts, shapes, strict=True):
            p = part.reshape(shape) if p is None else part.reshape(shape) @ p
        r = p - tt
        return 0.5 * torch.sum((r @ st_) * r)

    theta = as_t(np.concatenate([x.ravel() for x in w]))
    if theta.numel() > DENSE_LIMIT:
        raise ValueError(f"{theta.numel()} parameters is too many for a dense Hessian (limit {DENSE_LIMIT}).")
    return torch.autograd.functional.hessian(f, theta).cpu().numpy()


def ntk_gram(weights: Any, *, sigma_x: Any = None) -> np.ndarray:
    """NTK Gram matrix ``K = G G^T = sum_k (B_k^T B_k) kron (A_k A_k^T)``, shape ``(d_in d_out, d_in d_out)``.

    ``G = J`` with the metric ``Sigma_x`` folded in (``B_k = W_(k-1:1) Sigma_x^(1/2)``, ``A_k = W_(N:k+1)``).

    Nonzero eigenvalues equal those of the Gauss-Newton matrix (the Hessian at a global minimum).
    """
    w = check_weights(weights)
    s = check_sigma_x(sigma_x, w[0].shape[1])
    root = _sqrtm(s)
    n = len(w)
    k = 0.0
    for i in range(n):
        a = product(w, i + 1, n)  # W_N ... W_(i+2): (d_N, d_(i+1))
        b = product(w, 0, i) @ root  # W_i ... W_1 Sigma^(1/2): (d_i, d_0)
        k = k + np.kron(b.T @ b, a @ a.T)
    return k


def gauss_newton_matrix(weights: Any, *, sigma_x: Any = None) -> np.ndarray:
    """Explicit ``J^T (Sigma_x kron I) J`` on row-major flattened parameters, ``(n_params, n_params)``.

    ``J`` maps ``vec(Delta_k)`` to ``vec(sum_k A_k Delta_k C_k)`` with ``C_k = W_(k-1:1)``; built with
    Kronecker products, independently of autograd.
    """
    w = check_weights(weights)
    s = check_sigma_x(sigma_x, w[0].shape[1])
    n = len(w)
    blocks = []
    for i in range(n):
        a = product(w, i + 1, n)
        c = product(w, 0, i)
        # row-major vec: vec_r(A D C) = (A kron C^T) vec_r(D)
        blocks.append(np.kron(a, c.T))
    j = np.concatenate(blocks, axis=1)  # (d_out d_in, n_params), rows = vec_r(P)
    metric = np.kron(np.eye(w[-1].shape[0]), s)  # row-major: E||dP x||^2 = vec_r(dP)^T (I kron S) vec_r(dP)
    return j.T @ metric @ j


def sharpness(
    weights: Any,
    *,
    sigma_x: Any = None,
    target: Any = None,
    method: str = "auto",
    tol: float = 1e-12,
) -> float:
    """``lambda_max`` of the Hessian of ``L = 1/2 E||T x - W_N ... W_1 x||^2`` at ``weights``.

    Parameters
    ----------
    weights : list of (d_k, d_(k-1)) arrays
        ``[W_1, ..., W_N]``, numpy or torch.
    sigma_x : (d_in, d_in) array or None
        Input covariance; ``None`` is whitened (identity).
    target : (d_out, d_in) array or None
        ``T``. ``None``: the weights' own product, i.e. the Hessian at the global minimum the
        factorisation realises (pure Gauss-Newton).
    method : {"auto", "lanczos", "dense", "gram"}
        ``"auto"``: dense up to :data:`DENSE_MAX_PARAMS` parameters, Lanczos above. ``"gram"`` is
        exact only at a global minimum and refuses a ``target`` that differs from the product.
    tol : float
        Relative eigenvalue tolerance for Lanczos.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    if method == "gram":
        w = check_weights(weights)
        if target is not None and not np.allclose(check_target(target), product(w), rtol=1e-10, atol=1e-12):
            raise ValueError("method='gram' is exact only at a global minimum (target = W_N ... W_1).")
        return float(np.linalg.eigvalsh(ntk_gram(w, sigma_x=sigma_x))[-1])
    hvp, n = hessian_vector_product(weights, target=target, sigma_x=sigma_x)
    if method == "dense" or (method == "auto" and n <= DENSE_MAX_PARAMS) or n < 3:
        return float(np.linalg.eigvalsh(hessian_matrix(weights, target=target, sigma_x=sigma_x))[-1])
    op = LinearOperator((n, n), matvec=hvp, dtype=np.float64)
    v0 = np.random.default_rng(0).standard_normal(n)
    try:
        vals = eigsh(op, k=1, which="LA", v0=v0, tol=tol, ncv=min(n - 1, 20), maxiter=50 * n)[0]
    except ArpackNoConvergence as exc:  # pragma: no cover - ARPACK gives up only on pathological input
        raise RuntimeError("Lanczos did not converge on this Hessian; try method='dense'.") from exc
    return float(vals[-1])


def _sqrtm(s: np.ndarray) -> np.ndarray:
    lam, q = np.linalg.eigh(s)
    return (q * np.sqrt(np.clip(lam, 0, None))) @ q.T

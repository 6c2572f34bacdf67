"""Exact second-moment dynamics of linearised SGD, without forming the d^2 x d^2 operator.

``Sigma_{t+1} = (1-p) A Sigma A + p mean_i A_i Sigma A_i`` with ``A = I - eta H``, ``A_i = I - eta H_i``
(digest Section 2.3), evaluated in the eigenbasis of ``H`` on its range, where ``A`` is diagonal.
For regular (non-interpolating) minima, the stationary covariance of Theorem 5 / Corollary 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse.linalg import LinearOperator, cg

from dlsa_core.stability.spectral import _check_int, as_array, batch_p, check_eta, sym_basis, to_spectral
from dlsa_core.stability.thresholds import DENSE_MAX_R, generalized_sharpness

MAX_STEPS = 1_000_000


def second_moment_trajectory(
    hessians: Any,
    eta: float,
    batch_size: int,
    steps: int,
    sigma0: Any = None,
    *,
    replacement: bool = False,
) -> np.ndarray:
    """Exact ``E||theta_t - theta*||^2`` for ``t = 0..steps`` at an interpolating minimum.

    Parameters
    ----------
    hessians : array-like (n, d, d) or a problem
    eta : float > 0
    batch_size : int in [1, n]
    steps : int >= 1
    sigma0 : (d, d) array-like, optional
        Initial second moment ``E[(theta_0 - theta*)(theta_0 - theta*)^T]``. Default: ``P / r`` with ``P``
        the projector on range(H) (unit expected squared distance, nothing in the null space).

    Returns
    -------
    (steps + 1,) float64
        ``tr(Sigma_t)``; the null-space part of ``sigma0`` is constant (it never moves). Values that
        overflow are reported as ``inf``.
    """
    spec = to_spectral(hessians)
    eta = check_eta(eta)
    steps = _check_int(steps, "steps", 1, MAX_STEPS)
    p = batch_p(spec.n, batch_size, replacement=replacement)
    if sigma0 is None:
        sig = np.eye(spec.r) / spec.r
        const = 0.0
    else:
        if spec.basis is None:
            raise ValueError(
                "sigma0 in parameter space needs a parameter-space problem (not a Gram reduction)."
            )
        s0 = as_array(sigma0, "sigma0", 2)
        if s0.shape != (spec.d, spec.d):
            raise ValueError(f"sigma0 must have shape ({spec.d}, {spec.d}), got {s0.shape}.")
        sig = spec.basis.T @ s0 @ spec.basis
        const = float(np.trace(s0) - np.trace(sig))
    a = 1.0 - eta * spec.lam  # A is diagonal in the eigenbasis
    out = np.full(steps + 1, np.inf)
    out[0] = np.trace(sig) + const
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            # (1-p) A S A + p mean_i (S - eta(H_i S + S H_i) + eta^2 H_i S H_i); the mean of the middle
            # terms is eta (H S + S H) because mean_i H_i = H.
            single = sig - eta * (spec.lam[:, None] * sig + sig * spec.lam[None, :]) + eta**2 * spec.d1(sig)
            sig = (1 - p) * (a[:, None] * sig * a[None, :]) + p * single
            sig = 0.5 * (sig + sig.T)
            val = np.trace(sig) + const
            if not np.isfinite(val) or val > 1e300:
                break
            out[t] = val
    return out


def stationary_covariance(
    hessians: Any, gradients: Any, eta: float, batch_size: int, *, replacement: bool = False
) -> dict:
    """Limit covariance of linearised SGD at a regular minimum (paper Theorem 5, Corollary 1).

    ``vec(Sigma_inf) = eta p (2C - eta D)^+ vec(Sigma_g)``, ``Sigma_g = mean_i g_i g_i^T`` projected on
    range(H). Requires ``eta < eta*``.

    Parameters
    ----------
    hessians : (n, d, d) array-like or a problem (parameter space)
    gradients : (n, d) array-like
        Per-sample gradients ``g_i`` at the minimum; they must sum to zero.

    Returns
    -------
    dict with ``sigma`` (d, d) float64, ``sq_dist`` (limit of ``E||theta_perp - theta*_perp||^2``),
    ``excess_loss`` (``tr(H Sigma)/2``), ``grad_sq`` (``tr(H^2 Sigma)``) and ``eta_star``.
    """
    spec = to_spectral(hessians)
    if spec.basis is None:
        raise ValueError("the stationary covariance needs a parameter-space problem.")
    eta = check_eta(eta)
    p = batch_p(spec.n, batch_size, replacement=replacement)
    g = as_array(gradients, "gradients", 2)
    if g.shape != (spec.n, spec.d):
        raise ValueError(f"gradients must have shape ({spec.n}, {spec.d}), got {g.shape}.")
    if np.linalg.norm(g.sum(axis=0)) > 1e-8 * max(1.0, np.abs(g).sum()):
        raise ValueError("per-sample gradients must sum to zero at a minimum.")
    mu, _ = generalized_sharpness(spec, p)
    if eta >= 2.0 / mu:
        raise ValueError(
            f"eta = {eta:.4g} is not below eta* = {2.0 / mu:.4g}: the covariance does not converge."
        )
    gt = g @ spec.basis
    rhs = eta * p * (gt.T @ gt) / spec.n
    r = spec.r

    def lhs(x: np.ndarray) -> np.ndarray:  # (2C - eta D)(X), self-adjoint and positive definite here
        return 2 * spec.c * x - eta * spec.d_op(x, p)

    if r <= DENSE_MAX_R:
        e = sym_basis(r)
        mat = e.reshape(len(e), -1) @ lhs(e).reshape(len(e), -1).T
        coef = np.linalg.solve(0.5 * (mat + mat.T), e.reshape(len(e), -1) @ rhs.ravel())
        sig = np.tensordot(coef, e, axes=1)
    else:
        op = LinearOperator((r * r, r * r), matvec=lambda x: lhs(x.reshape(r, r)).ravel(), dtype=np.float64)
        # Jacobi-like preconditioner: the exactly diagonal part 2C - eta (1-p) H kron H (the per-sample
        # term is a small correction below eta*); without it CG took ~50 s on digits (r = 59).
        diag = 2 * spec.c - eta * (1 - p) * np.outer(spec.lam, spec.lam)
        diag = np.maximum(diag, 1e-3 * float(np.max(diag))).ravel()
        pre = LinearOperator((r * r, r * r), matvec=lambda x: x / diag, dtype=np.float64)
        sol, info = cg(op, rhs.ravel(), rtol=1e-12, maxiter=10 * r * r, M=pre)
        if info != 0:
            raise RuntimeError("conjugate gradients did not converge for the stationary covariance.")
        sig = sol.reshape(r, r)
    sig = 0.5 * (sig + sig.T)
    lam = spec.lam
    return {
        "sigma": spec.basis @ sig @ spec.basis.T,
        "sq_dist": float(np.trace(sig)),
        "excess_loss": 0.5 * float(np.sum(lam * np.diag(sig))),
        "grad_sq": float(np.sum(lam**2 * np.diag(sig))),
        "eta_star": 2.0 / mu,
    }


def loss_floor_curve(
    hessians: Any, gradients: Any, batch_size: int, etas: Any, *, replacement: bool = False
) -> dict:
    """Stationary excess loss and distance of linearised SGD at a regular minimum, along many step sizes.

    Same quantities as :func:`stationary_covariance` (Corollary 1), but one eigendecomposition serves
    every ``eta``: in the scaled symmetric basis ``2C - eta D = C^(1/2) (2 I - eta M(p)) C^(1/2)`` with
    ``M(p) = C^(-1/2) D C^(-1/2)``, so each ``eta`` costs a diagonal solve. Dense: needs
    ``r <= 64`` (``r(r+1)/2`` symmetric dimensions).

    Returns
    -------
    dict of (len(etas),) float64: ``eta``, ``excess_loss`` and ``sq_dist`` (``nan`` where ``eta >= eta*``:
    no stationary limit), plus scalar ``eta_star``.
    """
    spec = to_spectral(hessians)
    if spec.basis is None:
        raise ValueError("the loss floor needs a parameter-space problem.")
    if spec.r > 64:
        raise ValueError(f"the dense loss-floor curve needs rank <= 64, got {spec.r}.")
    etas = np.atleast_1d(np.asarray(etas, dtype=np.float64))
    for e in etas:
        check_eta(e)
    p = batch_p(spec.n, batch_size, replacement=replacement)
    g = as_array(gradients, "gradients", 2)
    if g.shape != (spec.n, spec.d):
        raise ValueError(f"gradients must have shape ({spec.n}, {spec.d}), got {g.shape}.")
    gt = g @ spec.basis
    sig_g = (gt.T @ gt) / spec.n
    e = sym_basis(spec.r)
    flat = e.reshape(len(e), -1)
    cvec = np.sum(flat * (spec.c.ravel()[None, :] * flat), axis=1)  # C is diagonal in this basis
    s = 1.0 / np.sqrt(cvec)
    dmat = flat @ spec.d_op(e, p).reshape(len(e), -1).T
    m = s[:, None] * (0.5 * (dmat + dmat.T)) * s[None, :]
    w, v = np.linalg.eigh(m)
    eta_star = 2.0 / float(w[-1])
    b = s * (flat @ sig_g.ravel())  # C^(-1/2) vec(Sigma_g) in the basis
    vb = v.T @ b
    # linear functionals: tr(Sigma) = <I, Sigma>, loss = <H, Sigma>/2, each through C^(-1/2) as well
    f_tr = v.T @ (s * (flat @ np.eye(spec.r).ravel()))
    f_h = v.T @ (s * (flat @ np.diag(spec.lam).ravel()))
    loss, dist = np.full(len(etas), np.nan), np.full(len(etas), np.nan)
    for j, eta in enumerate(etas):
        if eta >= eta_star:
            continue
        coef = eta * p * vb / (2.0 - eta * w)
        dist[j] = float(f_tr @ coef)
        loss[j] = 0.5 * float(f_h @ coef)
    return {"eta": etas, "excess_loss": loss, "sq_dist": dist, "eta_star": eta_star}


#: Largest number of batches :func:`second_moment_enumerated` averages over.
MAX_BATCHES = 5000


def second_moment_enumerated(
    hessians: Any, eta: float, batch_size: int, steps: int, *, replacement: bool = False
) -> np.ndarray:
    """Exact ``E||theta_t - theta*||^2`` of SGD by averaging over *every* possible batch (small n only).

    An independent check of :func:`second_moment_trajectory`, which uses the ALG(p) form
    ``(1-p) A S A + p mean_i A_i S A_i``: here ``Sigma <- mean_batches A_b Sigma A_b`` with
    ``A_b = I - eta H_b`` over all ``C(n, B)`` subsets (or all ``n^B`` ordered draws with replacement).
    Same initial second moment (``P / r``).

    Raises
    ------
    ValueError
        When there are more than ``MAX_BATCHES`` batches.
    """
    import itertools
    import math

    spec = to_spectral(hessians)
    eta = check_eta(eta)
    steps = _check_int(steps, "steps", 1, MAX_STEPS)
    n, r = spec.n, spec.r
    batch_size = _check_int(batch_size, "batch size", 1, None if replacement else n)
    count = n**batch_size if replacement else math.comb(n, batch_size)
    if count > MAX_BATCHES:
        raise ValueError(f"{count:,} batches are too many to enumerate (at most {MAX_BATCHES:,}).")
    if spec.hess is not None:
        hs = spec.hess
    else:
        hs = spec.factors.transpose(0, 2, 1) @ spec.factors
    batches = (
        itertools.product(range(n), repeat=batch_size)
        if replacement
        else itertools.combinations(range(n), batch_size)
    )
    amats = np.array([np.eye(r) - eta * hs[list(b)].mean(axis=0) for b in batches])  # (m, r, r)
    sig = np.eye(r) / r
    out = np.full(steps + 1, np.inf)
    out[0] = 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            sig = np.mean(amats @ sig @ amats.transpose(0, 2, 1), axis=0)
            val = float(np.trace(sig))
            if not np.isfinite(val) or val > 1e300:
                break
            out[t] = val
    return out

"""Exact mean-square stability thresholds: GD's ``2/lambda_max(H)`` and SGD's ``2/lambda_max(C^+ D)``.

The generalised sharpness ``mu(p) = lambda_max(C^+ D)`` is the top eigenvalue of the self-adjoint,
PSD operator ``M = C^(-1/2) D C^(-1/2)`` on symmetric matrices over range(H) (digest Section 2.4). Three
ways to get it, which agree to 1e-8 or better (tested):

* ``"dense"``: the matrix of M in an orthonormal basis of symmetric matrices (r(r+1)/2 dimensions);
* ``"power"``: matrix-free power iteration (M maps PSD to PSD, so it converges to the Perron vector);
* ``"lanczos"``: matrix-free Lanczos (scipy ``eigsh``) on the same operator;
* ``"subspace"`` (default above ``DENSE_MAX_R``): Rayleigh-Ritz of the pencil ``M(p) = (1-p) M_A + p M_B``
  on one subspace shared by every ``p`` of a curve (:class:`.subspace.PencilSubspace`). ``M_A = C^(-1/2) (H kron H)
  C^(-1/2)`` is diagonal in the eigenbasis, so only ``M_B`` (the per-sample term) costs GEMMs, and each
  stored ``M_B v`` serves every ``p``: a 20-point curve costs about as many operator applications as a
  single Lanczos run. Every returned eigenvalue is certified by its residual,
  ``||M(p) y - mu y|| <= tol * mu`` (so some eigenvalue lies within ``tol * mu``, and a Ritz value never
  exceeds ``lambda_max``).

Each applies to parameter-space or Gram-reduced problems (see :mod:`.spectral`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

from dlsa_core.stability.spectral import Spectral, _check_int, batch_p, check_eta, sym_basis, to_spectral
from dlsa_core.stability.subspace import PencilSubspace

METHODS = ("auto", "dense", "power", "lanczos", "subspace")
#: Above this range dimension "auto" switches from the dense symmetric basis to the shared subspace.
DENSE_MAX_R = 16
#: Default tolerances: eigenvalue tolerance for Lanczos/power, relative residual for "subspace".
DEFAULT_TOL = {"power": 1e-13, "lanczos": 1e-13, "subspace": 1e-10}


def gd_threshold(hessians: Any) -> float:
    """GD's (and SGD's at B = n) stability threshold ``2 / lambda_max(H)``, ``H = mean_i H_i``.

    Parameters
    ----------
    hessians : array-like (n, d, d), numpy or torch, or a problem from :mod:`.problems`
        Per-sample Hessians (symmetric PSD).
    """
    spec = to_spectral(hessians)
    return 2.0 / float(spec.lam[0])


def generalized_sharpness(
    spec: Spectral,
    p: float,
    *,
    method: str = "auto",
    v0: np.ndarray | None = None,
    tol: float | None = None,
) -> tuple[float, np.ndarray]:
    """``mu(p) = lambda_max(C^+ D)`` and its eigenvector ``Y`` (``X = C^(-1/2) Y`` is PSD), shape (r, r).

    Parameters
    ----------
    spec : Spectral
        Reduced problem.
    p : float in [0, 1]
        Batch parameter (see :func:`batch_p`).
    method : {"auto", "dense", "power", "lanczos", "subspace"}
        ``"auto"``: ``"dense"`` up to ``r = DENSE_MAX_R``, else ``"subspace"``.
    v0 : (r, r) float64, optional
        Warm start (e.g. the eigenvector at a neighbouring ``p``).
    tol : float, optional
        Power/Lanczos: eigenvalue tolerance (default 1e-13); subspace: relative residual (default 1e-10).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    r = spec.r
    if p == 0.0:
        # GD: C^+ D = C^+ (H kron H) is diagonal in the eigenbasis with top entry lam_max (at E_11).
        y = np.zeros((r, r))
        y[0, 0] = 1.0
        return float(spec.lam[0]), y
    if method == "auto":
        method = "dense" if r <= DENSE_MAX_R else "subspace"
    if method in ("lanczos", "subspace") and r * r <= 3:
        method = "dense"  # ARPACK needs a few dimensions
    if tol is None and method != "dense":
        tol = DEFAULT_TOL[method]
    if method == "subspace":
        sub = PencilSubspace(spec)
        sub.start(v0)
        mu, y, _ = sub.solve(float(p), tol)
        return mu, sub.unpack(y)
    s = 1.0 / np.sqrt(spec.c)  # C^(-1/2) acts entrywise

    def m_op(y: np.ndarray) -> np.ndarray:
        return s * spec.d_op(s * y, p)

    if method == "dense":
        e = sym_basis(r)
        me = m_op(e)
        m = e.reshape(len(e), -1) @ me.reshape(len(e), -1).T
        w, v = np.linalg.eigh(0.5 * (m + m.T))
        return float(w[-1]), np.tensordot(v[:, -1], e, axes=1)
    start = v0 if v0 is not None else np.diag(np.sqrt(spec.lam))  # Y0 = C^(1/2) I
    if method == "power":
        return _power(m_op, start, tol)

    def matvec(x: np.ndarray) -> np.ndarray:
        y = x.reshape(r, r)
        return m_op(0.5 * (y + y.T)).ravel()  # stay on symmetric matrices

    op = LinearOperator((r * r, r * r), matvec=matvec, dtype=np.float64)
    w, v = eigsh(op, k=1, which="LA", v0=start.ravel(), tol=tol * 1e-2, ncv=min(r * r - 1, 10))
    return float(w[0]), v[:, 0].reshape(r, r)


def _power(m_op, y: np.ndarray, tol: float, max_iter: int = 100_000) -> tuple[float, np.ndarray]:
    """Power iteration with a residual stopping rule (eigenvalue error <= residual^2 / gap)."""
    y = y / np.linalg.norm(y)
    for _ in range(max_iter):
        my = m_op(y)
        mu = float(np.vdot(y, my))
        resid = np.linalg.norm(my - mu * y)
        y = my / np.linalg.norm(my)
        if resid <= np.sqrt(tol) * abs(mu) * 1e-1:
            return mu, y
    raise RuntimeError("power iteration did not converge; use method='lanczos' or 'dense'.")


def sgd_threshold(
    hessians: Any, batch_size: int, *, replacement: bool = False, method: str = "auto"
) -> float:
    """Exact mean-square stability threshold ``eta*(B) = 2 / lambda_max(C^+ D)`` of SGD.

    Parameters
    ----------
    hessians : array-like (n, d, d), numpy or torch, or a problem from :mod:`.problems`
        Per-sample Hessians ``H_i`` (symmetric PSD) at the minimum.
    batch_size : int
        ``B`` in ``[1, n]``; batches are uniform subsets drawn independently at every step.
    replacement : bool
        Sample the batch with replacement instead (``p = 1/B``).
    method : {"auto", "dense", "power", "lanczos"}

    Returns
    -------
    float
        ``eta*``; SGD with ``eta <= eta*`` is mean-square stable, with ``eta > eta*`` it is not.
    """
    spec = to_spectral(hessians)
    mu, _ = generalized_sharpness(spec, batch_p(spec.n, batch_size, replacement=replacement), method=method)
    return 2.0 / mu


def sgd_threshold_from_jacobians(
    jacobians: Any,
    batch_size: int,
    *,
    replacement: bool = False,
    method: str = "auto",
    space: str = "gram",
) -> float:
    """Exact ``eta*`` for a squared-loss interpolating minimum, ``H_i = J_i^T J_i``.

    Parameters
    ----------
    jacobians : array-like (n, k, d), numpy or torch
        Per-sample output Jacobians (``k`` outputs, ``d`` parameters).
    batch_size, replacement, method
        As in :func:`sgd_threshold`.
    space : {"gram", "parameter", "auto"}
        ``"gram"`` (default) works with ``K = J J^T`` (nk x nk): cost independent of ``d``.
    """
    spec = to_spectral(jacobians, kind="jacobians", space=space)
    mu, _ = generalized_sharpness(spec, batch_p(spec.n, batch_size, replacement=replacement), method=method)
    return 2.0 / mu


def threshold_curve(
    hessians_or_jacobians: Any,
    batch_sizes: Any,
    *,
    kind: str = "auto",
    replacement: bool = False,
    method: str = "auto",
    space: str = "auto",
) -> np.ndarray:
    """``eta*(B)`` for many batch sizes at once, sharing the eigendecomposition and warm starts.

    Parameters
    ----------
    hessians_or_jacobians : array-like (n, d, d) or (n, k, d), or a problem
    batch_sizes : sequence of int
    kind : {"auto", "hessians", "jacobians"}
        How to read a 3-D array (``"auto"``: stacks of symmetric square matrices are Hessians).

    Returns
    -------
    (len(batch_sizes),) float64 array of thresholds.
    """
    spec = to_spectral(hessians_or_jacobians, kind=kind, space=space)
    bs = [_check_int(b, "batch size", 1) for b in np.atleast_1d(np.asarray(batch_sizes))]
    ps = np.array([batch_p(spec.n, b, replacement=replacement) for b in bs])
    out = np.empty(len(bs))
    if method == "subspace" or (method == "auto" and spec.r > DENSE_MAX_R):
        mus, _ = sharpness_curve(spec, ps)
        return 2.0 / mus
    v = None
    for j in np.argsort(ps):  # increasing p: each eigenvector warm-starts the next
        mu, v = generalized_sharpness(spec, float(ps[j]), method=method, v0=v if ps[j] > 0 else None)
        out[j] = 2.0 / mu
    return out


def sharpness_curve(spec: Spectral, ps: Any, *, tol: float | None = None) -> tuple[np.ndarray, dict]:
    """``mu(p)`` for many ``p`` on one shared Ritz subspace (method ``"subspace"``), with diagnostics.

    Returns
    -------
    mus : (len(ps),) float64
    info : dict
        ``residual`` (len(ps),): certified relative residuals ``||M y - mu y|| / mu`` (each ``<= tol``);
        ``applications``: number of ``M_B`` applications (GEMM pairs) for the whole curve;
        ``dim``: final subspace dimension.
    """
    tol = DEFAULT_TOL["subspace"] if tol is None else float(tol)
    ps = np.atleast_1d(np.asarray(ps, dtype=np.float64))
    mus = np.empty(len(ps))
    res = np.zeros(len(ps))
    sub = PencilSubspace(spec)
    sub.start()
    for j in np.argsort(ps):  # increasing p: the subspace built for small p serves the larger ones
        mus[j], _, res[j] = sub.solve(float(ps[j]), tol)
    return mus, {"residual": res, "applications": sub.applications, "dim": sub.m}


def spectral_radius(
    hessians: Any, eta: float, batch_size: int, *, replacement: bool = False, method: str = "auto"
) -> float:
    """Spectral radius of the second-moment operator ``Q = I - 2 eta C + eta^2 D`` on range(H).

    ``E||theta_t - theta*||^2`` grows or decays like ``rho^t``; ``rho`` crosses 1 exactly at ``eta*``.
    Its dominant eigenvalue is positive (paper, Theorem 6), so the top eigenvalue is ``rho``.
    """
    eta = check_eta(eta)
    spec = to_spectral(hessians)
    p = batch_p(spec.n, batch_size, replacement=replacement)
    r = spec.r

    def q_op(x: np.ndarray) -> np.ndarray:
        return x - 2.0 * eta * spec.c * x + eta**2 * spec.d_op(x, p)

    if method == "auto":
        method = "dense" if r <= DENSE_MAX_R else "subspace"
    if method == "subspace" and r > 1:
        # Q = diag(q0) + eta^2 p D_1 in the eigenbasis; its top eigenvalue is rho (Theorem 6). The top of the
        # spectrum clusters near 1 (small-curvature directions), where Lanczos crawls; Davidson with the
        # exact diagonal of Q resolves it in a few applications. Certified: residual <= 1e-10 * rho.
        q0 = 1.0 - 2.0 * eta * spec.c + eta**2 * (1.0 - p) * np.outer(spec.lam, spec.lam)
        sub = PencilSubspace(spec, diag=q0, scaled=False)
        coef = (1.0, eta**2 * p)
        diag_q = q0[sub.iu] + (coef[1] * sub.diag_b() if sub.diag_b() is not None else 0.0)
        k = int(np.argmax(diag_q))
        sub.start(top=(int(sub.iu[0][k]), int(sub.iu[1][k])))
        rho, _, _ = sub.solve(p, 1e-10, coef=coef)
        return float(abs(rho))
    if method == "dense" or r * r <= 3:
        e = sym_basis(r)
        q = e.reshape(len(e), -1) @ q_op(e).reshape(len(e), -1).T
        return float(np.max(np.abs(np.linalg.eigvalsh(0.5 * (q + q.T)))))
    op = LinearOperator(
        (r * r, r * r), matvec=lambda x: q_op(_sym(x.reshape(r, r))).ravel(), dtype=np.float64
    )
    w = eigsh(
        op,
        k=2,
        which="BE",
        v0=np.eye(r).ravel(),
        tol=1e-12,
        ncv=min(r * r - 1, 30),
        return_eigenvectors=False,
    )
    return float(np.max(np.abs(w)))


def _sym(x: np.ndarray) -> np.ndarray:
    return 0.5 * (x + x.T)

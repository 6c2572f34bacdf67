"""Closed-form expected loss of preconditioned Langevin dynamics near a minimum (an Ornstein-Uhlenbeck process).

Near a minimum ``L(theta) = L* + 1/2 (theta - theta*)^T H (theta - theta*)``, preconditioned Langevin dynamics

* continuous time: ``d theta = -P grad L dt + D^(1/2) dW``;
* discrete time (Euler-Maruyama): ``theta <- theta - eta P grad L + sqrt(eta) D^(1/2) xi``, ``xi ~ N(0, I)``,

is linear. Whitening by ``y = P^(-1/2)(theta - theta*)`` gives ``dy = -A y dt + S^(1/2) dW`` with
``A = P^(1/2) H P^(1/2) = V diag(lambda) V^T`` and ``S = P^(-1/2) D P^(-1/2)``; the loss is ``1/2 y^T A y``,
diagonal in ``V``, so only ``s_a = (V^T S V)_aa`` and ``m = V^T P^(-1/2)(theta_0 - theta*)`` enter:

    E[L(theta_t)] - L* = sum_{a: lambda_a > 0} 1/2 lambda_a m_a^2 e^(-2 lambda_a t) + 1/4 s_a (1 - e^(-2 lambda_a t)),

and ``1/4 tr(Pi_A S)`` at stationarity; ``c rank(H) / 4`` when ``D = c P``. In discrete time the mode factor is
``(1 - eta lambda_a)^(2t)`` and the stationary value ``s_a / (2 (2 - eta lambda_a))``. The loss at the midpoint of
two consecutive iterates has stationary value exactly ``s_a / 4`` for every ``eta lambda_a < 2`` (derived here,
not in the paper): it removes the discretisation bias without knowing the spectrum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: An eigenvalue of H counts as non-zero above this fraction of the largest one.
RANGE_TOL = 1e-11
MAX_DIM = 4000


def as_matrix(x: Any, name: str, n: int | None = None) -> np.ndarray:
    """A finite, symmetric float64 ``(n, n)`` matrix, or a clear ``ValueError``."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric matrix.") from exc
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(f"{name} must be a square matrix, got shape {a.shape}.")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} must be {n} x {n}, got {a.shape[0]} x {a.shape[1]}.")
    if a.shape[0] > MAX_DIM:
        raise ValueError(f"{name} is {a.shape[0]}-dimensional; at most {MAX_DIM} is supported here.")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf.")
    scale = max(float(np.abs(a).max()), 1e-300)
    if np.abs(a - a.T).max() > 1e-9 * scale:
        raise ValueError(f"{name} must be symmetric.")
    return (a + a.T) / 2


def psd_sqrt(m: np.ndarray, *, inverse: bool = False, name: str = "matrix") -> np.ndarray:
    """Symmetric square root (or inverse square root) of a PSD (SPD when ``inverse``) matrix."""
    w, v = np.linalg.eigh(m)
    top = max(float(np.abs(w).max()), 1e-300)
    if w.min() < -1e-9 * top:
        raise ValueError(f"{name} must be positive semi-definite (smallest eigenvalue {w.min():.3g}).")
    if inverse and w.min() <= 1e-13 * top:
        raise ValueError(f"{name} must be positive definite (smallest eigenvalue {w.min():.3g}).")
    w = np.clip(w, 0.0, None)
    return (v * (w ** (-0.5 if inverse else 0.5))) @ v.T


@dataclass(frozen=True)
class OUModes:
    """The whitened Ornstein-Uhlenbeck process in the eigenbasis of ``A = P^(1/2) H P^(1/2)``.

    Attributes
    ----------
    lam : (r,) float64, the non-zero eigenvalues of ``A`` (``r = rank H``)
    s : (r,) float64, ``diag(V^T P^(-1/2) D P^(-1/2) V)`` on those modes (noise variance per unit time)
    basis : (n, r) float64, the eigenvectors ``V`` (columns)
    p_inv_half : (n, n) float64, ``P^(-1/2)``
    """

    lam: np.ndarray
    s: np.ndarray
    basis: np.ndarray
    p_inv_half: np.ndarray

    @property
    def rank(self) -> int:
        return int(self.lam.size)

    def offsets(self, theta0_offset: Any) -> np.ndarray:
        """Coordinates ``m = V^T P^(-1/2)(theta_0 - theta*)`` of a start ``(n,)`` or ``(k, n)``."""
        x = np.asarray(theta0_offset, dtype=np.float64)
        n = self.p_inv_half.shape[0]
        if x.shape[-1] != n or not np.all(np.isfinite(x)):
            raise ValueError(f"theta0_offset must be finite with last dimension {n}.")
        return x @ self.p_inv_half @ self.basis


def ou_modes(hessian: Any, preconditioner: Any, diffusion: Any) -> OUModes:
    """Whiten and diagonalise: the modes of the OU process (see the module docstring)."""
    h = as_matrix(hessian, "Hessian")
    n = h.shape[0]
    p = as_matrix(preconditioner, "preconditioner", n)
    d = as_matrix(diffusion, "diffusion", n)
    psd_sqrt(h, name="Hessian")  # validates H >= 0 (a minimum)
    w = np.linalg.eigvalsh(h)
    rank = int(np.sum(w > RANGE_TOL * max(float(w.max()), 1e-300)))  # rank(A) = rank(H) as P is SPD
    psd_sqrt(d, name="diffusion")
    p_half = psd_sqrt(p, name="preconditioner")
    p_inv_half = psd_sqrt(p, inverse=True, name="preconditioner")
    lam, vec = np.linalg.eigh(p_half @ h @ p_half)
    lam, vec = lam[lam.size - rank :], vec[:, lam.size - rank :]  # ascending: the top rank(H) modes
    s = np.einsum("ia,ij,ja->a", vec, p_inv_half @ d @ p_inv_half, vec)
    return OUModes(lam=lam, s=s, basis=vec, p_inv_half=p_inv_half)


def _check_step(modes: OUModes, step_size: float | None) -> float | None:
    if step_size is None:
        return None
    eta = float(step_size)
    if not np.isfinite(eta) or eta <= 0:
        raise ValueError(f"step size must be a positive finite number, got {step_size!r}.")
    top = float(modes.lam.max()) if modes.rank else 0.0
    if eta * top >= 2:
        raise ValueError(
            f"step size {eta:.4g} is unstable: eta * lambda_max(P^1/2 H P^1/2) = {eta * top:.4g} >= 2 "
            f"(need eta < {2 / top:.4g})."
        )
    return eta


def stationary_excess_loss(
    hessian: Any, preconditioner: Any, diffusion: Any, *, step_size: float | None = None
) -> float:
    """``lim_t E[L(theta_t)] - L*`` of preconditioned Langevin dynamics on a quadratic.

    Parameters
    ----------
    hessian : (n, n) symmetric PSD array-like, ``H`` (may be singular)
    preconditioner : (n, n) SPD array-like, ``P``
    diffusion : (n, n) symmetric PSD array-like, ``D`` (noise covariance per unit time)
    step_size : float, optional
        ``None``: continuous time, ``1/4 tr(Pi_A P^(-1/2) D P^(-1/2))``. Else the exact value of the Euler-Maruyama
        iteration with this step, ``sum_a s_a / (2 (2 - eta lambda_a))``.

    Raises
    ------
    ValueError
        On malformed matrices, or when ``eta lambda_max(A) >= 2`` (the iteration does not converge).
    """
    modes = ou_modes(hessian, preconditioner, diffusion)
    eta = _check_step(modes, step_size)
    if eta is None:
        return float(modes.s.sum() / 4)
    return float(np.sum(modes.s / (2 * (2 - eta * modes.lam))))


def excess_loss_curve(
    hessian: Any,
    preconditioner: Any,
    diffusion: Any,
    theta0_offset: Any,
    times: Any,
    *,
    step_size: float | None = None,
    theta0_cov: Any = None,
    midpoint: bool = False,
) -> np.ndarray:
    """Closed-form ``E[L(theta_t)] - L*`` over time from ``theta_0 = theta* + theta0_offset``.

    Parameters
    ----------
    hessian, preconditioner, diffusion : as in :func:`stationary_excess_loss`
    theta0_offset : (n,) array-like, ``theta_0 - theta*`` (zeros: start at the minimum)
    times : (k,) array-like >= 0
        Continuous time; with ``step_size``, iteration counts (need not be integers).
    step_size : float, optional
        Discrete time: the exact mean of the Euler-Maruyama iteration.
    theta0_cov : (n, n) array-like, optional
        Covariance of a random start (adds ``1/2 lambda_a Var(m_a)`` to the transient).
    midpoint : bool
        With ``step_size``: the loss at the midpoint of consecutive iterates (stationary value ``tr / 4``).

    Returns
    -------
    (k,) float64 ndarray
    """
    modes = ou_modes(hessian, preconditioner, diffusion)
    eta = _check_step(modes, step_size)
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("times must be finite and non-negative.")
    m2 = modes.offsets(theta0_offset) ** 2
    if theta0_cov is not None:
        c = as_matrix(theta0_cov, "theta0_cov", modes.p_inv_half.shape[0])
        w = modes.p_inv_half @ modes.basis
        m2 = m2 + np.einsum("ia,ij,ja->a", w, c, w)
    if midpoint and eta is None:
        raise ValueError("midpoint applies to discrete time only: give a step size.")
    return mode_curve(modes.lam, modes.s, m2, t, step_size=eta, midpoint=midpoint)


def _mode_terms(lam, s, m2, step_size, midpoint):
    """``E[L_t] - L* = sum_a alpha_a + beta_a r_a^t`` per mode (``r_a`` the decay per unit time/step)."""
    lam, s = np.asarray(lam, float), np.asarray(s, float)
    m2 = np.broadcast_to(np.asarray(m2, float), lam.shape)
    if step_size is None:
        if midpoint:
            raise ValueError("midpoint applies to discrete time only: give a step size.")
        return s / 4, 0.5 * lam * m2 - s / 4, np.exp(-2 * lam)
    eta = float(step_size)
    rho = 1 - eta * lam
    v_inf = s / (lam * (2 - eta * lam))  # stationary E[z^2] per mode
    alpha, beta = 0.5 * lam * v_inf, 0.5 * lam * (m2 - v_inf)
    if midpoint:  # E[((z_t + z_{t+1}) / 2)^2] = ((1 + rho)^2 E[z_t^2] + eta s) / 4
        alpha = 0.5 * lam * ((1 + rho) ** 2 * v_inf + eta * s) / 4
        beta = beta * (1 + rho) ** 2 / 4
    return alpha, beta, rho**2


def mode_curve(
    lam: np.ndarray,
    s: np.ndarray,
    m2: np.ndarray | float,
    times: np.ndarray,
    *,
    step_size: float | None = None,
    midpoint: bool = False,
) -> np.ndarray:
    """``E[L_t] - L*`` summed over independent OU modes (eigenvalue ``lam_a``, noise ``s_a``, start ``m_a^2``).

    Discrete time with ``midpoint``: the loss at ``(theta_t + theta_{t+1}) / 2``, whose stationary value is
    ``sum s_a / 4`` for every step size. Returns ``(len(times),)`` float64.
    """
    alpha, beta, r = _mode_terms(lam, s, m2, step_size, midpoint)
    t = np.asarray(times, float).reshape(-1)
    out = np.empty(t.size)
    for i in range(0, t.size, 512):  # chunks keep (times x modes) small for d^2 = 4096 modes
        out[i : i + 512] = alpha.sum() + (r[None, :] ** t[i : i + 512, None]) @ beta
    return out


def mode_window_mean(
    lam: np.ndarray,
    s: np.ndarray,
    m2: np.ndarray | float,
    first: int,
    last: int,
    *,
    step_size: float,
    midpoint: bool = False,
) -> float:
    """Mean of the discrete-time ``E[L_t] - L*`` over iterations ``first..last`` (inclusive), in closed form.

    The expected value of a finite-run time average: what a rank estimate from that window should give.
    """
    alpha, beta, r = _mode_terms(lam, s, m2, step_size, midpoint)
    n = last - first + 1
    if n < 1:
        raise ValueError("the averaging window is empty.")
    r = np.clip(r, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        geo = np.where(np.abs(1 - r) < 1e-12, 1.0, r**first * (1 - r**n) / ((1 - r) * n))
    return float(alpha.sum() + geo @ beta)

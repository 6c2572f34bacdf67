"""Quadratic playground: a low-rank Hessian, four preconditioners, their noise, and the closed forms.

Near a minimum the gradient noise of SGD has covariance roughly proportional to the Hessian
(``Sigma_g = c H``). Each preconditioner comes with the noise it would see:

* ``"identity"`` (SGD-like): ``P = I``, ``D = Sigma_g``;
* ``"adam"`` (Adam-like): ``P = (diag Sigma_g + eps)^(-1/2)``, ``D = P Sigma_g P``;
* ``"riemannian"``: ``P = H^+ + I - Pi_H`` (inverse Hessian on its range) with matched noise ``D = c P``;
* ``"custom"``: a random SPD ``P`` (condition number 100) with matched noise ``D = c P``.

With ``matched=True`` every preconditioner uses ``D = c P``, and the stationary excess loss is ``c rank/4``
whatever the spectrum; with its own noise the level of SGD (``c tr H / 4``) and Adam
(``sqrt(c)/4 sum_j sqrt(H_jj)``) move with the spectrum, and they cross at ``c* = (sum_j sqrt(H_jj) / tr H)^2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlsa_core.langevin.closed_form import stationary_excess_loss
from dlsa_core.langevin.simulation import check_int, check_positive

PRECONDITIONERS = {
    "identity": "SGD-like (P = I)",
    "adam": "Adam-like (P = diag(Σ)^-½)",
    "riemannian": "Riemannian (P = H⁺ + I − Π, D = cP)",
    "custom": "random SPD P, D = cP",
}
EPS = 1e-8
MAX_DIM = 200
#: Orders of magnitude between the largest and smallest non-zero eigenvalue (kept well above round-off).
MAX_SPREAD = 8


@dataclass(frozen=True)
class Quadratic:
    """A quadratic ``1/2 theta^T H theta`` with ``H`` of rank ``rank``, eigenvalues ``10^0 ... 10^-spread``."""

    hessian: np.ndarray  # (n, n) float64
    eigenvalues: np.ndarray  # (rank,) float64, descending
    basis: np.ndarray  # (n, n) orthogonal; the first ``rank`` columns span range(H)

    @property
    def dim(self) -> int:
        return self.hessian.shape[0]

    @property
    def rank(self) -> int:
        return self.eigenvalues.size


def make_quadratic(dim: int, rank: int, spread: float, *, seed: int = 0) -> Quadratic:
    """A random-basis PSD Hessian with ``rank`` eigenvalues log-spaced from 1 down to ``10^-spread``."""
    dim = check_int(dim, "dimension", 1, MAX_DIM)
    rank = check_int(rank, "rank", 1, dim)
    spread = float(spread)
    if not np.isfinite(spread) or not 0 <= spread <= MAX_SPREAD:
        raise ValueError(f"spectrum spread must be in [0, {MAX_SPREAD}] orders of magnitude, got {spread!r}.")
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    q = q * np.sign(np.diag(r))
    lam = np.logspace(0, -spread, rank)
    h = (q[:, :rank] * lam) @ q[:, :rank].T
    return Quadratic(hessian=(h + h.T) / 2, eigenvalues=lam, basis=q)


def random_spd(dim: int, *, condition: float = 100.0, seed: int = 0) -> np.ndarray:
    """An SPD matrix with eigenvalues log-spaced over ``[1/sqrt(condition), sqrt(condition)]``, random basis."""
    rng = np.random.default_rng(seed + 7919)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    w = np.logspace(-0.5, 0.5, dim) ** np.log10(condition)
    p = (q * w) @ q.T
    return (p + p.T) / 2


def preconditioner_and_noise(
    quad: Quadratic, kind: str, noise: float, *, matched: bool = False, seed: int = 0
):
    """``(P, D)`` for a preconditioner kind and gradient-noise scale ``c`` (see the module docstring)."""
    if kind not in PRECONDITIONERS:
        raise ValueError(f"preconditioner must be one of {tuple(PRECONDITIONERS)}, got {kind!r}.")
    c = check_positive(noise, "noise scale")
    h, n = quad.hessian, quad.dim
    sigma = c * h  # gradient-noise covariance near the minimum
    if kind == "identity":
        p = np.eye(n)
    elif kind == "adam":
        p = np.diag(1 / np.sqrt(np.diag(sigma) + EPS))
    elif kind == "riemannian":  # the inverse Hessian on its range, the identity on its null space
        v = quad.basis[:, : quad.rank]
        p = (v / quad.eigenvalues) @ v.T + np.eye(n) - v @ v.T
        p = (p + p.T) / 2
    else:
        p = random_spd(n, seed=seed)
    if matched or kind in ("riemannian", "custom"):
        return p, c * p
    d = p @ sigma @ p
    return p, (d + d.T) / 2


def levels_vs_spread(
    dim: int, rank: int, noise: float, spreads, *, matched: bool, seed: int = 0
) -> dict[str, np.ndarray]:
    """Stationary excess loss (continuous time) of every preconditioner over spectrum spreads."""
    out = {k: np.empty(len(spreads)) for k in PRECONDITIONERS}
    for i, sp in enumerate(spreads):
        quad = make_quadratic(dim, rank, sp, seed=seed)
        for kind in PRECONDITIONERS:
            p, d = preconditioner_and_noise(quad, kind, noise, matched=matched, seed=seed)
            out[kind][i] = stationary_excess_loss(quad.hessian, p, d)
    return out


def sgd_vs_adam(quad: Quadratic, noises) -> dict:
    """Stationary levels of SGD-like and Adam-like preconditioning over noise scales, and the crossing ``c*``.

    Returns ``{"noise", "sgd", "adam": (k,) float64, "boundary": c*}``; Adam-like is lower above ``c*``.
    """
    noises = np.asarray(noises, dtype=float)
    sgd, adam = np.empty(noises.size), np.empty(noises.size)
    for i, c in enumerate(noises):
        for kind, arr in (("identity", sgd), ("adam", adam)):
            p, d = preconditioner_and_noise(quad, kind, c)
            arr[i] = stationary_excess_loss(quad.hessian, p, d)
    diag = np.clip(np.diag(quad.hessian), 0, None)
    boundary = float((np.sqrt(diag).sum() / np.trace(quad.hessian)) ** 2)
    return {"noise": noises, "sgd": sgd, "adam": adam, "boundary": boundary}

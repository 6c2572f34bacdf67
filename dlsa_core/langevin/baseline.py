"""Ubaru & Saad's numerical-rank estimator (ICML 2016): KPM density of states + Chebyshev eigencount.

The baseline the paper compares with, matrix-free (only products ``H V``): stochastic Chebyshev moments
``v^T T_k(B) v`` of ``B = (H - c) / w`` (``[lmin, lmax] -> [-1, 1]``) give both a Jackson-damped density of
states, whose first gap after the spike at zero sets the threshold ``eps``, and the count of eigenvalues in
``[eps, lmax]`` (a Lanczos-sigma-damped Chebyshev expansion of the indicator). Defaults follow the official
repository's run: degree 50, 300 normalised Gaussian vectors, 100 density points. Written from the
algorithm's description, not from the MATLAB code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

from dlsa_core.langevin.simulation import check_int


@dataclass(frozen=True)
class KPMRank:
    """Result of :func:`ubaru_saad_rank`.

    Attributes
    ----------
    rank : float, estimated number of eigenvalues above ``threshold``
    threshold : float, the gap found in the density of states
    lam_max : float
    grid, density : (n_points,) float64, the KPM density of states (for plotting)
    per_vector : (n_vectors,) float64, the eigencount from each random vector
    matvecs : int, products ``H v`` used (one per vector per degree, plus Lanczos)
    """

    rank: float
    threshold: float
    lam_max: float
    grid: np.ndarray
    density: np.ndarray
    per_vector: np.ndarray
    matvecs: int


def top_eigenvalue(
    matvec: Callable[[np.ndarray], np.ndarray], n: int, *, tol: float = 1e-6
) -> tuple[float, int]:
    """Largest eigenvalue of a symmetric PSD operator by Lanczos (scipy ``eigsh``); returns (value, matvecs)."""
    count = [0]

    def mv(x: np.ndarray) -> np.ndarray:
        count[0] += 1
        return matvec(x.reshape(n, 1)).reshape(-1)

    op = LinearOperator((n, n), matvec=mv, dtype=np.float64)
    val = eigsh(op, k=1, which="LA", tol=tol, return_eigenvectors=False, v0=np.ones(n) / np.sqrt(n))
    return float(val[0]), count[0]


def _jackson(deg: int) -> np.ndarray:
    k = np.arange(deg + 1)
    th = np.pi / (deg + 2)
    return np.sin((k + 1) * th) / ((deg + 2) * np.sin(th)) + (1 - (k + 1) / (deg + 2)) * np.cos(k * th)


def _sigma(deg: int) -> np.ndarray:
    k = np.arange(deg + 1)
    return np.sinc(k / (deg + 1))  # sin(k pi/(m+1)) / (k pi/(m+1))


def _find_gap(x: np.ndarray, y: np.ndarray) -> float:
    """First gap of a density: where it stops falling after the spike at 0, then where it rises again."""
    n = y.size
    z = np.abs(y).copy()
    for i in range(2, 4):  # light smoothing over the next few points, as in the original
        z[: n - i] += y[i:]
    z /= 4
    dz = np.append(np.diff(z), 0.0)
    i1 = next((i for i in range(n) if z[i] <= (n + 1) / 2 and dz[i] >= -0.01), n - 1)
    level = 0.25 * (1 - z.sum() / (n + 1))
    i2 = next((i for i in range(i1 + 1, n) if z[i] >= level), min(i1 + 1, n - 1))
    return float((x[i1] + x[i2]) / 2)


def ubaru_saad_rank(
    matvec: Callable[[np.ndarray], np.ndarray],
    n: int,
    *,
    lam_max: float | None = None,
    degree: int = 50,
    n_vectors: int = 300,
    n_points: int = 100,
    seed: int = 0,
    block: int = 100,
    progress: Callable[[float], None] | None = None,
) -> KPMRank:
    """Estimate the numerical rank of a symmetric PSD operator from Chebyshev moments.

    Parameters
    ----------
    matvec : callable, ``(n, k) float64 -> (n, k) float64``, the product ``H V`` for a block of vectors
    n : int, the dimension
    lam_max : float, optional, the largest eigenvalue (found by Lanczos when omitted)
    degree : int, Chebyshev degree ``m``
    n_vectors : int, random probe vectors (normalised Gaussian)
    n_points : int, points of the density of states
    seed : int
    block : int, probe vectors per batched product
    progress : callable(fraction), optional

    Returns
    -------
    KPMRank
    """
    n = check_int(n, "n", 1, 10**9)
    degree = check_int(degree, "degree", 2, 2000)
    n_vectors = check_int(n_vectors, "n_vectors", 1, 100_000)
    used = 0
    if lam_max is None:
        lam_max, used = top_eigenvalue(matvec, n)
    lmin, lmax = -1e-5, float(lam_max) + 1e-5  # the original's padding around [0, lam_max]
    c, w = (lmax + lmin) / 2, (lmax - lmin) / 2
    rng = np.random.default_rng(seed)
    moments = np.empty((degree + 1, n_vectors))
    for start in range(0, n_vectors, block):
        v = rng.standard_normal((n, min(block, n_vectors - start)))
        v /= np.linalg.norm(v, axis=0)
        t_prev, t_cur = v, (matvec(v) - c * v) / w
        cols = slice(start, start + v.shape[1])
        moments[0, cols] = 1.0
        moments[1, cols] = np.einsum("ij,ij->j", v, t_cur)
        for k in range(2, degree + 1):
            t_prev, t_cur = t_cur, 2 * (matvec(t_cur) - c * t_cur) / w - t_prev
            moments[k, cols] = np.einsum("ij,ij->j", v, t_cur)
            if progress is not None and k % 10 == 0:
                progress((start + v.shape[1] * k / degree) / n_vectors)
        used += degree * v.shape[1]
    # density of states on a grid that is finer near the spike at lmin
    h = 2 / (n_points + 1)
    pts = np.concatenate([np.arange(-1 + h, 0, h / 2), np.arange(h, 1 - h / 2, 2 * h)])
    mu = _jackson(degree) * moments.mean(1) * 2 / np.pi
    mu[0] /= 2
    dens = np.polynomial.chebyshev.chebval(pts, mu) / np.sqrt(1 - pts**2)
    grid = c + w * pts
    dens = dens / (dens.sum() * (grid[1] - grid[0]))
    eps = _find_gap(grid, dens)
    # Chebyshev coefficients of the indicator of [eps, lmax], Lanczos sigma damping
    a, b = np.arccos(np.clip((np.array([eps, lmax]) - c) / w, -1, 1))
    k = np.arange(1, degree + 1)
    coef = np.concatenate([[-(b - a) / np.pi], -2 * (np.sin(k * b) - np.sin(k * a)) / (np.pi * k)]) * _sigma(
        degree
    )
    per_vector = n * (coef @ moments)
    return KPMRank(
        rank=float(per_vector.mean()),
        threshold=eps,
        lam_max=float(lam_max),
        grid=grid,
        density=dens,
        per_vector=per_vector,
        matvecs=used,
    )

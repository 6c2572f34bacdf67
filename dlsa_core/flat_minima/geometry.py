"""Shape of a minimum: gains along the top singular path (balancedness) and layer-to-layer coupling.

For the top singular triple ``(s, u, v)`` of ``T Sigma_x^(1/2)``, the gain of the top path up to layer
``k`` is ``a_k = ||W_(k:1) Sigma_x^(1/2) v||`` (``a_0 = ||Sigma_x^(1/2) v||``, ``a_N = s`` at a minimum).
At every global minimum (digest Section 2.3)::

    lambda_max >= s^2 sum_k (a_(k-1) / a_k)^2 >= N s^(2 - 2/N) a_0^(2/N)

(choose ``Delta_k`` proportional to ``W_(N:k+1)^T u (W_(k-1:1) Sigma^(1/2) v)^T`` in the Rayleigh quotient
and use ``||W_(N:k+1)^T u|| >= s / a_k``; then AM-GM). Equality in AM-GM forces every per-layer gain
``a_k / a_(k-1)`` to equal ``(s / a_0)^(1/N)``: flat minima are balanced along the top path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dlsa_core.flat_minima.net import check_sigma_x, check_target, check_weights, product


@dataclass(frozen=True)
class LayerGains:
    """Gains along the top singular path of ``T Sigma_x^(1/2)``.

    Attributes
    ----------
    gains : (N+1,) float64
        ``a_0, ..., a_N``.
    ratios : (N,) float64
        Per-layer gains ``a_k / a_(k-1)``.
    balanced : float
        The balanced per-layer gain ``(s / a_0)^(1/N)`` (``sigma_1(T)^(1/N)`` when whitened).
    s : float
        Top singular value of ``T Sigma_x^(1/2)``.
    path_bound : float
        ``s^2 sum_k (a_(k-1)/a_k)^2``, a lower bound on ``lambda_max`` at a global minimum.
    amgm_bound : float
        ``N s^(2-2/N) a_0^(2/N)``, a lower bound on ``path_bound`` (the minimal sharpness when whitened).
    spectral_norms : (N,) float64
        ``||W_k||_2`` per layer.
    """

    gains: np.ndarray
    ratios: np.ndarray
    balanced: float
    s: float
    path_bound: float
    amgm_bound: float
    spectral_norms: np.ndarray

    @property
    def imbalance(self) -> float:
        """Largest relative deviation of a per-layer gain from the balanced value."""
        return float(np.max(np.abs(self.ratios / self.balanced - 1.0)))


def layer_gains(weights: Any, T: Any, *, sigma_x: Any = None) -> LayerGains:
    """Gains ``a_k`` of the top path of ``T Sigma_x^(1/2)`` through ``weights`` and the sharpness bounds."""
    w = check_weights(weights)
    t = check_target(T)
    if t.shape != (w[-1].shape[0], w[0].shape[1]):
        raise ValueError(f"T has shape {t.shape}, the network maps {w[0].shape[1]} -> {w[-1].shape[0]}.")
    sig = check_sigma_x(sigma_x, t.shape[1])
    lam, q = np.linalg.eigh(sig)
    root = (q * np.sqrt(lam)) @ q.T
    u, sv, vt = np.linalg.svd(t @ root)
    s, v = float(sv[0]), vt[0]
    h = root @ v
    gains = [np.linalg.norm(h)]
    for wk in w:
        h = wk @ h
        gains.append(np.linalg.norm(h))
    a = np.asarray(gains)
    n = len(w)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = a[1:] / a[:-1]
        path = s**2 * float(np.sum((a[:-1] / a[1:]) ** 2))
    return LayerGains(
        gains=a,
        ratios=ratios,
        balanced=float((s / a[0]) ** (1.0 / n)),
        s=s,
        path_bound=path,
        amgm_bound=float(n * s ** (2 - 2 / n) * a[0] ** (2 / n)),
        spectral_norms=np.array([np.linalg.norm(wk, 2) for wk in w]),
    )


def sharpness_lower_bound(T: Any, depth: int, *, sigma_x: Any = None) -> float:
    """``N s^(2-2/N) a_0^(2/N)``: no global minimum is flatter (equals :func:`minimal_sharpness` when whitened).

    ``s`` is the top singular value of ``T Sigma_x^(1/2)`` and ``a_0 = ||Sigma_x^(1/2) v||`` for its top right
    singular vector ``v``; neither depends on the factorisation. Not tight for general ``Sigma_x``.
    """
    w = [check_target(T)] + [np.eye(check_target(T).shape[0])] * (int(depth) - 1)
    return layer_gains(w, T, sigma_x=sigma_x).amgm_bound


@dataclass(frozen=True)
class Coupling:
    """Singular-vector overlaps between consecutive layers.

    Attributes
    ----------
    overlaps : list of (d_k, d_k) float64, length N-1
        ``overlaps[k-1][i, j] = |<u_i(W_k), v_j(W_(k+1))>|`` (left singular vectors of ``W_k``
        against right singular vectors of ``W_(k+1)``, both sorted by singular value).
    top : (N-1,) float64
        ``|<u_1(W_k), v_1(W_(k+1))>|``: 1 when the top path is coupled.
    singular_values : list of (d_k,) arrays
        Singular values of each layer (for labelling; repeated values make vectors ambiguous).
    """

    overlaps: list
    top: np.ndarray
    singular_values: list


def coupling_matrix(weights: Any) -> Coupling:
    """Overlaps ``|U_k^T V_(k+1)|`` of singular vectors of consecutive layers (signs are irrelevant)."""
    w = check_weights(weights)
    svds = [np.linalg.svd(wk) for wk in w]
    overlaps = [np.abs(svds[k][0].T @ svds[k + 1][2].T) for k in range(len(w) - 1)]
    return Coupling(
        overlaps=overlaps,
        top=np.array([o[0, 0] for o in overlaps]),
        singular_values=[s[1] for s in svds],
    )


def balancedness(weights: Any) -> np.ndarray:
    """``||W_(k+1)^T W_(k+1) - W_k W_k^T||_F`` for k = 1..N-1 (conserved by gradient flow), shape (N-1,)."""
    w = check_weights(weights)
    return np.array([np.linalg.norm(w[k + 1].T @ w[k + 1] - w[k] @ w[k].T) for k in range(len(w) - 1)])


def end_to_end_error(weights: Any, T: Any) -> float:
    """Relative distance ``||W_N ... W_1 - T||_F / ||T||_F`` from the global-minimum manifold."""
    t = check_target(T)
    return float(np.linalg.norm(product(check_weights(weights)) - t) / np.linalg.norm(t))

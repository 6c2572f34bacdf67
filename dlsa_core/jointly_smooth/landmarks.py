"""Large-N Gaussian kernels through landmarks (Williams & Seeger 2001; Fowlkes et al. 2004).

The paper's dense Gaussian kernel ``exp(-d^2 / eps^2)`` with ``eps = 0.3 x median distance`` is wide:
its smooth eigenvectors are resolved by a few thousand landmarks. With ``C = K(X, L) (N, m)`` and the
landmark kernel ``K_LL = U Lambda U^T``, the Nystrom approximation ``K ~ G G^T`` with
``G = C U_d Lambda_d^{-1/2}`` has the eigenvectors ``G V S^{-1}`` and eigenvalues ``S^2`` (thin SVD of
``G``). Cost ``O(N m (D + d))`` time and ``O(N d)`` memory, against ``O(N^2)`` memory for the dense kernel.
A new sample maps through the same formula, so the Nystrom extension is exact at the training samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlsa_core.jointly_smooth.kernels import gaussian_kernel, top_eigh


@dataclass
class LandmarkKernel:
    """Gaussian kernel of one view through landmarks; ``features(Y) (n, d)`` are its eigenfunctions.

    Attributes
    ----------
    landmarks : (m, D) float64; eps : float; kind : "landmarks".
    projection : (m, d) float64, maps ``K(Y, L)`` to the eigenfunction values.
    """

    landmarks: np.ndarray
    eps: float
    projection: np.ndarray
    kind: str = "landmarks"
    chunk: int = 4096

    @property
    def X(self) -> np.ndarray:  # noqa: N802 (the estimator reads the fitted dimension from .X)
        return self.landmarks

    def features(self, Y: np.ndarray) -> np.ndarray:
        """Eigenfunction values at ``Y (n, D)``: ``(n, d)`` float64 (computed in row chunks)."""
        out = np.empty((Y.shape[0], self.projection.shape[1]))
        for s in range(0, Y.shape[0], self.chunk):
            out[s : s + self.chunk] = (
                gaussian_kernel(Y[s : s + self.chunk], self.landmarks, self.eps) @ self.projection
            )
        return out


def landmark_eigenbasis(
    X: np.ndarray, d: int, eps: float, *, n_landmarks: int = 2000, solver: str = "auto", random_state=None
):
    """Top-``d`` approximate eigenpairs of the Gaussian kernel of ``X (N, D)`` from ``n_landmarks`` points.

    Returns
    -------
    kernel : LandmarkKernel
    eigenvalues : (d,) float64, descending (of the approximate N x N kernel)
    basis : (N, d) float64, orthonormal columns
    """
    N = X.shape[0]
    m = int(min(n_landmarks, N))
    if not 1 <= d < m:
        raise ValueError(f"d={d} kernel eigenvectors need more landmarks than d (n_landmarks={m}).")
    rng = np.random.default_rng(random_state)
    L = X[np.sort(rng.choice(N, m, replace=False))]
    lam_l, U = top_eigh(gaussian_kernel(L, L, eps), d, solver=solver, random_state=rng.integers(2**31))
    if lam_l[-1] <= 0:
        raise ValueError("The landmark kernel is numerically singular at this d; lower d or the bandwidth.")
    first = LandmarkKernel(L, eps, U / np.sqrt(lam_l))
    G = first.features(X)  # (N, d): K ~ G G^T
    Q, S, Vt = np.linalg.svd(G, full_matrices=False)
    kernel = LandmarkKernel(L, eps, first.projection @ (Vt.T / S))
    return kernel, S**2, Q

"""Baselines with the estimator's interface: ``fit(views)`` then ``functions_ (N, n_functions)``.

* :class:`LinearCCA`: scikit-learn's CCA (K = 2); a feature is the normalised sum of a canonical pair.
* :class:`KernelCCA`: regularised kernel CCA in the MAXVAR form (Kettenring 1971) on centred Gaussian
  kernels: the leading eigenvectors of ``sum_k K_k (K_k + kappa I)^{-1}``. With ``kappa -> 0`` and a hard
  truncation this is the jointly smooth functions method; the ridge ``kappa`` is KCCA's soft truncation.
* :class:`ConcatenatedEigenmap`: Gaussian kernel eigenvectors of the concatenated views (each view scaled
  by its median distance), the "just stack the sensors" approach.
"""

from __future__ import annotations

import numpy as np
from sklearn.cross_decomposition import CCA

from dlsa_core.jointly_smooth.estimator import check_views, sign_flip
from dlsa_core.jointly_smooth.kernels import MAX_DENSE_N, ViewKernel, median_distance, top_eigh


def _unit_columns(F: np.ndarray) -> np.ndarray:
    F = F - F.mean(0)
    return F / np.maximum(np.linalg.norm(F, axis=0), 1e-300)


class LinearCCA:
    """Linear CCA between two views (scikit-learn ``CCA``); ``functions_ (N, m)`` unit-norm columns,
    ``m = min(n_functions, D_1, D_2)``; ``correlations_ (m,)`` the canonical correlations."""

    def __init__(self, n_functions=10, max_iter=1000):
        self.n_functions = n_functions
        self.max_iter = max_iter

    def fit(self, views, y=None):
        views = check_views(views)
        if len(views) != 2:
            raise ValueError("Linear CCA compares exactly two views.")
        X1, X2 = views
        m = int(min(self.n_functions, X1.shape[1], X2.shape[1], X1.shape[0] - 1))
        self.cca_ = CCA(n_components=m, max_iter=self.max_iter, scale=True).fit(X1, X2)
        S1, S2 = self.cca_.transform(X1, X2)
        S1, S2 = _unit_columns(S1), _unit_columns(S2)
        self.correlations_ = np.abs((S1 * S2).sum(0))
        self.functions_ = sign_flip(_unit_columns(S1 + np.sign((S1 * S2).sum(0)) * S2))
        return self

    def fit_transform(self, views, y=None):
        return self.fit(views).functions_


class KernelCCA:
    """Regularised multi-view kernel CCA (MAXVAR) on centred Gaussian kernels.

    Parameters
    ----------
    n_functions : int
    reg : float
        Ridge ``kappa`` relative to each view's largest kernel eigenvalue.
    n_components_kernel : int
        Kernel eigenvectors kept per view before the ridge weighting (a low-rank approximation).
    bandwidth_scale : float
        Gaussian ``eps = scale * median distance`` as in the estimator.
    """

    def __init__(
        self, n_functions=10, reg=1e-2, n_components_kernel=200, bandwidth_scale=0.3, random_state=None
    ):
        self.n_functions = n_functions
        self.reg = reg
        self.n_components_kernel = n_components_kernel
        self.bandwidth_scale = bandwidth_scale
        self.random_state = random_state

    def fit(self, views, y=None):
        views = check_views(views)
        N = views[0].shape[0]
        r = int(min(self.n_components_kernel, N - 1))
        m = int(min(self.n_functions, N))
        if not self.reg > 0:
            raise ValueError("The kernel CCA ridge reg must be positive.")
        rng = np.random.default_rng(self.random_state)
        blocks = []
        for X in views:
            _, K = ViewKernel.fit(
                X, kind="gaussian", bandwidth_scale=self.bandwidth_scale, random_state=rng.integers(2**31)
            )
            # Centre in feature space (H K H with H = I - 11^T / N, as in classical KCCA), in O(N^2).
            row = K.mean(0)
            Kc = K - row[None, :] - row[:, None] + row.mean()
            lam, U = top_eigh(Kc, r, random_state=rng.integers(2**31))
            lam = np.clip(lam, 0.0, None)
            blocks.append(U * np.sqrt(lam / (lam + self.reg * lam[0])))
        U, s, _ = np.linalg.svd(np.hstack(blocks), full_matrices=False)
        self.functions_ = sign_flip(U[:, :m])
        self.singular_values_ = s[:m]
        return self

    def fit_transform(self, views, y=None):
        return self.fit(views).functions_


class ConcatenatedEigenmap:
    """Top Gaussian-kernel eigenvectors of the concatenated views (``functions_ (N, n_functions)``)."""

    def __init__(self, n_functions=10, bandwidth_scale=0.3, random_state=None):
        self.n_functions = n_functions
        self.bandwidth_scale = bandwidth_scale
        self.random_state = random_state

    def fit(self, views, y=None):
        views = check_views(views)
        N = views[0].shape[0]
        if N > MAX_DENSE_N:
            raise ValueError(f"N={N} is too large for the dense concatenated eigenmap (limit {MAX_DENSE_N}).")
        rng = np.random.default_rng(self.random_state)
        # Each view divided by its median distance, so no sensor dominates through its units.
        Z = np.hstack([X / median_distance(X, random_state=rng.integers(2**31)) for X in views])
        _, K = ViewKernel.fit(
            Z, kind="gaussian", bandwidth_scale=self.bandwidth_scale, random_state=rng.integers(2**31)
        )
        lam, V = top_eigh(K, int(min(self.n_functions, N - 1)), random_state=rng.integers(2**31))
        self.eigenvalues_ = lam
        self.functions_ = sign_flip(V)
        return self

    def fit_transform(self, views, y=None):
        return self.fit(views).functions_


class SingleViewEigenmap:
    """Top Gaussian-kernel eigenvectors of one view alone (the "one sensor" baseline of the paper's figure)."""

    def __init__(self, n_functions=10, view=0, bandwidth_scale=0.3, random_state=None):
        self.n_functions = n_functions
        self.view = view
        self.bandwidth_scale = bandwidth_scale
        self.random_state = random_state

    def fit(self, views, y=None):
        views = check_views(views)
        X, N = views[self.view], views[0].shape[0]
        if N > MAX_DENSE_N:
            raise ValueError(f"N={N} is too large for a dense single-view eigenmap (limit {MAX_DENSE_N}).")
        rng = np.random.default_rng(self.random_state)
        _, K = ViewKernel.fit(
            X, kind="gaussian", bandwidth_scale=self.bandwidth_scale, random_state=rng.integers(2**31)
        )
        lam, V = top_eigh(K, int(min(self.n_functions, N - 1)), random_state=rng.integers(2**31))
        self.eigenvalues_ = lam
        self.functions_ = sign_flip(V)
        return self

    def fit_transform(self, views, y=None):
        return self.fit(views).functions_


BASELINES = {"linear CCA": LinearCCA, "kernel CCA": KernelCCA, "concatenated eigenmap": ConcatenatedEigenmap}

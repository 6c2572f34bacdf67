"""Jointly smooth functions (Dietrich, Yair, Mulayoff, Talmon & Kevrekidis, SIMODS 2022).

K views observe the same N events. Each view's kernel gives an orthonormal basis ``W_k (N, d_k)`` of its
smooth functions. The left singular vectors of ``W = [W_1, ..., W_K]`` maximise ``sum_k ||W_k^T f||^2``
(orthogonal to the previous ones): they are smooth on every view at once, ordered smoothest first, and
can only depend on what the views share. ``sigma^2 = K`` exactly when ``f`` lies in every view's span.

Usage::

    jsf = JointlySmoothFunctions(n_functions=5, n_kernel_eigenvectors=100, random_state=0)
    F = jsf.fit_transform([X1, X2])          # (N, 5), orthonormal columns, f_0 nearly constant
    F_new = jsf.transform({0: X1_new})       # Nystrom extension from view 0 alone
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator

from dlsa_core.jointly_smooth.kernels import ViewKernel, check_view, gaussian_bandwidth, top_eigh
from dlsa_core.jointly_smooth.landmarks import landmark_eigenbasis
from dlsa_core.jointly_smooth.nystrom import kept_eigenvectors, nystrom_extend, truncation_error
from dlsa_core.jointly_smooth.threshold import analytic_threshold, energy_spectrum, permutation_threshold


def check_views(views, *, min_views: int = 2) -> list[np.ndarray]:
    """Validate paired views: a sequence of at least ``min_views`` finite arrays with the same N."""
    if isinstance(views, np.ndarray) or not isinstance(views, Sequence) or len(views) < min_views:
        raise ValueError(f"views must be a list of at least {min_views} arrays (N, D_k) with paired rows.")
    out = [check_view(X, f"view {k}") for k, X in enumerate(views)]
    sizes = {X.shape[0] for X in out}
    if len(sizes) != 1:
        raise ValueError(
            f"All views must have the same number of samples (paired rows); got {[X.shape[0] for X in out]}."
        )
    return out


def sign_flip(F: np.ndarray) -> np.ndarray:
    """Make each column's largest-magnitude entry positive (a deterministic sign, as in scikit-learn)."""
    idx = np.argmax(np.abs(F), axis=0)
    return F * np.sign(F[idx, np.arange(F.shape[1])])


def combine_two(W1: np.ndarray, W2: np.ndarray, m: int):
    """K = 2 fast path: SVD of ``W_1^T W_2 = Q Gamma R^T``; ``f_i = (W_1 q_i + W_2 r_i) / sqrt(2(1+gamma_i))``.

    Returns the first ``m`` functions ``(N, m)`` and their singular values ``sqrt(1 + gamma_i)``.
    Cost ``O(N d^2)`` instead of an SVD of the ``N x 2d`` stack.
    """
    Q, gamma, Rt = np.linalg.svd(W1.T @ W2, full_matrices=False)
    gamma = np.clip(gamma[:m], 0.0, 1.0)
    F = (W1 @ Q[:, :m] + W2 @ Rt[:m].T) / np.sqrt(2.0 * (1.0 + gamma))
    return F, np.sqrt(1.0 + gamma)


def combine_stacked(bases: Sequence[np.ndarray], m: int):
    """General K: the first ``m`` left singular vectors of ``[W_1, ..., W_K]`` and their singular values."""
    U, s, _ = scipy.linalg.svd(np.hstack(bases), full_matrices=False, lapack_driver="gesdd")
    return U[:, :m], s[:m]


class JointlySmoothFunctions(BaseEstimator):
    """Functions smooth on every view at once, with Nystrom extension to new samples of any one view.

    Parameters
    ----------
    n_functions : int
        Number of functions kept (``f_0``, the near-constant one, included).
    n_kernel_eigenvectors : int or sequence of int
        ``d_k``, eigenvectors per view spanning its smooth subspace.
    kernel : {"gaussian", "knn"}
        Dense Gaussian ``exp(-d^2 / eps^2)`` (the paper; N up to 12,000, or any N with ``n_landmarks``)
        or sparse k-NN Gaussian (normalised, ``eigsh``; for large N).
    bandwidth : "median" or float
        ``eps``; with "median", ``eps = bandwidth_scale * median pairwise distance`` for the Gaussian
        kernel, and ``bandwidth_scale / 0.3 * median k-th neighbour distance`` for the k-NN kernel.
    bandwidth_scale : float
        See ``bandwidth`` (paper: 0.3).
    n_neighbors : int or None
        Neighbours of the k-NN kernel (default 30).
    threshold : {"analytic", "permutation"}, float or None
        How the noise floor E0 is obtained (None: not computed).
    random_state : int, Generator or None
        Seeds the randomised eigensolver, the median subsample and the permutations.
    eigen_solver : {"auto", "dense", "randomized", "arpack"}
        See :func:`dlsa_core.jointly_smooth.kernels.top_eigh`; "dense" is the paper's computation.
    combine : {"auto", "fast", "svd"}
        "fast" is the K = 2 closed form, "svd" the stacked SVD; "auto" uses "fast" when possible.
    n_permutations : int
        Permutations for ``threshold="permutation"``.
    eigenvalue_cutoff : float
        Relative eigenvalue cut-off for the Nystrom extension.
    n_landmarks : int or None
        With ``kernel="gaussian"``: approximate the dense kernel through this many random landmarks
        (memory ``O(N d)``; see :mod:`dlsa_core.jointly_smooth.landmarks`). None: the exact dense kernel.

    Attributes
    ----------
    functions_ : (N, n_functions) float64, orthonormal columns, smoothest first.
    singular_values_ : (n_functions,) float64 in ``[0, sqrt(K)]``.
    energies_ : (n_functions, K) float64, ``||W_k^T f_i||^2`` (smooth energy of f_i on view k).
    threshold_ : float or None, E0 on the ``sigma^2 / K`` scale.
    spectrum_ : (min(d_k),) float64 for K = 2, all energies ``sigma^2 / K`` (not only the kept functions).
    n_significant_ : int, functions (``f_0`` included) with ``sigma^2 / K > E0`` over the whole spectrum.
    eigenvalues_ : list of (d_k,) arrays; bases_ : list of (N, d_k) orthonormal arrays.
    bandwidths_ : list of float, the ``eps`` of each view.
    extension_error_ : (K, n_functions) relative in-sample Nystrom error of each view (eigenvalue cut-off).
    n_views_, n_samples_ : int.
    """

    def __init__(
        self,
        n_functions=10,
        n_kernel_eigenvectors=100,
        kernel="gaussian",
        bandwidth="median",
        bandwidth_scale=0.3,
        n_neighbors=None,
        threshold="analytic",
        random_state=None,
        *,
        eigen_solver="auto",
        combine="auto",
        n_permutations=5,
        eigenvalue_cutoff=1e-5,
        n_landmarks=None,
    ):
        self.n_functions = n_functions
        self.n_kernel_eigenvectors = n_kernel_eigenvectors
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.bandwidth_scale = bandwidth_scale
        self.n_neighbors = n_neighbors
        self.threshold = threshold
        self.random_state = random_state
        self.eigen_solver = eigen_solver
        self.combine = combine
        self.n_permutations = n_permutations
        self.eigenvalue_cutoff = eigenvalue_cutoff
        self.n_landmarks = n_landmarks

    # ------------------------------------------------------------------ fitting
    def _dims(self, K: int, N: int) -> list[int]:
        d = self.n_kernel_eigenvectors
        dims = [int(d)] * K if np.isscalar(d) else [int(x) for x in d]
        if len(dims) != K:
            raise ValueError(f"n_kernel_eigenvectors has {len(dims)} entries for {K} views.")
        for dk in dims:
            if not 1 <= dk < N:
                raise ValueError(
                    f"The number of kernel eigenvectors d={dk} must be between 1 and N-1={N - 1}."
                )
        return dims

    def fit(self, views, y=None, *, progress=None):
        """Fit on paired views, a list of K arrays ``(N, D_k)`` float. Returns ``self``.

        ``progress``, optional, is called as ``progress(fraction, message)`` before each view's kernel and
        eigensolver and before the combination (a UI's progress bar; a large k-NN fit takes tens of seconds).
        """
        report = progress or (lambda fraction, message: None)
        views = check_views(views)
        K, N = len(views), views[0].shape[0]
        dims = self._dims(K, N)
        m = int(self.n_functions)
        if not 1 <= m <= min(N, sum(dims)):
            raise ValueError(f"n_functions={m} must be between 1 and min(N, sum of d_k)={min(N, sum(dims))}.")
        rng = np.random.default_rng(self.random_state)
        self.kernels_, self.eigenvalues_, self.bases_ = [], [], []
        for k, (X, d) in enumerate(zip(views, dims, strict=True)):
            report(k / (K + 0.5), f"View {k + 1} of {K}: kernel and its top {d} eigenvectors…")
            if self.n_landmarks is not None and self.kernel == "gaussian":
                eps = gaussian_bandwidth(
                    X, self.bandwidth, self.bandwidth_scale, random_state=rng.integers(2**31)
                )
                vk, lam, W = landmark_eigenbasis(
                    X,
                    d,
                    eps,
                    n_landmarks=int(self.n_landmarks),
                    solver=self.eigen_solver,
                    random_state=rng.integers(2**31),
                )
            else:
                vk, A = ViewKernel.fit(
                    X,
                    kind=self.kernel,
                    bandwidth=self.bandwidth,
                    bandwidth_scale=self.bandwidth_scale,
                    n_neighbors=self.n_neighbors,
                    random_state=rng.integers(2**31),
                )
                lam, W = top_eigh(A, d, solver=self.eigen_solver, random_state=rng.integers(2**31))
                del A  # the N x N kernel is the memory peak; free it before the next view
            self.kernels_.append(vk)
            self.eigenvalues_.append(lam)
            self.bases_.append(W)
        self.bandwidths_ = [vk.eps for vk in self.kernels_]
        report(K / (K + 0.5), "Combining the views' bases…")
        combine = self.combine
        if combine == "auto":
            combine = "fast" if K == 2 and m <= min(dims) else "svd"
        if combine == "fast":
            if K != 2 or m > min(dims):
                raise ValueError("combine='fast' needs K = 2 views and n_functions <= min(d_1, d_2).")
            F, s = combine_two(*self.bases_, m)
        elif combine == "svd":
            F, s = combine_stacked(self.bases_, m)
        else:
            raise ValueError(f"Unknown combine {combine!r}; use 'auto', 'fast' or 'svd'.")
        self.functions_ = sign_flip(F)
        self.singular_values_ = np.clip(s, 0.0, np.sqrt(K))
        self.energies_ = np.stack([((W.T @ self.functions_) ** 2).sum(0) for W in self.bases_], axis=1)
        self.threshold_ = self._threshold(N, dims, rng)
        # Count over the whole spectrum, not only the n_functions kept (the count is not capped).
        self.spectrum_ = energy_spectrum(self.bases_)
        self.n_significant_ = (
            int((self.spectrum_ > self.threshold_).sum()) if self.threshold_ is not None else m
        )
        self.extension_error_ = np.stack(
            [
                truncation_error(lam, W, self.functions_, cutoff=self.eigenvalue_cutoff)
                for lam, W in zip(self.eigenvalues_, self.bases_, strict=True)
            ]
        )
        self.n_extension_eigenvectors_ = [
            int(kept_eigenvectors(lam, self.eigenvalue_cutoff).sum()) for lam in self.eigenvalues_
        ]
        self.n_views_, self.n_samples_ = K, N
        return self

    def _threshold(self, N, dims, rng):
        t = self.threshold
        if t is None:
            return None
        if isinstance(t, str):
            if t == "analytic":
                return analytic_threshold(N, dims, random_state=rng.integers(2**31))
            if t == "permutation":
                return permutation_threshold(
                    self.bases_, n_permutations=self.n_permutations, random_state=rng.integers(2**31)
                )
            raise ValueError(f"Unknown threshold {t!r}; use 'analytic', 'permutation', a number or None.")
        return float(t)

    @property
    def energy_(self) -> np.ndarray:
        """``sigma_i^2 / K`` (n_functions,): the mean smooth energy, compared with ``threshold_``."""
        return self.singular_values_**2 / self.n_views_

    # ------------------------------------------------------------------ extension
    def _check_fitted(self):
        if not hasattr(self, "functions_"):
            raise ValueError("This JointlySmoothFunctions instance is not fitted yet; call fit(views) first.")

    def transform_views(self, views) -> dict[int, np.ndarray]:
        """Nystrom extension from each given view separately: ``{k: (n, n_functions)}``.

        ``views`` is a list of K arrays (all views) or a dict ``{view_index: (n, D_k) array}``.
        """
        self._check_fitted()
        if isinstance(views, Mapping):
            items = dict(views)
            if not items:
                raise ValueError("Give at least one view to extend from.")
        else:
            vs = check_views(views, min_views=1)
            if len(vs) != self.n_views_:
                raise ValueError(
                    f"Expected {self.n_views_} views (or a dict {{view_index: array}}); got {len(vs)}."
                )
            items = dict(enumerate(vs))
        out, sizes = {}, set()
        for k, Y in items.items():
            if not (isinstance(k, (int, np.integer)) and 0 <= k < self.n_views_):
                raise ValueError(f"View index {k!r} is not in 0..{self.n_views_ - 1}.")
            Y = check_view(Y, f"view {k}")
            D = self.kernels_[k].X.shape[1]
            if Y.shape[1] != D:
                raise ValueError(f"View {k} has {Y.shape[1]} features; it was fitted with {D}.")
            sizes.add(Y.shape[0])
            out[int(k)] = nystrom_extend(
                self.kernels_[k],
                self.eigenvalues_[k],
                self.bases_[k],
                self.functions_,
                Y,
                cutoff=self.eigenvalue_cutoff,
            )
        if len(sizes) > 1:
            raise ValueError("The views given to transform must have the same number of samples.")
        return out

    def transform(self, views) -> np.ndarray:
        """Function values ``(n, n_functions)`` at new samples: the mean of the single-view extensions."""
        per_view = self.transform_views(views)
        return np.mean(list(per_view.values()), axis=0)

    def fit_transform(self, views, y=None) -> np.ndarray:
        """Fit and return ``functions_`` (the training values, exact rather than extended)."""
        return self.fit(views).functions_

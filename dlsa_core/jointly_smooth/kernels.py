"""Kernels on one view and their leading eigenvectors (the view's "smooth" subspace).

Two kernels, matching the paper and its large-N variant:

* ``gaussian``: dense ``K_ij = exp(-||x_i - x_j||^2 / eps^2)`` with ``eps = scale * median pairwise
  distance`` (Dietrich et al. 2022, official code). Unnormalised, as in the paper. Memory is ``8 N^2``
  bytes, so it is refused above :data:`MAX_DENSE_N`.
* ``knn``: a sparse k-nearest-neighbour Gaussian kernel (no self-loops), symmetrised and normalised as
  ``D^{-1/2} K D^{-1/2}`` (top eigenvalue 1) so that ``scipy.sparse.linalg.eigsh`` converges for
  hundreds of thousands of points.

Eigenvectors of the dense kernel come from a randomised subspace iteration (Halko et al. 2011) when
``d`` is small compared with ``N``: Gaussian kernel spectra decay fast, so a few power steps recover the
top-``d`` subspace at the cost of a few ``N x N x d`` products instead of an ``O(N^3)`` ``eigh``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
from sklearn.neighbors import NearestNeighbors

#: Largest N for a dense kernel (an N x N float64 matrix of 8 N^2 bytes: 1.1 GB at 12,000).
MAX_DENSE_N = 12_000
KERNELS = ("gaussian", "knn")


def check_view(X, name: str = "view") -> np.ndarray:
    """Validate one view: a finite 2-D float array ``(N, D)``; a 1-D array is taken as ``(N, 1)``."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (N, D); got shape {X.shape}.")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinite values; remove or impute them first.")
    return X


def squared_distances(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(n_X, n_Y)`` float64, clipped at 0 (round-off)."""
    d2 = (X * X).sum(1)[:, None] + (Y * Y).sum(1)[None, :] - 2.0 * (X @ Y.T)
    return np.maximum(d2, 0.0, out=d2)


def median_distance(X: np.ndarray, *, max_samples: int = 1000, random_state=None) -> float:
    """Median pairwise Euclidean distance (on a random subsample of ``max_samples`` rows for large N;
    500,000 pairs estimate the median to well under 1%)."""
    rng = np.random.default_rng(random_state)
    if X.shape[0] > max_samples:
        X = X[rng.choice(X.shape[0], max_samples, replace=False)]
    d2 = squared_distances(X, X)
    iu = np.triu_indices(X.shape[0], k=1)
    med = float(np.sqrt(np.median(d2[iu]))) if iu[0].size else 0.0
    if med <= 0:
        raise ValueError("All samples of a view coincide: the median distance is zero.")
    return med


def gaussian_bandwidth(X: np.ndarray, bandwidth="median", scale: float = 0.3, *, random_state=None) -> float:
    """``eps`` of the Gaussian kernel: ``scale x median pairwise distance`` or a given positive number."""
    if bandwidth == "median":
        if not float(scale) > 0:
            raise ValueError(f"bandwidth_scale must be positive; got {scale}.")
        return float(scale) * median_distance(X, random_state=random_state)
    eps = float(bandwidth)
    if not eps > 0:
        raise ValueError(f"bandwidth must be 'median' or a positive number; got {bandwidth}.")
    return eps


def gaussian_kernel(X: np.ndarray, Y: np.ndarray, eps: float) -> np.ndarray:
    """Dense Gaussian kernel ``exp(-||x - y||^2 / eps^2)``, shape ``(n_X, n_Y)`` float64."""
    K = squared_distances(X, Y)
    K *= -1.0 / eps**2
    return np.exp(K, out=K)


def randomized_top_eigh(A, d: int, *, oversample: int | None = None, n_iter: int = 4, random_state=None):
    """Top-``d`` eigenpairs of a symmetric positive semi-definite matrix by subspace iteration.

    Parameters
    ----------
    A : (N, N) ndarray or sparse matrix
    d : int
        Number of eigenpairs.
    oversample, n_iter : int
        Extra columns (default ``max(20, d // 2)``) and power steps; QR after each step keeps the basis
        well conditioned.

    Returns
    -------
    eigenvalues : (d,) float64, descending
    eigenvectors : (N, d) float64, orthonormal columns
    """
    N = A.shape[0]
    p = min(N, d + (oversample if oversample is not None else max(20, d // 2)))
    rng = np.random.default_rng(random_state)
    Q, _ = np.linalg.qr(rng.standard_normal((N, p)))
    for _ in range(n_iter):
        Q, _ = np.linalg.qr(A @ Q)
    B = Q.T @ (A @ Q)
    lam, V = np.linalg.eigh((B + B.T) / 2)
    order = np.argsort(lam)[::-1][:d]
    return lam[order], Q @ V[:, order]


def top_eigh(A, d: int, *, solver: str = "auto", random_state=None):
    """Top-``d`` eigenpairs of a symmetric kernel matrix, descending; eigenvectors ``(N, d)`` orthonormal.

    ``solver``: ``"dense"`` (LAPACK ``eigh`` on the top index range, the paper's computation),
    ``"randomized"`` (subspace iteration), ``"arpack"`` (Lanczos, ``eigsh``) or ``"auto"`` (ARPACK for
    sparse input, randomised when ``d <= N / 4``, else dense).
    """
    N = A.shape[0]
    if not 1 <= d < N:
        raise ValueError(f"The number of kernel eigenvectors d={d} must satisfy 1 <= d < N={N}.")
    if solver == "auto":
        solver = "arpack" if scipy.sparse.issparse(A) else ("randomized" if 4 * d <= N else "dense")
    if solver == "dense":
        A = A.toarray() if scipy.sparse.issparse(A) else A
        lam, V = scipy.linalg.eigh(A, subset_by_index=[N - d, N - 1])
        lam, V = lam[::-1], V[:, ::-1]
    elif solver == "randomized":
        lam, V = randomized_top_eigh(A, d, random_state=random_state)
    elif solver == "arpack":
        # A fixed start vector makes ARPACK deterministic for a given random_state.
        v0 = np.random.default_rng(random_state).uniform(0.5, 1.0, N)
        lam, V = scipy.sparse.linalg.eigsh(A, k=d, which="LA", v0=v0, tol=1e-6)
        order = np.argsort(lam)[::-1]
        lam, V = lam[order], V[:, order]
    else:
        raise ValueError(f"Unknown eigen solver {solver!r}; use 'auto', 'dense', 'randomized' or 'arpack'.")
    return np.ascontiguousarray(lam), np.ascontiguousarray(V)


@dataclass
class ViewKernel:
    """The kernel of one view, fitted on its training samples; evaluates cross-kernels for Nystrom.

    Attributes
    ----------
    X : (N, D) float64 training samples of the view.
    kind : "gaussian" or "knn".
    eps : float, the Gaussian bandwidth (``exp(-d^2 / eps^2)``).
    n_neighbors : int or None, neighbours of the sparse kernel.
    degree : (N,) float64 or None, row sums of the symmetrised sparse kernel (for normalisation).
    radius : (N,) float64 or None, each training point's distance to its k-th nearest other sample.
    """

    X: np.ndarray
    kind: str
    eps: float
    n_neighbors: int | None = None
    degree: np.ndarray | None = None
    radius: np.ndarray | None = None
    _nn: NearestNeighbors | None = None

    @classmethod
    def fit(
        cls,
        X,
        *,
        kind="gaussian",
        bandwidth="median",
        bandwidth_scale=0.3,
        n_neighbors=None,
        random_state=None,
    ):
        """Build the kernel of view ``X``; returns ``(ViewKernel, K)`` with ``K`` the training kernel."""
        if kind not in KERNELS:
            raise ValueError(f"Unknown kernel {kind!r}; use one of {KERNELS}.")
        N = X.shape[0]
        if kind == "gaussian" or bandwidth != "median":
            eps = gaussian_bandwidth(X, bandwidth, bandwidth_scale, random_state=random_state)
        else:
            eps = None  # the k-NN kernel's "median" bandwidth is set below from the neighbour distances
            if not float(bandwidth_scale) > 0:
                raise ValueError(f"bandwidth_scale must be positive; got {bandwidth_scale}.")
        if kind == "gaussian":
            if N > MAX_DENSE_N:
                raise ValueError(
                    f"N={N} is too large for a dense Gaussian kernel (limit {MAX_DENSE_N}, memory 8 N^2 "
                    "bytes); use kernel='knn' with n_neighbors."
                )
            return cls(X=X, kind=kind, eps=eps), gaussian_kernel(X, X, eps)
        k = int(n_neighbors or min(N - 1, 30))
        if not 2 <= k < N:
            raise ValueError(f"n_neighbors={k} must satisfy 2 <= n_neighbors < N={N}.")
        nn = NearestNeighbors(n_neighbors=k).fit(X)
        # No self-loops: each sample's k nearest *other* samples (kneighbors without X skips the query
        # point). A new sample's row then has the same law as a training row, so the Nystrom extension
        # is unbiased at held-out points (self-loops of weight 1 made it about 1/k too low).
        dist, idx = nn.kneighbors()
        if eps is None:
            # Local scale: the median distance to the k-th neighbour, times bandwidth_scale / 0.3 so the
            # paper's default 0.3 gives eps equal to that median (a kernel that decays inside the
            # neighbourhood, the regime in which a truncated kernel is a good approximation).
            eps = float(np.median(dist[:, -1])) * bandwidth_scale / 0.3
        W = _knn_matrix(dist, idx, eps, N)
        W = W.maximum(W.T).tocsr()  # symmetrise: i ~ j if either is among the other's neighbours
        degree = np.asarray(W.sum(1)).ravel()
        inv_sqrt = scipy.sparse.diags(1.0 / np.sqrt(degree))
        A = (inv_sqrt @ W @ inv_sqrt).tocsr()
        return cls(
            X=X, kind=kind, eps=eps, n_neighbors=k, degree=degree, radius=dist[:, -1].copy(), _nn=nn
        ), A

    def cross(self, Y: np.ndarray) -> np.ndarray | scipy.sparse.csr_matrix:
        """Kernel between new samples ``Y (n, D)`` and the training samples, ``(n, N)``, built exactly like
        the training kernel (dense for ``gaussian``, sparse for ``knn``).

        For ``knn`` the training graph has no self-loops and is symmetrised: ``x_i ~ x_j`` when either is among the other's k
        nearest neighbours. A new point ``y`` is therefore joined to ``x_j`` when ``x_j`` is among ``y``'s
        k nearest neighbours *or* ``y`` is closer to ``x_j`` than ``x_j``'s own k-th neighbour (radius
        ``r_j``); the row is normalised by ``y``'s degree in that graph and the training degrees. At a
        training point this row equals the training kernel's row, so the Nystrom extension there is the
        projection on the view's eigenvectors (the docstring of :mod:`nystrom` relies on it).
        """
        if self.kind == "gaussian":
            return gaussian_kernel(Y, self.X, self.eps)
        n, N = Y.shape[0], self.X.shape[0]
        k = int(self.n_neighbors)
        tol = 1e-7 * self.eps  # a sample equal to a training sample *is* that sample (no self-loop)
        dist, idx = self._nn.kneighbors(Y, n_neighbors=min(k + 1, N))
        dist, idx = _drop_self(dist, idx, tol, k)
        rdist, ridx = self._nn.radius_neighbors(Y, radius=float(self.radius.max()) * (1 + 1e-9))
        rows = [np.repeat(np.arange(n), k)]
        cols, dists = [idx.ravel()], [dist.ravel()]
        for r, (dr, ir) in enumerate(zip(rdist, ridx, strict=True)):
            # y would be among x_j's k nearest neighbours (relative slack: the two queries round apart)
            inside = (dr <= self.radius[ir] * (1 + 1e-9)) & (dr > tol)
            rows.append(np.full(int(inside.sum()), r))
            cols.append(ir[inside])
            dists.append(dr[inside])
        rows, cols, dists = np.concatenate(rows), np.concatenate(cols), np.concatenate(dists)
        W = scipy.sparse.csr_matrix((np.exp(-(dists**2) / self.eps**2), (rows, cols)), shape=(n, N))
        W.sum_duplicates()
        # Duplicates (an edge found both ways) were summed: divide back to the single weight.
        counts = scipy.sparse.csr_matrix((np.ones_like(dists), (rows, cols)), shape=(n, N))
        counts.sum_duplicates()
        W.data /= counts.data
        d_new = np.asarray(W.sum(1)).ravel()
        left = scipy.sparse.diags(1.0 / np.sqrt(np.maximum(d_new, 1e-300)))
        return (left @ W @ scipy.sparse.diags(1.0 / np.sqrt(self.degree))).tocsr()


def _drop_self(dist: np.ndarray, idx: np.ndarray, tol: float, k: int):
    """Per row, the first ``k`` neighbours farther than ``tol`` (drops a coinciding training sample)."""
    keep = dist > tol
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # kept columns first, in distance order
    return np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)


def _knn_matrix(dist: np.ndarray, idx: np.ndarray, eps: float, n_cols: int) -> scipy.sparse.csr_matrix:
    """Sparse ``(n, n_cols)`` Gaussian weights on each row's k nearest neighbours."""
    n, k = idx.shape
    indptr = np.arange(0, n * k + 1, k)
    return scipy.sparse.csr_matrix(
        (np.exp(-(dist.ravel() ** 2) / eps**2), idx.ravel(), indptr), shape=(n, n_cols)
    )

"""Per-timestep PCA of h (Haas et al., Sec. 3.1): global, unsupervised directions.

For each sampling step separately, h_t of n samples is flattened, centred and decomposed with
scikit-learn's ``PCA`` (exact SVD up to 1,500 samples, the randomized solver above). The j-th
direction is the j-th principal axis of every step, signs aligned with the first step (PCA signs are
arbitrary per step; unaligned, the edits would cancel across steps) and scaled to one standard deviation ``s_j / sqrt(n - 1)`` of that step's scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA

FULL_SVD_MAX_N = 1500


@dataclass
class TimestepPCA:
    """Result of :func:`timestep_pca`.

    Attributes
    ----------
    components : (S, k, d) float64
        Orthonormal principal axes per step, sign-aligned with step 0.
    std : (S, k) float64
        Standard deviation of the scores along each axis (``sqrt(explained_variance_)``).
    explained_ratio : (S, k) float64
    mean : (S, d) float64
    n_samples : int
    """

    components: np.ndarray
    std: np.ndarray
    explained_ratio: np.ndarray
    mean: np.ndarray
    n_samples: int

    def direction(self, j: int) -> np.ndarray:
        """Direction ``j`` (0-based) as ``(S, d)``: unit axis times one standard deviation, per step."""
        return self.components[:, j] * self.std[:, j, None]


def align_signs(components: np.ndarray) -> np.ndarray:
    """Flip each step's axis when its inner product with step 0's axis is negative.

    Parameters
    ----------
    components : (S, k, d)

    Returns
    -------
    (S, k, d) array with ``<v_t, v_0> >= 0`` for every step t and axis.
    """
    comps = np.array(components, dtype=np.float64, copy=True)
    dots = np.einsum("skd,kd->sk", comps, comps[0])
    comps *= np.where(dots < 0, -1.0, 1.0)[..., None]
    return comps


def timestep_pca(h: np.ndarray, n_components: int = 8, *, random_state: int = 0) -> TimestepPCA:
    """PCA of h at every step.

    Parameters
    ----------
    h : (n, S, d) array (float16/32/64)
        Flattened h of n samples at S steps.
    n_components : int
        Number of axes k (at most min(n - 1, d)).

    Returns
    -------
    TimestepPCA
    """
    h = np.asarray(h)
    if h.ndim != 3:
        raise ValueError(f"h must be (n, steps, d), got {h.shape}")
    n, steps, d = h.shape
    k = int(n_components)
    if not 1 <= k <= min(n - 1, d):
        raise ValueError(f"n_components must be in [1, {min(n - 1, d)}] for n={n} samples, got {k}")
    comps = np.empty((steps, k, d))
    std = np.empty((steps, k))
    ratio = np.empty((steps, k))
    mean = np.empty((steps, d))
    for s in range(steps):
        x = h[:, s].astype(np.float64)
        if not np.isfinite(x).all():
            raise ValueError(f"h at step {s} contains NaN or inf")
        # exact SVD while it is cheap; above that the randomized solver (Halko et al.) with extra power
        # iterations finds the top k axes of a (5000, 6272) step in seconds instead of minutes
        solver = "full" if n <= FULL_SVD_MAX_N else "randomized"
        pca = PCA(n_components=k, svd_solver=solver, iterated_power=10, random_state=random_state).fit(x)
        comps[s] = pca.components_
        std[s] = np.sqrt(pca.explained_variance_)  # explained_variance_ divides by n - 1
        ratio[s] = pca.explained_variance_ratio_
        mean[s] = pca.mean_
    return TimestepPCA(align_signs(comps), std, ratio, mean, n)

"""The noise floor E0: the smooth energy that unrelated views would already give.

Energies are on the scale ``e = sigma^2 / K`` (the mean over views of ``||W_k^T f||^2``), which for
K = 2 is the paper's ``(1 + gamma) / 2``. A function is *significant* when its energy exceeds E0.

* Analytic (official code, K = 2): the edge of the largest canonical correlation between two random
  subspaces of dimensions ``d_1, d_2`` in R^N (Wachter / Jacobi-ensemble asymptotics, with the official
  half-integer finite-size correction). For K > 2 no closed form is used; the same null (independent
  random subspaces) is simulated instead.
* Permutation: shuffle the rows of every view but the first, which destroys the pairing. Permuting a
  view's samples permutes its kernel eigenvectors, so no eigendecomposition is redone. The top pair is
  the trivial near-constant one and is skipped; the median over several permutations guards against a
  single outlier (localised eigenvectors in sparse tails).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def analytic_threshold(n_samples: int, dims: Sequence[int], *, random_state=None, n_draws: int = 3) -> float:
    """Analytic (K = 2) or simulated random-subspace (K > 2) noise floor E0 on the ``sigma^2 / K`` scale.

    Parameters
    ----------
    n_samples : int
        N, the number of paired samples.
    dims : sequence of int
        ``d_k``, the number of kernel eigenvectors of each view.

    Returns
    -------
    float
        E0 in ``[1/K, 1]``. Examples: N = 4000, d = 1000 gives 0.933; N = 2000, d = 100 gives 0.718.
    """
    N, dims = int(n_samples), [int(d) for d in dims]
    if len(dims) == 2:
        d1, d2 = dims
        gamma = (np.sqrt((d1 - 0.5) * (N - d2 - 0.5)) + np.sqrt((d2 - 0.5) * (N - d1 - 0.5))) / (N - 1)
        return float((1.0 + min(gamma, 1.0)) / 2.0)
    rng = np.random.default_rng(random_state)
    edges = []
    for _ in range(n_draws):
        bases = [np.linalg.qr(rng.standard_normal((N, d)))[0] for d in dims]
        edges.append(stacked_singular_values(bases)[0] ** 2 / len(dims))
    return float(np.median(edges))


def stacked_singular_values(bases: Sequence[np.ndarray]) -> np.ndarray:
    """Singular values (descending) of ``[W_1, ..., W_K]`` through its small Gram matrix."""
    W = np.hstack(bases)
    lam = np.linalg.eigvalsh(W.T @ W)[::-1]
    return np.sqrt(np.clip(lam, 0.0, None))


def permutation_threshold(
    bases: Sequence[np.ndarray], *, n_permutations: int = 5, random_state=None
) -> float:
    """Median over permutations of the second-largest energy with the pairing destroyed.

    Parameters
    ----------
    bases : sequence of (N, d_k) float64 arrays with orthonormal columns
        The kernel eigenvectors of each view (as fitted).
    n_permutations : int
        Number of independent permutations (the paper's code uses one; the median of several is robust).

    Returns
    -------
    float
        E0 on the ``sigma^2 / K`` scale.
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be at least 1; got {n_permutations}.")
    rng = np.random.default_rng(random_state)
    K, N = len(bases), bases[0].shape[0]
    values = []
    for _ in range(n_permutations):
        shuffled = [bases[0]] + [B[rng.permutation(N)] for B in bases[1:]]
        if K == 2:
            s = np.linalg.svd(shuffled[0].T @ shuffled[1], compute_uv=False)
            values.append((1.0 + s[1]) / 2.0)  # s[0]: the trivial near-constant pair
        else:
            values.append(stacked_singular_values(shuffled)[1] ** 2 / K)
    return float(np.median(values))

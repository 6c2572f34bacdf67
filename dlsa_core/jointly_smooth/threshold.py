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
from dataclasses import dataclass

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


def energy_spectrum(bases: Sequence[np.ndarray]) -> np.ndarray:
    """All smooth energies ``sigma_i^2 / K`` (descending, uncapped by ``n_functions``).

    K = 2: ``(1 + gamma_i) / 2`` for the ``min(d_1, d_2)`` cosines ``gamma_i`` of ``W_1^T W_2``; general K:
    the squared singular values of ``[W_1, ..., W_K]`` over K (the first ``min(N, sum d_k)``).
    """
    if len(bases) == 2:
        gamma = np.clip(np.linalg.svd(bases[0].T @ bases[1], compute_uv=False), 0.0, 1.0)
        return (1.0 + gamma) / 2.0
    return stacked_singular_values(bases) ** 2 / len(bases)


def default_permutations(n_samples: int, dims: Sequence[int], *, budget_flops: float = 1e9) -> int:
    """How many permutations fit a ~1 s budget: each costs about ``N d_1 d_2 + 10 d^3`` flops (20..100)."""
    d1, d2 = sorted(int(d) for d in dims)[-2:] if len(dims) > 1 else (dims[0], dims[0])
    cost = n_samples * d1 * d2 * (len(dims) - 1) + 10.0 * max(dims) ** 3
    return int(np.clip(budget_flops / cost, 20, 100))


def permutation_null(
    bases: Sequence[np.ndarray], *, n_permutations: int = 50, random_state=None
) -> np.ndarray:
    """Null distribution of the largest non-trivial energy with the pairing destroyed, ``(n_permutations,)``.

    Each draw shuffles the rows of every view but the first and records the second-largest energy (the
    first is the trivial near-constant pair). Its median is the permutation E0; its upper quantiles say how
    far above E0 an energy must be before it is more than a null fluctuation.
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be at least 1; got {n_permutations}.")
    rng = np.random.default_rng(random_state)
    N = bases[0].shape[0]
    out = np.empty(n_permutations)
    for p in range(n_permutations):
        shuffled = [bases[0]] + [B[rng.permutation(N)] for B in bases[1:]]
        out[p] = energy_spectrum(shuffled)[1]
    return out


@dataclass(frozen=True)
class NoiseFloor:
    """E0 with its uncertainty: the value a function's energy must clear to count as jointly smooth.

    Attributes
    ----------
    analytic : float, the random-subspace formula (:func:`analytic_threshold`).
    null : (P,) float64, the permutation null of the largest non-trivial energy.
    method : "analytic" or "permutation", which E0 is used.
    level : float, the null quantile that a counted function must clear (default 0.95).
    """

    analytic: float
    null: np.ndarray
    method: str = "analytic"
    level: float = 0.95

    @property
    def permutation(self) -> float:
        """Permutation E0: the median of the null."""
        return float(np.median(self.null))

    @property
    def e0(self) -> float:
        return self.analytic if self.method == "analytic" else self.permutation

    @property
    def band(self) -> tuple[float, float]:
        """The central null band (5 % and 95 % quantiles by default)."""
        return float(np.quantile(self.null, 1 - self.level)), float(np.quantile(self.null, self.level))

    @property
    def margin(self) -> float:
        """How far the null's upper quantile lies above its median: the fluctuation of E0 itself."""
        return max(float(np.quantile(self.null, self.level)) - self.permutation, 0.0)

    @property
    def cut(self) -> float:
        """The energy a function must exceed to be counted: ``E0 + margin``."""
        return self.e0 + self.margin

    def count(self, spectrum: np.ndarray) -> int:
        """Functions (``f_0`` included) whose energy clears ``E0 + margin``; ``spectrum`` is uncapped."""
        return int((np.asarray(spectrum) > self.cut).sum())


def noise_floor(
    bases: Sequence[np.ndarray],
    method: str = "analytic",
    *,
    n_permutations: int | None = None,
    level: float = 0.95,
    random_state=None,
) -> NoiseFloor:
    """Analytic E0 and the permutation null of the fitted bases (one computation, one seed)."""
    if method not in ("analytic", "permutation"):
        raise ValueError(f"Unknown noise floor {method!r}; use 'analytic' or 'permutation'.")
    if not 0.5 < level < 1:
        raise ValueError(f"level must be in (0.5, 1); got {level}.")
    rng = np.random.default_rng(random_state)
    N, dims = bases[0].shape[0], [B.shape[1] for B in bases]
    P = n_permutations or default_permutations(N, dims)
    return NoiseFloor(
        analytic=analytic_threshold(N, dims, random_state=rng.integers(2**31)),
        null=permutation_null(bases, n_permutations=P, random_state=rng.integers(2**31)),
        method=method,
        level=level,
    )

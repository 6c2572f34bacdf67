"""Dense d^2 x d^2 second-moment operators, for small d only: the definitions the fast code is tested against.

``Q`` maps ``vec(Sigma_t)`` to ``vec(Sigma_{t+1})``, ``Sigma_t = E[(theta_t - theta*)(theta_t - theta*)^T]``.
Two independent constructions (digest Section 2.3, invariant 1):

* :func:`sgd_operator_enumerated`: average ``(I - eta H_B) kron (I - eta H_B)`` over every batch subset;
* :func:`mixture_operator`: the ALG(p) form ``(1-p) A kron A + p mean_i A_i kron A_i``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from dlsa_core.stability.spectral import _check_int, as_array, batch_p, check_eta

#: Dense operators have d^4 entries; refuse beyond this d.
DENSE_MAX_D = 40
#: Subset enumeration visits C(n, B) batches; refuse beyond this count.
MAX_SUBSETS = 200_000


def _hessians(hessians: Any) -> np.ndarray:
    hs = as_array(hessians, "hessians", 3)
    if hs.shape[1] != hs.shape[2]:
        raise ValueError(f"hessians must have shape (n, d, d), got {hs.shape}.")
    if hs.shape[1] > DENSE_MAX_D:
        raise ValueError(
            f"dense d^2 x d^2 operators are limited to d <= {DENSE_MAX_D}; got d = {hs.shape[1]}."
        )
    return hs


def c_d_matrices(
    hessians: Any, batch_size: int, *, replacement: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Dense ``C = (H kron I + I kron H)/2`` and ``D = (1-p) H kron H + p mean_i H_i kron H_i``, (d^2, d^2)."""
    hs = _hessians(hessians)
    n, d, _ = hs.shape
    p = batch_p(n, batch_size, replacement=replacement)
    h = hs.mean(axis=0)
    eye = np.eye(d)
    c = 0.5 * (np.kron(h, eye) + np.kron(eye, h))
    dd = (1 - p) * np.kron(h, h) + p * np.mean([np.kron(hi, hi) for hi in hs], axis=0)
    return c, dd


def mixture_operator(hessians: Any, eta: float, batch_size: int, *, replacement: bool = False) -> np.ndarray:
    """ALG(p) second-moment operator ``(1-p) A kron A + p mean_i A_i kron A_i``, shape (d^2, d^2)."""
    hs = _hessians(hessians)
    eta = check_eta(eta)
    n, d, _ = hs.shape
    p = batch_p(n, batch_size, replacement=replacement)
    a = np.eye(d) - eta * hs.mean(axis=0)
    single = np.mean([np.kron(np.eye(d) - eta * hi, np.eye(d) - eta * hi) for hi in hs], axis=0)
    return (1 - p) * np.kron(a, a) + p * single


def sgd_operator_enumerated(hessians: Any, eta: float, batch_size: int) -> np.ndarray:
    """SGD second-moment operator by enumerating every batch (uniform subsets of size B), (d^2, d^2)."""
    hs = _hessians(hessians)
    eta = check_eta(eta)
    n, d, _ = hs.shape
    batch_size = _check_int(batch_size, "batch size", 1, n)
    if math.comb(n, batch_size) > MAX_SUBSETS:
        raise ValueError(f"C({n}, {batch_size}) subsets is too many to enumerate (limit {MAX_SUBSETS}).")
    q = np.zeros((d * d, d * d))
    count = 0
    for subset in itertools.combinations(range(n), batch_size):
        a = np.eye(d) - eta * hs[list(subset)].mean(axis=0)
        q += np.kron(a, a)
        count += 1
    return q / count

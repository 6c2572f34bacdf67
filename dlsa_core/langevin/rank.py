"""Hessian rank from a Langevin loss trace, and the exact Gauss-Newton rank of deep linear networks.

With noise matched to the preconditioner (``D = c P``), the stationary excess loss is ``c rank(H) / 4``, so
``rank ~ 4 (<L>_time - L(theta_0)) / c`` for a run started at the minimum (Bar et al., AAAI 2024).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlsa_core.langevin.simulation import check_int, check_positive


@dataclass(frozen=True)
class RankEstimate:
    """A Langevin rank estimate over independent runs.

    Attributes
    ----------
    rank : float, the mean of the per-run estimates
    stderr : float, its standard error over runs (``nan`` for a single run)
    per_run : (runs,) float64 ndarray
    """

    rank: float
    stderr: float
    per_run: np.ndarray

    def __float__(self) -> float:
        return self.rank


def estimate_rank(loss_trace: Any, noise_scale: float, *, burn_in: int, baseline: Any = None) -> RankEstimate:
    """``4 (<L>_time - L(theta_0)) / c``: the rank read off a loss trace started at a minimum.

    Parameters
    ----------
    loss_trace : (steps + 1,) or (runs, steps + 1) array-like
        Losses; column 0 is ``L(theta_0)``, the loss at the minimum (or pass ``baseline``).
    noise_scale : float > 0, ``c`` in ``D = c P``
    burn_in : int >= 0, the first ``burn_in`` recorded losses after the start are not averaged
    baseline : float or (runs,) array-like, optional, ``L*`` if column 0 is not the minimum's loss

    Returns
    -------
    RankEstimate
    """
    trace = np.asarray(loss_trace, dtype=np.float64)
    if trace.ndim == 1:
        trace = trace[None, :]
    if trace.ndim != 2 or trace.shape[1] < 2:
        raise ValueError("loss_trace must be (steps + 1,) or (runs, steps + 1) with at least 2 entries.")
    c = check_positive(noise_scale, "noise scale")
    burn_in = check_int(burn_in, "burn_in", 0, trace.shape[1] - 2)
    tail = trace[:, 1 + burn_in :]
    if not np.all(np.isfinite(tail)):
        raise ValueError("the loss trace contains NaN or inf (the run diverged: lower the step size).")
    l0 = trace[:, 0] if baseline is None else np.broadcast_to(np.asarray(baseline, float), trace.shape[:1])
    per_run = 4 * (tail.mean(1) - l0) / c
    se = float(per_run.std(ddof=1) / np.sqrt(per_run.size)) if per_run.size > 1 else float("nan")
    return RankEstimate(rank=float(per_run.mean()), stderr=se, per_run=per_run)


def deep_linear_gn_rank(widths: Sequence[int]) -> int:
    """Rank of the Gauss-Newton matrix of ``W_L ... W_1`` at full-rank weights with whitened inputs.

    ``q (d_0 + d_L - q)`` with ``q = min_i d_i``: the dimension of the set of ``d_L x d_0`` matrices of rank
    ``<= q`` that the end-to-end product sweeps out. For square width ``d`` this is ``d^2``.

    Parameters
    ----------
    widths : sequence of int >= 1, ``[d_0, d_1, ..., d_L]`` (input, hidden..., output), ``L >= 1``
    """
    w = [check_int(x, "width", 1, 1_000_000) for x in widths]
    if len(w) < 2:
        raise ValueError("widths needs at least an input and an output width.")
    q = min(w)
    return q * (w[0] + w[-1] - q)

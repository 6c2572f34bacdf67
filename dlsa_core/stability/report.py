"""One call that gathers everything the stability-region figure needs, for many batch sizes at once."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlsa_core.stability.bounds import bound_rank_one, bound_top_eigvec, bound_trace, sandwich_bounds
from dlsa_core.stability.spectral import _check_int, batch_p, to_spectral
from dlsa_core.stability.thresholds import generalized_sharpness, threshold_curve


def batch_grid(n: int, max_points: int = 24) -> np.ndarray:
    """Batch sizes for a curve: every B when n is small, else log-spaced (always with 1 and n), int64."""
    n = _check_int(n, "number of samples n", 1)
    if n <= max_points:
        return np.arange(1, n + 1)
    grid = np.unique(np.round(np.geomspace(1, n, max_points)).astype(np.int64))
    extra = 1  # rounding merges small B: top up with the smallest missing sizes
    while len(grid) < max_points and extra < n:
        grid = np.union1d(grid, [extra])
        extra += 1
    return grid


def stability_report(problem: Any, batch_sizes: Any = None, *, replacement: bool = False) -> dict:
    """Exact threshold, GD line and all bounds along a batch-size grid.

    Returns
    -------
    dict of (m,) float64 arrays (``batch_size`` is int64): ``batch_size``, ``p``, ``eta_star``,
    ``eta_gd``, ``bound_15``, ``bound_16``, ``bound_rank_one`` (necessary: each ``>= eta_star``) and
    ``sufficient`` (the sandwich lower bound, ``<= eta_star``); plus scalars ``lambda_max``, ``mu_1``,
    ``n``, ``d``, ``space``.
    """
    spec = to_spectral(problem)
    bs = batch_grid(spec.n) if batch_sizes is None else np.atleast_1d(np.asarray(batch_sizes, dtype=np.int64))
    ps = np.array([batch_p(spec.n, int(b), replacement=replacement) for b in bs])
    eta_star = threshold_curve(spec, bs, replacement=replacement)
    mu1 = generalized_sharpness(spec, 1.0)[0]
    lower, _ = sandwich_bounds(spec, bs, replacement=replacement, mu1=mu1)
    return {
        "batch_size": bs,
        "p": ps,
        "eta_star": eta_star,
        "eta_gd": np.full(len(bs), 2.0 / spec.lam[0]),
        "bound_15": bound_top_eigvec(spec, bs, replacement=replacement),
        "bound_16": bound_trace(spec, bs, replacement=replacement),
        "bound_rank_one": bound_rank_one(spec, bs, replacement=replacement),
        "sufficient": lower,
        "lambda_max": float(spec.lam[0]),
        "mu_1": float(mu1),
        "n": spec.n,
        "d": spec.d,
        "space": spec.space,
    }


def exact_report(
    problem: Any, eta: float, batch_size: int, *, steps: int = 100, replacement: bool = False
) -> dict:
    """The exact (deterministic) side of the dynamics at one (B, eta): fast, no simulation.

    Returns
    -------
    dict with ``t`` (steps + 1,) int; ``exact`` (steps + 1,) float64: ``E||theta_t - theta*||^2`` by the
    ALG(p) recursion; ``exact_enum``: the same by averaging over every batch (an independent check, only
    for small problems, else ``None``); ``eta_star``; ``rho`` (spectral radius of Q, the asymptotic
    per-step factor); ``stable`` (``eta <= eta*``); ``p``.
    """
    from dlsa_core.stability.recursion import MAX_BATCHES, second_moment_enumerated, second_moment_trajectory
    from dlsa_core.stability.thresholds import sgd_threshold, spectral_radius

    spec = to_spectral(problem)
    eta_star = sgd_threshold(spec, batch_size, replacement=replacement)
    exact = second_moment_trajectory(spec, eta, batch_size, steps, replacement=replacement)
    count = spec.n**batch_size if replacement else math.comb(spec.n, batch_size)
    enum = (
        second_moment_enumerated(spec, eta, batch_size, steps, replacement=replacement)
        if count * spec.r**2 <= MAX_BATCHES * 4
        else None
    )
    return {
        "t": np.arange(steps + 1),
        "exact": exact,
        "exact_enum": enum,
        "eta_star": eta_star,
        "rho": spectral_radius(spec, eta, batch_size, replacement=replacement),
        "stable": bool(eta <= eta_star * (1 + 1e-12)),  # snapping to eta* must read "stable"
        "p": batch_p(spec.n, batch_size, replacement=replacement),
    }


def mc_report(
    problem: Any,
    eta: float,
    batch_size: int,
    *,
    steps: int = 100,
    runs: int = 1000,
    seed: int = 0,
    replacement: bool = False,
    n_paths: int = 0,
    device: Any = None,
) -> dict:
    """The Monte Carlo side: SGD and ALG(p) summaries (:func:`mc_summary`), optional single ``paths``,
    and ``seconds`` (wall time of the simulation)."""
    import time

    from dlsa_core.stability.simulation import mc_summary, simulate_sgd

    start = time.perf_counter()
    sim = simulate_sgd(
        problem,
        eta,
        batch_size,
        steps,
        runs,
        seed=seed,
        device=device,
        replacement=replacement,
        n_paths=n_paths,
    )
    out = {"mc": {proc: mc_summary(sim[proc]) for proc in ("sgd", "mixture")}, "p": sim["p"]}
    out["seconds"] = time.perf_counter() - start
    if n_paths:
        out["paths"] = sim["paths"]
    return out


def dynamics_report(
    problem: Any,
    eta: float,
    batch_size: int,
    *,
    steps: int = 100,
    runs: int = 1000,
    seed: int = 0,
    replacement: bool = False,
    n_paths: int = 0,
    device: Any = None,
) -> dict:
    """Exact second moment beside Monte Carlo (SGD and ALG(p)) at one (B, eta), plus the verdict.

    Returns
    -------
    dict with ``t`` (steps + 1,) int, ``exact`` (steps + 1,) float64, ``mc`` ``{"sgd", "mixture"}`` summaries
    (see :func:`mc_summary`), ``eta_star``, ``rho`` (spectral radius of Q: the exact per-step growth
    factor), ``rho_mc`` (the Monte Carlo mean's average per-step factor), ``stable``, optional ``paths``.
    """
    from dlsa_core.stability.recursion import second_moment_trajectory
    from dlsa_core.stability.thresholds import sgd_threshold, spectral_radius

    eta_star = sgd_threshold(problem, batch_size, replacement=replacement)
    exact = second_moment_trajectory(problem, eta, batch_size, steps, replacement=replacement)
    sim = mc_report(
        problem,
        eta,
        batch_size,
        steps=steps,
        runs=runs,
        seed=seed,
        replacement=replacement,
        n_paths=n_paths,
        device=device,
    )
    mc = sim["mc"]
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        rho_mc = float((mc["sgd"]["mean"][-1] / mc["sgd"]["mean"][0]) ** (1.0 / steps))
    out = {
        "t": np.arange(steps + 1),
        "exact": exact,
        "mc": mc,
        "eta_star": eta_star,
        "rho": spectral_radius(problem, eta, batch_size, replacement=replacement),
        "rho_mc": rho_mc,
        "stable": bool(eta <= eta_star * (1 + 1e-12)),  # snapping to eta* must read "stable"
        "p": sim["p"],
    }
    if n_paths:
        out["paths"] = sim["paths"]
    return out

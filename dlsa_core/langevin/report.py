"""Everything one view of the Langevin page needs, computed in the core (the page only draws it)."""

from __future__ import annotations

import time

import numpy as np

from dlsa_core.langevin import quadratic as qd
from dlsa_core.langevin.closed_form import excess_loss_curve, ou_modes, stationary_excess_loss
from dlsa_core.langevin.rank import estimate_rank
from dlsa_core.langevin.simulation import check_positive, simulate_langevin


def playground_report(
    dim: int,
    rank: int,
    spread: float,
    kind: str,
    noise: float,
    *,
    matched: bool,
    step: float,
    steps: int,
    runs: int,
    seed: int = 0,
    midpoint: bool = False,
    device=None,
) -> dict:
    """Closed form vs Monte Carlo for one quadratic, preconditioner and noise.

    ``step`` is ``eta lambda_max(P^(1/2) H P^(1/2))`` (must be below 2); ``midpoint`` reads the loss at the
    midpoints of consecutive iterates (the discrete stationary level is then exactly the continuous one). Returns a dict of plain arrays and
    floats: ``t`` (iterations), ``theory`` (exact discrete ``E[L_t] - L*``), ``mc_mean``, ``mc_se`` (over runs),
    ``level_discrete``, ``level_continuous``, ``rank_level`` (``c rank / 4``), ``measured`` and ``measured_se``
    (the Monte Carlo mean over the second half of the run), ``eta``, ``lam_min``/``lam_max`` of ``A``,
    ``rank_estimate`` (``4 <L> / c``) with its standard error, ``seconds``.
    """
    step = check_positive(step, "step (eta * lambda_max)")
    if step >= 2:
        raise ValueError(f"eta * lambda_max = {step:g} >= 2: the iteration diverges; choose a value below 2.")
    quad = qd.make_quadratic(dim, rank, spread, seed=seed)
    p, d = qd.preconditioner_and_noise(quad, kind, noise, matched=matched, seed=seed)
    modes = ou_modes(quad.hessian, p, d)
    eta = step / modes.lam.max()
    start = time.perf_counter()
    trace = simulate_langevin(
        quad.hessian, p, d, np.zeros(quad.dim), eta, steps, runs, seed=seed, device=device, midpoint=midpoint
    )
    seconds = time.perf_counter() - start
    t = np.arange(steps + 1)
    half = steps // 2
    # with midpoints, column k of the trace is the loss between iterates k - 1 and k (time k - 1)
    shift = 1 if midpoint else 0
    zero = np.zeros(quad.dim)

    def theory(times: np.ndarray) -> np.ndarray:
        return excess_loss_curve(quad.hessian, p, d, zero, times, step_size=eta, midpoint=midpoint)

    est = estimate_rank(trace, noise, burn_in=half)
    tail = trace[:, 1 + half :].mean(1)
    return {
        "t": t,
        "theory": np.concatenate([[0.0], theory(t[1:] - shift)]),
        "mc_mean": trace.mean(0),
        "mc_se": trace.std(0, ddof=1) / np.sqrt(runs),
        "level_discrete": stationary_excess_loss(quad.hessian, p, d, step_size=None if midpoint else eta),
        "level_continuous": stationary_excess_loss(quad.hessian, p, d),
        "rank_level": noise * quad.rank / 4,
        "measured": float(tail.mean()),
        "measured_se": float(tail.std(ddof=1) / np.sqrt(runs)),
        "window_theory": float(theory(t[1 + half :] - shift).mean()),
        "eta": float(eta),
        "lam_min": float(modes.lam.min()),
        "lam_max": float(modes.lam.max()),
        "rank_estimate": est.rank,
        "rank_estimate_se": est.stderr,
        "seconds": seconds,
    }


def spread_report(dim: int, rank: int, noise: float, *, seed: int = 0, n_points: int = 17) -> dict:
    """Stationary levels over spectrum spreads 0..8 decades, with each preconditioner's own noise and matched."""
    spreads = np.linspace(0, qd.MAX_SPREAD, n_points)
    return {
        "spread": spreads,
        "own": qd.levels_vs_spread(dim, rank, noise, spreads, matched=False, seed=seed),
        "matched": qd.levels_vs_spread(dim, rank, noise, spreads, matched=True, seed=seed),
        "rank_level": noise * rank / 4,
    }


def regime_report(
    dim: int, rank: int, spread: float, *, seed: int = 0, n_points: int = 61, noise: float | None = None
) -> dict:
    """SGD-like vs Adam-like stationary levels over noise scales spanning the closed-form boundary ``c*``.

    The grid is ``c* 10^[-3, 3]``, widened to include ``noise`` (with a factor 3 margin) when given.
    """
    quad = qd.make_quadratic(dim, rank, spread, seed=seed)
    diag = np.clip(np.diag(quad.hessian), 0, None)
    c_star = float((np.sqrt(diag).sum() / np.trace(quad.hessian)) ** 2)
    lo, hi = c_star * 1e-3, c_star * 1e3
    if noise is not None:
        lo, hi = min(lo, check_positive(noise, "noise scale") / 3), max(hi, noise * 3)
    grid = np.logspace(np.log10(lo), np.log10(hi), n_points)
    grid[np.argmin(np.abs(np.log(grid / c_star)))] = c_star  # the boundary is a grid point
    return qd.sgd_vs_adam(quad, grid)


def rank_row(run, baseline=None, baseline_seconds: float | None = None) -> dict:
    """One row of the rank table: Langevin vs the baseline vs the exact rank (plain floats)."""
    row = {
        "d": run.width,
        "params": run.n_params,
        "true": run.true_rank,
        "langevin": run.estimate.rank,
        "langevin_se": run.estimate.stderr,
        "langevin_err_pct": run.error_pct,
        "expected": run.expected,
        "steps": run.steps,
        "langevin_s": run.seconds,
        "baseline": None,
        "baseline_err_pct": None,
        "baseline_s": baseline_seconds,
    }
    if baseline is not None:
        row["baseline"] = baseline.rank
        row["baseline_err_pct"] = 100 * (baseline.rank / run.true_rank - 1)
    return row


def reproduce_snippet(state: dict) -> str:
    """A runnable Python snippet that recomputes the page's numbers from its state."""
    return (
        "from dlsa_core import langevin as lg\n\n"
        "# 1. quadratic: the closed-form stationary level vs c * rank / 4\n"
        f"quad = lg.make_quadratic({state['dim']}, {state['rank']}, {state['spread']!r}, seed={state['seed']})\n"
        f"P, D = lg.preconditioner_and_noise(quad, {state['kind']!r}, {state['noise']!r}, "
        f"matched={state['matched']}, seed={state['seed']})\n"
        "level = lg.stationary_excess_loss(quad.hessian, P, D)\n"
        f"print(f'E[L_inf] - L* = {{level:.6g}}; c rank / 4 = {{{state['noise']!r} * quad.rank / 4:.6g}}')\n\n"
        "# 2. deep linear net: Langevin rank estimate vs the exact rank d^2\n"
        f"run = lg.rank_experiment({state['width']}, preconditioner={state['precond']!r}, "
        f"runs={state['runs']}, seed={state['seed']})\n"
        "print(f'rank {run.true_rank}: estimated {run.estimate.rank:.1f} +- {run.estimate.stderr:.1f} '\n"
        "      f'({run.error_pct:+.2f} %), closed form for this window {run.expected:.1f}')\n"
    )

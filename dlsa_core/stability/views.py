"""Data for the page's secondary views, and captions derived from measured quantities.

* :func:`rho_curve`: the spectral radius of the second-moment operator ``Q`` along step sizes, beside
  GD's (it crosses 1 exactly at ``eta*``);
* :func:`mu_curve`: the generalised sharpness ``mu(p)`` on the p axis with both sandwich bounds;
* :func:`describe_paths`: what single runs do (almost-sure view), from the estimated Lyapunov exponent;
* :func:`format_rate`: a growth factor near 1 with the digits that matter (``1 - 3.7e-07``);
* :func:`coinciding_curves`: which curves of the batch-size figure lie on top of each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dlsa_core.stability.spectral import check_eta, to_spectral
from dlsa_core.stability.thresholds import generalized_sharpness, sharpness_curve, spectral_radius


def eta_grid(eta_star: float, eta_gd: float, points: int = 25) -> np.ndarray:
    """Step sizes for the ``rho(Q)`` panel: log-spaced from ``eta*/10`` to ``1.3 max(eta*, eta_GD)``,
    refined to 1 % steps within 5 % of ``eta*`` (where the crossing is), always containing ``eta*``."""
    eta_star, eta_gd = check_eta(eta_star), check_eta(eta_gd)
    coarse = np.geomspace(eta_star / 10, 1.3 * max(eta_star, eta_gd), points)
    fine = eta_star * np.linspace(0.95, 1.05, 11)
    return np.unique(np.concatenate([coarse, fine, [eta_star, eta_gd]]))


def rho_curve(problem: Any, batch_size: int, etas: Any, *, replacement: bool = False) -> dict:
    """``rho(Q)`` of SGD at ``batch_size`` and of GD, along ``etas``.

    GD's second-moment operator is ``A kron A`` with ``A = I - eta H``: its spectral radius is
    ``max_a (1 - eta lam_a)^2`` in closed form.

    Returns
    -------
    dict with ``eta`` (m,), ``sgd`` (m,), ``gd`` (m,) float64.
    """
    spec = to_spectral(problem)
    etas = np.atleast_1d(np.asarray(etas, dtype=np.float64))
    sgd = np.array([spectral_radius(spec, float(e), batch_size, replacement=replacement) for e in etas])
    lam = spec.lam
    gd = np.max((1.0 - etas[:, None] * lam[None, :]) ** 2, axis=1)
    return {"eta": etas, "sgd": sgd, "gd": gd}


def mu_curve(problem: Any, points: int = 21) -> dict:
    """Generalised sharpness ``mu(p) = lambda_max(C^+ D)`` on ``p in [0, 1]`` with the sandwich bounds
    ``max(lambda_max(H), p mu_1) <= mu(p) <= (1 - p) lambda_max(H) + p mu_1`` (convexity in p).

    Returns
    -------
    dict with ``p``, ``mu``, ``lower``, ``upper`` (points,) float64, and ``lambda_max``, ``mu_1``.
    """
    spec = to_spectral(problem)
    ps = np.linspace(0.0, 1.0, points)
    if spec.r > 16:
        mus, _ = sharpness_curve(spec, ps)
    else:
        mus = np.array([generalized_sharpness(spec, float(p))[0] for p in ps])
    lam, mu1 = float(spec.lam[0]), float(mus[-1])
    return {
        "p": ps,
        "mu": mus,
        "lower": np.maximum(lam, ps * mu1),
        "upper": (1 - ps) * lam + ps * mu1,
        "lambda_max": lam,
        "mu_1": mu1,
    }


def format_rate(rho: float) -> str:
    """A per-step factor with the digits that matter: ``0.9731``, ``1 - 3.7e-07``, ``1 + 2.1e-05``."""
    if not np.isfinite(rho):
        return "∞"
    gap = rho - 1.0
    if abs(gap) >= 1e-3:
        return f"{rho:.4f}"
    if gap == 0:
        return "1"
    return f"1 {'+' if gap > 0 else '−'} {abs(gap):.2g}"


def describe_paths(summary: Mapping, *, stable: bool) -> str:
    """One sentence about single runs, derived from the estimated top Lyapunov exponent.

    ``summary`` is :func:`dlsa_core.stability.mc_summary` output. The exponent is called negative or
    positive only when it is two standard errors away from 0; otherwise the sentence says so.
    """
    lyap, se, runs = summary["lyapunov"], summary["lyapunov_se"], summary["runs"]
    if np.isfinite(se) and abs(lyap) <= 2 * se:
        return (
            f"Estimated Lyapunov exponent {lyap:+.3g} ± {2 * se:.2g} per step over {runs} runs: "
            "too close to 0 to say whether typical paths converge."
        )
    err = f"± {2 * se:.2g}, " if np.isfinite(se) else "some runs overflowed, "
    if lyap < 0:
        tail = (
            "."
            if stable
            else ", yet the exact second moment grows: it is carried by rare runs "
            "(mean-square and almost-sure stability differ here)."
        )
        return f"Typical paths converge: estimated Lyapunov exponent {lyap:+.3g} per step ({err}{runs} runs){tail}"
    tail = (
        ", as the exact second moment does: here the almost-sure and mean-square verdicts agree."
        if not stable
        else " over this horizon, although the exact second moment decays (a finite-horizon estimate)."
    )
    return f"Typical paths diverge: estimated Lyapunov exponent {lyap:+.3g} per step ({err}{runs} runs){tail}"


CURVE_NAMES = {
    "eta_star": "η*",
    "bound_15": "top-eigenvector bound",
    "bound_16": "trace bound",
    "bound_rank_one": "rank-one bound",
    "sufficient": "sufficient bound",
    "eta_gd": "GD line",
}


def coinciding_curves(report: Mapping, rtol: float = 1e-3) -> list[tuple[str, str]]:
    """Pairs of curves of the batch-size figure that coincide (relative gap ``<= rtol`` everywhere)."""
    keys = [k for k in CURVE_NAMES if k in report]
    pairs = []
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            x, y = np.asarray(report[a], float), np.asarray(report[b], float)
            if np.all(np.abs(x - y) <= rtol * np.abs(x)):
                pairs.append((a, b))
    return pairs


def hidden_curves(report: Mapping) -> dict[str, str]:
    """Curve key -> name of the earlier-drawn curve it coincides with (for legends and captions)."""
    out: dict[str, str] = {}
    for a, b in coinciding_curves(report):
        if b != "eta_gd":
            out.setdefault(b, CURVE_NAMES[a])
    return out


def headline(batch_size: int, eta: float, eta_star: float, rho: float, eta_gd: float) -> str:
    """The bold line under the metrics: every number from the current state (markdown)."""
    stable = eta <= eta_star * (1 + 1e-12)
    return (
        f"**At B={batch_size}, η\\*={eta_star:.4g}; your η={eta:.4g} is {eta / eta_star:.4f}× η\\* "
        f"({'below' if stable else 'beyond'} it): E‖θ_t − θ*‖² {'decays' if rho < 1 else 'grows'} asymptotically "
        f"like ({format_rate(rho)})^t.** GD's threshold is {eta_gd:.4g} ({eta_gd / eta_star:.2f}× η\\*)."
    )


def region_caption(report: Mapping, p: float, replacement: bool, same_as: Mapping[str, str]) -> str:
    """Caption of the batch-size figure: sizes, p, where the curve came from, which curves hide others."""
    src = (
        "shipped with the app (precomputed)"
        if report.get("shipped")
        else f"computed in {report['seconds']:.2f} s"
    )
    hidden = "; ".join(f"{CURVE_NAMES[k]} = {v}" for k, v in same_as.items())
    return (
        f"n = {report['n']}, d = {report['d']} ({report['space']} space); p = {p:.4g}"
        f"{' (with replacement, 1/B)' if replacement else ''}. Curve {src}; cached afterwards."
        + (f" Drawn under others here: {hidden}." if hidden else "")
    )


MU_CAPTION = (
    "μ(p) depends on the batch only through p: with replacement the same B sits further right (p = 1/B), "
    "so its η* = 2/μ(p) is lower."
)


def floor_caption(loss_at_min: float) -> str:
    return (
        f"Digits with the real labels: a regular minimum (training loss {loss_at_min:.3f}, not 0). The exact "
        "stationary excess loss (Corollary 1, (2C − ηD)⁺ solve) grows with η, is lower for larger B, and "
        "diverges as η approaches η*(B)."
    )


def eos_caption(results: Mapping) -> str:
    cfg = results["config"]
    return (
        f"SGD from one large initial point with LR warm-up, n = {cfg['n']} digits, width {cfg['width']}, squared "
        f"loss on one-hot labels; a run stops when the loss stays below {cfg['tol']:g} for {cfg['patience']} "
        "epochs. Mean-square stability needs λmax(C⁺D) ≤ 2/η: small batches settle below the line with "
        f"λmax(H) well under 2/η, full batch (GD) right at it. {results.get('wall_time_s', 0):.0f} s on "
        f"{results.get('hardware', 'CPU')}; `{results['command']}`."
    )


def mc_caption(mc: Mapping, *, stable: bool) -> str:
    """Caption under the second-moment figure: the almost-sure reading, then what the sample is."""
    sgd = mc["mc"]["sgd"]
    return (
        describe_paths(sgd, stable=stable)
        + f" Black line: the exact second moment (the claim). Blue: {sgd['runs']} simulated SGD runs "
        f"(simulated in {mc['seconds']:.2f} s, cached since). Near and above η* the sample mean typically "
        "under-estimates the exact moment, which rare heavy-tailed runs carry; the median shows a typical run."
    )

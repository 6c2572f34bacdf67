"""Everything the flat-minima page draws, computed from plain parameters (so it can be cached and tested).

:func:`parse_singular_values` validates user text, :func:`training_report` trains the three inits and
measures every minimum, :func:`rebalance_curve` walks along the minimum manifold, :func:`sweep_report`
trains one init at a grid of step sizes, :func:`reproduce_snippet` writes the same computation as code.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dlsa_core.flat_minima.geometry import coupling_matrix, layer_gains, sharpness_lower_bound
from dlsa_core.flat_minima.hessian import sharpness
from dlsa_core.flat_minima.net import (
    MAX_DIM,
    balanced_factorisation,
    input_covariance,
    minimal_sharpness,
    rescale,
    target_matrix,
)
from dlsa_core.flat_minima.training import INITS, step_size_sweep, train_inits

#: "The math" of the page (KaTeX-safe LaTeX) and the note under it.
MATH = [
    r"L(W_1,\dots,W_N)=\tfrac12\,\mathbb E\|Tx-W_N\cdots W_1x\|^2,\qquad \mathbb E[xx^\top]=\Sigma_x",
    r"\min_{W_N\cdots W_1=T}\lambda_{\max}(\nabla^2L)=N\,\sigma_1(T)^{2(N-1)/N}\quad(\Sigma_x=I),"
    r"\ \text{at } W_k=U_kS^{1/N}U_{k-1}^\top",
    r"\lambda_{\max}\ \ge\ s^2\sum_{k=1}^N\Big(\frac{a_{k-1}}{a_k}\Big)^2\ \ge\ N\,s^{2-2/N}a_0^{2/N},"
    r"\qquad a_k=\|W_k\cdots W_1\Sigma_x^{1/2}v\|",
    r"\tfrac{d}{dt}\big(W_{k+1}^\top W_{k+1}-W_kW_k^\top\big)=0\ \text{(gradient flow)},\qquad W_k(0)=I"
    r"\ \Rightarrow\ \text{balanced}",
    r"\text{GD with step }\eta\text{ can only settle where }\lambda_{\max}\le 2/\eta",
]
MATH_NOTE = (
    "(s, u, v) is the top singular triple of TΣₓ^½. Equality in AM–GM forces every gain aₖ/aₖ₋₁ to equal (s/a₀)^(1/N): "
    "flat minima are balanced along the top path, whose singular vectors pass from layer to layer (coupling). "
    "Sharpness is λmax of the exact loss Hessian (residual included while training), by Lanczos on Hessian-vector "
    "products or densely for small nets; at minima it equals the top eigenvalue of the Gauss–Newton matrix (tested)."
)
#: At most this many singular values (the target is d x d).
MAX_SV = 8


def parse_singular_values(text: str) -> list[float]:
    """``"2, 1, 0.5"`` -> ``[2.0, 1.0, 0.5]`` (sorted descending); a clear ``ValueError`` otherwise."""
    parts = [p for p in str(text).replace(";", ",").replace(" ", ",").split(",") if p]
    if not parts:
        raise ValueError("Enter the target's singular values, e.g. 2, 1, 0.5.")
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise ValueError(f"Singular values must be numbers separated by commas, got {text!r}.") from exc
    if len(values) > MAX_SV:
        raise ValueError(f"At most {MAX_SV} singular values (the target is d x d with d <= {MAX_SV}).")
    if not all(math.isfinite(v) and 0.05 <= v <= 10 for v in values):
        raise ValueError("Each singular value must be a number in [0.05, 10].")
    return sorted(values, reverse=True)


def problem(singular_values: Any, rho: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Target ``T`` (d x d, random singular vectors from ``seed``) and input covariance (None = whitened)."""
    sv = list(singular_values)
    t = target_matrix(sv, seed=seed)
    return t, (input_covariance(len(sv), rho) if rho > 0 else None)


def training_report(
    singular_values: Any,
    depth: int,
    width: int,
    eta: float,
    steps: int,
    *,
    seed: int = 0,
    rho: float = 0.0,
    small_scale: float = 0.3,
    large_scale: float = 1.5,
    progress: Callable[[float], None] | None = None,
) -> dict:
    """Train the three inits and measure sharpness, gains, coupling at each end point.

    Returns a dict with ``T``, ``sigma_x``, ``minimal`` (the whitened closed form), ``bound`` (the AM-GM
    lower bound, equal to ``minimal`` when whitened), ``balanced`` (sharpness of the balanced factorisation
    of ``T`` under ``sigma_x``), ``runs`` (init -> :class:`~dlsa_core.flat_minima.training.TrainResult`),
    ``gains`` / ``coupling`` (init -> objects, converged runs only: the bounds hold at global minima),
    ``seconds``.
    """
    tic = time.perf_counter()
    t, sig = problem(singular_values, rho, seed)
    if width < len(list(singular_values)) and depth > 1:
        raise ValueError(
            f"Hidden width {width} is below d = {len(list(singular_values))}: T cannot be reached."
        )
    runs = train_inits(
        t, depth, width, eta, steps, seed=seed, sigma_x=sig, scales={"small": small_scale, "large": large_scale},
        progress=progress,
    )  # fmt: skip
    gains = {k: layer_gains(r.weights, t, sigma_x=sig) for k, r in runs.items() if r.converged}
    coupling = {k: coupling_matrix(r.weights) for k, r in runs.items() if r.converged and depth > 1}
    return {
        "T": t,
        "sigma_x": sig,
        "minimal": minimal_sharpness(t, depth),
        "bound": sharpness_lower_bound(t, depth, sigma_x=sig),
        "balanced": sharpness(balanced_factorisation(t, depth, width=width), sigma_x=sig),
        "runs": runs,
        "gains": gains,
        "coupling": coupling,
        "seconds": time.perf_counter() - tic,
    }


def rebalance_curve(weights: list[np.ndarray], layer: int, cs: Any, *, sigma_x: Any = None) -> np.ndarray:
    """``lambda_max`` after rescaling ``W_layer`` by ``c`` and ``W_(layer+1)`` by ``1/c``, for each ``c``.

    Exact at a global minimum (NTK Gram route); the end-to-end map, hence the loss, never changes.
    """
    return np.array(
        [sharpness(rescale(weights, layer, float(c)), sigma_x=sigma_x, method="gram") for c in cs]
    )


def sweep_etas(minimal: float, count: int = 12) -> np.ndarray:
    """Step sizes from ``0.05 * 2/minimal`` to ``1.25 * 2/minimal`` (log-spaced): beyond ``2/minimal`` no
    global minimum is linearly stable for GD."""
    return np.geomspace(0.05, 1.25, count) * 2.0 / minimal


def sweep_report(
    singular_values: Any,
    depth: int,
    width: int,
    init: str,
    steps: int,
    *,
    seed: int = 0,
    rho: float = 0.0,
    scale: float | None = None,
    count: int = 12,
    progress: Callable[[float], None] | None = None,
) -> dict:
    """Final sharpness of GD from one init at :func:`sweep_etas` step sizes (one batch)."""
    tic = time.perf_counter()
    t, sig = problem(singular_values, rho, seed)
    m = minimal_sharpness(t, depth)
    etas = sweep_etas(m, count)
    runs = step_size_sweep(
        t, depth, width, init, etas, steps, seed=seed, sigma_x=sig, scale=scale, progress=progress
    )
    return {
        "eta": etas,
        "sharpness": np.array([r.final_sharpness for r in runs]),
        "converged": np.array([r.converged for r in runs]),
        "diverged": np.array([r.diverged for r in runs]),
        "minimal": m,
        "init": init,
        "seconds": time.perf_counter() - tic,
    }


def reproduce_snippet(params: dict) -> str:
    """Python code that reproduces the page's training and measurements for ``params``."""
    p = params
    sig = f", sigma_x=input_covariance({len(p['singular_values'])}, {p['rho']!r})" if p["rho"] > 0 else ""
    return (
        "from dlsa_core.flat_minima import (coupling_matrix, input_covariance, layer_gains, minimal_sharpness,\n"
        "                                   sharpness, target_matrix, train_linear_net)\n\n"
        f"T = target_matrix({list(p['singular_values'])!r}, seed={p['seed']})\n"
        f"print('minimal sharpness (whitened):', minimal_sharpness(T, {p['depth']}))\n"
        f"for init, scale in [('resnet', None), ('small', {p['small_scale']!r}), ('large', {p['large_scale']!r})]:\n"
        f"    run = train_linear_net(T, {p['depth']}, {p['width']}, init, {p['eta']!r}, {p['steps']}, "
        f"seed={p['seed']}, scale=scale{sig})\n"
        "    if run.weights is None:\n"
        "        print(init, 'diverged')\n"
        "        continue\n"
        f"    gains = layer_gains(run.weights, T{sig})\n"
        f"    print(init, run.final_sharpness, sharpness(run.weights{sig}), gains.ratios,\n"
        "          coupling_matrix(run.weights).top if len(run.weights) > 1 else None)\n"
    )


__all__ = [
    "INITS",
    "MAX_DIM",
    "bounds_rows",
    "history_columns",
    "parse_singular_values",
    "problem",
    "rebalance_base",
    "rebalance_curve",
    "reference",
    "reproduce_snippet",
    "run_status",
    "sweep_etas",
    "sweep_report",
    "training_report",
]


def reference(rep: dict, depth: int) -> tuple[float, str]:
    """The theory value the page compares against: the closed form when whitened, else the AM-GM bound."""
    if rep["sigma_x"] is None:
        return rep["minimal"], "minimal sharpness N·σ₁^(2(N−1)/N)"
    return rep["bound"], "lower bound N·s^(2−2/N)·a₀^(2/N) (not tight)"


def bounds_rows(rep: dict) -> list[dict]:
    """One row per init: measured ``lambda_max`` beside the path bound and the AM-GM bound."""
    return [
        {
            "init": k,
            "λmax": rep["runs"][k].final_sharpness,
            "s² Σ (aₖ₋₁/aₖ)²": g.path_bound,
            "AM–GM bound": g.amgm_bound,
            "gain dev.": f"{g.imbalance:.1%}",
        }
        for k, g in rep["gains"].items()
    ]


def history_columns(runs: dict) -> dict[str, np.ndarray]:
    """Training curves of every init as flat columns (init, step, loss, sharpness, imbalance)."""
    cols = {"init": [], "step": [], "loss": [], "sharpness": [], "imbalance": []}
    for k, r in runs.items():
        cols["init"] += [k] * len(r.steps)
        for name, values in (
            ("step", r.steps),
            ("loss", r.loss),
            ("sharpness", r.sharpness),
            ("imbalance", r.balance),
        ):
            cols[name] += list(values)
    return {k: np.asarray(v) for k, v in cols.items()}


def run_status(result) -> str:
    """What became of a run, with its final sharpness when there is one (for captions)."""
    if result.converged:
        return f"converged at λmax = {result.final_sharpness:.6g}"
    if result.diverged:
        return f"diverged (λmax at the start {result.sharpness[0]:.4g} vs 2/η = {2 / result.eta:.4g})"
    return f"did not converge in {result.steps_run} steps (λmax = {result.final_sharpness:.4g} there, not a minimum)"


def rebalance_base(rep: dict, width: int, depth: int) -> tuple[list[np.ndarray], str]:
    """The minimum the rebalance control starts from: the ResNet's if it converged, else the balanced one."""
    res = rep["runs"]["resnet"]
    if res.converged:
        return res.weights, "the ResNet's minimum"
    return balanced_factorisation(rep["T"], depth, width=width), "the balanced factorisation of T"

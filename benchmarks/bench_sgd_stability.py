"""Benchmark: exact SGD stability thresholds vs what a practitioner does without the theory.

Run: ``python benchmarks/bench_sgd_stability.py [--bisect-batches 4] [--device cpu]``

1. Exact eta*(B) at 20 log-spaced batch sizes for a trained one-hidden-layer ReLU net (digits, n = 500,
   scalar output, d >= 50,000), from the per-sample Jacobians through the Gram (NTK) reduction.
2. The same thresholds by bisecting the step size with Monte Carlo SGD to 2 % (relative bracket
   width), on the same problem and device. The simulation runs the exact linearised dynamics in the
   Gram space (r <= n dims instead of d): this *favours* the baseline, so the speed-up is conservative.
   Bisection is timed on ``--bisect-batches`` of the 20 sizes and extrapolated linearly to all 20.
3. Agreement of the dense, power-iteration and Lanczos methods, in parameter and Gram space, on a
   problem small enough for all of them.
4. Cold time of every page preset's curve.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dlsa_core.device import configure_threads, get_device
from dlsa_core.stability import (
    batch_grid,
    digits_least_squares,
    dominant_sample_2d,
    incoherent_2d,
    relu_net_minimum,
    simulate_sgd,
    stability_report,
    threshold_curve,
)
from dlsa_core.stability.spectral import spectral_from_factors
from dlsa_core.stability.thresholds import generalized_sharpness


def bisect_threshold(
    spec, b: int, hi: float, *, runs: int, steps: int, device, seed: int = 0
) -> tuple[float, int]:
    """Largest eta whose simulated mean ||theta_T||^2 does not exceed its start, to 2 % bracket width."""
    lo, n_sims = 0.0, 0
    while hi - lo > 0.02 * hi:
        mid = 0.5 * (lo + hi)
        sq = simulate_sgd(spec, mid, b, steps, runs, seed=seed + n_sims, device=device, processes=("sgd",))[
            "sgd"
        ]
        n_sims += 1
        if np.mean(sq[:, -1]) <= np.mean(sq[:, 0]):
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi), n_sims


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--width", type=int, default=760)
    ap.add_argument("--bisect-batches", type=int, default=4)
    ap.add_argument("--runs", type=int, default=128)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    threads = configure_threads()
    dev = get_device(args.device)
    print(f"device: {dev}, torch threads: {threads}")

    t0 = time.perf_counter()
    prob = relu_net_minimum(
        args.n, width=args.width, classes=tuple(range(10)), scalar_output=True, device=dev
    )
    info = prob.info
    print(
        f"trained ReLU net: n={info['n']}, k={info['k']}, d={info['d']:,}, train loss={info['train_loss']:.2e}, "
        f"training + Jacobians {time.perf_counter() - t0:.1f} s (not counted below)"
    )

    bs = batch_grid(args.n, 20)
    t0 = time.perf_counter()
    spec = spectral_from_factors(prob.jacobians, space="gram")
    exact = threshold_curve(spec, bs)
    t_exact = time.perf_counter() - t0
    print(f"(1) exact eta*(B) at {len(bs)} batch sizes: {t_exact:.2f} s (goal < 10 s)")

    eta_gd = 2.0 / spec.lam[0]
    pick = np.unique(np.linspace(0, len(bs) - 1, args.bisect_batches).round().astype(int))
    t0 = time.perf_counter()
    errs, sims = [], 0
    for j in pick:
        est, k = bisect_threshold(
            spec, int(bs[j]), 1.5 * eta_gd, runs=args.runs, steps=args.steps, device=dev
        )
        sims += k
        errs.append(abs(est / exact[j] - 1))
        print(
            f"    B={bs[j]:4d}: exact {exact[j]:.6g}, bisection {est:.6g} ({k} simulations), error {errs[-1]:.1%}"
        )
    t_bis = (time.perf_counter() - t0) * len(bs) / len(pick)
    print(
        f"(2) simulation bisection ({args.runs} runs x {args.steps} steps per probe): {t_bis:.1f} s for "
        f"{len(bs)} batch sizes (measured on {len(pick)}, {sims} simulations); worst error {max(errs):.1%} "
        f"(exact method: machine precision)"
    )
    print(f"    speed-up exact vs bisection: {t_bis / t_exact:.0f}x (goal >= 100x)")

    rng = np.random.default_rng(0)
    jac = rng.standard_normal((8, 2, 6))
    vals = [
        generalized_sharpness(spectral_from_factors(jac, space=s), 0.4, method=m)[0]
        for s in ("parameter", "gram")
        for m in ("dense", "power", "lanczos")
    ]
    print(
        f"(3) dense/power/Lanczos x parameter/Gram on n=8, k=2, d=6: max relative difference "
        f"{(max(vals) - min(vals)) / max(vals):.1e} (goal <= 1e-8)"
    )

    presets = {
        "dominant 2-D": dominant_sample_2d,
        "incoherent 2-D": incoherent_2d,
        "digits LS": digits_least_squares,
        "ReLU net": lambda: relu_net_minimum(40, width=128, classes=(0, 1, 2, 3)),
    }
    for name, build in presets.items():
        t0 = time.perf_counter()
        stability_report(build())
        print(f"(4) preset {name!r}: curve + bounds cold in {time.perf_counter() - t0:.2f} s (goal < 5 s)")


if __name__ == "__main__":
    main()

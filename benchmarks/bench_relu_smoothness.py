"""Benchmark: the stability bound on trained shallow ReLU nets, its trend in eta, and the batched sweep's speed.

Run: ``nice -n 10 python benchmarks/bench_relu_smoothness.py [--seeds 3] [--skip-presets]``

1. Bound: every data set of the page x 12 step sizes in [0.1, 1.6] x ``--seeds`` seeds, full-batch GD to a
   stable interpolating minimum (loss < 1e-7, staying there 200 more steps). Prints the worst ratio
   norm / (1/eta - 1/2) over all such runs (target <= 1), how many runs interpolated, and the largest
   lambda_max * eta / 2 among them (<= 1: GD only stays at linearly stable minima).
2. Trend: median norm over seeds per step size on the wave data (target: falls as eta grows) and
   Spearman's rank correlation between eta and the norm.
3. Speed: the page's default sweep (wave, 7 x 3 runs) as one batched tensor computation vs the same 21
   trainings one after another with the same code (baseline measured in the same run): ratio.
4. Preset cold times: each page preset in a fresh Python process (import, data, sweep), target < 10 s.

Timings on the shared 2-core machine are pessimistic (other jobs compete for the cores).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dlsa_core.relu_smoothness as rs  # noqa: E402
from dlsa_core.relu_smoothness.report import trend  # noqa: E402
from dlsa_core.relu_smoothness.training import STATUSES  # noqa: E402

ETAS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.6]
DATA = {"wave": 8, "noisy_line": 10, "steps": 8, "paper4": 4, "bump": 12, "saddle": 12, "digits": 30}


def preset_args():
    sys.path.insert(0, str(ROOT))
    import importlib.util

    spec = importlib.util.find_spec(
        "app_pages"
    )  # the page module runs Streamlit code: read PRESETS by parsing
    src = (Path(spec.submodule_search_locations[0]) / "relu_smoothness.py").read_text()
    start = src.index("PRESETS = {")
    block = src[src.index("{", src.index("for name, vals in", start)) : src.index("}.items()", start) + 1]
    return eval(block)  # a literal dict of tuples from our own source file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--max-steps", type=int, default=8000)
    ap.add_argument("--skip-presets", action="store_true")
    ap.add_argument("--only-presets", action="store_true", help="section 4 only (run it without nice)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    if args.only_presets:
        return presets()
    print("== 1. the bound on every stable interpolating run ==")
    worst, worst_at, n_ok, n_all, lam_eta, n_unstable = 0.0, None, 0, 0, 0.0, 0
    for name, n in DATA.items():
        data = rs.make_dataset(name, n)
        width = 32
        t = time.perf_counter()
        sw = rs.sweep_step_sizes(data.x, data.y, width, ETAS, range(args.seeds), max_steps=args.max_steps)
        ok = [r for r in sw.runs if r.stable_interpolating]
        counts = {s: sum(r.status == s for r in sw.runs) for s in STATUSES}
        w = sw.worst_ratio()
        n_ok, n_all = n_ok + len(ok), n_all + len(sw.runs)
        reached = [r for r in sw.runs if r.status in ("interpolated", "unstable")]
        if reached:  # every run that reached zero loss and stayed 200 steps, before the lambda_max check
            lam_eta = max(lam_eta, max(r.lambda_max * r.eta / 2 for r in reached))
        n_unstable += counts["unstable"]
        if w == w and w > worst:
            worst, worst_at = w, name
        print(f"{name:11s} d={data.d:<4d} n={data.n:<3d} {counts}  worst norm/bound = {w:.4f}  "
              f"({time.perf_counter() - t:.1f} s)")  # fmt: skip
    print(f"WORST norm / (1/eta - 1/2) over {n_ok} stable interpolating runs (of {n_all}): {worst:.4f} "
          f"({worst_at}) -> {'PASS' if worst <= 1 else 'FAIL'} (target <= 1)")  # fmt: skip
    print(
        f"runs that reached loss < 1e-7 and stayed 200 steps: largest lambda_max / (2/eta) = {lam_eta:.4f}; "
        f"{n_unstable} of them had lambda_max > 2/eta (status 'unstable', excluded above)"
    )

    print("\n== 2. trend on the wave data (width 32, 5 seeds) ==")
    data = rs.make_dataset("wave", 8)
    etas = [0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0]
    sw = rs.sweep_step_sizes(data.x, data.y, 32, etas, range(5), max_steps=args.max_steps)
    med = sw.median_norm()
    for e, m in zip(etas, med, strict=True):
        k = sum(r.stable_interpolating for r in sw.runs if r.eta == e)
        print(f"eta={e:<4g} median norm={m:.4f} over {k} interpolating seeds  bound={1 / e - 0.5:.3f}")
    ok = med[np.isfinite(med)]
    mono = bool(np.all(ok[1:] <= ok[:-1] * 1.03))
    tr = trend(sw)
    print(f"median norm {tr['first']:.4f} (eta={tr['eta_first']:g}) -> {tr['last']:.4f} (eta={tr['eta_last']:g}); "
          f"non-increasing within 3 %: {mono}; Spearman rho(eta, norm) = {tr['spearman']:.3f}")  # fmt: skip

    print("\n== 3. batched sweep vs one training at a time (same code, same run) ==")
    etas = [0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0]
    t = time.perf_counter()
    batched = rs.sweep_step_sizes(data.x, data.y, 32, etas, range(3), max_steps=args.max_steps)
    t_b = time.perf_counter() - t
    t = time.perf_counter()
    single = [
        rs.train_shallow_relu(data.x, data.y, 32, e, seed=s, max_steps=args.max_steps)
        for e in etas
        for s in range(3)
    ]
    t_s = time.perf_counter() - t
    same = all(
        a.status == b.status and (a.params is None or np.allclose(a.params.v, b.params.v, atol=1e-9))
        for a, b in zip(batched.runs, single, strict=True)
    )
    print(
        f"21 runs: batched {t_b:.2f} s, sequential {t_s:.2f} s -> speed-up x{t_s / t_b:.2f}; identical results: {same}"
    )

    if not args.skip_presets:
        presets()
    if not math.isfinite(worst) or worst > 1:
        sys.exit(1)


def presets() -> None:
    print("\n== 4. page presets, cold (fresh process each) ==")
    for name, (dname, n, width, p_etas, seeds, _eta) in preset_args().items():
        code = (
            "import time, torch; torch.set_num_threads(1); t = time.perf_counter()\n"
            "import dlsa_core.relu_smoothness as rs\n"
            f"d = rs.make_dataset({dname!r}, {n})\n"
            f"rs.sweep_step_sizes(d.x, d.y, {width}, {p_etas}, range({seeds}), max_steps=8000)\n"
            "print(time.perf_counter() - t)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
        )
        sec = float(out.stdout.strip().splitlines()[-1])
        print(
            f"{name:42s} {len(p_etas) * seeds:3d} runs  cold {sec:6.2f} s  {'OK' if sec < 10 else 'SLOW'} (target < 10 s)"
        )
    print(
        "(warm: the page keeps every sweep in an in-process LRU cache; see benchmarks/bench_page_latency.py)"
    )


if __name__ == "__main__":
    main()

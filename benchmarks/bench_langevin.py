"""Benchmark: Hessian rank of depth-5 linear nets from Langevin dynamics vs Ubaru & Saad vs the exact rank.

Run: ``python benchmarks/bench_langevin.py [--widths 8,16,32,64] [--seeds 3] [--paper-widths 8,16,32]``

1. For each width d (true rank d^2 of the Gauss-Newton Hessian at a balanced global minimum, 5 d^2 parameters):
   * ours: Langevin with the layer-wise Kronecker preconditioner and matched noise (``rank_experiment``,
     4 runs, stops at 0.4 % relative standard error), over ``--seeds`` minima: RMSE % and wall time;
   * the paper's protocol (P = I, eta = 1e-4, sigma^2 = 2e-5, 15,000 steps, average of the last 10,000),
     4 runs, for ``--paper-widths`` (slow: 15,000 sequential steps), beside its transient-corrected closed form;
   * Ubaru & Saad's KPM estimator (degree 50, 300 vectors, threshold from the density gap: the official
     repository's settings) on Hessian-vector products of the same minimum.
   Times are wall-clock on this machine, all methods measured in the same run and thread setting.
2. Cold time of every page preset in a fresh process: the computations the page runs before it draws.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dlsa_core import langevin as lg  # noqa: E402

PRESET_CODE = """
import time, json, torch
torch.set_num_threads(1)
t0 = time.perf_counter()
from dlsa_core import langevin as lg
t_import = time.perf_counter() - t0
v = json.loads({values!r})
t0 = time.perf_counter()
lg.playground_report(v["lgv.dim"], min(v["lgv.rank"], v["lgv.dim"]), v["lgv.spread"], v["lgv.kind"], v["lgv.noise"],
    matched=v["lgv.matched"], step=v["lgv.step"], steps=2000, runs=200, seed=0, midpoint=v["lgv.mid"])
lg.spread_report(v["lgv.dim"], min(v["lgv.rank"], v["lgv.dim"]), v["lgv.noise"], seed=0)
lg.regime_report(v["lgv.dim"], min(v["lgv.rank"], v["lgv.dim"]), v["lgv.spread"], seed=0)
from dlsa_core.langevin.shipped import load_run  # the page shows the shipped paper-protocol runs
if v["lgv.precond"] != "identity" or load_run(v["lgv.width"], 4, 0) is None:
    lg.rank_experiment(v["lgv.width"], preconditioner=v["lgv.precond"], runs=4, seed=0)
if v["lgv.baseline"]:
    lg.baseline_rank(v["lgv.width"], seed=0, n_vectors=60)
print(json.dumps({{"import": t_import, "compute": time.perf_counter() - t0}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--widths", default="8,16,32,64")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--paper-widths", default="8,16,32")
    ap.add_argument("--baseline-vectors", type=int, default=300)
    ap.add_argument("--skip-presets", action="store_true")
    ap.add_argument("--only-presets", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "build" / "bench_langevin.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    widths = [int(w) for w in args.widths.split(",")]
    paper = {int(w) for w in args.paper_widths.split(",") if w}
    rows = []
    for d in [] if args.only_presets else widths:
        ours = [lg.rank_experiment(d, preconditioner="kron", runs=4, seed=s) for s in range(args.seeds)]
        errs = np.array([r.error_pct for r in ours])
        row = {
            "d": d,
            "params": ours[0].n_params,
            "true_rank": ours[0].true_rank,
            "ours_mean": float(np.mean([r.estimate.rank for r in ours])),
            "ours_rmse_pct": float(np.sqrt(np.mean(errs**2))),
            "ours_max_abs_err_pct": float(np.abs(errs).max()),
            "ours_steps": float(np.mean([r.steps for r in ours])),
            "ours_s": float(np.mean([r.seconds for r in ours])),
        }
        base, base_s = lg.baseline_rank(d, seed=0, n_vectors=args.baseline_vectors)
        row |= {"kpm": base.rank, "kpm_err_pct": 100 * (base.rank / row["true_rank"] - 1), "kpm_s": base_s}
        if d in paper:
            p = lg.rank_experiment(d, preconditioner="identity", runs=4, seed=0)
            row |= {
                "paper": p.estimate.rank,
                "paper_se": p.estimate.stderr,
                "paper_err_pct": p.error_pct,
                "paper_expected": p.expected,
                "paper_s": p.seconds,
            }
        rows.append(row)
        print(json.dumps(row), flush=True)
    base_row = rows[0] if rows else None
    print(
        "\n| d | params | exact rank | ours: mean estimate | ours: RMSE % (max) | ours: s | "
        "P = I (paper protocol): estimate (closed form) | P = I: s | Ubaru & Saad | U&S error % | U&S s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        paper_cell = (
            f"{r['paper']:.1f} ± {r['paper_se']:.1f} ({r['paper_err_pct']:+.1f} %; closed form "
            f"{r['paper_expected']:.1f})"
            if "paper" in r
            else "not run"
        )
        print(
            f"| {r['d']} | {r['params']:,} | {r['true_rank']:,} | {r['ours_mean']:.1f} | {r['ours_rmse_pct']:.2f} "
            f"({r['ours_max_abs_err_pct']:.2f}) | {r['ours_s']:.2f} | {paper_cell} | "
            f"{r.get('paper_s', float('nan')):.1f} | {r['kpm']:.1f} | {r['kpm_err_pct']:+.1f} | {r['kpm_s']:.1f} |"
        )
    print("\nGrowth relative to the smallest width (time ratio vs parameter ratio):")
    for r in rows if base_row else []:
        pr = r["params"] / base_row["params"]
        print(
            f"  d = {r['d']}: parameters x{pr:.0f}; ours x{r['ours_s'] / base_row['ours_s']:.2f}; "
            f"Ubaru & Saad x{r['kpm_s'] / base_row['kpm_s']:.2f}"
        )
    presets = {}
    if not args.skip_presets:
        specs = json.loads((ROOT / "assets/presets/langevin_rank.json").read_text())
        print("\nPage presets, cold (fresh process; compute = what the page runs before it draws):")
        for name, spec in specs.items():
            code = PRESET_CODE.format(values=json.dumps(spec["values"]))
            out = subprocess.run(
                [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
            )
            presets[name] = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"  {name}: import {presets[name]['import']:.1f} s, compute {presets[name]['compute']:.1f} s"
            )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "presets": presets}, indent=2))


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")

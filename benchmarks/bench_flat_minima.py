"""Benchmark: flat minima of deep linear nets (quality targets and speed against baselines in the same run).

Run: ``python benchmarks/bench_flat_minima.py [--quick]``  (numpy/torch pinned to one thread)

1. Quality: GD (eta = 0.01, whitened, d = 3, sigma(T) = (2, 1, 0.5), width 3) from the zero-init ResNet,
   a small (0.3) and a large (1.5) random init, depths 2 to 5; final lambda_max against the closed form
   N sigma_1^(2(N-1)/N) (target: ResNet within 1e-3 relative for N = 2..4; large random measurably sharper),
   smallest top coupling |<u_1(W_k), v_1(W_(k+1))>| and the largest per-layer gain deviation.
2. Sharpness at a minimum of a width-16, depth-4 net (d = 8, 768 parameters): Lanczos on the closed-form
   Hessian-vector product and the NTK Gram route against the baseline "dense autograd Hessian + eigvalsh"
   (torch.autograd.functional.hessian); agreement and time ratios.
3. Training: the step-size sweep (12 step sizes x 3,000 steps) as one batched numpy GD against the baseline
   of 12 separate torch-autograd GD runs (loss.backward + SGD step), same steps; time ratio and agreement.
4. Presets cold: each page preset's training + sweep in a fresh Python process (imports included).
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

from dlsa_core.device import configure_threads
from dlsa_core.flat_minima import (
    balanced_factorisation,
    coupling_matrix,
    hessian_autograd,
    layer_gains,
    minimal_sharpness,
    sharpness,
    target_matrix,
    train_inits,
)
from dlsa_core.flat_minima import report as fm
from dlsa_core.flat_minima.training import init_weights, step_size_sweep

#: The page's presets: (singular values, depth, width, eta, steps, rho).
PRESETS = {
    "Depth 3: three inits": ([2.0, 1.0, 0.5], 3, 3, 0.02, 5000, 0.0),
    "Rebalance: same function, sharper": ([2.0, 1.0, 0.5], 3, 3, 0.1, 5000, 0.0),
    "Large steps select flat minima": ([2.0, 1.0, 0.5], 3, 3, 0.2, 5000, 0.0),
    "Deep and wide (N = 5, width 6)": ([3.0, 1.0, 0.5], 5, 6, 0.02, 10000, 0.0),
    "Non-whitened inputs (caveat)": ([2.0, 1.0], 2, 2, 0.02, 5000, 0.6),
}


def quality(depths, steps: int) -> list[dict]:
    T = target_matrix([2.0, 1.0, 0.5], seed=0)
    rows = []
    for n in depths:
        tic = time.perf_counter()
        runs = train_inits(T, n, 3, 0.01, steps, seed=0, scales={"small": 0.3, "large": 1.5})
        sec = time.perf_counter() - tic
        m = minimal_sharpness(T, n)
        for key, r in runs.items():
            ok = r.weights is not None
            rows.append(
                {
                    "N": n,
                    "init": key,
                    "minimal": m,
                    "lambda_max": r.final_sharpness,
                    "rel_gap": (r.final_sharpness - m) / m,
                    "top_coupling": float(coupling_matrix(r.weights).top.min()) if ok else float("nan"),
                    "gain_dev": layer_gains(r.weights, T).imbalance if ok else float("nan"),
                    "converged": r.converged,
                    "steps": r.steps_run,
                    "seconds_3_runs": sec,
                }
            )
    return rows


def sharpness_speed(repeats: int = 3) -> dict:
    T = target_matrix(np.linspace(2.0, 0.5, 8), seed=1)
    w = balanced_factorisation(T, 4, width=16, seed=0)
    w[1] *= 1.7
    w[2] /= 1.7  # an unbalanced minimum, so the top eigenvalue is not degenerate
    out = {"params": sum(x.size for x in w)}
    for name, fn in {
        "autograd dense (baseline)": lambda: float(np.linalg.eigvalsh(hessian_autograd(w))[-1]),
        "Lanczos on closed-form HVP": lambda: sharpness(w, method="lanczos"),
        "NTK Gram (at minima)": lambda: sharpness(w, method="gram"),
    }.items():
        times, value = [], None
        for _ in range(repeats):
            tic = time.perf_counter()
            value = fn()
            times.append(time.perf_counter() - tic)
        out[name] = {"value": value, "seconds": min(times)}
    return out


def torch_gd(T: np.ndarray, start: list[np.ndarray], eta: float, steps: int) -> float:
    """Baseline: plain torch autograd GD on the same population loss; returns the final loss."""
    ws = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in start]
    t = torch.as_tensor(T)
    opt = torch.optim.SGD(ws, lr=eta)
    for _ in range(steps):
        p = ws[0]
        for w in ws[1:]:
            p = w @ p
        loss = 0.5 * torch.sum((p - t) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [w.detach().numpy() for w in ws]


def training_speed(steps: int) -> dict:
    T = target_matrix([2.0, 1.0, 0.5], seed=0)
    m = minimal_sharpness(T, 3)
    etas = fm.sweep_etas(m, 12)[:-2]  # the settled ones (no early stop for either method)
    start = init_weights("large", 3, 3, 3, 3, seed=0, scale=1.5)
    tic = time.perf_counter()
    runs = step_size_sweep(T, 3, 3, "large", etas, steps, seed=0, scale=1.5)
    batched = time.perf_counter() - tic
    tic = time.perf_counter()
    base = [torch_gd(T, start, float(e), min(steps, runs[0].steps_run)) for e in etas]
    baseline = time.perf_counter() - tic
    gaps = [
        abs(sharpness(b) - r.final_sharpness) / r.final_sharpness for b, r in zip(base, runs, strict=True)
    ]
    return {"runs": len(etas), "steps": runs[0].steps_run, "batched_s": batched, "torch_sequential_s": baseline,
            "max_rel_sharpness_gap": max(gaps)}  # fmt: skip


def preset_child(name: str) -> dict:
    tic = time.perf_counter()
    sv, n, w, eta, steps, rho = PRESETS[name]
    rep = fm.training_report(sv, n, w, eta, steps, seed=0, rho=rho)
    train = time.perf_counter() - tic
    fm.rebalance_curve(rep["runs"]["resnet"].weights, 1, np.geomspace(0.125, 8, 25), sigma_x=rep["sigma_x"])
    fm.sweep_report(sv, n, w, "large", steps, seed=0, rho=rho, scale=1.5)
    return {"train_s": train, "compute_s": time.perf_counter() - tic}


def preset_cold(name: str) -> dict:
    tic = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--preset", name],
        capture_output=True,
        text=True,
        check=True,
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_s"] = time.perf_counter() - tic
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="depths 2-3 only, fewer steps")
    ap.add_argument("--preset", help=argparse.SUPPRESS)
    args = ap.parse_args()
    configure_threads(1)
    if args.preset:
        print(json.dumps(preset_child(args.preset)))
        return
    depths = (2, 3) if args.quick else (2, 3, 4, 5)
    print("## 1. Final sharpness after GD (eta = 0.01, d = 3, sigma = (2, 1, 0.5), width 3, whitened)\n")
    print(
        "| N | init | theory N·σ₁^(2(N−1)/N) | measured λmax | relative gap | min top coupling | max gain dev. | steps |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows = quality(depths, 20000 if args.quick else 60000)
    for r in rows:
        print(f"| {r['N']} | {r['init']} | {r['minimal']:.6g} | {r['lambda_max']:.6g} | {r['rel_gap']:+.2e} | "
              f"{r['top_coupling']:.5f} | {r['gain_dev']:.2%} | {r['steps']}{'' if r['converged'] else ' (not converged)'} |")  # fmt: skip
    res = [r for r in rows if r["init"] == "resnet" and r["N"] <= 4]
    print(f"\nTarget ResNet within 1e-3 for N = 2..4: {'MET' if all(abs(r['rel_gap']) < 1e-3 for r in res) else 'MISSED'} "
          f"(worst {max(abs(r['rel_gap']) for r in res):.1e}); large random sharper by "
          + ", ".join(f"{r['rel_gap']:+.0%}" for r in rows if r["init"] == "large"))  # fmt: skip

    print("\n## 2. Sharpness at a minimum, width 16, depth 4, d = 8\n")
    sp = sharpness_speed()
    base = sp["autograd dense (baseline)"]
    print(f"{sp['params']} parameters.\n\n| method | λmax | time | speed-up vs baseline |\n|---|---|---|---|")
    for k, v in sp.items():
        if k != "params":
            print(
                f"| {k} | {v['value']:.10g} | {v['seconds'] * 1e3:.1f} ms | {base['seconds'] / v['seconds']:.1f}x |"
            )

    print("\n## 3. Step-size sweep: batched numpy GD vs sequential torch-autograd GD\n")
    tr = training_speed(3000)
    print(f"{tr['runs']} runs x {tr['steps']} steps: batched {tr['batched_s']:.2f} s, sequential torch "
          f"{tr['torch_sequential_s']:.2f} s ({tr['torch_sequential_s'] / tr['batched_s']:.1f}x); final λmax agree to "
          f"{tr['max_rel_sharpness_gap']:.1e} relative.")  # fmt: skip

    print(
        "\n## 4. Presets cold (fresh process: training of 3 inits, rebalance curve, 12-run sweep; the process"
    )
    print("time adds the imports of torch/scipy/numpy, which the app pays once at server start)\n")
    print("| preset | training | all compute | whole process |\n|---|---|---|---|")
    for name in PRESETS:
        r = preset_cold(name)
        print(f"| {name} | {r['train_s']:.2f} s | {r['compute_s']:.2f} s | {r['process_s']:.2f} s |")
    print(
        "\nTimed on a shared 2-core CPU under load from other jobs: absolute times are pessimistic, ratios hold."
    )


if __name__ == "__main__":
    main()

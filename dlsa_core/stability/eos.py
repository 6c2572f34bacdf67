"""Edge of stability, in small: where does SGD settle, measured against the exact mean-square threshold?

The paper's experiment (Section 5, Fig. 1-2) in miniature, on CPU: a one-hidden-layer ReLU net, squared
loss on one-hot labels (no softmax), a digits subset; *large* initial weights (so the nearest minimum
is unstable), the same initial point for every run, a linear learning-rate warm-up, SGD with a fresh
uniform batch (without replacement) at every step, and convergence declared when the full training
loss stays below ``tol`` for ``patience`` consecutive epochs. At the minimum reached we compute, from the
per-sample Jacobians through the Gram reduction, ``lambda_max(H)`` and the generalised sharpness
``lambda_max(C^+ D)`` for the run's own batch size, to set beside ``2/eta``.

Run (resumable: finished runs are kept in the output JSON and skipped)::

    python -m dlsa_core.stability.eos --out assets/stability/eos_small.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path("assets/stability/eos_small.json")


@dataclass(frozen=True)
class EosConfig:
    """Everything that defines the experiment (stored beside the results)."""

    n: int = 48
    classes: tuple[int, ...] = (0, 1, 2, 3)
    width: int = 32
    init_scale: float = 4.0
    etas: tuple[float, ...] = (0.05, 0.1, 0.2)
    batch_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 48)
    warmup_steps: int = 2000
    tol: float = 1e-5
    patience: int = 50
    max_steps: int = 200_000
    seed: int = 0
    extra: dict = field(default_factory=dict)


def _data(cfg: EosConfig) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(n, 64)`` in [0, 1] and one-hot targets ``(n, k)``, float64."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    mask = np.isin(digits.target, cfg.classes)
    x_all, y_all = digits.data[mask] / 16.0, digits.target[mask]
    idx = np.random.default_rng(cfg.seed).choice(len(x_all), size=cfg.n, replace=False)
    y = np.eye(len(cfg.classes))[[cfg.classes.index(c) for c in y_all[idx]]]
    return x_all[idx], y


def _init(cfg: EosConfig, k: int) -> list[np.ndarray]:
    """``[W1 (width, 64), b1, W2 (k, width), b2]``, uniform with ``init_scale / sqrt(fan_in)``."""
    rng = np.random.default_rng(cfg.seed)
    shapes = [((cfg.width, 64), 64), ((cfg.width,), 64), ((k, cfg.width), cfg.width), ((k,), cfg.width)]
    return [(rng.random(s) * 2 - 1) * cfg.init_scale / np.sqrt(f) for s, f in shapes]


def _forward(prm: list[np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = np.maximum(x @ prm[0].T + prm[1], 0.0)
    return h, h @ prm[2].T + prm[3]


def _loss(prm: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    return float(0.5 * ((_forward(prm, x)[1] - y) ** 2).sum(1).mean())


def _grads(prm: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Gradient of ``0.5 mean_i ||f(x_i) - y_i||^2`` (hand-written: 20x faster than autograd here)."""
    h, out = _forward(prm, x)
    dout = (out - y) / len(x)
    dh = (dout @ prm[2]) * (h > 0)
    return [dh.T @ x, dh.sum(0), dout.T @ h, dout.sum(0)]


def jacobians(prm: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """Per-sample output Jacobians ``(n, k, d)`` in the parameter order of :func:`_init`."""
    h, _ = _forward(prm, x)
    n, k = len(x), prm[2].shape[0]
    mask = (h > 0).astype(np.float64)  # (n, width)
    eye = np.eye(k)
    g_h = prm[2][None, :, :] * mask[:, None, :]  # d out_j / d pre-activation, (n, k, width)
    j_w1 = (g_h[..., None] * x[:, None, None, :]).reshape(n, k, -1)
    j_w2 = (eye[None, :, :, None] * h[:, None, None, :]).reshape(n, k, -1)
    return np.concatenate([j_w1, g_h, j_w2, np.broadcast_to(eye, (n, k, k))], axis=2)


def run_one(cfg: EosConfig, eta: float, batch_size: int) -> dict:
    """Train one SGD run from the shared initial point; return the minimum's sharpness measures."""
    from dlsa_core.stability.bounds import bound_rank_one
    from dlsa_core.stability.spectral import batch_p, spectral_from_factors
    from dlsa_core.stability.thresholds import generalized_sharpness

    start = time.perf_counter()
    x, y = _data(cfg)
    n = len(x)
    prm = _init(cfg, y.shape[1])
    rng = np.random.default_rng(cfg.seed + 1)
    below, step, loss = 0, 0, float("inf")
    epoch = max(1, n // batch_size)
    with np.errstate(all="ignore"):
        while step < cfg.max_steps:
            lr = eta * min(1.0, (step + 1) / cfg.warmup_steps)
            idx = rng.choice(n, batch_size, replace=False)  # a fresh uniform subset every step
            for p_, g in zip(prm, _grads(prm, x[idx], y[idx]), strict=True):
                p_ -= lr * g
            step += 1
            if step % epoch == 0:
                loss = _loss(prm, x, y)
                if not np.isfinite(loss) or loss > 1e6:
                    break
                below = below + 1 if (loss < cfg.tol and step > cfg.warmup_steps) else 0
                if below >= cfg.patience:
                    break
    converged = below >= cfg.patience
    res = {"eta": eta, "batch_size": batch_size, "steps": step, "loss": loss, "converged": converged}
    if converged:
        spec = spectral_from_factors(jacobians(prm, x), space="gram")
        p = batch_p(n, batch_size)
        mu, _ = generalized_sharpness(spec, p)
        res.update(
            lambda_max_h=float(spec.lam[0]),
            lambda_max_cd=float(mu),
            rank_one=float(2.0 / bound_rank_one(spec, [batch_size])[0]),
            two_over_eta=2.0 / eta,
            eta_star=2.0 / mu,
            p=p,
        )
    res["seconds"] = round(time.perf_counter() - start, 2)
    return res


def run(cfg: EosConfig, out: Path, *, log=print) -> dict:
    """All (eta, B) runs, resumable through ``out``."""
    data = json.loads(out.read_text()) if out.is_file() else {}
    if data.get("config") != json.loads(json.dumps(asdict(cfg))):
        data = {"config": asdict(cfg), "runs": []}
    done = {(r["eta"], r["batch_size"]) for r in data["runs"]}
    for eta in cfg.etas:
        for b in cfg.batch_sizes:
            if (eta, b) in done:
                continue
            res = run_one(cfg, eta, b)
            log(json.dumps(res))
            data["runs"].append(res)
            data.update(
                command="python -m dlsa_core.stability.eos " + " ".join(sys.argv[1:]),
                hardware=f"{platform.machine()} CPU, numpy",
                wall_time_s=round(sum(r["seconds"] for r in data["runs"]), 1),
            )
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(data, indent=1) + "\n")
    return data


def load_results(path: Path | None = None) -> dict | None:
    """The shipped experiment (``None`` when the file is missing or unreadable)."""
    path = Path(__file__).resolve().parents[2] / DEFAULT_OUT if path is None else Path(path)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--max-steps", type=int, default=EosConfig.max_steps)
    ap.add_argument("--init-scale", type=float, default=EosConfig.init_scale)
    a = ap.parse_args(argv)
    run(EosConfig(max_steps=a.max_steps, init_scale=a.init_scale), a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

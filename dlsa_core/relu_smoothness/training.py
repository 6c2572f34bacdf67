"""Full-batch GD on shallow ReLU nets, batched over step sizes and seeds (one tensor computation).

Every run of a sweep is one slice of stacked parameters ``W (S, K, d)``, ``b (S, K)``, ``v (S, K)``,
``c (S,)``: a step of GD for all ``S`` runs is a handful of batched tensor operations, each run with its
own step size. Gradients are written out by hand (they are three lines for this model; autograd's
overhead would dominate at these sizes) and tested against autograd.

A run ends as one of

* ``"interpolated"``: the loss fell below ``tol`` *and stayed there* for ``confirm`` more steps, and the
  minimum is linearly stable, ``lambda_max <= 2 / eta`` (measured both ways, not assumed);
* ``"unstable"``: it interpolated and stayed for ``confirm`` steps, but ``lambda_max > 2 / eta``: a
  minimum GD cannot stay at (the escape along the sharp direction is slow at first);
* ``"diverged"``: the loss exceeded ``1e6`` times its start or became non-finite;
* ``"dead"``: every hidden unit is inactive on every training input (the net is the constant ``c``:
  a stationary point GD cannot leave) without interpolating;
* ``"not converged"``: none of these within ``max_steps``, or stalled (less than 2 % progress over
  ``stall_steps`` steps: a plateau, or GD oscillating at the edge of stability).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dlsa_core.device import get_device
from dlsa_core.relu_smoothness.network import Network, gn_sharpness, relu_stability_norm
from dlsa_core.relu_smoothness.weights import as_inputs

STATUSES = ("interpolated", "unstable", "diverged", "dead", "not converged")
#: Relative slack on lambda_max <= 2 / eta (floating point) for a minimum to count as linearly stable.
STABLE_RTOL = 1e-6
#: Largest number of runs x width x samples we accept in one sweep (memory and time guard).
MAX_ELEMENTS = 50_000_000
#: Loss growth (relative to the start) that counts as divergence.
DIVERGE_FACTOR = 1e6


@dataclass
class Run:
    """One trained network.

    Attributes
    ----------
    eta : float
    seed : int
    status : str
        One of :data:`STATUSES`.
    steps : int
        GD steps taken (until interpolation was confirmed, divergence or the budget).
    loss : float
        Final training loss ``(1/2n) sum (f - y)^2`` (``inf`` if diverged).
    losses : (m,) float64
        Loss history, every ``record_every`` steps.
    params : Network or None
        Final parameters (``None`` if diverged).
    lambda_max : float
        ``lambda_max`` of the Gauss-Newton matrix at the end (NaN if diverged).
    norm : float
        Reduced-form weighted norm ``sum |v| ||w|| g`` at the end (NaN if diverged).
    """

    eta: float
    seed: int
    status: str
    steps: int
    loss: float
    losses: np.ndarray
    params: Network | None
    lambda_max: float = math.nan
    norm: float = math.nan

    @property
    def bound(self) -> float:
        """The theorem's right side ``1/eta - 1/2``."""
        return 1.0 / self.eta - 0.5

    @property
    def stable_interpolating(self) -> bool:
        return self.status == "interpolated"


@dataclass
class Sweep:
    """All runs of a sweep over ``etas x seeds`` (row-major: ``runs[i * len(seeds) + j]``)."""

    etas: np.ndarray
    seeds: list[int]
    runs: list[Run]
    x: np.ndarray
    y: np.ndarray
    width: int
    seconds: float
    device: str
    info: dict = field(default_factory=dict)

    def grid(self, attr: str) -> np.ndarray:
        """``attr`` of every run as an ``(len(etas), len(seeds))`` array."""
        vals = [getattr(r, attr) for r in self.runs]
        return np.asarray(vals, dtype=object if attr == "status" else np.float64).reshape(
            len(self.etas), len(self.seeds)
        )

    def worst_ratio(self) -> float:
        """Largest ``norm / (1/eta - 1/2)`` over the stable interpolating runs (NaN if there are none)."""
        r = [run.norm / run.bound for run in self.runs if run.stable_interpolating and run.bound > 0]
        return float(max(r)) if r else math.nan

    def median_norm(self) -> np.ndarray:
        """Median norm over the seeds that interpolated, per step size, ``(len(etas),)`` (NaN if none)."""
        out = np.full(len(self.etas), np.nan)
        for i in range(len(self.etas)):
            vals = [
                r.norm
                for r in self.runs[i * len(self.seeds) : (i + 1) * len(self.seeds)]
                if r.stable_interpolating
            ]
            if vals:
                out[i] = float(np.median(vals))
        return out

    def table(self) -> list[dict[str, Any]]:
        """One plain dict per run (for a DataFrame or CSV)."""
        return [
            {
                "eta": r.eta,
                "seed": r.seed,
                "status": r.status,
                "steps": r.steps,
                "loss": r.loss,
                "lambda_max": r.lambda_max,
                "two_over_eta": 2.0 / r.eta,
                "norm": r.norm,
                "bound": r.bound,
                "ratio": r.norm / r.bound if r.bound > 0 else math.nan,
            }
            for r in self.runs
        ]


def _check_xy(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    xx = as_inputs(x)
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    yy = np.asarray(y, dtype=np.float64).reshape(-1)
    if yy.shape[0] != xx.shape[0]:
        raise ValueError(f"x has {xx.shape[0]} samples but y has {yy.shape[0]}.")
    if not np.all(np.isfinite(yy)):
        raise ValueError("y contains NaN or infinite values.")
    if xx.shape[0] < 2:
        raise ValueError("need at least 2 training points.")
    dup = np.unique(xx, axis=0).shape[0] < xx.shape[0]
    if dup:
        raise ValueError("two training points share the same input: a function cannot interpolate both.")
    return xx, yy


def _forward(xt, yt, w, b, v, c):
    """Pre-activations (S, n, K), hidden (S, n, K), residuals (S, n), losses (S,)."""
    if xt.shape[1] == 1:  # 1-D inputs: a broadcast product is cheaper than a batched matmul
        pre = xt[None, :, 0:1] * w[:, None, :, 0] + b[:, None, :]
    else:
        pre = torch.baddbmm(b[:, None, :], xt.expand(w.shape[0], -1, -1), w.transpose(1, 2))
    hid = pre.clamp_min(0.0)
    r = (hid @ v[:, :, None])[..., 0] + (c[:, None] - yt)
    return pre, hid, r, 0.5 * (r * r).mean(1)


def init_params(
    x: np.ndarray, width: int, seed: int, init_scale: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Seeded initialisation whose knots cut the data.

    ``u`` uniform on the sphere, ``t`` uniform between the smallest and largest projection of the
    data (every neuron starts with a kink inside the data), ``||w|| = 1/2``, ``v ~ N(0, init_scale^2 /
    K)``, ``c = 0``. The initial sharpness is then a few units at any width, so GD is stable at small
    step sizes and the range up to ``eta = 2`` of the theorem can be explored; a larger ``init_scale``
    starts from a rougher function (a larger norm for large steps to remove).

    Returns
    -------
    W (K, d), b (K,), v (K,) float64 and c (float).
    """
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(width, x.shape[1]))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    proj = x @ u.T  # (n, K)
    t = rng.uniform(proj.min(0), proj.max(0))
    return 0.5 * u, -0.5 * t, rng.normal(size=width) * init_scale / math.sqrt(width), 0.0


def _validate(width: int, etas: Sequence[float], max_steps: int, tol: float, init_scale: float) -> None:
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or not 1 <= width <= 10_000:
        raise ValueError(f"width must be an integer in [1, 10000], got {width!r}.")
    for eta in etas:
        if not (isinstance(eta, (int, float, np.floating)) and math.isfinite(eta) and 0 < eta <= 10):
            raise ValueError(f"step sizes must be finite numbers in (0, 10], got {eta!r}.")
    if not 1 <= int(max_steps) <= 1_000_000:
        raise ValueError(f"max_steps must be in [1, 1000000], got {max_steps}.")
    if not (math.isfinite(tol) and 0 < tol < 1):
        raise ValueError(f"tol must be in (0, 1), got {tol}.")
    if not (math.isfinite(init_scale) and 0 < init_scale <= 100):
        raise ValueError(f"init_scale must be in (0, 100], got {init_scale}.")


def sweep_step_sizes(
    x: Any,
    y: Any,
    width: int,
    etas: Sequence[float],
    seeds: Sequence[int] = (0,),
    *,
    max_steps: int = 20_000,
    tol: float = 1e-7,
    confirm: int = 200,
    init_scale: float = 2.0,
    record_every: int = 10,
    stall_steps: int = 1500,
    device: str | torch.device | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> Sweep:
    """Train ``len(etas) * len(seeds)`` networks with full-batch GD at once, on one device.

    Parameters
    ----------
    x : array-like (n, d)
    y : array-like (n,)
    width : int
        Hidden units K.
    etas : sequence of float
        Step sizes; each is run from the same initialisations (one per seed).
    seeds : sequence of int
    max_steps, tol, confirm : int, float, int
        Budget; interpolation threshold on the loss; steps the loss must stay below ``tol``.
    init_scale : float
        Output-layer scale at initialisation (see :func:`init_params`).
    record_every : int
        Keep the loss history every this many steps.
    stall_steps : int
        A run whose loss fell by less than 2 % over this many steps stops as ``"not converged"``
        (stalled on a plateau or oscillating at the edge of stability) instead of using the budget.
    device : str or torch.device or None
        Resolved by :func:`dlsa_core.device.get_device`; float64 throughout.
    progress : callable(fraction, message) or None
        Called about 50 times.

    Returns
    -------
    Sweep
    """
    start = time.perf_counter()
    xx, yy = _check_xy(x, y)
    etas = [float(e) for e in etas]
    seeds = [int(s) for s in seeds]
    if not etas or not seeds:
        raise ValueError("need at least one step size and one seed.")
    _validate(width, etas, max_steps, tol, init_scale)
    n, d = xx.shape
    s_runs = len(etas) * len(seeds)
    if s_runs * width * (n + d) > MAX_ELEMENTS:
        raise ValueError(
            f"{s_runs} runs x width {width} x {n} samples is too large for this tool; use fewer runs, "
            "a smaller width or fewer points."
        )
    dev = get_device(device)
    f64 = {"dtype": torch.float64, "device": dev}
    inits = [init_params(xx, width, s, init_scale) for s in seeds]
    pick = [j for _ in etas for j in range(len(seeds))]  # run index -> seed index
    w_init = np.stack([inits[j][0] for j in pick])  # (S, K, d)
    # GD moves W only inside the row space of X (dL/dW = delta^T X) and f sees W only through X W^T,
    # so for d > n we train exactly in coordinates Z = W B^T (B: orthonormal basis of the row space)
    # and put W = W_init + (Z - Z_init) B back together at the end: the cost no longer grows with d.
    basis = None
    if d > n:
        _, sv, vt = np.linalg.svd(xx, full_matrices=False)
        basis = vt[sv > 1e-10 * sv[0]]  # (r, d)
        xx_train, w_train = xx @ basis.T, w_init @ basis.T
    else:
        xx_train, w_train = xx, w_init
    w = torch.tensor(w_train, **f64)  # (S, K, d or r)
    b = torch.tensor(np.stack([inits[j][1] for j in pick]), **f64)  # (S, K)
    v = torch.tensor(np.stack([inits[j][2] for j in pick]), **f64)  # (S, K)
    c = torch.zeros(s_runs, **f64)
    eta = torch.tensor([e for e in etas for _ in seeds], **f64)
    xt, yt = torch.tensor(xx_train, **f64), torch.tensor(yy, **f64)
    record_every = max(1, min(int(record_every), int(max_steps)))
    n_rec = -(-max_steps // record_every) + 1  # a record after every chunk; the last chunk may be short
    hist = np.full((s_runs, n_rec), np.nan)
    final: dict[int, tuple] = {}  # run index -> (status, steps, W, b, v, c)
    alive = torch.arange(s_runs, device=dev)  # original indices of the runs still moving
    below = torch.zeros(s_runs, dtype=torch.long, device=dev)  # steps the loss has stayed < tol
    report = max(record_every, (max_steps // 50) // record_every * record_every)
    step, loss0 = 0, _forward(xt, yt, w, b, v, c)[3]
    ref = loss0.clone()
    patience = max(record_every, stall_steps // record_every * record_every)
    hist[:, 0] = loss0.cpu().numpy()
    while True:
        # a chunk of `record_every` plain GD steps for every run still moving (no host syncs inside)
        for _ in range(min(record_every, max_steps - step)):
            pre, hid, r, _ = _forward(xt, yt, w, b, v, c)
            g = r / n
            delta = g[:, :, None] * (pre > 0) * v[:, None, :]  # dL/dpre, (S, n, K)
            gw = delta.transpose(1, 2) @ xt  # (S, K, d)
            gb = delta.sum(1)
            gv = (g[:, None, :] @ hid)[:, 0]  # (S, K)
            w = w - eta[:, None, None] * gw
            b, v, c = b - eta[:, None] * gb, v - eta[:, None] * gv, c - eta * g.sum(1)
        step = min(step + record_every, max_steps)
        pre, _, _, loss = _forward(xt, yt, w, b, v, c)
        idx = alive.cpu().numpy()
        hist[idx, -(-step // record_every)] = loss.cpu().numpy()
        div = ~torch.isfinite(loss) | (loss > DIVERGE_FACTOR * (loss0 + 1e-12))
        below = torch.where(loss < tol, below + record_every, torch.zeros_like(below))
        interp = ~div & (below > confirm)
        if step % patience == 0:  # stalled: less than 2 % progress over the last `patience` steps
            stalled = ~div & ~interp & (loss > 0.98 * ref) & (loss >= tol)
            ref = loss.clone()
        else:
            stalled = torch.zeros_like(interp)
        dead = ~div & ~interp & ((pre > 0).sum((1, 2)) == 0)
        last = step >= max_steps
        ended = div | interp | dead | stalled | last
        if bool(ended.any()):
            for j in torch.nonzero(ended).flatten().tolist():
                st = (
                    "diverged"
                    if div[j]
                    else "interpolated"
                    if interp[j]
                    else "dead"
                    if dead[j]
                    else "not converged"
                )
                final[int(idx[j])] = (
                    st,
                    step,
                    w[j].cpu().numpy(),
                    b[j].cpu().numpy(),
                    v[j].cpu().numpy(),
                    float(c[j]),
                )
            keep = torch.nonzero(~ended).flatten()  # drop finished runs: later steps cost only what moves
            alive, w, b, v, c = alive[keep], w[keep], b[keep], v[keep], c[keep]
            eta, below, loss0, ref = eta[keep], below[keep], loss0[keep], ref[keep]
        if alive.numel() == 0:
            break
        if progress is not None and step % report == 0:
            progress(
                step / max_steps,
                f"GD step {step:,} of at most {max_steps:,}: {alive.numel()} runs still moving",
            )
    runs = []
    for i in range(s_runs):
        e, sd = etas[i // len(seeds)], seeds[i % len(seeds)]
        st, n_steps, wi, bi, vi, ci = final[i]
        h = hist[i, : -(-n_steps // record_every) + 1]
        if st == "diverged":
            runs.append(Run(e, sd, st, n_steps, math.inf, h, None))
            continue
        if basis is not None:
            wi = w_init[i] + (wi - w_train[i]) @ basis
        net = Network(wi, bi, vi, ci)
        norm = relu_stability_norm(net, xx)
        if st == "not converged" and norm == 0.0:
            st = "dead"  # no kink left inside the data: the net is affine there and cannot fit it
        lam = gn_sharpness(net, xx)
        if st == "interpolated" and lam * e > 2.0 * (1 + STABLE_RTOL):
            st = "unstable"  # it reached the minimum, but GD cannot stay: a slow escape had not shown yet
        runs.append(Run(e, sd, st, n_steps, float(h[-1]), h, net, lam, norm))
    if progress is not None:
        progress(1.0, "done")
    return Sweep(np.asarray(etas), seeds, runs, xx, yy, int(width), time.perf_counter() - start, str(dev))


def train_shallow_relu(
    x: Any,
    y: Any,
    width: int,
    eta: float,
    *,
    max_steps: int = 20_000,
    tol: float = 1e-7,
    init_scale: float = 2.0,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> Run:
    """Full-batch GD on ``L = (1/2n) sum (f(x_i) - y_i)^2`` from a seeded init, to interpolation.

    Returns a :class:`Run`: ``params``, the loss history ``losses``, ``status`` (``"interpolated"``,
    ``"diverged"``, ``"dead"`` or ``"not converged"``), the final Gauss-Newton sharpness
    ``lambda_max`` and the reduced-form norm.
    """
    sw = sweep_step_sizes(
        x, y, width, [eta], [seed], max_steps=max_steps, tol=tol, init_scale=init_scale, device=device
    )
    return sw.runs[0]

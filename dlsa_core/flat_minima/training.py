"""Full-batch gradient descent on ``L = 1/2 tr((W_N ... W_1 - T) Sigma_x (...)^T)`` from three inits.

The loss is the population loss (the expectation is exact), so GD is deterministic. Many runs with
the same shapes (three inits, or one init at many step sizes) are trained together as one batch of
``torch.bmm`` products: the cost per step does not grow with the number of runs on a small CPU.

Inits (``INITS``):

* ``"resnet"``: zero-init linear ResNet, ``W_k = I + A_k`` with ``A_k = 0`` (identity blocks of size
  ``min(d_in, d_out, width)``, zeros elsewhere): exactly balanced, and gradient flow keeps it so;
* ``"small"``: i.i.d. Gaussian ``N(0, (scale / sqrt(fan_in))^2)``, default scale 0.1 (nearly balanced);
* ``"large"``: the same with default scale 1.0 (unbalanced).
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
from dlsa_core.flat_minima.geometry import balancedness
from dlsa_core.flat_minima.hessian import sharpness
from dlsa_core.flat_minima.net import check_depth, check_sigma_x, check_target
from dlsa_core.stability.spectral import check_eta

INITS = {
    "resnet": "zero-init ResNet (W = I + A, A = 0)",
    "small": "small random",
    "large": "large random",
}
DEFAULT_SCALE = {"small": 0.1, "large": 1.0}
#: Largest number of GD steps accepted.
MAX_STEPS = 200_000
#: A run counts as converged when its loss is below this fraction of 1/2 ||T||_F^2.
CONVERGED_RTOL = 1e-20
#: A run counts as diverged when its loss exceeds this multiple of its starting loss (or is not finite).
DIVERGED_FACTOR = 1e8


@dataclass
class TrainResult:
    """One GD run.

    Attributes
    ----------
    init, eta : the init key and step size.
    weights : list of (d_k, d_(k-1)) float64 arrays at the end (``None`` if diverged).
    steps : (R,) int, the recorded steps; ``loss``, ``sharpness``: (R,) float64 at those steps
        (the full Hessian's ``lambda_max``, residual included); ``balance``: (R,) float64, the largest
        ``||W_(k+1)^T W_(k+1) - W_k W_k^T||_F``.
    final_sharpness : float, ``lambda_max`` at the end (NaN if diverged).
    converged, diverged : bool; ``steps_run`` : int.
    """

    init: str
    eta: float
    weights: list | None
    steps: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    balance: np.ndarray
    final_sharpness: float
    converged: bool
    diverged: bool
    steps_run: int
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def check_init(init: str) -> str:
    for key, label in INITS.items():
        if init in (key, label):
            return key
    raise ValueError(f"init must be one of {list(INITS)}, got {init!r}.")


def init_weights(
    init: str, d_in: int, d_out: int, depth: int, width: int, *, seed: int = 0, scale: float | None = None
) -> list[np.ndarray]:
    """Initial ``[W_1, ..., W_N]`` (float64) for ``init`` in :data:`INITS`."""
    key = check_init(init)
    depth = check_depth(depth)
    dims = [d_in] + [int(width)] * (depth - 1) + [d_out]
    if key == "resnet":
        r = min(dims)
        return [np.eye(dims[k + 1], dims[k]) * (np.arange(dims[k + 1]) < r)[:, None] for k in range(depth)]
    scale = DEFAULT_SCALE[key] if scale is None else float(scale)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"init scale must be finite and > 0, got {scale}.")
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((dims[k + 1], dims[k])) * scale / math.sqrt(dims[k]) for k in range(depth)]


def _check_run(T, depth, width, steps, sigma_x):
    t = check_target(T)
    depth = check_depth(depth)
    if isinstance(width, bool) or not float(width).is_integer() or not 1 <= int(width) <= 64:
        raise ValueError(f"width must be a whole number in [1, 64], got {width!r}.")
    if depth > 1 and int(width) < min(t.shape) and np.linalg.matrix_rank(t) > int(width):
        raise ValueError(f"width {width} is below rank(T) = {np.linalg.matrix_rank(t)}: no global minimum.")
    if isinstance(steps, bool) or not float(steps).is_integer() or not 1 <= int(steps) <= MAX_STEPS:
        raise ValueError(f"steps must be a whole number in [1, {MAX_STEPS}], got {steps!r}.")
    return t, depth, int(width), int(steps), check_sigma_x(sigma_x, t.shape[1])


def record_grid(steps: int, count: int = 40) -> np.ndarray:
    """Log-spaced record steps in ``[0, steps]`` (0 and ``steps`` included)."""
    grid = np.unique(np.round(np.geomspace(1, steps, max(count - 1, 1))).astype(int))
    return np.concatenate([[0], grid[grid <= steps]])


def train_batch(
    T: Any,
    starts: Sequence[list[np.ndarray]],
    etas: Sequence[float],
    steps: int,
    *,
    sigma_x: Any = None,
    record: int = 40,
    device=None,
    progress: Callable[[float], None] | None = None,
) -> dict:
    """GD on many runs at once (same layer shapes); returns snapshots for :func:`summarise`.

    On a CPU the loop runs in numpy (batched ``matmul`` of tiny matrices costs a few microseconds
    there, several times less than torch's per-op overhead); on a GPU device in torch.

    Returns
    -------
    dict with ``steps`` (R,), ``loss`` (B, R), ``snapshots`` (list over R of lists of (B, d_k, d_(k-1))),
    ``diverged`` (B,) bool, ``converged`` (B,) bool, ``steps_run`` int.
    """
    t = check_target(T)
    sig = check_sigma_x(sigma_x, t.shape[1])
    etas = np.array([check_eta(e) for e in etas])
    dev = get_device(device)
    if dev.type == "cpu":
        xp, conv = np, np.asarray
    else:  # pragma: no cover - exercised only where a GPU is present
        xp = torch
        conv = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64, device=dev)  # noqa: E731
    ws = [conv(np.stack([s[k] for s in starts]).astype(np.float64)) for k in range(len(starts[0]))]
    n, b = len(ws), len(starts)
    tt, ss = conv(t), conv(sig)
    eta = conv(etas[:, None, None])
    scale = 0.5 * float(np.sum((t @ sig) * t))
    rec = set(record_grid(steps, record).tolist())
    out_steps, out_loss, snaps = [], [], []
    diverged = np.zeros(b, dtype=bool)
    loss0 = None
    step = 0
    host = (lambda a: a.copy()) if xp is np else (lambda a: a.cpu().numpy().copy())
    while True:
        pre = [None] * (n + 1)  # pre[k] = W_k ... W_1
        pre[1] = ws[0]
        for k in range(1, n):
            pre[k + 1] = ws[k] @ pre[k]
        r = pre[n] - tt
        g = r @ ss  # (P - T) Sigma, (B, d_out, d_in)
        with np.errstate(over="ignore", invalid="ignore"):
            loss = np.asarray(host((g * r).sum(axis=(1, 2)))) * 0.5
        if loss0 is None:
            loss0 = loss.copy()
        diverged |= ~np.isfinite(loss) | (loss > DIVERGED_FACTOR * (loss0 + scale))
        if step in rec:
            out_steps.append(step)
            out_loss.append(np.where(diverged, np.nan, loss))
            snaps.append([host(w) for w in ws])
        done = diverged | (loss <= CONVERGED_RTOL * scale)
        if step == steps or done.all():
            break
        # suffix products suf = W_N ... W_(k+1); grad_k = suf^T G pre[k-1]^T
        suf = None
        live = conv((~done).astype(np.float64)[:, None, None]) * eta
        new = [None] * n
        for k in range(n - 1, -1, -1):
            left = g if suf is None else suf.swapaxes(1, 2) @ g
            grad = left if k == 0 else left @ pre[k].swapaxes(1, 2)
            suf = ws[k] if suf is None else suf @ ws[k]
            new[k] = ws[k] - live * grad
        ws = new
        step += 1
        if progress is not None and step % 500 == 0:
            progress(step / steps)
    if out_steps[-1] != step:
        out_steps.append(step)
        out_loss.append(np.where(diverged, np.nan, loss))
        snaps.append([host(w) for w in ws])
    return {
        "steps": np.array(out_steps),
        "loss": np.stack(out_loss, axis=1),
        "snapshots": snaps,
        "diverged": diverged,
        "converged": ~diverged & (loss <= CONVERGED_RTOL * scale),
        "steps_run": step,
    }


def summarise(
    raw: dict, i: int, T: np.ndarray, init: str, eta: float, *, sigma_x=None, history=True
) -> TrainResult:
    """Run ``i`` of :func:`train_batch` as a :class:`TrainResult`, with sharpness along the path."""
    div = bool(raw["diverged"][i])
    weights = None if div else [w[i] for w in raw["snapshots"][-1]]
    idx = range(len(raw["steps"])) if history else [len(raw["steps"]) - 1]
    sharp, bal = [], []
    for j in idx:
        wj = [w[i] for w in raw["snapshots"][j]]
        ok = all(np.all(np.isfinite(w)) for w in wj) and np.isfinite(raw["loss"][i, j])
        sharp.append(sharpness(wj, target=T, sigma_x=sigma_x) if ok else np.nan)
        bal.append(float(np.max(balancedness(wj), initial=0.0)) if ok else np.nan)
    steps = raw["steps"][list(idx)]
    return TrainResult(
        init=init,
        eta=float(eta),
        weights=weights,
        steps=steps,
        loss=raw["loss"][i, list(idx)],
        sharpness=np.array(sharp),
        balance=np.array(bal),
        final_sharpness=np.nan if div else float(sharp[-1]),
        converged=bool(raw["converged"][i]),
        diverged=div,
        steps_run=int(raw["steps_run"]),
    )


def train_linear_net(
    T: Any,
    depth: int,
    width: int,
    init: str,
    eta: float,
    steps: int,
    *,
    seed: int = 0,
    device=None,
    sigma_x: Any = None,
    scale: float | None = None,
    record: int = 40,
) -> TrainResult:
    """Train ``W_N ... W_1`` towards ``T`` by full-batch GD with step ``eta`` from ``init``.

    Parameters
    ----------
    T : (d_out, d_in) array-like
        Target map (the least-squares solution of the population loss).
    depth, width : int
        Number of layers N and hidden width (hidden layers are ``width`` units).
    init : {"resnet", "small", "large"} or its label in :data:`INITS`.
    eta : float
        Step size; GD can only settle where ``lambda_max <= 2 / eta``.
    steps : int
        Maximum number of steps; the run stops early once the loss is below
        ``CONVERGED_RTOL * 1/2 ||T||^2`` (or once it diverges).
    seed : int
        Seed of the random inits.
    sigma_x : (d_in, d_in) array or None
        Input covariance (``None``: whitened).
    scale : float or None
        Std multiplier of the random inits (default 0.1 small, 1.0 large).
    """
    t, depth, width, steps, sig = _check_run(T, depth, width, steps, sigma_x)
    key = check_init(init)
    start = init_weights(key, t.shape[1], t.shape[0], depth, width, seed=seed, scale=scale)
    tic = time.perf_counter()
    raw = train_batch(t, [start], [eta], steps, sigma_x=sig, record=record, device=device)
    res = summarise(raw, 0, t, key, eta, sigma_x=sig)
    res.seconds = time.perf_counter() - tic
    return res


def train_inits(
    T: Any,
    depth: int,
    width: int,
    eta: float,
    steps: int,
    *,
    seed: int = 0,
    sigma_x: Any = None,
    scales: dict | None = None,
    device=None,
    progress: Callable[[float], None] | None = None,
) -> dict[str, TrainResult]:
    """The three inits of :data:`INITS` at the same step size, trained as one batch."""
    t, depth, width, steps, sig = _check_run(T, depth, width, steps, sigma_x)
    scales = scales or {}
    starts = [
        init_weights(k, t.shape[1], t.shape[0], depth, width, seed=seed, scale=scales.get(k)) for k in INITS
    ]
    tic = time.perf_counter()
    raw = train_batch(t, starts, [eta] * len(starts), steps, sigma_x=sig, device=device, progress=progress)
    out = {k: summarise(raw, i, t, k, eta, sigma_x=sig) for i, k in enumerate(INITS)}
    for r in out.values():
        r.seconds = time.perf_counter() - tic
    return out


def step_size_sweep(
    T: Any,
    depth: int,
    width: int,
    init: str,
    etas: Sequence[float],
    steps: int,
    *,
    seed: int = 0,
    sigma_x: Any = None,
    scale: float | None = None,
    device=None,
    progress: Callable[[float], None] | None = None,
) -> list[TrainResult]:
    """GD from the *same* init at every step size in ``etas`` (one batch); final sharpness per run."""
    t, depth, width, steps, sig = _check_run(T, depth, width, steps, sigma_x)
    key = check_init(init)
    start = init_weights(key, t.shape[1], t.shape[0], depth, width, seed=seed, scale=scale)
    raw = train_batch(
        t, [start] * len(etas), list(etas), steps, sigma_x=sig, record=2, device=device, progress=progress
    )
    return [summarise(raw, i, t, key, e, sigma_x=sig, history=False) for i, e in enumerate(etas)]

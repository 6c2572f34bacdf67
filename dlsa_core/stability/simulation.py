"""Monte Carlo of linearised SGD and of the equivalent mixture process ALG(p), batched on a torch device.

SGD (the paper's sampling): at *every* step each run draws a fresh uniform subset of size B (without
replacement within the batch; not epoch reshuffling) and steps ``theta -= eta/B sum_{i in batch} (H_i theta + g_i)``.
ALG(p): a full-batch GD step with probability ``1 - p``, else a step on one uniformly drawn sample.

Runs are simulated in the eigenbasis of ``H`` on its range (the null-space part never moves at an
interpolating minimum), so ``||theta_t - theta*||^2`` here is the part that can grow or decay.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dlsa_core.device import get_device
from dlsa_core.stability.spectral import _check_int, as_array, batch_p, check_eta, to_spectral

PROCESSES = ("sgd", "mixture")
#: runs * steps * n * k * r above this is refused (keeps an interactive page from hanging).
MAX_WORK = 5e10


def simulate_sgd(
    hessians: Any,
    eta: float,
    batch_size: int,
    steps: int,
    runs: int,
    *,
    seed: int,
    device: str | torch.device | None = None,
    gradients: Any = None,
    replacement: bool = False,
    processes: tuple[str, ...] = PROCESSES,
    n_paths: int = 0,
) -> dict:
    """Simulate many independent runs of linearised SGD and ALG(p) in parallel.

    Parameters
    ----------
    hessians : array-like (n, d, d) or a problem (Jacobian problems are simulated in factor form)
    eta : float > 0
    batch_size : int in [1, n]
    steps, runs : int >= 1
    seed : int
        Seed of the torch generator (runs are reproducible for a given device).
    device : str or torch.device, optional
        Resolved by :func:`dlsa_core.device.get_device`.
    gradients : (n, d) array-like, optional
        Per-sample gradients at a regular minimum (default: interpolating, all zero).
    replacement : bool
        Draw the batch with replacement instead.
    processes : tuple of {"sgd", "mixture"}
    n_paths : int
        Also return the first ``n_paths`` SGD paths in parameter coordinates.

    Returns
    -------
    dict
        ``{process: (runs, steps + 1) float64 ndarray of ||theta_t - theta*||^2}``, ``"p"``, and
        ``"paths"`` ``(n_paths, steps + 1, d)`` when requested. Initial points are ``N(0, I/r)`` on range(H)
        (expected squared distance 1), the same for both processes. Overflow is reported as ``inf``.
    """
    spec = to_spectral(hessians)
    eta = check_eta(eta)
    n, r = spec.n, spec.r
    batch_size = _check_int(batch_size, "batch size", 1, None if replacement else n)
    steps = _check_int(steps, "steps", 1, 1_000_000)
    runs = _check_int(runs, "runs", 1, 10_000_000)
    n_paths = _check_int(n_paths, "n_paths", 0, runs)
    for proc in processes:
        if proc not in PROCESSES:
            raise ValueError(f"unknown process {proc!r}; use {PROCESSES}.")
    k = spec.factors.shape[1] if spec.factors is not None else r
    if runs * steps * n * k * r > MAX_WORK:
        raise ValueError("this simulation is too large for interactive use; lower runs or steps.")
    if n_paths and spec.basis is None:
        raise ValueError("paths in parameter coordinates need a parameter-space problem.")
    p = batch_p(n, batch_size, replacement=replacement)
    dev = get_device(device)
    dt = torch.float64 if dev.type != "mps" else torch.float32  # MPS has no float64
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    if spec.hess is not None:
        mats = torch.as_tensor(spec.hess.reshape(n, r * r), device=dev, dtype=dt)
        gf = None
    else:
        mats = None
        gf = torch.as_tensor(spec.factors.reshape(n * k, r), device=dev, dtype=dt)
    gvec = None
    if gradients is not None:
        if spec.basis is None:
            raise ValueError("gradients need a parameter-space problem.")
        g = as_array(gradients, "gradients", 2)
        if g.shape != (n, spec.d):
            raise ValueError(f"gradients must have shape ({n}, {spec.d}), got {g.shape}.")
        gvec = torch.as_tensor(g @ spec.basis, device=dev, dtype=dt)
    theta0 = torch.randn(runs, r, generator=gen, device=dev, dtype=dt) / np.sqrt(r)

    def step(theta: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # w: (runs, n) sample weights of this step (1/B on the batch, 1/n for GD, 1 for one sample)
        if mats is not None:
            hw = (w @ mats).view(runs, r, r)
            grad = torch.bmm(hw, theta.unsqueeze(-1)).squeeze(-1)
        else:
            y = (theta @ gf.T).view(runs, n, k) * w.unsqueeze(-1)
            grad = y.view(runs, n * k) @ gf
        if gvec is not None:
            grad = grad + w @ gvec
        return theta - eta * grad

    def weights(proc: str) -> torch.Tensor:
        w = torch.zeros(runs, n, device=dev, dtype=dt)
        if proc == "sgd":
            if replacement:
                idx = torch.randint(n, (runs, batch_size), generator=gen, device=dev)
                return w.scatter_add_(1, idx, torch.full(idx.shape, 1.0 / batch_size, device=dev, dtype=dt))
            # a fresh uniform subset per run and step: the B smallest of n i.i.d. uniforms
            idx = (
                torch.rand(runs, n, generator=gen, device=dev).topk(batch_size, dim=1, largest=False).indices
            )
            return w.scatter_(1, idx, 1.0 / batch_size)
        single = torch.rand(runs, generator=gen, device=dev) < p
        w[~single] = 1.0 / n
        one = torch.randint(n, (runs,), generator=gen, device=dev)
        w[single, one[single]] = 1.0
        return w

    out: dict[str, Any] = {"p": p}
    for proc in processes:
        theta = theta0.clone()
        sq = torch.empty(runs, steps + 1, device=dev, dtype=dt)
        sq[:, 0] = (theta**2).sum(1)
        keep = proc == "sgd" and n_paths > 0
        path = [theta[:n_paths].clone()] if keep else None
        for t in range(1, steps + 1):
            theta = step(theta, weights(proc))
            sq[:, t] = (theta**2).sum(1)
            if keep:
                path.append(theta[:n_paths].clone())
        arr = sq.cpu().numpy().astype(np.float64)
        arr[~np.isfinite(arr)] = np.inf
        out[proc] = arr
        if keep:
            out["paths"] = torch.stack(path, 1).cpu().numpy() @ spec.basis.T
    return out


def mc_summary(sq: np.ndarray) -> dict:
    """Mean of ``||theta_t - theta*||^2`` over runs with a 2-standard-error band, each (steps + 1,)."""
    with np.errstate(invalid="ignore", over="ignore"):
        mean = sq.mean(axis=0)
        se = sq.std(axis=0, ddof=1) / np.sqrt(sq.shape[0]) if sq.shape[0] > 1 else np.zeros_like(mean)
    return {"mean": mean, "lo": np.maximum(mean - 2 * se, 0.0), "hi": mean + 2 * se, "se": se}

"""Batched Euler-Maruyama simulation of preconditioned Langevin dynamics, on a torch device.

``theta <- theta - eta P grad L(theta) + sqrt(eta) D^(1/2) xi`` for many independent runs at once (one
``(runs, n)`` tensor), recording the loss of every run. A quadratic is given by its Hessian (loss
``1/2 theta^T H theta``, minimum 0 at the origin); any other loss by a batched torch callable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from dlsa_core.device import get_device
from dlsa_core.langevin.closed_form import as_matrix, psd_sqrt

#: runs * steps * n^2 above this is refused (keeps an interactive page from hanging).
MAX_WORK = 4e10
MAX_RECORDS = 5e7


def check_int(value: Any, name: str, low: int, high: int) -> int:
    """An integer in ``[low, high]`` or a clear ``ValueError``."""
    try:
        f = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a whole number.") from exc
    if not np.isfinite(f) or f != int(f) or not low <= f <= high:
        raise ValueError(f"{name} must be a whole number in [{low}, {high}], got {value!r}.")
    return int(f)


def check_positive(value: Any, name: str) -> float:
    """A positive finite float or a clear ``ValueError``."""
    try:
        f = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number.") from exc
    if not np.isfinite(f) or f <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
    return f


def simulate_langevin(
    hessian_or_loss: Any,
    preconditioner: Any,
    diffusion: Any,
    theta0: Any,
    eta: float,
    steps: int,
    runs: int,
    *,
    seed: int,
    device: str | torch.device | None = None,
    midpoint: bool = False,
    record_every: int = 1,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """Simulate ``runs`` independent preconditioned Langevin runs and return their loss traces.

    Parameters
    ----------
    hessian_or_loss : (n, n) array-like or callable
        A PSD Hessian ``H`` (loss ``1/2 theta^T H theta``), or ``loss(theta: (runs, n) float64 tensor) ->
        (runs,) tensor``, differentiable by autograd.
    preconditioner : (n, n) SPD array-like, ``P``
    diffusion : (n, n) PSD array-like, ``D`` (noise covariance per unit time)
    theta0 : (n,) array-like, the common start
    eta : float > 0, step size
    steps, runs : int >= 1
    seed : int, seed of the torch generator
    device : str or torch.device, optional, resolved by :func:`dlsa_core.device.get_device`
    midpoint : bool
        Record ``L((theta_t + theta_{t+1}) / 2)`` instead of ``L(theta_t)`` (removes the discretisation bias of
        the stationary level on a quadratic; see :mod:`dlsa_core.langevin.closed_form`).
    record_every : int
        Keep every k-th loss (the first is always ``L(theta_0)``).
    progress : callable, optional, called with the fraction done (0..1)

    Returns
    -------
    (runs, steps // record_every + 1) float64 ndarray of losses; column 0 is ``L(theta_0)``.
    """
    steps = check_int(steps, "steps", 1, 10_000_000)
    runs = check_int(runs, "runs", 1, 1_000_000)
    record_every = check_int(record_every, "record_every", 1, steps)
    eta = check_positive(eta, "step size")
    dev = get_device(device)
    dtype = torch.float64 if dev.type != "mps" else torch.float32
    x0 = np.asarray(theta0, dtype=np.float64).reshape(-1)
    n = x0.size
    if not np.all(np.isfinite(x0)):
        raise ValueError("theta0 must be finite.")
    p = as_matrix(preconditioner, "preconditioner", n)
    psd_sqrt(p, inverse=True, name="preconditioner")
    d_half = psd_sqrt(as_matrix(diffusion, "diffusion", n), name="diffusion")
    if runs * steps * n * n > MAX_WORK or runs * (steps // record_every + 1) > MAX_RECORDS:
        raise ValueError("this simulation is too large for interactive use; lower runs, steps or n.")

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dtype, device=dev)

    if callable(hessian_or_loss):
        loss_fn = hessian_or_loss

        def grad(th: torch.Tensor) -> torch.Tensor:
            th = th.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(loss_fn(th).sum(), th)
            return g

        def loss(th: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return loss_fn(th)
    else:
        h = t(as_matrix(hessian_or_loss, "Hessian", n))

        def grad(th: torch.Tensor) -> torch.Tensor:
            return th @ h

        def loss(th: torch.Tensor) -> torch.Tensor:
            return 0.5 * ((th @ h) * th).sum(-1)

    pt, noise_t = t(p), t(d_half) * np.sqrt(eta)
    if not callable(hessian_or_loss):  # linear update: theta <- theta (I - eta H P) + xi sqrt(eta) D^1/2
        step_map = torch.eye(n, dtype=dtype, device=dev) - eta * h @ pt
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    theta = t(x0).expand(runs, n).clone()
    out = np.empty((runs, steps // record_every + 1))
    kept = [loss(theta) if not midpoint else None]
    col = 0
    for k in range(1, steps + 1):
        xi = torch.randn(runs, n, generator=gen, device=dev, dtype=dtype)
        if callable(hessian_or_loss):
            new = theta - eta * grad(theta) @ pt + xi @ noise_t
        else:
            new = torch.addmm(xi @ noise_t, theta, step_map)
        if k % record_every == 0:
            if midpoint:
                kept.append(loss(0.5 * (theta + new)))
            else:
                kept.append(loss(new))
        theta = new
        if kept and (len(kept) >= 256 or k == steps):
            if kept[0] is None:  # midpoint: column 0 is still L(theta_0)
                kept[0] = loss(t(x0).expand(runs, n))
            block = torch.stack(kept, 1).detach().cpu().numpy()
            out[:, col : col + block.shape[1]] = block
            col += block.shape[1]
            kept = []
            if progress is not None:
                progress(k / steps)
    return out

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
    device: Any = None,
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
    import torch  # imported here: pages that only need the exact theory paint without it

    from dlsa_core.device import get_device

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

    def step(theta, w):
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

    def weights(proc: str):
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
    """What a finite Monte Carlo sample says about ``||theta_t - theta*||^2``, each entry (steps + 1,).

    The second moment of SGD is carried by rare, heavy-tailed runs near and above ``eta*``: a sample
    mean then typically *under*-estimates it, and its standard error is itself unreliable. So beside
    the mean with its 2-SE band we report the median and the 10-90 % quantiles (what a typical run
    does), and the top Lyapunov exponent estimated from the runs (negative: almost every run
    converges, whatever the mean does).

    Returns
    -------
    dict with ``mean``, ``lo``/``hi`` (mean -+ 2 SE; ``lo`` is ``nan`` where it would be <= 0: a
    log axis cannot show it), ``se``, ``median``, ``q10``, ``q90`` (each (steps + 1,)), and scalars
    ``lyapunov`` (mean over runs of ``log(||theta_T|| / ||theta_0||) / T`` per step), ``lyapunov_se``
    and ``runs``.
    """
    runs, t1 = sq.shape
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        mean = sq.mean(axis=0)
        se = sq.std(axis=0, ddof=1) / np.sqrt(runs) if runs > 1 else np.zeros_like(mean)
        lo = mean - 2 * se
        lo[~(lo > 0)] = np.nan
        q10, median, q90 = np.quantile(sq, [0.1, 0.5, 0.9], axis=0)
        # per-run growth rate of ||theta|| per step (1e-300 floor: a run that hit exactly 0 converged)
        rate = 0.5 * (np.log(np.maximum(sq[:, -1], 1e-300)) - np.log(sq[:, 0])) / max(t1 - 1, 1)
    rate = np.where(np.isnan(rate), np.inf, rate)  # a run that overflowed grew without bound
    if np.isfinite(rate).all():
        lyap = float(rate.mean())
        lyap_se = float(rate.std(ddof=1) / np.sqrt(runs)) if runs > 1 else 0.0
    else:  # some runs overflowed: the mean rate is not finite; the median still locates the typical run
        lyap, lyap_se = float(np.median(rate)), float("nan")
    return {
        "mean": mean,
        "lo": lo,
        "hi": mean + 2 * se,
        "se": se,
        "median": median,
        "q10": q10,
        "q90": q90,
        "lyapunov": lyap,
        "lyapunov_se": lyap_se,
        "runs": runs,
    }

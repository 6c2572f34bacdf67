"""The sampling baseline: DDNM inpainting on our DDPM, then hierarchical k-means into a (K, d) tree.

Sampler: DDNM (Wang, Yu, Zhang, ICLR 2023) in its noise-free form. At every DDIM step the U-Net's
clean-image estimate ``x0|t`` is projected onto the measurement by the range-null-space
decomposition ``x0 <- A^+ y + (I - A^+ A) x0|t``; for an inpainting mask ``A^+ A`` is the mask itself,
so the observed rows are replaced by ``y`` and the hidden rows keep the model's guess. It needs one
U-Net evaluation per step (RePaint needs its resampling jumps on top, about 10x the cost on a CPU)
and no task-specific training, and every sample matches the measurement exactly.

Clustering: the paper's hierarchical k-means (scikit-learn ``KMeans``, 5 restarts per split): the
samples are split into K clusters, each cluster again into K, d times; a node's image is the mean
of its samples and its probability the fraction of samples. Children are ordered by size. A cluster
with fewer than K samples keeps empty children (count 0, probability 0, image = the parent's mean);
leaves with fewer than 2 samples are what the paper calls degenerate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import KMeans

from .tasks import check_images, get_task, observed_mask
from .tree import PosteriorTree

DEFAULT_DDPM = {"mnist-inpaint": "ddpm-mnist", "fashion-inpaint": "ddpm-fashion-mnist"}


@torch.no_grad()
def ddnm_inpaint(
    ddpm,
    y: torch.Tensor,
    n_samples: int,
    *,
    steps: int = 20,
    eta: float = 0.85,
    seed: int = 0,
    batch_size: int = 100,
    progress: Callable[[float], None] | None = None,
) -> torch.Tensor:
    """Posterior samples for one measurement with DDNM.

    Parameters
    ----------
    ddpm : DDPMBundle
        From :func:`dlsa_core.diffusion.load_ddpm`.
    y : (1, 1, 28, 28) float in [0, 1]
        The degraded image (only its observed rows are used).
    n_samples : int
    steps : int
        DDIM steps.
    eta : float
        DDIM stochasticity (DDNM's default 0.85).

    Returns
    -------
    (n_samples, 1, 28, 28) float32 in [0, 1], CPU.
    """
    check_images(y, "y")
    if y.shape[0] != 1:
        raise ValueError("ddnm_inpaint takes one measurement (1, 1, 28, 28)")
    if n_samples < 1:
        raise ValueError("n_samples must be >= 1")
    dev = ddpm.device
    m = observed_mask(dev)
    y_ms = y.to(dev).float() * 2 - 1
    g = torch.Generator().manual_seed(int(seed))
    out, done = [], 0
    total_work = n_samples * steps
    while done < n_samples:
        b = min(batch_size, n_samples - done)
        sched = ddpm.ddim_scheduler(steps)
        abar = sched.alphas_cumprod.to(dev)
        x = torch.randn((b, 1, 28, 28), generator=g).to(dev)
        for i, t in enumerate(sched.timesteps):
            eps = ddpm.unet(x, t.to(dev).expand(b)).sample
            a = abar[t]
            x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
            x0 = m * y_ms + (1 - m) * x0  # range-null-space projection onto {A x = y}
            eps_c = (x - a.sqrt() * x0) / (1 - a).sqrt()  # the noise estimate consistent with x0
            z = torch.randn((b, 1, 28, 28), generator=g).to(dev)
            x = sched.step(eps_c, t, x, eta=eta, variance_noise=z).prev_sample
            if progress is not None:
                progress((done * steps + (i + 1) * b) / total_work)
        x = m * y_ms + (1 - m) * x.clamp(-1, 1)
        out.append(((x + 1) / 2).float().cpu())
        done += b
    return torch.cat(out)


def hierarchical_kmeans(
    samples: torch.Tensor, branching: int, depth: int, *, n_init: int = 5, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Recursive k-means of ``samples (N, 1, 28, 28)`` into a balanced (K, d) tree.

    Returns
    -------
    leaves : (K**d, 1, 28, 28) float32 cluster means
    counts : (K**d,) int64 samples per leaf (sum N)
    """
    flat = samples.reshape(len(samples), -1).double().numpy()
    n_leaves = branching**depth
    leaves = np.zeros((n_leaves, flat.shape[1]))
    counts = np.zeros(n_leaves, dtype=np.int64)

    def split(idx: np.ndarray, level: int, offset: int, fallback: np.ndarray):
        mean = flat[idx].mean(0) if len(idx) else fallback
        if level == depth:
            leaves[offset], counts[offset] = mean, len(idx)
            return
        per = branching ** (depth - level - 1)
        if len(idx) >= branching and np.unique(flat[idx], axis=0).shape[0] >= branching:
            km = KMeans(n_clusters=branching, n_init=n_init, random_state=seed).fit(flat[idx])
            labels = km.labels_
        else:  # too few distinct samples: one per child, the rest empty
            labels = np.arange(len(idx)) % branching if len(idx) else np.zeros(0, dtype=int)
        sizes = np.bincount(labels, minlength=branching)
        order = np.argsort(-sizes, kind="stable")  # children by size, largest first
        for c, lab in enumerate(order):
            split(idx[labels == lab], level + 1, offset + c * per, mean)

    split(np.arange(len(flat)), 0, 0, flat.mean(0) if len(flat) else np.zeros(flat.shape[1]))
    return torch.from_numpy(leaves).float().reshape(n_leaves, *samples.shape[1:]), torch.from_numpy(counts)


def samples_tree(samples, branching: int, depth: int, *, n_init: int = 5, seed: int = 0) -> PosteriorTree:
    """One tree per input from its posterior samples by :func:`hierarchical_kmeans`.

    Parameters
    ----------
    samples : sequence of (N, 1, 28, 28) tensors, one per input (the same N for all)

    Returns
    -------
    PosteriorTree with ``.counts (B, K**d)`` samples per leaf and ``.probs = counts / N``.
    """
    leaves, counts = zip(
        *(hierarchical_kmeans(s, branching, depth, n_init=n_init, seed=seed) for s in samples), strict=True
    )
    counts = torch.stack(counts)
    n = counts.sum(1, keepdim=True).clamp_min(1)
    return PosteriorTree(torch.stack(leaves), counts.float() / n, branching, depth, counts=counts)


@dataclass
class BaselineTiming:
    sampling_s: float
    clustering_s: float


def baseline_tree(
    y: torch.Tensor,
    *,
    n_samples: int = 100,
    branching: int = 3,
    depth: int = 2,
    seed: int = 0,
    task: str = "mnist-inpaint",
    ddpm=None,
    steps: int = 20,
    eta: float = 0.85,
    n_init: int = 5,
    progress: Callable[[float], None] | None = None,
    timing: dict | None = None,
) -> PosteriorTree:
    """Baseline posterior tree for each measurement in ``y (B, 1, 28, 28)``.

    Returns a :class:`PosteriorTree` with ``.counts (B, K**d)`` (samples per leaf) and
    ``.probs = counts / n_samples``. ``timing`` (a dict), if given, receives ``sampling_s`` and
    ``clustering_s`` summed over the batch.
    """
    check_images(y, "y")
    get_task(task)
    if n_samples < 1 or branching < 2 or depth < 1:
        raise ValueError("need n_samples >= 1, branching >= 2 and depth >= 1")
    if ddpm is None:
        from ..diffusion import load_ddpm

        ddpm = load_ddpm(DEFAULT_DDPM[task])
    samples, t_samp = [], 0.0
    for i in range(y.shape[0]):
        t0 = time.perf_counter()
        prog = None if progress is None else (lambda f, i=i: progress((i + f) / y.shape[0]))
        samples.append(
            ddnm_inpaint(ddpm, y[i : i + 1], n_samples, steps=steps, eta=eta, seed=seed + i, progress=prog)
        )
        t_samp += time.perf_counter() - t0
    t1 = time.perf_counter()
    tree = samples_tree(samples, branching, depth, n_init=n_init, seed=seed)
    if timing is not None:
        timing.update(sampling_s=t_samp, clustering_s=time.perf_counter() - t1)
    return tree

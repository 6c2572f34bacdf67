"""An empirical-posterior reference tree: nearest training images on the observed rows, clustered.

For a measurement ``y`` the ``n`` images of a pool (the task's training split) whose *observed* pixels
are nearest to ``y``'s in L2 stand in for posterior samples: their hidden rows are plausible completions
that really occur in the data, and their observed rows are replaced by ``y`` so every sample agrees
with the measurement. The same hierarchical k-means as the diffusion baseline turns them into a tree.

Why it is here: the tree's per-level PSNR rise is bounded by how much of the posterior's spread K more
cells can capture, which the paper does not quantify. Quantizing a sample of real completions gives a
model-free reference for that rise (and for the NLL) beside the learned tree and the diffusion baseline.
It is a lookup, not a posterior model: with a few thousand pool images the neighbours are coarse
matches, so its root (their mean) is worse than an MMSE network's.
"""

from __future__ import annotations

import torch

from .baseline import samples_tree
from .tasks import check_images, observed_mask
from .tree import PosteriorTree


@torch.no_grad()
def nearest_completions(y: torch.Tensor, pool: torch.Tensor, n: int, *, chunk: int = 256) -> torch.Tensor:
    """The ``n`` pool images nearest to each measurement on the observed rows, made consistent with it.

    Parameters
    ----------
    y : (B, 1, 28, 28) float in [0, 1]
        Degraded images (only the observed rows are read).
    pool : (N, 1, 28, 28) float in [0, 1]
        Candidate clean images, N >= n.
    n : int
        Neighbours per measurement.

    Returns
    -------
    (B, n, 1, 28, 28) float32, nearest first; observed rows equal ``y``'s, hidden rows the neighbours'.
    """
    check_images(y, "y")
    check_images(pool, "pool")
    if not 1 <= n <= len(pool):
        raise ValueError(f"need 1 <= n <= len(pool) = {len(pool)}, got n={n}")
    m = observed_mask(y.device).to(torch.float32)
    keep = m.flatten().bool()
    pool_obs = pool.float().flatten(1)[:, keep]
    out = []
    for i in range(0, len(y), chunk):
        yb = y[i : i + chunk].float()
        d = torch.cdist(yb.flatten(1)[:, keep], pool_obs)  # (b, N)
        idx = d.topk(n, dim=1, largest=False).indices  # sorted, nearest first
        nb = pool.float()[idx]  # (b, n, 1, 28, 28)
        out.append(nb * (1 - m) + yb[:, None] * m)
    return torch.cat(out)


def reference_tree(
    y: torch.Tensor,
    pool: torch.Tensor,
    *,
    n_samples: int = 100,
    branching: int = 3,
    depth: int = 2,
    n_init: int = 5,
    seed: int = 0,
) -> PosteriorTree:
    """Hierarchical k-means tree of each measurement's ``n_samples`` nearest completions.

    Returns a :class:`PosteriorTree` like :func:`~dlsa_core.posterior_trees.baseline.baseline_tree`'s:
    ``.counts (B, K**d)`` neighbours per leaf, ``.probs = counts / n_samples``.
    """
    if branching < 2 or depth < 1:
        raise ValueError("need branching >= 2 and depth >= 1")
    return samples_tree(nearest_completions(y, pool, n_samples), branching, depth, n_init=n_init, seed=seed)

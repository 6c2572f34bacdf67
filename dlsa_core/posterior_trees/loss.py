"""Hierarchical winner-takes-all loss along the greedy nearest-child path (paper Sec. 3.2, Alg. 1).

At every depth j = 1..d the K children of the current path node are compared with the ground truth;
the nearest (winner) gets weight 1, the others ``eps`` (the annealed relaxation), and the path moves
to the winner. The root (MMSE) term keeps the probabilities honest: the root is the
probability-weighted mean of the leaves, so its MSE is what teaches the probability head. Per level
the weights are normalised to sum to one, so at ``eps = 1`` every level is a plain average of MSEs and,
when all leaves coincide (as at the start of training), the loss equals the root's MSE exactly.
"""

from __future__ import annotations

import torch

from .tree import PosteriorTree


def tree_loss(
    tree: PosteriorTree,
    x: torch.Tensor,
    eps: float,
    *,
    weights: torch.Tensor | None = None,
    level_weights=None,
    return_parts: bool = False,
):
    """Mean over the batch of ``sum_j beta_j sum_k w_jk MSE(node_jk, x) / sum_j beta_j``.

    Parameters
    ----------
    tree : PosteriorTree
        With gradients (built from the network's outputs).
    x : (B, 1, 28, 28)
        Ground truth.
    eps : float in [0, 1]
        Weight of non-winning children (1 = plain MSE on every child, 0 = pure WTA).
    weights : (B,), optional
        Per-sample loss weights (e.g. importance weights of a weighted sampler).
    level_weights : sequence of d + 1 floats, optional
        The paper's per-level weights beta_0 (root) .. beta_d (leaves), which it leaves unstated;
        uniform by default. A heavier leaf weight lessens the pull of the inner nodes (weighted means of
        their children) that draws siblings together.

    Returns
    -------
    scalar tensor (and, with ``return_parts``, a dict of per-level losses).
    """
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps must be in [0, 1], got {eps}")
    b, k = tree.batch_size, tree.branching
    ar = torch.arange(b, device=x.device)
    per_level = [((tree.root - x) ** 2).flatten(1).mean(1)]
    idx = torch.zeros(b, dtype=torch.long, device=x.device)
    for j in range(1, tree.depth + 1):
        imgs, _ = tree.level(j)
        cand = idx[:, None] * k + torch.arange(k, device=x.device)
        ch = imgs[ar[:, None], cand]
        mse = ((ch - x[:, None]) ** 2).flatten(2).mean(-1)  # (B, K)
        win = mse.detach().argmin(1)
        w = torch.full_like(mse, eps)
        w[ar, win] = 1.0
        per_level.append((w * mse).sum(1) / w.sum(1))
        idx = idx * k + win
    levels = torch.stack(per_level, 1)
    if level_weights is None:
        per_sample = levels.mean(1)
    else:
        beta = torch.as_tensor(level_weights, dtype=levels.dtype, device=levels.device)
        if (
            beta.shape != (tree.depth + 1,)
            or not torch.isfinite(beta).all()
            or (beta < 0).any()
            or beta.sum() <= 0
        ):
            raise ValueError(
                f"level_weights must be {tree.depth + 1} finite non-negative numbers, got {level_weights}"
            )
        per_sample = levels @ beta / beta.sum()
    if weights is not None:
        per_sample = per_sample * weights
    loss = per_sample.mean()
    if return_parts:
        return loss, {f"level{j}": v.detach().mean().item() for j, v in enumerate(per_level)}
    return loss


def cell_nll(tree: PosteriorTree, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the leaf whose cell holds ``x`` (greedy path), from the head's ``logits (B, K**d)``.

    Used to refit the probability head on a frozen body: the leaf cells are fixed, and the negative
    log-probability of the cell that holds the ground truth is exactly the NLL metric at depth d (and,
    by summation, bounds the ones above), a proper scoring rule whose minimiser is the cell frequency.
    """
    return torch.nn.functional.cross_entropy(logits, tree.greedy_leaf(x))

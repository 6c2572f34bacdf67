"""The posterior tree: leaves and their probabilities in, every inner node assembled bottom-up.

A balanced tree of degree K and depth d has K**d leaves, indexed ``k_1 K^(d-1) + ... + k_d`` (the
first-level branch is the most significant digit), so the K**(d-j) leaves below the depth-j node with
path ``(k_1..k_j)`` are one contiguous block. The network predicts only the leaves and their
probabilities; an inner node's probability is the sum of its children's (law of total probability)
and its image their probability-weighted mean (law of total expectation). The root is the MMSE
estimate ``sum_n p_n x_n``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

EPS = 1e-12


def n_nodes(branching: int, depth: int) -> int:
    """Number of nodes of a balanced tree: ``sum_{j=0..d} K**j``."""
    return sum(branching**j for j in range(depth + 1))


def path_to_index(path, branching: int) -> int:
    """Index of the node ``path`` among the ``K**len(path)`` nodes of its level."""
    idx = 0
    for k in path:
        if not 0 <= int(k) < branching:
            raise ValueError(f"branch {k} out of range for K={branching}")
        idx = idx * branching + int(k)
    return idx


def index_to_path(index: int, branching: int, level: int) -> tuple[int, ...]:
    """Inverse of :func:`path_to_index` for a node at depth ``level``."""
    path = []
    for _ in range(level):
        path.append(index % branching)
        index //= branching
    return tuple(reversed(path))


def assemble_level(leaves: torch.Tensor, probs: torch.Tensor, branching: int, depth: int, level: int):
    """Images and probabilities of all ``K**level`` nodes at depth ``level``.

    Parameters
    ----------
    leaves : (B, K**d, C, H, W)
    probs : (B, K**d), non-negative, rows sum to one

    Returns
    -------
    images : (B, K**level, C, H, W)
    probs : (B, K**level)
    """
    b, n = probs.shape
    if n != branching**depth or not 0 <= level <= depth:
        raise ValueError(f"level {level} / {n} leaves do not fit K={branching}, d={depth}")
    groups, per = branching**level, branching ** (depth - level)
    p = probs.reshape(b, groups, per)
    mass = p.sum(-1)  # (B, groups)
    w = p / mass.clamp_min(EPS)[..., None]
    # a zero-mass node has no defined mean: use the plain average of its leaves instead of 0/0
    w = torch.where(mass[..., None] > EPS, w, torch.full_like(w, 1.0 / per))
    x = leaves.reshape(b, groups, per, *leaves.shape[2:])
    imgs = (w.reshape(b, groups, per, *([1] * (leaves.ndim - 2))) * x).sum(2)
    return imgs, mass


@dataclass
class PosteriorTree:
    """A balanced posterior tree for a batch of inputs.

    Attributes
    ----------
    leaves : (B, K**d, 1, 28, 28) float32
    probs : (B, K**d) float32, rows sum to one
    branching, depth : int
        K and d.
    counts : (B, K**d) int64 or None
        For sample-based trees (the baseline): how many posterior samples fell in each leaf.
    """

    leaves: torch.Tensor
    probs: torch.Tensor
    branching: int
    depth: int
    counts: torch.Tensor | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        k, d = int(self.branching), int(self.depth)
        if k < 2 or d < 1:
            raise ValueError(f"need K >= 2 and d >= 1, got K={k}, d={d}")
        if self.leaves.ndim != 5 or self.leaves.shape[1] != k**d or self.probs.shape != self.leaves.shape[:2]:
            raise ValueError(
                f"leaves {tuple(self.leaves.shape)} / probs {tuple(self.probs.shape)} do not fit K={k}, d={d}"
            )

    @property
    def batch_size(self) -> int:
        return int(self.probs.shape[0])

    @property
    def n_leaves(self) -> int:
        return self.branching**self.depth

    def level(self, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(images (B, K**j, 1, 28, 28), probs (B, K**j))`` of every node at depth ``j``."""
        if j not in self._cache:
            self._cache[j] = assemble_level(self.leaves, self.probs, self.branching, self.depth, j)
        return self._cache[j]

    @property
    def root(self) -> torch.Tensor:
        """``(B, 1, 28, 28)``: the MMSE estimate."""
        return self.level(0)[0][:, 0]

    def node(self, path=()) -> tuple[torch.Tensor, torch.Tensor]:
        """Image ``(B, 1, 28, 28)`` and absolute probability ``(B,)`` of the node at ``path``."""
        path = tuple(path)
        if len(path) > self.depth:
            raise ValueError(f"path {path} is deeper than the tree (d={self.depth})")
        imgs, probs = self.level(len(path))
        i = path_to_index(path, self.branching)
        return imgs[:, i], probs[:, i]

    def conditional(self, path) -> torch.Tensor:
        """Probability of ``path`` given its parent: ``(B,)`` (1 for the root)."""
        path = tuple(path)
        if not path:
            return torch.ones(self.batch_size)
        return self.node(path)[1] / self.node(path[:-1])[1].clamp_min(EPS)

    def children(self, path=()) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(B, K, 1, 28, 28)`` and absolute probabilities ``(B, K)`` of the children of ``path``."""
        path = tuple(path)
        if len(path) >= self.depth:
            raise ValueError(f"{path} is a leaf")
        imgs, probs = self.level(len(path) + 1)
        i = path_to_index(path, self.branching) * self.branching
        return imgs[:, i : i + self.branching], probs[:, i : i + self.branching]

    def leaf_counts(self, path=()) -> torch.Tensor | None:
        """Number of samples under ``path`` ``(B,)`` for sample-based trees, else None."""
        if self.counts is None:
            return None
        per = self.branching ** (self.depth - len(path))
        i = path_to_index(path, self.branching) * per
        return self.counts[:, i : i + per].sum(1)

    def greedy_path(self, x: torch.Tensor) -> torch.Tensor:
        """The nearest-child path to ``x (B, 1, 28, 28)``: ``(B, d)`` int64 branch indices.

        From the root, step to the child with the smallest squared error to ``x``, d times (the
        association rule of the loss and of the metrics).
        """
        b = self.batch_size
        idx = torch.zeros(b, dtype=torch.long, device=self.probs.device)
        out = []
        for j in range(1, self.depth + 1):
            imgs, _ = self.level(j)
            cand = idx[:, None] * self.branching + torch.arange(self.branching, device=idx.device)
            ch = imgs[torch.arange(b, device=idx.device)[:, None], cand]  # (B, K, ...)
            err = ((ch - x[:, None]) ** 2).flatten(2).sum(-1)
            k = err.argmin(1)
            out.append(k)
            idx = idx * self.branching + k
        return torch.stack(out, 1)

    @torch.no_grad()
    def greedy_leaf(self, x: torch.Tensor) -> torch.Tensor:
        """Index ``(B,)`` of the leaf at the end of the nearest-child path to ``x`` (its cell)."""
        leaf = torch.zeros(self.batch_size, dtype=torch.long, device=self.probs.device)
        for k in self.greedy_path(x).unbind(1):
            leaf = leaf * self.branching + k
        return leaf

    def path_nodes(self, branches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(B, d+1, 1, 28, 28)`` and absolute probabilities ``(B, d+1)`` along per-image paths."""
        b = self.batch_size
        ar = torch.arange(b, device=branches.device)
        imgs, probs = [self.root], [torch.ones(b, device=self.probs.device)]
        idx = torch.zeros(b, dtype=torch.long, device=branches.device)
        for j in range(1, self.depth + 1):
            idx = idx * self.branching + branches[:, j - 1]
            li, lp = self.level(j)
            imgs.append(li[ar, idx])
            probs.append(lp[ar, idx])
        return torch.stack(imgs, 1), torch.stack(probs, 1)

    def select(self, i: int) -> PosteriorTree:
        """The tree of the ``i``-th input as a batch of one."""
        c = None if self.counts is None else self.counts[i : i + 1]
        return PosteriorTree(self.leaves[i : i + 1], self.probs[i : i + 1], self.branching, self.depth, c)

    def detach_cpu(self) -> PosteriorTree:
        c = None if self.counts is None else self.counts.cpu()
        return PosteriorTree(
            self.leaves.detach().float().cpu(),
            self.probs.detach().float().cpu(),
            self.branching,
            self.depth,
            c,
        )

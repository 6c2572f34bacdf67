"""The paper's weighted sampler for imbalanced posteriors (Nehme et al. 2024, Sec. 3.5 and App. C).

With Adam, a leaf that wins few training samples gets sparse, transient gradients and can end up
implausible. The sampler keeps, for every training sample, an exponential moving average of which leaf
won it, and draws the next batches from a distribution ``q`` over samples under which every leaf wins
about equally often. Each sample's loss is multiplied by ``gamma = 1 / (N q(s))``, so the expected loss,
and with it the learned probabilities, stay those of uniform sampling; only how many optimisation steps
each leaf gets changes.

Choices the paper leaves open, documented here: the association EMA starts uniform with the weight
of one visit (a sample never seen counts as 1 / K**d for every leaf); ``lam`` defaults to ``1 / N``; ``q`` is floored at ``q_floor / N``
before renormalising, which bounds ``gamma`` by ``S / q_floor``, ``S >= 1`` the floored sum (a few rare
samples with huge weights would make the gradient noisy; in the 7,200-step MNIST k3d2 run the floor never
bound: ``N q`` stayed in [0.69, 1.42], so ``gamma <= 1.45``); and a batch is ``B`` independent draws from ``q`` (with replacement)
instead of the paper's look-ahead scheme that picks ``B`` distinct samples minimising
``||p_s - q_s||_inf``: independent draws make ``E[gamma * loss]`` the uniform mean exactly, whereas
drawing distinct samples includes a sample with large ``q`` less often than ``B q`` (measured
while writing the tests: a 3 % bias in the mean weighted loss with 6 draws out of 60).
"""

from __future__ import annotations

import torch


class WeightedSampler:
    """Leaf-balancing sampler over ``n`` training samples for a tree with ``n_leaves`` leaves.

    Parameters
    ----------
    n : int
        Number of training samples N.
    n_leaves : int
        K**d.
    batch_size : int
        B; the association EMA's momentum is ``mu = 1 - 2**(-B/N)`` per batch, so an association
        halves its weight over one pass through the data (the paper's choice).
    lam : float, optional
        Ridge weight of the least-squares problem for ``q`` (default ``1 / N``).
    q_floor : float
        Floor of ``N q`` before renormalising (so ``gamma <= S / q_floor``, ``S`` the floored sum).

    Attributes
    ----------
    assoc : (n_leaves, n) float64
        EMA of the winning-leaf indicator per sample (columns start uniform, with the weight of one visit).
    """

    def __init__(self, n: int, n_leaves: int, batch_size: int, *, lam: float | None = None, q_floor=0.2):
        if n < 1 or n_leaves < 2 or not 1 <= batch_size <= n:
            raise ValueError(
                f"need n >= 1, n_leaves >= 2 and 1 <= batch_size <= n; got {n}, {n_leaves}, {batch_size}"
            )
        if not 0 < q_floor <= 1:
            raise ValueError(f"q_floor must be in (0, 1], got {q_floor}")
        self.n, self.n_leaves, self.batch_size = n, n_leaves, batch_size
        self.mu = 1.0 - 2.0 ** (-batch_size / n)
        self.lam = 1.0 / n if lam is None else float(lam)
        if not self.lam > 0:
            raise ValueError(f"lam must be > 0, got {lam}")
        self.q_floor = q_floor
        # prior: one pseudo-visit spread evenly, so an unseen sample counts as 1/L for every leaf and
        # a real visit outweighs it at once
        self.assoc = torch.full((n_leaves, n), self.mu / n_leaves, dtype=torch.float64)

    def update(self, idx: torch.Tensor, leaf: torch.Tensor) -> None:
        """Record that sample ``idx[i]`` was won by leaf ``leaf[i]`` (both ``(B,)`` int).

        The paper's batch EMA: every batch, all associations decay by ``1 - mu`` and each sample of the
        batch gains ``mu`` on the leaf that won it, so old evidence halves over one pass.
        """
        idx, leaf = idx.cpu().long(), leaf.cpu().long()
        self.assoc *= 1.0 - self.mu
        self.assoc.index_put_(
            (leaf, idx), torch.full((len(idx),), self.mu, dtype=self.assoc.dtype), accumulate=True
        )

    def conditional(self) -> torch.Tensor:
        """``P = p(leaf | sample)``, ``(n_leaves, n)``, columns summing to one."""
        return self.assoc / self.assoc.sum(0, keepdim=True)

    def target(self) -> torch.Tensor:
        """The sampling distribution ``q (n,)``: min ``0.5 ||P q - 1/L||^2 + lam/2 ||q||^2``, ``sum q = 1``.

        Solved in closed form without the positivity constraint (the paper's Eq. A6), then floored and
        renormalised. ``(P^T P + lam I)^-1`` is applied through the Woodbury identity, since ``P`` has
        only ``L = K**d`` rows.
        """
        p = self.conditional()
        n_l = self.n_leaves
        u = torch.full((n_l,), 1.0 / n_l, dtype=p.dtype)
        small = torch.linalg.inv(self.lam * torch.eye(n_l, dtype=p.dtype) + p @ p.T)

        def solve(v):  # (P^T P + lam I)^-1 v
            return (v - p.T @ (small @ (p @ v))) / self.lam

        a, b = solve(p.T @ u), solve(torch.ones(self.n, dtype=p.dtype))
        nu = (1.0 - a.sum()) / b.sum()  # Lagrange multiplier of sum(q) = 1
        q = (a + nu * b).clamp_min(self.q_floor / self.n)
        return q / q.sum()

    def draw(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices ``(B,)``, independent draws from ``q``, and their loss weights ``gamma (B,)``."""
        q = self.target()
        idx = torch.multinomial(q, self.batch_size, replacement=True, generator=generator)
        return idx, (1.0 / (self.n * q[idx])).float()

    def leaf_share(self, q: torch.Tensor | None = None) -> torch.Tensor:
        """Expected share of wins per leaf, ``P q (n_leaves,)``, under ``q`` (default uniform)."""
        q = torch.full((self.n,), 1.0 / self.n, dtype=torch.float64) if q is None else q
        return self.conditional() @ q

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"assoc": self.assoc.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        a = state["assoc"].to(torch.float64)
        if a.shape != self.assoc.shape:
            raise ValueError(f"sampler state has shape {tuple(a.shape)}, expected {tuple(self.assoc.shape)}")
        self.assoc = a.clone()

"""The paper's weighted sampler (App. C): the closed form for q, leaf balancing, unbiased weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlsa_core.posterior_trees.sampler import WeightedSampler


def skewed(n=60, n_leaves=3, share=(0.7, 0.2, 0.1), batch=6, **kw):
    """A sampler whose associations say leaf j wins ``share[j]`` of the samples (hard assignments)."""
    s = WeightedSampler(n, n_leaves, batch, **kw)
    owner = np.repeat(np.arange(n_leaves), np.round(np.array(share) * n).astype(int))
    s.assoc = torch.nn.functional.one_hot(torch.as_tensor(owner), n_leaves).T.double()
    return s, owner


def test_target_solves_the_constrained_least_squares_by_kkt():
    rng = np.random.default_rng(0)
    s = WeightedSampler(12, 3, 4, lam=0.05, q_floor=1e-9)
    s.assoc = torch.as_tensor(rng.random((3, 12)) + 0.05)
    p = s.conditional().numpy()
    # independent solution: the KKT system of min 0.5|Pq - u|^2 + lam/2 |q|^2 s.t. 1'q = 1
    kkt = np.block([[p.T @ p + 0.05 * np.eye(12), np.ones((12, 1))], [np.ones((1, 12)), np.zeros((1, 1))]])
    rhs = np.concatenate([p.T @ np.full(3, 1 / 3), [1.0]])
    q_ref = np.linalg.solve(kkt, rhs)[:12]
    assert q_ref.min() > 0  # positivity inactive, so the closed form must match exactly
    np.testing.assert_allclose(s.target().numpy(), q_ref, rtol=1e-9, atol=1e-12)


def test_q_balances_the_leaves_and_weights_unbias_the_loss():
    s, owner = skewed()
    q = s.target()
    assert torch.isclose(q.sum(), torch.tensor(1.0, dtype=q.dtype)) and (q > 0).all()
    before, after = s.leaf_share(), s.leaf_share(q)
    np.testing.assert_allclose(before.numpy(), [0.7, 0.2, 0.1], atol=1e-12)
    np.testing.assert_allclose(after.numpy(), [1 / 3] * 3, atol=0.02)  # rare leaves' samples drawn more
    # E_q[gamma * loss] is the uniform mean of the loss, whatever the per-sample losses
    loss = torch.as_tensor(np.random.default_rng(1).random(60))
    assert torch.isclose((q * loss / (60 * q)).sum(), loss.mean())
    # and by Monte Carlo over real draws (as training draws them)
    g, acc = torch.Generator().manual_seed(0), []
    for _ in range(3000):
        idx, gamma = s.draw(g)
        acc.append((gamma.double() * loss[idx]).mean())
    acc = torch.stack(acc)
    assert abs(acc.mean() - loss.mean()) < 4 * acc.std() / len(acc) ** 0.5
    # the drawn samples' owners are balanced across the leaves
    counts = np.bincount(owner[torch.cat([s.draw(g)[0] for _ in range(500)]).numpy()], minlength=3)
    np.testing.assert_allclose(counts / counts.sum(), [1 / 3] * 3, atol=0.03)


def test_q_floor_lowers_the_largest_loss_weight():
    share = (0.95, 0.05 - 1 / 60, 1 / 60)  # balancing wants N q ~ 0.35 on the common leaf's 57 samples
    q_hi, q_lo = (skewed(share=share, q_floor=f)[0].target() for f in (0.5, 0.05))
    nq = 60 * q_hi
    assert torch.isclose(nq, nq.min()).sum() == 57  # the floor binds on exactly those samples
    assert (1 / nq).max() < 0.85 * (1 / (60 * q_lo)).max()  # and caps their weights (2.28 against 2.83)


def test_update_is_an_ema_with_half_life_of_one_pass():
    s = WeightedSampler(40, 4, 8)
    assert s.mu == pytest.approx(1 - 2 ** (-8 / 40))
    idx = torch.arange(8)
    for _ in range(5):  # one pass = N / B = 5 batches: the uniform prior's weight halves
        s.update(idx, torch.full((8,), 2))
    mu = s.mu  # the prior is one visit's weight spread evenly; after a pass it has halved
    leaf2, other = mu / 4 / 2 + (1 - 2**-1), mu / 4 / 2
    p = s.conditional()[:, 0]
    assert p[2].item() == pytest.approx(leaf2 / (leaf2 + 3 * other), rel=1e-12)
    assert p[0].item() == pytest.approx(other / (leaf2 + 3 * other), rel=1e-12)
    assert torch.allclose(s.conditional()[:, 8], torch.full((4,), 0.25, dtype=torch.float64))  # unseen


def test_bad_arguments_and_state_shapes_are_refused():
    with pytest.raises(ValueError, match="batch_size"):
        WeightedSampler(4, 3, 5)
    with pytest.raises(ValueError, match="q_floor"):
        WeightedSampler(4, 3, 2, q_floor=0)
    s = WeightedSampler(4, 3, 2)
    with pytest.raises(ValueError, match="shape"):
        s.load_state_dict({"assoc": torch.zeros(2, 4)})

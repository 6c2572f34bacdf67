"""Posterior trees: assembly identities, greedy path, loss, tasks, metrics, baseline structure."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlsa_core.posterior_trees import (
    PosteriorTree,
    TreeConfig,
    TreeUNet,
    calibration,
    degrade,
    epsilon_schedule,
    index_to_path,
    measurement_error,
    n_nodes,
    path_to_index,
    tree_loss,
    tree_metrics,
)
from dlsa_core.posterior_trees.baseline import hierarchical_kmeans
from dlsa_core.posterior_trees.loss import cell_nll
from dlsa_core.posterior_trees.model import interleave


def random_tree(b=4, k=3, d=2, seed=0, dtype=torch.float64) -> PosteriorTree:
    g = torch.Generator().manual_seed(seed)
    leaves = torch.rand((b, k**d, 1, 28, 28), generator=g, dtype=dtype)
    probs = torch.rand((b, k**d), generator=g, dtype=dtype).softmax(-1)
    return PosteriorTree(leaves, probs, k, d)


@pytest.mark.parametrize("k,d", [(3, 2), (2, 3), (4, 2), (2, 1)])
def test_probabilities_sum_to_one_and_parents_are_weighted_means(k, d):
    tree = random_tree(k=k, d=d)
    for j in range(d + 1):
        imgs, p = tree.level(j)
        assert imgs.shape == (4, k**j, 1, 28, 28)
        torch.testing.assert_close(p.sum(1), torch.ones(4, dtype=p.dtype))
    # every inner node: prob = sum of children's, image = probability-weighted mean of children
    for j in range(d):
        for idx in range(k**j):
            path = index_to_path(idx, k, j)
            img, p = tree.node(path)
            ci, cp = tree.children(path)
            torch.testing.assert_close(p, cp.sum(1))
            mean = (cp[:, :, None, None, None] * ci).sum(1) / p[:, None, None, None]
            torch.testing.assert_close(img, mean)
            torch.testing.assert_close(tree.conditional(path + (0,)), cp[:, 0] / p)
    # the root is the probability-weighted mean of all leaves (the MMSE)
    root = (tree.probs[:, :, None, None, None] * tree.leaves).sum(1)
    torch.testing.assert_close(tree.root, root)
    assert n_nodes(k, d) == sum(tree.level(j)[1].shape[1] for j in range(d + 1))


def test_leaf_index_puts_first_branch_most_significant():
    assert n_nodes(3, 2) == 13
    assert path_to_index((2, 1), 3) == 7 and index_to_path(7, 3, 2) == (2, 1)
    tree = random_tree()
    torch.testing.assert_close(tree.node((2, 1))[0], tree.leaves[:, 7])
    torch.testing.assert_close(tree.node((1,))[1], tree.probs[:, 3:6].sum(1))
    with pytest.raises(ValueError):
        tree.node((3,))


def test_greedy_path_picks_the_nearest_child_by_brute_force():
    tree = random_tree(b=6, k=3, d=3, seed=1)
    x = torch.rand((6, 1, 28, 28), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    path = tree.greedy_path(x)
    assert path.shape == (6, 3)
    for b in range(6):
        node = ()
        for j in range(3):
            ci, _ = tree.children(node)
            errs = [float(((ci[b, c] - x[b]) ** 2).sum()) for c in range(3)]
            assert path[b, j].item() == int(np.argmin(errs))
            node = node + (path[b, j].item(),)


def test_greedy_path_finds_a_leaf_that_equals_the_target():
    tree = random_tree(b=2)
    probs = torch.full((2, 9), 0.01, dtype=torch.float64)
    probs[:, 5] = 0.92  # leaf (1, 2) dominates branch 1
    tree2 = PosteriorTree(tree.leaves, probs / probs.sum(1, keepdim=True), 3, 2)
    assert tree2.greedy_path(tree2.node((1, 2))[0]).tolist() == [[1, 2], [1, 2]]


def test_loss_is_root_mse_when_leaves_coincide_and_plain_mse_at_eps_one():
    x = torch.rand(5, 1, 28, 28, dtype=torch.float64)
    same = torch.rand(5, 1, 1, 28, 28, dtype=torch.float64).expand(5, 9, 1, 28, 28)
    tree = PosteriorTree(same.clone(), torch.rand(5, 9, dtype=torch.float64).softmax(-1), 3, 2)
    root_mse = ((tree.root - x) ** 2).mean()
    for eps in (1.0, 0.3, 0.0):  # at the start of annealing every node is the root
        torch.testing.assert_close(tree_loss(tree, x, eps), root_mse)
    # at eps = 1 (the warm-up) each level is the plain mean of its children's MSEs along the path
    tree = random_tree(b=5)
    loss = tree_loss(tree, x, 1.0)
    path = tree.greedy_path(x)
    terms = [((tree.root - x) ** 2).flatten(1).mean(1)]
    terms.append(((tree.level(1)[0] - x[:, None]) ** 2).flatten(2).mean(-1).mean(1))
    ci = torch.stack([tree.children((int(path[b, 0]),))[0][b] for b in range(5)])
    terms.append(((ci - x[:, None]) ** 2).flatten(2).mean(-1).mean(1))
    torch.testing.assert_close(loss, torch.stack(terms, 1).mean())
    # at eps = 0 only the winners count: the loss is the mean path MSE
    imgs, _ = tree.path_nodes(path)
    torch.testing.assert_close(tree_loss(tree, x, 0.0), ((imgs - x[:, None]) ** 2).mean())


def test_level_weights_weigh_the_path_levels():
    tree = random_tree(b=4)
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64)
    imgs, _ = tree.path_nodes(tree.greedy_path(x))  # (B, d + 1, ...) root, level 1, leaf
    per_level = ((imgs - x[:, None]) ** 2).flatten(2).mean(-1).mean(0)  # at eps = 0: the path MSEs
    beta = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(tree_loss(tree, x, 0.0, level_weights=beta), per_level @ beta / beta.sum())
    torch.testing.assert_close(tree_loss(tree, x, 0.0, level_weights=[1, 1, 1]), tree_loss(tree, x, 0.0))
    for bad in ([1.0, 1.0], [1.0, -1.0, 1.0], [0.0, 0.0, 0.0], [1.0, float("nan"), 1.0]):
        with pytest.raises(ValueError):
            tree_loss(tree, x, 0.0, level_weights=bad)


def test_loss_gradient_reaches_the_probabilities_through_the_root():
    tree = random_tree(b=3)
    logits = torch.zeros(3, 9, dtype=torch.float64, requires_grad=True)
    t = PosteriorTree(tree.leaves, logits.softmax(-1), 3, 2)
    tree_loss(t, torch.rand(3, 1, 28, 28, dtype=torch.float64), 0.0).backward()
    assert logits.grad.abs().sum() > 0


def test_epsilon_schedule_matches_the_paper():
    assert epsilon_schedule(0) == epsilon_schedule(5) == 1.0
    assert epsilon_schedule(7) == pytest.approx(math.exp(-1))
    assert epsilon_schedule(15) == pytest.approx(0.0067, abs=1e-4)


def test_model_shapes_widths_and_residual_start():
    cfg = TreeConfig(branching=3, depth=2, c_init=4)
    assert cfg.widths == [36, 72, 144, 288]  # the paper's widths (c_init = 4, K^d = 9), one level fewer
    net = TreeUNet(TreeConfig(c_init=1)).eval()
    y = degrade(torch.rand(2, 1, 28, 28))
    leaves, logits = net(y)
    assert leaves.shape == (2, 9, 1, 28, 28) and logits.shape == (2, 9)
    torch.testing.assert_close(leaves, y[:, None].expand_as(leaves))  # zero-initialised residual head
    with pytest.raises(ValueError):
        TreeConfig(branching=1)


def test_grouped_decoder_gives_every_leaf_its_own_decoder():
    """The paper's encoder-shared variant: leaf j's output depends on decoder group j only."""
    torch.manual_seed(0)
    cfg = TreeConfig(branching=2, depth=2, c_init=1, decoder="grouped")
    net = TreeUNet(cfg)
    for p in net.out.parameters():  # the zero-initialised output would hide every dependence
        torch.nn.init.normal_(p)
    leaves, _ = net(degrade(torch.rand(3, 1, 28, 28)))
    leaves[:, 1].sum().backward()
    for block, w in zip(net.dec, reversed(cfg.widths[:-1]), strict=True):
        g = block[0].weight.grad.reshape(4, w // 4, -1)  # (leaf groups, out channels per group, ...)
        assert g[1].abs().sum() > 0 and g[[0, 2, 3]].abs().sum() == 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.enc.parameters())  # shared encoder
    assert net.out.weight.shape == (4, 1, 1, 1)  # a grouped 1x1 convolution: one input group per leaf
    # interleave: group g of the result is group g of a, then group g of b
    a, b = torch.arange(4.0).reshape(1, 4, 1, 1), 10 + torch.arange(8.0).reshape(1, 8, 1, 1)
    assert interleave(a, b, 2).flatten().tolist() == [0, 1, 10, 11, 12, 13, 2, 3, 14, 15, 16, 17]
    assert TreeConfig.from_dict({"branching": 3, "depth": 2}).decoder == "shared"  # cards written before
    with pytest.raises(ValueError, match="decoder"):
        TreeConfig(decoder="separate")


def test_degrade_masks_the_top_twenty_rows_and_validates_input():
    x = torch.rand(3, 1, 28, 28)
    y = degrade(x, "mnist-inpaint")
    assert torch.allclose(y[:, :, :20], torch.tensor(0.1307))
    torch.testing.assert_close(y[:, :, 20:], x[:, :, 20:])
    assert torch.allclose(degrade(x, "fashion-inpaint")[:, :, :20], torch.tensor(0.2860))
    assert measurement_error(x, y).max() == 0
    for bad in (
        torch.full((1, 1, 28, 28), float("nan")),
        torch.rand(1, 28, 28),
        torch.rand(1, 1, 28, 28) * 3,
    ):
        with pytest.raises(ValueError):
            degrade(bad)
    with pytest.raises(ValueError, match="unknown task"):
        degrade(x, "deblur")


def test_metrics_on_a_tree_whose_leaf_is_the_truth():
    tree = random_tree(b=2, dtype=torch.float32)
    x = tree.node((0, 1))[0]
    probs = torch.full((2, 9), 0.02)
    probs[:, 1] = 0.84
    tree = PosteriorTree(tree.leaves, probs, 3, 2)
    m = tree_metrics(tree, x)
    assert m["path"].tolist() == [[0, 1], [0, 1]]
    assert np.all(m["psnr"][:, 2] > 90)  # the leaf is exact
    np.testing.assert_allclose(m["nll"][:, 0], -np.log(0.88), rtol=1e-5)
    np.testing.assert_allclose(m["nll"][:, 1], -np.log(0.84), rtol=1e-5)


def test_calibration_of_a_perfectly_calibrated_toy():
    # trees whose leaf probabilities are the true frequencies of where x lands
    rng = np.random.default_rng(0)
    trees, xs = [], []
    base = torch.eye(4).repeat_interleave(196, 1).reshape(4, 1, 28, 28)  # four distinct images
    for _ in range(400):
        p = torch.tensor(rng.dirichlet(np.ones(4)), dtype=torch.float32)
        k = rng.choice(4, p=p.numpy() / p.numpy().sum())
        trees.append(PosteriorTree(base[None], p[None], 2, 2))
        xs.append(base[k][None])
    cal = calibration(trees, xs, level=2, n_bins=5)
    assert cal["ece"] < 0.06
    assert cal["count"].sum() == 1600


def test_cell_nll_is_leaf_cross_entropy():
    tree = random_tree(b=3, dtype=torch.float32)
    x = tree.node((2, 2))[0]
    logits = torch.zeros(3, 9)
    assert cell_nll(tree, x, logits).item() == pytest.approx(math.log(9), rel=1e-5)


def test_hierarchical_kmeans_structure_counts_and_means():
    g = torch.Generator().manual_seed(0)
    centres = torch.rand(9, 1, 28, 28, generator=g)
    labels = torch.arange(100) % 9
    samples = (centres[labels] + 0.01 * torch.randn(100, 1, 28, 28, generator=g)).clamp(0, 1)
    leaves, counts = hierarchical_kmeans(samples, 3, 2)
    assert leaves.shape == (9, 1, 28, 28) and counts.shape == (9,) and counts.sum() == 100
    tree = PosteriorTree(leaves[None], counts[None].float() / 100, 3, 2, counts=counts[None])
    torch.testing.assert_close(tree.root[0], samples.mean(0), atol=1e-5, rtol=0)
    assert int(tree.leaf_counts(())[0]) == 100
    # children are ordered by size within each parent
    for a in range(3):
        c = counts[3 * a : 3 * a + 3]
        assert torch.all(c[:-1] >= c[1:])


def test_hierarchical_kmeans_with_too_few_samples_keeps_empty_leaves():
    samples = torch.rand(4, 1, 28, 28)
    leaves, counts = hierarchical_kmeans(samples, 3, 2)
    assert counts.sum() == 4 and (counts == 0).sum() >= 5
    assert torch.isfinite(leaves).all()

"""The empirical-posterior reference: nearest completions on the observed rows, and its tree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlsa_core.posterior_trees import degrade, observed_mask
from dlsa_core.posterior_trees.reference import nearest_completions, reference_tree


def _pool(n=60, seed=0):
    return torch.rand((n, 1, 28, 28), generator=torch.Generator().manual_seed(seed))


def test_nearest_completions_match_a_brute_force_search_and_the_measurement():
    pool, x = _pool(), _pool(3, seed=1)
    y = degrade(x)
    got = nearest_completions(y, pool, 7).numpy()
    m = observed_mask().numpy().astype(bool)[0, 0]
    for b in range(len(x)):
        # independent ranking in numpy on the observed pixels only
        d = ((pool.numpy()[:, 0][:, m] - y.numpy()[b, 0][m]) ** 2).sum(1)
        want = np.argsort(d, kind="stable")[:7]
        np.testing.assert_allclose(got[b, :, 0][:, m], np.broadcast_to(y.numpy()[b, 0][m], (7, m.sum())))
        np.testing.assert_allclose(got[b, :, 0][:, ~m], pool.numpy()[want, 0][:, ~m], atol=1e-6)


def test_a_pool_holding_the_truth_returns_it_first():
    pool, x = _pool(), _pool(1, seed=2)
    pool[17] = x[0]
    got = nearest_completions(degrade(x), pool, 3)
    torch.testing.assert_close(got[0, 0], x[0])


def test_reference_tree_has_the_structure_and_counts():
    pool, x = _pool(80), _pool(2, seed=3)
    tree = reference_tree(degrade(x), pool, n_samples=30, branching=3, depth=2, n_init=2)
    assert tree.leaves.shape == (2, 9, 1, 28, 28)
    assert tree.counts.sum(1).tolist() == [30, 30]
    torch.testing.assert_close(tree.probs.sum(1), torch.ones(2))
    # the root is the mean of the 30 completions
    torch.testing.assert_close(
        tree.root, nearest_completions(degrade(x), pool, 30).mean(1), atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("n", [0, 61])
def test_bad_neighbour_counts_are_refused(n):
    with pytest.raises(ValueError, match="n <= len"):
        nearest_completions(degrade(_pool(1)), _pool(), n)


def _bench(with_ref=True, with_base=True):
    t = {"psnr": [15.0, 16.0, 16.5], "nll": [1.0, 2.0], "n_images": 500}
    bench = {"tree": t, "tree_forward_ms_batch1": 5.0, "device": "cpu"}
    if with_ref:
        bench["reference"] = {"psnr": [14.4, 15.5, 16.1], "nll": [1.02, 2.02], "what": "the 100 nearest"}
    if with_base:
        bench["tree_on_baseline_images"] = {"psnr": [15.1, 16.1, 16.4], "nll": [0.9, 1.9]}
        bench["baseline"] = {"psnr": [13.3, 13.8, 14.0], "nll": [1.04, 2.01]}
        bench["baseline_seconds_per_image"] = {
            "n_images": 120,
            "samples": 100,
            "ddnm_steps": 20,
            "total": 49.0,
        }
        bench["baseline_test_indices"] = "class-balanced"
    return bench


def test_benchmark_rows_put_the_reference_beside_the_tree_and_the_baseline():
    from dlsa_core.posterior_trees.explore import benchmark_note, benchmark_rows

    rows = {r["measure"]: r for r in benchmark_rows(_bench())}
    assert list(rows) == [
        "PSNR, tree (500 images)",
        "PSNR, reference (500 images)",
        "PSNR, tree (120 images)",
        "PSNR, baseline (120 images)",
        "NLL, tree (500 images)",
        "NLL, reference (500 images)",
        "NLL, tree (120 images)",
        "NLL, baseline (120 images)",
    ]
    assert rows["PSNR, reference (500 images)"]["depth 2"] == 16.1
    assert rows["NLL, reference (500 images)"]["depth 1"] == 1.02
    assert rows["PSNR, baseline (120 images)"]["depth 2"] == 14.0
    assert rows["NLL, tree (120 images)"]["depth 2"] == 1.9
    assert rows["NLL, tree (500 images)"]["depth 0"] == 0.0
    only_ref = [r["measure"] for r in benchmark_rows(_bench(with_base=False))]
    assert only_ref == [
        "PSNR, tree (500 images)",
        "PSNR, reference (500 images)",
        "NLL, tree (500 images)",
        "NLL, reference (500 images)",
    ]
    assert not any("reference" in r["measure"] for r in benchmark_rows(_bench(with_ref=False)))
    assert benchmark_rows(_bench(with_ref=False, with_base=False)) == []
    note = benchmark_note(_bench())
    assert (
        "the 100 nearest" in note
        and "120 of them (class-balanced)" in note
        and note.endswith("faster (shared CPU).")
    )
    bench = _bench()
    bench["same_run_timing"] = {"images": 3, "baseline_s": 8.3, "tree_ms": 7.68, "ratio": 1080}
    assert benchmark_note(bench).endswith("on 3 input(s): 8.3 s vs 7.68 ms, 1,080×.")

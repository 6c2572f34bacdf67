"""GD on deep linear nets: zero-init ResNets end at the flattest minimum; GD only settles below 2/eta."""

from __future__ import annotations

import numpy as np
import pytest

from dlsa_core.flat_minima import (
    balancedness,
    coupling_matrix,
    init_weights,
    layer_gains,
    minimal_sharpness,
    product,
    step_size_sweep,
    target_matrix,
    train_inits,
    train_linear_net,
)
from dlsa_core.flat_minima import report as fm
from dlsa_core.flat_minima.training import train_batch

T3 = target_matrix([2.0, 1.0, 0.5], seed=0)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_zero_init_resnet_reaches_minimal_sharpness(depth):
    run = train_linear_net(T3, depth, 3, "resnet", 0.01, 20000, seed=0)
    m = minimal_sharpness(T3, depth)
    assert run.converged and not run.diverged
    np.testing.assert_allclose(product(run.weights), T3, atol=1e-8)
    assert abs(run.final_sharpness - m) / m < 1e-3
    assert run.final_sharpness >= m * (1 - 1e-9)  # never below the minimum
    assert np.all(coupling_matrix(run.weights).top >= 0.999)
    g = layer_gains(run.weights, T3)
    np.testing.assert_allclose(g.spectral_norms, 2.0 ** (1 / depth), rtol=1e-2)
    assert g.imbalance < 1e-2


def test_large_random_init_ends_measurably_sharper():
    runs = train_inits(T3, 3, 3, 0.02, 8000, seed=0, scales={"small": 0.3, "large": 1.5})
    m = minimal_sharpness(T3, 3)
    assert all(r.converged for r in runs.values())
    assert runs["large"].final_sharpness > 1.2 * m
    assert (
        runs["large"].final_sharpness
        > runs["small"].final_sharpness
        > runs["resnet"].final_sharpness * (1 - 1e-6)
    )
    # sharper minima are less balanced and less coupled
    assert layer_gains(runs["large"].weights, T3).imbalance > 0.05
    assert coupling_matrix(runs["large"].weights).top.min() < 0.9
    # the recorded history starts at step 0 and ends at the last step, sharpness finite throughout
    r = runs["large"]
    assert r.steps[0] == 0 and r.steps[-1] == r.steps_run and np.all(np.isfinite(r.sharpness))
    assert r.loss[-1] < 1e-18 * r.loss[0]


def test_batched_training_equals_single_runs():
    single = train_linear_net(T3, 3, 4, "large", 0.05, 300, seed=3, scale=1.0)
    batch = train_inits(T3, 3, 4, 0.05, 300, seed=3, scales={"large": 1.0})["large"]
    np.testing.assert_allclose(single.loss, batch.loss, rtol=1e-10)
    for a, b in zip(single.weights, batch.weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_gradient_flow_conserves_balancedness_gd_drifts_order_eta():
    """Imbalance drift from the (balanced) ResNet init is O(eta): halving eta roughly halves it."""
    drift = []
    for eta in (0.02, 0.01):
        run = train_linear_net(T3, 3, 3, "resnet", eta, int(2.0 / eta), seed=0)
        drift.append(np.max(balancedness(run.weights)))
    assert drift[1] < drift[0]
    assert drift[0] / drift[1] == pytest.approx(2.0, rel=0.3)
    start = init_weights("resnet", 3, 3, 3, 3)
    assert np.max(balancedness(start)) == 0.0


def test_gd_only_settles_below_two_over_eta():
    m = minimal_sharpness(T3, 3)
    etas = fm.sweep_etas(m, 8)
    runs = step_size_sweep(T3, 3, 3, "large", etas, 4000, seed=0, scale=1.5)
    settled = [r for r in runs if r.converged]
    assert len(settled) >= 5
    for r in settled:
        assert r.final_sharpness <= 2 / r.eta * (1 + 1e-6)
        assert r.final_sharpness >= m * (1 - 1e-9)
    for r in runs:
        if r.eta > 2 / m * 1.01:
            assert not r.converged  # no global minimum is linearly stable there
    # larger steps end flatter (the ceiling 2/eta binds at the top of the range)
    first, last = settled[0], settled[-1]
    assert last.final_sharpness < first.final_sharpness * 0.8


def test_divergence_is_reported_not_raised():
    run = train_linear_net(T3, 3, 3, "large", 5.0, 200, seed=0)
    assert run.diverged and not run.converged and run.weights is None and np.isnan(run.final_sharpness)


def test_train_batch_records_progress():
    seen = []
    start = init_weights("small", 3, 3, 2, 3, seed=0, scale=0.3)
    train_batch(T3, [start], [0.01], 1200, progress=seen.append)
    assert seen and seen[-1] <= 1.0 and seen == sorted(seen)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(init="xavier"), "init"),
        (dict(eta=float("nan")), "step size"),
        (dict(eta=-1.0), "step size"),
        (dict(width=2), "rank"),
        (dict(steps=0), "steps"),
        (dict(steps=10**7), "steps"),
        (dict(depth=0), "depth"),
    ],
)
def test_training_rejects_bad_input(kwargs, message):
    args = dict(T=T3, depth=3, width=3, init="resnet", eta=0.01, steps=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        train_linear_net(**args)


def test_report_and_snippet_agree():
    rep = fm.training_report([2.0, 1.0, 0.5], 3, 3, 0.02, 3000, seed=0)
    params = dict(singular_values=[2.0, 1.0, 0.5], depth=3, width=3, eta=0.02, steps=3000, seed=0, rho=0.0)
    params.update(small_scale=0.3, large_scale=1.5)
    printed = []
    namespace = {"print": lambda *a: printed.append(a)}
    exec(fm.reproduce_snippet(params), namespace)  # the page's "Reproduce in Python" runs outside the app
    got = {line[0]: line[1] for line in printed if line[0] in ("resnet", "small", "large")}
    for key, run in rep["runs"].items():
        assert got[key] == pytest.approx(run.final_sharpness, rel=1e-12)
    assert printed[0][1] == pytest.approx(rep["minimal"])


@pytest.mark.parametrize("text", ["", "a, b", "1, -1", "0", "1e9", ",".join(["1"] * 9), "nan"])
def test_parse_singular_values_rejects(text):
    with pytest.raises(ValueError):
        fm.parse_singular_values(text)


def test_parse_singular_values_sorts():
    assert fm.parse_singular_values("0.5; 2 1") == [2.0, 1.0, 0.5]

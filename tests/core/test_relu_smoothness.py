"""Stable shallow ReLU nets are smooth: the weight function, the lemma, the reduced form, GD, the bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import dlsa_core.relu_smoothness as rs
from dlsa_core.relu_smoothness.training import init_params
from dlsa_core.stability import gd_threshold


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def random_net(rng, k, d, scale=1.0):
    return {
        "W": rng.normal(size=(k, d)),
        "b": rng.normal(size=k),
        "v": rng.normal(size=k) * scale,
        "c": float(rng.normal()),
    }


# ---------------------------------------------------------------------------------------------
# Weight function
# ---------------------------------------------------------------------------------------------


def test_reference_values_for_data_0123():
    """The digest's table for x = {0, 1, 2, 3}: g+, g-, and g = min."""
    w = rs.weight_curve_1d([0, 1, 2, 3], [0.5, 1.5, 2.5])
    np.testing.assert_allclose(w["g_plus"], [1.886682, 0.673146, 0.098821], atol=2e-6)
    np.testing.assert_allclose(w["g_minus"], [0.031250, 0.279508, 1.193243], atol=2e-6)
    np.testing.assert_allclose(w["g"], [0.031250, 0.279508, 0.098821], atol=2e-6)
    # the public API agrees: u = +1 is g+, u = -1 at -t is g-, relu_weight is the min
    x = np.arange(4.0)[:, None]
    assert rs.relu_weight_oriented(x, [1.0], 1.5) == pytest.approx(0.673146, abs=2e-6)
    assert rs.relu_weight_oriented(x, [-1.0], -1.5) == pytest.approx(0.279508, abs=2e-6)
    assert rs.relu_weight(x, [1.0], 2.5) == pytest.approx(0.098821, abs=2e-6)
    assert rs.relu_weight(x, [-1.0], -2.5) == pytest.approx(0.098821, abs=2e-6)  # un-oriented


def test_uniform_interval_closed_form():
    """X uniform on [-1, 1]: g(x) = (1-|x|)^3/8 sqrt(1 + ((1+|x|)/2)^2) (large sample)."""
    x = np.random.default_rng(0).uniform(-1, 1, 200_000)
    t = np.array([-0.7, -0.3, 0.0, 0.4, 0.8])
    exact = (1 - np.abs(t)) ** 3 / 8 * np.sqrt(1 + ((1 + np.abs(t)) / 2) ** 2)
    np.testing.assert_allclose(rs.weight_curve_1d(x, t)["g"], exact, rtol=0.03)


def test_weight_vanishes_outside_hull_and_min_le_oriented():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 3))
    u = rng.normal(size=(50, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    proj = x @ u.T
    t_out = proj.max(0) + rng.uniform(0, 1, 50)  # every point on one side
    assert np.all(rs.relu_weight(x, u, t_out) == 0)
    assert np.all(rs.relu_weight(x, u, -proj.max(0) * 0 + proj.min(0) - 0.1) == 0)
    t_in = rng.uniform(proj.min(0), proj.max(0))
    g, gt = rs.relu_weight(x, u, t_in), rs.relu_weight_oriented(x, u, t_in)
    assert np.all(g <= gt + 1e-15) and np.all(g >= 0)


def test_weight_rejects_bad_input():
    with pytest.raises(ValueError, match="unit vector"):
        rs.relu_weight([[0.0], [1.0]], [2.0], 0.5)
    with pytest.raises(ValueError, match="NaN"):
        rs.relu_weight([[0.0], [np.nan]], [1.0], 0.5)
    with pytest.raises(ValueError, match="entries"):
        rs.relu_weight([[0.0, 1.0], [1.0, 0.0]], [1.0], 0.5)


# ---------------------------------------------------------------------------------------------
# The lemma, the sharpness, the reduced form
# ---------------------------------------------------------------------------------------------


def test_lemma_on_many_random_networks():
    """lambda_max(GN) >= ||mean grad||^2 >= 1 + 2 sum |v| ||w|| g~ >= 1 + 2 * reduced norm, 300 nets."""
    rng = np.random.default_rng(0)
    slack = []
    for _ in range(300):
        d, k, n = int(rng.integers(1, 5)), int(rng.integers(1, 20)), int(rng.integers(2, 30))
        x = rng.normal(size=(n, d)) * rng.uniform(0.3, 3)
        t = rs.lemma_terms(random_net(rng, k, d, rng.uniform(0.1, 3)), x)
        slack += [
            t["lambda_max"] - t["mean_grad_sq"],
            t["mean_grad_sq"] - t["rhs"],
            t["rhs"] - 1 - 2 * t["norm"],
        ]
        assert t["lambda_max"] >= 1 - 1e-12  # the output bias alone gives 1
    assert min(slack) >= -1e-9
    assert max(slack) > 0.1  # not all equalities: the test can fail


def test_sharpness_matches_autograd_and_stability_module():
    """gn_sharpness == lambda_max of (1/n) J^T J with J from torch autograd; == 2 / stability's GD threshold."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(12, 2))
    p = random_net(rng, 7, 2)
    prm = {k: torch.tensor(np.asarray(v), dtype=torch.float64) for k, v in p.items()}

    def f(w, b, v, c):
        return torch.relu(torch.tensor(x) @ w.T + b) @ v + c

    jac = torch.autograd.functional.jacobian(f, (prm["W"], prm["b"], prm["v"], prm["c"]))
    jmat = torch.cat([j.reshape(12, -1) for j in jac], dim=1).numpy()
    lam = np.linalg.eigvalsh(jmat.T @ jmat / 12)[-1]
    assert rs.gn_sharpness(p, x) == pytest.approx(lam, rel=1e-10)
    hess = np.einsum("ni,nj->nij", jmat, jmat)  # per-sample Gauss-Newton Hessians
    assert 2.0 / gd_threshold(hess) == pytest.approx(lam, rel=1e-10)


def test_reduced_form_invariances():
    """Splitting a neuron, positive rescaling and flipping orientation leave the norm unchanged."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(25, 2))
    p = random_net(rng, 6, 2)
    base = rs.relu_stability_norm(p, x)
    assert base > 0
    split = {  # neuron 0 split in two with the same hyperplane (0.3 / 0.7 of v, scaled w)
        "W": np.vstack([p["W"], 2.0 * p["W"][:1]]),
        "b": np.concatenate([p["b"], 2.0 * p["b"][:1]]),
        "v": np.concatenate([p["v"] * np.r_[0.3, np.ones(5)], [0.7 * p["v"][0] / 2.0]]),
        "c": p["c"],
    }
    np.testing.assert_allclose(split["v"][:1] * 1 + 0, 0.3 * p["v"][:1])
    xs = rng.normal(size=(5, 2))
    np.testing.assert_allclose(rs.as_network(split)(xs), rs.as_network(p)(xs), atol=1e-12)
    assert rs.relu_stability_norm(split, x) == pytest.approx(base, rel=1e-12)
    s = rng.uniform(0.2, 5, 6)
    scaled = {"W": p["W"] * s[:, None], "b": p["b"] * s, "v": p["v"] / s, "c": p["c"]}
    assert rs.relu_stability_norm(scaled, x) == pytest.approx(base, rel=1e-12)
    flipped = {**p, "W": p["W"].copy(), "b": p["b"].copy(), "v": p["v"].copy()}
    flipped["W"][0] *= -1  # v relu(-z) = v relu(z) - v z: the same knot, an affine difference
    flipped["b"][0] *= -1
    flipped["v"][0] *= -1
    assert rs.relu_stability_norm(flipped, x) == pytest.approx(base, rel=1e-12)
    red = rs.reduced_form(split, x)
    assert red.counts.sum() == 7 and red.t.size == 6
    # cancelling neurons merge to zero strength
    cancel = {
        **p,
        "W": np.vstack([p["W"], p["W"][:1]]),
        "b": np.r_[p["b"], p["b"][0]],
        "v": np.r_[p["v"], -p["v"][0]],
    }
    one_less = {**p, "W": p["W"][1:], "b": p["b"][1:], "v": p["v"][1:]}
    assert rs.relu_stability_norm(cancel, x) == pytest.approx(rs.relu_stability_norm(one_less, x), rel=1e-12)


def test_neuron_outside_hull_is_dropped():
    x = np.linspace(-1, 1, 9)[:, None]
    p = {"W": np.array([[1.0], [2.0]]), "b": np.array([-5.0, 0.4]), "v": np.array([3.0, 0.5]), "c": 0.0}
    red = rs.reduced_form(p, x)
    assert red.g[np.argmax(red.t)] == 0 and red.in_hull.sum() == 1
    only = {"W": p["W"][1:], "b": p["b"][1:], "v": p["v"][1:], "c": 0.0}
    assert rs.relu_stability_norm(p, x) == pytest.approx(rs.relu_stability_norm(only, x))


def test_norm_is_weighted_curvature_in_1d():
    """In 1-D the norm is sum over knots of |jump of f'| * g(knot) (computed from f alone)."""
    rng = np.random.default_rng(5)
    x = np.sort(rng.uniform(-1, 1, 15))[:, None]
    p = random_net(rng, 5, 1)
    net = rs.as_network(p)
    knots = -p["b"] / p["W"][:, 0]
    total = 0.0
    for kx in knots:
        h = 1e-6
        jump = (net([[kx + 2 * h]]) - net([[kx + h]])) / h - (net([[kx - h]]) - net([[kx - 2 * h]])) / h
        total += abs(jump[0]) * rs.weight_curve_1d(x, [kx])["g"][0]
    assert rs.relu_stability_norm(p, x) == pytest.approx(total, rel=1e-5)


def test_params_validation():
    with pytest.raises(ValueError, match="shapes"):
        rs.relu_stability_norm(
            {"W": np.ones((3, 1)), "b": np.ones(2), "v": np.ones(3), "c": 0}, [[0.0], [1.0]]
        )
    with pytest.raises(ValueError, match="NaN or infinite"):
        rs.relu_stability_norm({"W": np.ones((1, 1)), "b": [np.inf], "v": [1.0], "c": 0}, [[0.0], [1.0]])
    with pytest.raises(ValueError, match="'W'"):
        rs.relu_stability_norm({"W": np.ones((1, 1))}, [[0.0], [1.0]])


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def _autograd_gd(x, y, init, eta, steps):
    w, b, v, c = (torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in init)
    xt, yt = torch.tensor(x), torch.tensor(y)
    for _ in range(steps):
        loss = 0.5 * ((torch.relu(xt @ w.T + b) @ v + c - yt) ** 2).mean()
        grads = torch.autograd.grad(loss, (w, b, v, c))
        with torch.no_grad():
            for p, g in zip((w, b, v, c), grads, strict=True):
                p -= eta * g
    return [p.detach().numpy() for p in (w, b, v, c)]


@pytest.mark.parametrize("d,n", [(1, 6), (2, 9), (20, 5)])  # (20, 5): trained in the row space of X
def test_hand_written_gd_matches_autograd(d, n):
    rng = np.random.default_rng(d)
    x, y = rng.normal(size=(n, d)), rng.normal(size=n) * 0.3
    run = rs.train_shallow_relu(x, y, 7, 0.3, max_steps=25, seed=2)  # 2 chunks of 10 + a short one
    w, b, v, c = _autograd_gd(x, y, init_params(x, 7, 2, 2.0), 0.3, 25)
    np.testing.assert_allclose(run.params.W, w, atol=1e-12)
    np.testing.assert_allclose(run.params.b, b, atol=1e-12)
    np.testing.assert_allclose(run.params.v, v, atol=1e-12)
    assert run.params.c == pytest.approx(float(c), abs=1e-12)
    assert run.steps == 25 and len(run.losses) == 4


def test_divergence_and_validation_are_reported():
    data = rs.make_dataset("wave", 8)
    run = rs.train_shallow_relu(data.x, data.y * 30, 32, 1.9, max_steps=2000, init_scale=4.0)
    assert run.status in ("diverged", "dead")
    if run.status == "diverged":
        assert run.params is None and math.isinf(run.loss) and math.isnan(run.norm)
    with pytest.raises(ValueError, match="same input"):
        rs.train_shallow_relu([0.0, 0.0, 1.0], [0, 1, 2], 4, 0.1)
    with pytest.raises(ValueError, match="width"):
        rs.train_shallow_relu([0.0, 1.0], [0, 1], 0, 0.1)
    with pytest.raises(ValueError, match="step sizes"):
        rs.train_shallow_relu([0.0, 1.0], [0, 1], 4, -0.1)
    with pytest.raises(ValueError, match="NaN"):
        rs.train_shallow_relu([0.0, 1.0], [0, np.nan], 4, 0.1)


def test_dead_network_is_recognised():
    """Units that start inactive on all data never move: the run is 'dead', not 'not converged'."""
    x, y = np.linspace(-1, 1, 5), np.linspace(-1, 1, 5) ** 2
    sw = rs.sweep_step_sizes(x, y, 4, [0.1], [0], max_steps=100)
    run = sw.runs[0]
    assert run.status in ("not converged", "interpolated")  # sanity: a live start is not "dead"
    dead = rs.as_network({"W": np.ones((3, 1)), "b": -5 * np.ones(3), "v": np.ones(3), "c": 0.0})
    assert rs.relu_stability_norm(dead, x[:, None]) == 0 and rs.gn_sharpness(
        dead, x[:, None]
    ) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# The theorem on trained networks (one shared sweep)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wave_sweep():
    torch.set_num_threads(1)
    data = rs.make_dataset("wave", 8)
    return rs.sweep_step_sizes(data.x, data.y, 32, [0.2, 0.4, 0.6, 0.7, 0.8, 0.9], range(3), max_steps=8000)


@pytest.mark.slow
def test_bound_holds_on_every_stable_interpolating_net(wave_sweep):
    ok = [r for r in wave_sweep.runs if r.stable_interpolating]
    assert len(ok) >= 12  # most runs interpolate: the check is not vacuous
    for r in ok:
        assert r.loss < 1e-7
        assert r.lambda_max <= 2 / r.eta * (1 + 1e-3)  # GD stayed: it is linearly stable
        assert r.norm <= r.bound, (r.eta, r.seed, r.norm, r.bound)
        assert 1 + 2 * r.norm <= r.lambda_max + 1e-9  # the lemma on the trained net
    assert wave_sweep.worst_ratio() <= 1


@pytest.mark.slow
def test_norm_falls_as_eta_grows(wave_sweep):
    """Median over seeds: non-increasing (3 % slack) and clearly lower at the largest step sizes."""
    med = wave_sweep.median_norm()
    ok = med[np.isfinite(med)]
    assert ok.size >= 5
    assert np.all(ok[1:] <= ok[:-1] * 1.03), ok
    assert ok[-1] < 0.8 * ok[0], ok
    from dlsa_core.relu_smoothness.report import trend

    assert trend(wave_sweep)["spearman"] < -0.5
    # and the sharpness at the end follows 2/eta once eta exceeds 2 / lambda_max at the start
    big = [r for r in wave_sweep.runs if r.stable_interpolating and r.eta >= 0.7]
    assert all(r.lambda_max > 0.6 * 2 / r.eta for r in big)


def test_digits_and_2d_data():
    torch.set_num_threads(1)
    d = rs.make_dataset("digits", 12)
    assert d.x.shape == (12, 784) and set(np.unique(d.y)) == {-0.5, 0.5}
    np.testing.assert_allclose(np.linalg.norm(d.x, axis=1), 1.0)
    sw = rs.sweep_step_sizes(d.x, d.y, 8, [0.5], [0], max_steps=300)
    r = sw.runs[0]
    assert r.params.W.shape == (8, 784) and np.isfinite(r.norm) and r.lambda_max >= 1
    b = rs.make_dataset("bump", 10)
    assert b.x.shape == (10, 2)
    with pytest.raises(ValueError, match="unknown data set"):
        rs.make_dataset("nope")


def test_parse_points_messages():
    ok = rs.parse_points({"x": [0.5, -1, np.nan], "y": [1, 2, np.nan]})
    np.testing.assert_allclose(ok.x[:, 0], [-1, 0.5])
    for bad, msg in [
        ({"x": [0, 0], "y": [1, 2]}, "same x"),
        ({"x": [0, 1], "y": [1, np.nan]}, "finite"),
        ({"x": [0], "y": [1]}, "between 2 and 40"),
        ({"x": [0, 100], "y": [1, 2]}, "<= 10"),
        ({"y": [1, 2]}, "columns x and y"),
    ]:
        with pytest.raises(ValueError, match=msg):
            rs.parse_points(bad)

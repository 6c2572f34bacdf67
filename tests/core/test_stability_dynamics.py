"""Second-moment recursion, Monte Carlo, regular minima and problem builders."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dlsa_core.stability import (
    batch_p,
    digits_least_squares,
    mc_summary,
    mixture_operator,
    relu_net_minimum,
    second_moment_trajectory,
    sgd_threshold,
    sgd_threshold_from_jacobians,
    simulate_sgd,
    stability_report,
    stationary_covariance,
    threshold_curve,
    toy_rank_one_2d,
)

G_TOY = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
H_TOY = np.einsum("ni,nj->nij", G_TOY, G_TOY)


def test_recursion_matches_dense_operator():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 2, 3))
    hs = w.transpose(0, 2, 1) @ w
    sigma0 = np.eye(3) / 3
    q = mixture_operator(hs, 0.1, 2)
    vec, ref = sigma0.ravel(), [1.0]
    for _ in range(20):
        vec = q @ vec
        ref.append(np.trace(vec.reshape(3, 3)))
    np.testing.assert_allclose(second_moment_trajectory(hs, 0.1, 2, 20, sigma0), ref, rtol=1e-12)


def test_recursion_decays_below_and_grows_above_threshold():
    for b in (1, 2):
        eta = sgd_threshold(H_TOY, b)
        below = second_moment_trajectory(H_TOY, 0.98 * eta, b, 3000)
        above = second_moment_trajectory(H_TOY, 1.02 * eta, b, 3000)
        assert below[-1] < 1e-3 and above[-1] > 1e3


@pytest.mark.parametrize("factor", [0.9, 1.15])
@pytest.mark.parametrize("b", [1, 2])
def test_monte_carlo_matches_exact_recursion(factor, b):
    """Short horizon: the MC mean is within 4 standard errors of the exact value, for SGD and ALG(p)."""
    eta = factor * sgd_threshold(H_TOY, b)
    steps = 6  # short horizon: the products are heavy-tailed, so the MC mean needs many runs
    exact = second_moment_trajectory(H_TOY, eta, b, steps)
    sim = simulate_sgd(H_TOY, eta, b, steps, 100_000, seed=1, device="cpu")
    for proc in ("sgd", "mixture"):
        s = mc_summary(sim[proc])
        assert abs(s["mean"][-1] - exact[-1]) <= 4 * s["se"][-1] + 1e-12, proc


def test_covariance_of_batch_gradient_by_enumeration():
    rng = np.random.default_rng(2)
    g = rng.standard_normal((6, 3))
    g -= g.mean(axis=0)
    sigma_g = g.T @ g / 6
    for b in range(1, 7):
        means = [g[list(s)].mean(axis=0) for s in itertools.combinations(range(6), b)]
        cov = np.mean([np.outer(m, m) for m in means], axis=0)
        np.testing.assert_allclose(cov, batch_p(6, b) * sigma_g, atol=1e-14)


@pytest.mark.slow
def test_stationary_covariance_matches_monte_carlo():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((6, 3, 3))
    hs = w.transpose(0, 2, 1) @ w / 3
    g = rng.standard_normal((6, 3))
    g -= g.mean(axis=0)
    b = 2
    eta = 0.6 * sgd_threshold(hs, b)
    lim = stationary_covariance(hs, g, eta, b)
    sim = simulate_sgd(hs, eta, b, 1500, 4000, seed=5, device="cpu", gradients=g, processes=("sgd",))
    mc = sim["sgd"][:, 500:].mean()
    assert mc == pytest.approx(lim["sq_dist"], rel=0.05)
    with pytest.raises(ValueError, match="not below"):
        stationary_covariance(hs, g, 1.01 * lim["eta_star"], b)


def test_toy_and_digits_presets():
    rep = stability_report(toy_rank_one_2d())
    np.testing.assert_allclose(rep["eta_star"], [0.5760394922, 0.9381644904, 1.1314829082], atol=1e-9)
    prob = digits_least_squares(60)
    curve = threshold_curve(prob, [1, 10, 60])
    xs = prob.jacobians[:, 0, :]
    assert curve[-1] == pytest.approx(2 / np.linalg.eigvalsh(xs.T @ xs / 60)[-1], rel=1e-10)


@pytest.mark.slow
def test_relu_net_minimum_interpolates_and_gram_matches_parameter_space():
    prob = relu_net_minimum(12, width=16, classes=(0, 1, 2), max_iter=300)
    assert prob.info["train_loss"] < 1e-8
    n, k, d = prob.jacobians.shape
    assert (n, k, d) == (12, 3, 16 * (64 + 1 + 3) + 3)
    for b in (1, 4, 12):
        gram = sgd_threshold_from_jacobians(prob.jacobians, b, space="gram")
        par = sgd_threshold_from_jacobians(prob.jacobians, b, space="parameter")
        assert gram == pytest.approx(par, rel=1e-8)


def test_simulation_validates_input():
    with pytest.raises(ValueError, match="batch size"):
        simulate_sgd(H_TOY, 0.1, 0, 5, 5, seed=0)
    with pytest.raises(ValueError, match="eta"):
        simulate_sgd(H_TOY, float("nan"), 1, 5, 5, seed=0)
    with pytest.raises(ValueError, match="too large"):
        simulate_sgd(H_TOY, 0.1, 1, 1_000_000, 1_000_000, seed=0)

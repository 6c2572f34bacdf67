"""Closed forms of preconditioned Langevin dynamics against independent computations (Lyapunov solves,
moment recursions, Monte Carlo), and the rank invariant ``c rank(H) / 4`` for ``D = c P``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import solve_continuous_lyapunov, solve_discrete_lyapunov

from dlsa_core import langevin as lg


def random_problem(n=7, r=3, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, r))
    h = g @ g.T
    a = rng.standard_normal((n, n))
    p = a @ a.T + 0.3 * np.eye(n)
    b = rng.standard_normal((n, n))
    d = b @ b.T / n
    return h, p, d


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_continuous_level_equals_lyapunov_solve(seed):
    h, p, d = random_problem(seed=seed)
    eps = 1e-7  # ridge: null(H) directions diffuse without bound, but the loss does not see them
    sigma = solve_continuous_lyapunov(p @ h + eps * np.eye(len(h)), d)
    expect = 0.5 * np.trace(h @ sigma)
    assert lg.stationary_excess_loss(h, p, d) == pytest.approx(expect, rel=1e-5)


@pytest.mark.parametrize("seed", [0, 3])
def test_discrete_level_equals_discrete_lyapunov_solve(seed):
    h, p, d = random_problem(seed=seed)
    lam_max = np.linalg.eigvals(p @ h).real.max()
    eta = 1.2 / lam_max
    m = np.eye(len(h)) - eta * (p @ h + 1e-8 * np.eye(len(h)))
    sigma = solve_discrete_lyapunov(m, eta * d)
    expect = 0.5 * np.trace(h @ sigma)
    assert lg.stationary_excess_loss(h, p, d, step_size=eta) == pytest.approx(expect, rel=1e-5)


def test_discrete_tends_to_continuous():
    h, p, d = random_problem(seed=4)
    cont = lg.stationary_excess_loss(h, p, d)
    lam_max = np.linalg.eigvals(p @ h).real.max()
    gaps = [
        abs(lg.stationary_excess_loss(h, p, d, step_size=f / lam_max) / cont - 1) for f in (1e-1, 1e-2, 1e-3)
    ]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-3  # first order in eta
    assert gaps[1] / gaps[2] == pytest.approx(10, rel=0.1)
    # the transient too: discrete curve at k steps vs continuous curve at t = eta k
    eta = 1e-3 / lam_max
    x0 = np.ones(len(h))
    k = np.array([0, 100, 1000, 5000])
    disc = lg.excess_loss_curve(h, p, d, x0, k, step_size=eta)
    cont_t = lg.excess_loss_curve(h, p, d, x0, eta * k)
    np.testing.assert_allclose(disc, cont_t, rtol=2e-3)


@pytest.mark.parametrize("seed", range(5))
def test_matched_noise_gives_c_rank_over_4(seed):
    rng = np.random.default_rng(seed)
    n, r, c = 9, int(rng.integers(1, 8)), float(rng.uniform(0.1, 3))
    g = rng.standard_normal((n, r)) * np.logspace(0, -3, r)  # spread spectrum
    h = g @ g.T
    a = rng.standard_normal((n, n))
    p = a @ a.T + 0.1 * np.eye(n)
    assert lg.stationary_excess_loss(h, p, c * p) == pytest.approx(c * r / 4, rel=1e-8)
    # discrete time with midpoint reads: exactly c r / 4 for any stable step
    modes = lg.ou_modes(h, p, c * p)
    eta = 1.7 / modes.lam.max()
    level = lg.mode_curve(modes.lam, modes.s, 0.0, [1e9], step_size=eta, midpoint=True)[0]
    assert level == pytest.approx(c * r / 4, rel=1e-8)


def test_digest_reference_value():
    h = np.diag([3.0, 1.0, 0.01, 0.0, 0.0])
    p = np.diag([1.0, 2.0, 0.5, 4.0, 1.0])
    assert lg.stationary_excess_loss(h, p, 0.7 * p) == pytest.approx(0.525)


def test_discrete_curve_equals_moment_recursion():
    h, p, d = random_problem(seed=5)
    n = len(h)
    lam_max = np.linalg.eigvals(p @ h).real.max()
    eta = 0.9 / lam_max
    x0 = np.linspace(-1, 1, n)
    m = np.eye(n) - eta * p @ h
    s = np.outer(x0, x0)  # second moment E[x x^T]
    losses, mids = [], []
    for _ in range(40):
        s_next = m @ s @ m.T + eta * d
        cross = m @ s  # E[x_{t+1} x_t^T]
        losses.append(0.5 * np.trace(h @ s))
        mids.append(0.5 * np.trace(h @ (s + cross + cross.T + s_next)) / 4)
        s = s_next
    t = np.arange(40)
    np.testing.assert_allclose(lg.excess_loss_curve(h, p, d, x0, t, step_size=eta), losses, rtol=1e-9)
    np.testing.assert_allclose(
        lg.excess_loss_curve(h, p, d, x0, t, step_size=eta, midpoint=True), mids, rtol=1e-9
    )
    modes = lg.ou_modes(h, p, d)
    m2 = modes.offsets(x0) ** 2
    window = lg.mode_window_mean(modes.lam, modes.s, m2, 5, 30, step_size=eta)
    assert window == pytest.approx(np.mean(losses[5:31]), rel=1e-9)


def test_monte_carlo_agrees_within_error_bars():
    h, p, d = random_problem(n=5, r=2, seed=6)
    lam_max = lg.ou_modes(h, p, d).lam.max()
    eta = 0.5 / lam_max
    x0 = np.full(5, 0.5)
    trace = lg.simulate_langevin(h, p, d, x0, eta, 60, 4000, seed=1)
    mean, se = trace.mean(0), trace.std(0, ddof=1) / np.sqrt(trace.shape[0])
    theory = lg.excess_loss_curve(h, p, d, x0, np.arange(61), step_size=eta)
    z = np.abs(mean - theory)[1:] / se[1:]
    assert np.max(z) < 4.5  # the times share runs, so the z-scores are correlated: no mean test
    # midpoint reads converge to the continuous level
    trace = lg.simulate_langevin(h, p, 2 * p, np.zeros(5), 1.5 / lam_max, 400, 2000, seed=2, midpoint=True)
    est = lg.estimate_rank(trace, 2.0, burn_in=100)
    assert abs(est.rank - 2) < 4 * est.stderr + 1e-3


def test_callable_loss_matches_quadratic():
    h, p, d = random_problem(n=4, r=2, seed=7)
    ht = torch.as_tensor(h)

    def loss(th):
        return 0.5 * ((th @ ht) * th).sum(-1)

    a = lg.simulate_langevin(h, p, d, np.ones(4), 0.01, 30, 3, seed=5)
    b = lg.simulate_langevin(loss, p, d, np.ones(4), 0.01, 30, 3, seed=5)
    np.testing.assert_allclose(a, b, rtol=1e-10)


def test_bad_input_is_refused_clearly():
    h, p, d = random_problem(seed=8)
    lam_max = lg.ou_modes(h, p, d).lam.max()
    with pytest.raises(ValueError, match="unstable"):
        lg.stationary_excess_loss(h, p, d, step_size=2.5 / lam_max)
    with pytest.raises(ValueError, match="symmetric"):
        lg.stationary_excess_loss(h + np.triu(np.ones_like(h)), p, d)
    with pytest.raises(ValueError, match="positive definite"):
        lg.stationary_excess_loss(h, h, d)
    with pytest.raises(ValueError, match="NaN"):
        lg.stationary_excess_loss(h * np.nan, p, d)
    with pytest.raises(ValueError, match="NaN or inf"):
        lg.estimate_rank([0.0, 1.0, np.inf], 1.0, burn_in=0)
    with pytest.raises(ValueError, match="burn_in"):
        lg.estimate_rank([0.0, 1.0, 2.0], 1.0, burn_in=5)
    with pytest.raises(ValueError, match="too large"):
        lg.simulate_langevin(np.eye(200), np.eye(200), np.eye(200), np.zeros(200), 0.1, 10**6, 1000, seed=0)


def test_spectrum_invariance_and_sgd_adam_boundary():
    rep = lg.spread_report(12, 4, 0.02, n_points=5)
    for kind, levels in rep["matched"].items():
        np.testing.assert_allclose(levels, 0.02 * 4 / 4, rtol=1e-8, err_msg=kind)
    assert np.ptp(rep["own"]["identity"]) > 0.01 and np.ptp(rep["own"]["adam"]) > 0.01
    reg = lg.regime_report(12, 4, 2.0, n_points=61)
    i = 30  # the grid is centred on c*
    assert reg["noise"][i] == pytest.approx(reg["boundary"])
    assert reg["sgd"][i] == pytest.approx(reg["adam"][i], rel=1e-4)
    assert np.all(reg["adam"][:i] > reg["sgd"][:i]) and np.all(reg["adam"][i + 1 :] < reg["sgd"][i + 1 :])

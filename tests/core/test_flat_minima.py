"""Theory invariants of flat minima in deep linear nets (digest: shared/papers/flat-minima-linear-nets.md)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from dlsa_core.flat_minima import (
    balanced_factorisation,
    balancedness,
    coupling_matrix,
    gauss_newton_matrix,
    hessian_autograd,
    hessian_matrix,
    hessian_vector_product,
    input_covariance,
    layer_gains,
    loss,
    minimal_sharpness,
    ntk_gram,
    product,
    rescale,
    sharpness,
    sharpness_lower_bound,
    target_matrix,
)

METHODS = ("dense", "lanczos", "gram")


def random_minimum(T, depth, width, rng, scale=1.0):
    """A random global minimum: random W_1..W_(N-1), then W_N = T (W_(N-1:1))^+ (exact when full rank)."""
    d_out, d_in = T.shape
    dims = [d_in] + [width] * (depth - 1)
    ws = [rng.standard_normal((dims[k + 1], dims[k])) * scale for k in range(depth - 1)]
    c = product(ws) if ws else np.eye(d_in)
    ws.append(T @ np.linalg.pinv(c))
    return ws


@pytest.mark.parametrize("depth,sigma,expected", [(2, 4.0, 8.0), (3, 8.0, 48.0), (1, 3.0, 1.0)])
def test_minimal_sharpness_reference_values(depth, sigma, expected):
    assert minimal_sharpness([[sigma]], depth) == pytest.approx(expected, rel=1e-12)


def test_scalar_net_sharpness_is_sum_of_partial_products():
    """Scalar net, E[x^2] = 1: lambda_max = sum_k prod_(j != k) w_j^2 at any minimum."""
    rng = np.random.default_rng(0)
    for depth in (2, 3, 5):
        w = rng.uniform(0.5, 2.0, depth)
        expected = sum(np.prod(np.delete(w, k)) ** 2 for k in range(depth))
        weights = [np.array([[x]]) for x in w]
        for method in METHODS:
            assert sharpness(weights, method=method) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("depth", [2, 3, 4, 5])
@pytest.mark.parametrize("shape,width", [((3, 3), 3), ((3, 3), 5), ((2, 4), 4)])
def test_balanced_aligned_factorisations_attain_the_minimum(depth, shape, width):
    rng = np.random.default_rng(depth)
    T = rng.standard_normal(shape)
    w = balanced_factorisation(T, depth, width=width, seed=depth)
    np.testing.assert_allclose(product(w), T, atol=1e-12)
    m = minimal_sharpness(T, depth)
    for method in METHODS:
        assert sharpness(w, method=method) == pytest.approx(m, rel=1e-9), method
    # every layer has spectral norm sigma_1^(1/N) and the top path is coupled
    g = layer_gains(w, T)
    np.testing.assert_allclose(g.spectral_norms, np.linalg.norm(T, 2) ** (1 / depth), rtol=1e-10)
    np.testing.assert_allclose(g.ratios, g.balanced, rtol=1e-10)
    assert g.path_bound == pytest.approx(m, rel=1e-10) and g.amgm_bound == pytest.approx(m, rel=1e-10)
    assert np.all(coupling_matrix(w).top >= 0.999)


@pytest.mark.parametrize("c,factor", [(2.0, 1.75), (4.0, 5.6875), (0.5, 1.75)])
def test_rescaling_a_balanced_scalar_net_multiplies_sharpness(c, factor):
    """N = 3 scalar: rescaling layer 2 by c and 3 by 1/c multiplies lambda_max by (1 + c^2 + c^-2)/3."""
    w = balanced_factorisation([[8.0]], 3)
    assert sharpness(rescale(w, 2, c)) == pytest.approx(48.0 * factor, rel=1e-10)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_rescaled_factorisations_are_sharper_same_function(depth):
    T = target_matrix([2.0, 1.0, 0.5], seed=1)
    w = balanced_factorisation(T, depth, width=4, seed=0)
    m = minimal_sharpness(T, depth)
    previous = m
    for c in (1.25, 2.0, 4.0):
        for layer in range(1, depth):
            r = rescale(w, layer, c)
            assert loss(r, T) < 1e-24 and np.allclose(product(r), T, atol=1e-12)
            assert sharpness(r) > m * (1 + 1e-3)
        now = sharpness(rescale(w, 1, c))
        assert now > previous  # monotone in c >= 1 along the top path
        previous = now
    # the coupling stays (rescaling does not rotate), only the balance is lost
    assert np.all(coupling_matrix(rescale(w, 1, 4.0)).top >= 0.999)
    assert layer_gains(rescale(w, 1, 4.0), T).imbalance > 1.0


@pytest.mark.parametrize("depth,width,rho", [(2, 3, 0.0), (3, 4, 0.0), (4, 3, 0.0), (3, 4, 0.6), (2, 5, 0.3)])
def test_sharpness_bounds_hold_on_random_minima(depth, width, rho):
    """lambda_max >= s^2 sum (a_(k-1)/a_k)^2 >= N s^(2-2/N) a_0^(2/N) at 40 random global minima."""
    rng = np.random.default_rng(10 * depth + width)
    sig = input_covariance(3, rho) if rho else None
    slack = []
    for i in range(40):
        T = rng.standard_normal((3, 3))
        w = random_minimum(T, depth, width, rng, scale=rng.uniform(0.3, 2.0))
        assert loss(w, T, sigma_x=sig) < 1e-18 * (1 + np.sum(T**2))
        lam = sharpness(w, sigma_x=sig, method="lanczos" if i % 2 else "gram")
        g = layer_gains(w, T, sigma_x=sig)
        assert lam >= g.path_bound * (1 - 1e-9)
        assert g.path_bound >= g.amgm_bound * (1 - 1e-9)
        assert sharpness_lower_bound(T, depth, sigma_x=sig) == pytest.approx(g.amgm_bound, rel=1e-12)
        if sig is None:
            assert lam >= minimal_sharpness(T, depth) * (1 - 1e-9)
            assert g.amgm_bound == pytest.approx(minimal_sharpness(T, depth), rel=1e-9)
        slack.append(lam - g.path_bound)
    assert max(slack) > 1e-3  # random minima are not all tight: the test can fail


@pytest.mark.parametrize("depth,width,rho", [(2, 2, 0.0), (3, 3, 0.0), (3, 4, 0.5), (4, 2, 0.0)])
def test_sharpness_is_top_eigenvalue_of_explicit_gauss_newton(depth, width, rho):
    rng = np.random.default_rng(depth * 7 + width)
    T = rng.standard_normal((2, 3))
    sig = input_covariance(3, rho) if rho else None
    w = random_minimum(T, depth, width, rng)
    gn = gauss_newton_matrix(w, sigma_x=sig)
    top = np.linalg.eigvalsh(gn)[-1]
    for method in METHODS:
        assert sharpness(w, sigma_x=sig, method=method) == pytest.approx(top, rel=1e-9)
    # at a minimum the full Hessian (autograd) is exactly Gauss-Newton ...
    np.testing.assert_allclose(hessian_autograd(w, sigma_x=sig), gn, atol=1e-10 * np.abs(gn).max())
    # ... and GN's nonzero spectrum is the NTK Gram matrix's
    k = np.sort(np.linalg.eigvalsh(ntk_gram(w, sigma_x=sig)))[::-1]
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(gn))[::-1][: k.size], k, atol=1e-9 * top)


def test_gauss_newton_matches_finite_difference_jacobian():
    rng = np.random.default_rng(3)
    w = [rng.standard_normal((3, 2)), rng.standard_normal((2, 3)), rng.standard_normal((2, 2))]
    sig = input_covariance(2, 0.4)
    theta = np.concatenate([x.ravel() for x in w])
    sizes = np.cumsum([0] + [x.size for x in w])

    def prod_of(t):
        return product([t[sizes[k] : sizes[k + 1]].reshape(w[k].shape) for k in range(3)]).ravel()

    eps = 1e-6
    jac = np.stack(
        [(prod_of(theta + eps * e) - prod_of(theta - eps * e)) / (2 * eps) for e in np.eye(theta.size)],
        axis=1,
    )
    gn = jac.T @ np.kron(np.eye(2), sig) @ jac
    np.testing.assert_allclose(gauss_newton_matrix(w, sigma_x=sig), gn, atol=1e-7)


def test_closed_form_hvp_matches_autograd_away_from_minima():
    """With a residual the Hessian is not Gauss-Newton; the closed-form HVP keeps every term."""
    rng = np.random.default_rng(5)
    w = [rng.standard_normal((4, 3)), rng.standard_normal((4, 4)), rng.standard_normal((2, 4))]
    T = rng.standard_normal((2, 3))
    sig = input_covariance(3, 0.3)
    h = hessian_matrix(w, target=T, sigma_x=sig)
    np.testing.assert_allclose(h, hessian_autograd(w, target=T, sigma_x=sig), atol=1e-10 * np.abs(h).max())
    assert np.abs(h - gauss_newton_matrix(w, sigma_x=sig)).max() > 1e-3  # the residual term is there
    hvp, n = hessian_vector_product(w, target=T, sigma_x=sig)
    v = rng.standard_normal(n)
    np.testing.assert_allclose(hvp(v), h @ v, atol=1e-10 * np.abs(h).max())
    lam = np.linalg.eigvalsh(h)[-1]
    assert sharpness(w, target=T, sigma_x=sig, method="lanczos") == pytest.approx(lam, rel=1e-9)
    with pytest.raises(ValueError, match="global minimum"):
        sharpness(w, target=T, method="gram")


def test_non_whitened_balanced_factorisation_is_not_flattest():
    """N = 2, Sigma_x != I: a flatter factorisation than the balanced one exists, above the (loose) bound."""
    T = target_matrix([2.0, 1.0], seed=0)
    sig = input_covariance(2, 0.6)
    bal = balanced_factorisation(T, 2)
    lam_bal = sharpness(bal, sigma_x=sig, method="gram")

    def lam(g, sigma_x=sig):  # minima W_1 = G, W_2 = T G^-1
        g = g.reshape(2, 2)
        if abs(np.linalg.det(g)) < 1e-6:
            return 1e6
        return sharpness([g, T @ np.linalg.inv(g)], sigma_x=sigma_x, method="gram")

    best = minimize(
        lam, bal[0].ravel(), method="Nelder-Mead", options=dict(xatol=1e-8, fatol=1e-10, maxiter=4000)
    )
    bound = layer_gains(bal, T, sigma_x=sig).amgm_bound
    assert best.fun < lam_bal * (1 - 1e-3)
    assert best.fun > bound * (1 + 1e-3)  # the bound is not tight without whitening
    # whitened: the balanced factorisation is (numerically) the flattest
    start = bal[0].ravel() + 0.3 * np.random.default_rng(0).standard_normal(4)
    white = minimize(lam, start, args=(None,), method="Nelder-Mead", options=dict(maxiter=4000, fatol=1e-12))
    assert white.fun >= minimal_sharpness(T, 2) * (1 - 1e-9)
    assert white.fun == pytest.approx(minimal_sharpness(T, 2), rel=1e-4)


def test_balancedness_of_balanced_factorisation_is_zero():
    T = target_matrix([3.0, 1.0, 0.2], seed=2)
    w = balanced_factorisation(T, 4, width=3, seed=1)
    assert balancedness(w).max() < 1e-12
    assert balancedness(rescale(w, 2, 2.0)).max() > 1.0


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: sharpness([np.eye(2), np.full((2, 2), np.nan)]), "NaN"),
        (lambda: sharpness([np.eye(2), np.eye(3)]), "chain"),
        (lambda: sharpness([]), "non-empty"),
        (lambda: sharpness([np.eye(2)], method="magic"), "method"),
        (lambda: minimal_sharpness(np.zeros((2, 2)), 2), "zero"),
        (lambda: minimal_sharpness(np.eye(2), 0), "depth"),
        (lambda: rescale([np.eye(2), np.eye(2)], 2, 2.0), "layer"),
        (lambda: rescale([np.eye(2), np.eye(2)], 1, float("inf")), "finite"),
        (lambda: balanced_factorisation(np.eye(3), 3, width=2), "width"),
        (lambda: sharpness([np.eye(2)], sigma_x=-np.eye(2)), "positive definite"),
        (lambda: target_matrix([1.0, 0.0]), "> 0"),
        (lambda: input_covariance(3, 1.0), "rho"),
    ],
)
def test_bad_input_raises_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()

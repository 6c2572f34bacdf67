"""Invariants of the exact SGD stability threshold (digest Section 6) against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlsa_core.stability import (
    batch_p,
    bound_rank_one,
    bound_top_eigvec,
    bound_trace,
    c_d_matrices,
    gd_threshold,
    generalized_sharpness,
    mixture_operator,
    sandwich_bounds,
    sgd_operator_enumerated,
    sgd_threshold,
    sgd_threshold_from_jacobians,
    spectral_radius,
    threshold_curve,
    toy_rank_one_2d,
)
from dlsa_core.stability.spectral import spectral_from_factors, spectral_from_hessians
from dlsa_core.stability.subspace import PencilSubspace
from dlsa_core.stability.thresholds import sharpness_curve

G_TOY = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
H_TOY = np.einsum("ni,nj->nij", G_TOY, G_TOY)


def random_psd(n: int, d: int, rank: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n, rank, d))
    return w.transpose(0, 2, 1) @ w


def test_hand_checkable_values():
    assert sgd_threshold(np.array([[[1.0]], [[3.0]]]), 1) == pytest.approx(0.8, abs=1e-12)
    assert sgd_threshold(np.array([[[1.0]], [[3.0]]]), 2) == pytest.approx(1.0, abs=1e-12)
    assert gd_threshold(H_TOY) == pytest.approx(1.1314829082, abs=1e-9)
    expected = {1: 0.5760394922, 2: 0.9381644904, 3: 1.1314829082}
    for b, val in expected.items():
        assert sgd_threshold(H_TOY, b) == pytest.approx(val, abs=1e-9)
    assert sgd_threshold(H_TOY, 2, replacement=True) == pytest.approx(0.7815076586, abs=1e-9)


def test_batch_p():
    assert batch_p(10, 1) == 1.0 and batch_p(10, 10) == 0.0
    assert batch_p(7, 3) == pytest.approx(4 / 18)
    assert batch_p(7, 3, replacement=True) == pytest.approx(1 / 3)
    for bad in (0, 11, 2.5, np.nan):
        with pytest.raises(ValueError):
            batch_p(10, bad)


def test_subset_enumeration_equals_mixture_operator():
    hs = random_psd(7, 4, 2, seed=1)
    for b in range(1, 8):
        q_enum = sgd_operator_enumerated(hs, 0.13, b)
        q_mix = mixture_operator(hs, 0.13, b)
        np.testing.assert_allclose(q_enum, q_mix, atol=1e-14)


def test_threshold_matches_dense_kronecker_definition():
    """eta* from the symmetric-basis code equals 2/lambda_max(pinv(C) D) with explicit Kroneckers."""
    hs = random_psd(5, 3, 1, seed=2)
    for b in (1, 2, 4):
        c, d = c_d_matrices(hs, b)
        mu = np.max(np.linalg.eigvals(np.linalg.pinv(c) @ d).real)
        assert sgd_threshold(hs, b) == pytest.approx(2 / mu, rel=1e-10)


@pytest.mark.parametrize("b", [1, 2, 3, 5])
def test_spectral_radius_crosses_one_at_threshold(b):
    hs = random_psd(6, 3, 1, seed=3)
    eta = sgd_threshold(hs, b)
    assert spectral_radius(hs, 0.999 * eta, b) < 1 < spectral_radius(hs, 1.001 * eta, b)
    # and on all of R^{d^2} (not just symmetric matrices), from the dense enumerated operator
    rho = [np.max(np.abs(np.linalg.eigvals(sgd_operator_enumerated(hs, f * eta, b)))) for f in (0.999, 1.001)]
    assert rho[0] < 1 < rho[1]


def test_full_batch_is_gd_and_monotone_in_batch_size():
    hs = random_psd(9, 4, 2, seed=4)
    curve = threshold_curve(hs, np.arange(1, 10))
    assert curve[-1] == pytest.approx(gd_threshold(hs), rel=1e-12)
    assert np.all(np.diff(curve) >= -1e-12)
    assert np.all(curve <= gd_threshold(hs) * (1 + 1e-12))


def test_mu_convex_in_p_and_sandwich():
    hs = random_psd(8, 3, 1, seed=5)
    spec = spectral_from_hessians(hs)
    mus = np.array([generalized_sharpness(spec, p)[0] for p in np.linspace(0, 1, 21)])
    assert np.all(np.diff(mus) >= -1e-10)
    assert np.all(np.diff(mus, 2) >= -1e-9)
    bs = np.arange(1, 9)
    lower, upper = sandwich_bounds(hs, bs)
    eta = threshold_curve(hs, bs)
    assert np.all(lower <= eta * (1 + 1e-10)) and np.all(eta <= upper * (1 + 1e-10))


@pytest.mark.parametrize("seed", [6, 7])
def test_necessary_bounds_and_chain(seed):
    hs = random_psd(6, 4, 1 + seed % 2, seed=seed)
    bs = np.arange(1, 7)
    eta = threshold_curve(hs, bs)
    b15, b16, b24 = bound_top_eigvec(hs, bs), bound_trace(hs, bs), bound_rank_one(hs, bs)
    tol = 1 + 1e-10
    assert np.all(b15 * tol >= eta) and np.all(b16 * tol >= eta) and np.all(b24 * tol >= eta)
    # chain (25): 2/eta* >= (24) >= (15) >= lambda_max, i.e. eta* <= b24 <= b15 <= 2/lambda_max
    assert np.all(b24 <= b15 * tol) and np.all(b15 <= gd_threshold(hs) * tol)


def test_rank_one_bound_tight_when_one_sample_dominates():
    from dlsa_core.stability import dominant_sample_2d

    prob = dominant_sample_2d()
    assert bound_rank_one(prob, 1) == pytest.approx(sgd_threshold(prob, 1), rel=1e-3)


@pytest.mark.parametrize("n,k,d", [(5, 1, 30), (4, 2, 12), (6, 1, 50)])
def test_gram_reduction_equals_parameter_space(n, k, d):
    rng = np.random.default_rng(n * d)
    jac = rng.standard_normal((n, k, d))
    hs = jac.transpose(0, 2, 1) @ jac
    for b in range(1, n + 1):
        ref = sgd_threshold(hs, b, method="lanczos")
        gram = sgd_threshold_from_jacobians(jac, b, space="gram")
        par = sgd_threshold_from_jacobians(jac, b, space="parameter", method="lanczos")
        assert gram == pytest.approx(ref, rel=1e-9) and par == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("space", ["parameter", "gram"])
def test_three_methods_agree(space):
    rng = np.random.default_rng(11)
    jac = rng.standard_normal((7, 2, 6))
    spec = spectral_from_factors(jac, space=space)
    for p in (1.0, 0.3, 0.05):
        methods = ("dense", "power", "lanczos", "subspace")
        vals = [generalized_sharpness(spec, p, method=m)[0] for m in methods]
        assert max(vals) - min(vals) <= 1e-8 * max(vals)


def _small_specs():
    rng = np.random.default_rng(21)
    yield spectral_from_hessians(random_psd(6, 5, 2, seed=22))
    yield spectral_from_factors(rng.standard_normal((9, 1, 7)), space="parameter")
    yield spectral_from_factors(rng.standard_normal((9, 1, 40)), space="gram")
    yield spectral_from_factors(rng.standard_normal((6, 2, 30)), space="gram")
    yield spectral_from_factors(rng.standard_normal((36, 1, 80)) * np.linspace(2, 0.1, 80), space="gram")


@pytest.mark.parametrize("which", range(5))
def test_subspace_curve_agrees_with_dense(which):
    """The shared-subspace curve equals the dense symmetric-basis eigenvalue to 1e-8 at every p."""
    spec = list(_small_specs())[which]
    ps = np.array([0.0, 1.0, 0.6, 0.2, 0.05, 0.01])
    mus, info = sharpness_curve(spec, ps)
    dense = np.array([generalized_sharpness(spec, p, method="dense")[0] for p in ps])
    np.testing.assert_allclose(mus, dense, rtol=1e-8)
    assert np.all(info["residual"] <= 1e-10) and info["applications"] >= 1
    # threshold_curve routes through the same solver for method="subspace"
    n = spec.n
    bs = np.arange(1, n + 1)
    eta = threshold_curve(spec, bs, method="subspace")
    ref = threshold_curve(spec, bs, method="dense")
    np.testing.assert_allclose(eta, ref, rtol=1e-8)


def test_subspace_warm_start_equals_cold_start_and_restarts():
    spec = spectral_from_factors(np.random.default_rng(5).standard_normal((10, 1, 60)), space="gram")
    cold, y_cold = generalized_sharpness(spec, 0.4, method="subspace")
    _, y_near = generalized_sharpness(spec, 0.35, method="subspace")
    warm, y_warm = generalized_sharpness(spec, 0.4, method="subspace", v0=y_near)
    assert warm == pytest.approx(cold, rel=1e-12)
    assert abs(np.vdot(y_warm, y_cold)) == pytest.approx(1.0, abs=1e-8)  # same unit eigenvector
    # the eigenvector is the Perron one: X = C^(-1/2) Y is PSD
    x = y_cold / np.sqrt(spec.c)
    assert np.min(np.linalg.eigvalsh(x * np.sign(np.trace(x)))) >= -1e-8 * np.abs(x).max()
    # a tiny memory cap forces thick restarts; the answer does not change
    sub = PencilSubspace(spec, max_dim=8)
    sub.start()
    mu, _, res = sub.solve(0.4, 1e-10)
    assert mu == pytest.approx(cold, rel=1e-10) and res <= 1e-10
    assert generalized_sharpness(spec, 0.4, method="lanczos")[0] == pytest.approx(cold, rel=1e-10)


def test_accepts_torch_and_problem():
    t = torch.tensor(H_TOY)
    assert sgd_threshold(t, 1) == pytest.approx(sgd_threshold(toy_rank_one_2d(), 1), rel=1e-12)


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="NaN"):
        sgd_threshold(np.full((2, 2, 2), np.nan), 1)
    with pytest.raises(ValueError, match="positive semi-definite"):
        sgd_threshold(np.array([[[1.0, 0], [0, -1.0]]]), 1)
    with pytest.raises(ValueError, match="batch size"):
        sgd_threshold(H_TOY, 4)
    with pytest.raises(ValueError, match="eta"):
        spectral_radius(H_TOY, -0.1, 1)
    with pytest.raises(ValueError, match="zero"):
        gd_threshold(np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="entries"):  # a huge d is refused before any work
        sgd_threshold_from_jacobians(np.broadcast_to(np.float64(1.0), (1, 1, 300_000_000)), 1)


@pytest.mark.parametrize("seed", [31, 32])
def test_spectral_radius_subspace_equals_dense(seed):
    """Davidson on Q (default above r = 16) equals the dense symmetric-basis radius, around eta* too."""
    rng = np.random.default_rng(seed)
    jac = rng.standard_normal((24, 1, 30)) * np.geomspace(3, 1e-3, 30)
    spec = spectral_from_factors(jac, space="gram")
    assert spec.r > 16
    for b in (1, 3, 24):
        star = sgd_threshold(spec, b)
        for f in (0.3, 0.999, 1.001, 1.4):
            fast = spectral_radius(spec, f * star, b)
            dense = spectral_radius(spec, f * star, b, method="dense")
            assert fast == pytest.approx(dense, rel=1e-9, abs=1e-12)
        assert spectral_radius(spec, 0.999 * star, b) < 1 < spectral_radius(spec, 1.001 * star, b)

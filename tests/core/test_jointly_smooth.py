"""Invariants of the jointly smooth functions estimator (Dietrich et al. 2022) on the paper's toy."""

from __future__ import annotations

import numpy as np
import pytest

from dlsa_core.jointly_smooth import JointlySmoothFunctions, analytic_threshold, make_spiral_torus
from dlsa_core.jointly_smooth.metrics import curve_error, curve_r2

N_TRAIN, N_TEST, D = 1000, 200, 100
_RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def toy():
    train, test = make_spiral_torus(N_TRAIN + N_TEST, random_state=1).split(N_TEST)
    return train, test


@pytest.fixture(scope="module")
def jsf(toy):
    return JointlySmoothFunctions(n_functions=6, n_kernel_eigenvectors=D, random_state=0).fit(toy[0].views)


def test_functions_are_orthonormal(jsf):
    F = jsf.functions_
    assert F.shape == (N_TRAIN, 6)
    np.testing.assert_allclose(F.T @ F, np.eye(6), atol=1e-10)


def test_singular_values_bounded_and_equal_total_energy(jsf):
    s = jsf.singular_values_
    assert np.all(s >= 0) and np.all(s <= np.sqrt(2) + 1e-12)
    assert np.all(np.diff(s) <= 1e-12), "smoothest first"
    # sigma^2 = sum_k ||W_k^T f||^2 (the quantity the singular vectors maximise)
    np.testing.assert_allclose(jsf.energies_.sum(1), s**2, atol=1e-10)


def test_functions_with_sigma2_near_K_lie_in_every_smooth_subspace(jsf):
    K = jsf.n_views_
    for i, f in enumerate(jsf.functions_.T):
        residuals = [np.linalg.norm(f - W @ (W.T @ f)) ** 2 for W in jsf.bases_]
        # Derivation: sum_k ||(I - P_k) f||^2 = K - sigma^2, so sigma^2 ~ K forces every residual to ~0.
        assert sum(residuals) == pytest.approx(K - jsf.singular_values_[i] ** 2, abs=1e-9)
        if jsf.singular_values_[i] ** 2 > 0.97 * K:
            assert max(residuals) < 0.06
    assert jsf.singular_values_[0] ** 2 > 0.99 * K  # f_0 (near-constant) is in both spans


def test_k2_fast_path_equals_general_svd(toy):
    kw = dict(n_functions=6, n_kernel_eigenvectors=D, random_state=0)
    fast = JointlySmoothFunctions(combine="fast", **kw).fit(toy[0].views)
    svd = JointlySmoothFunctions(combine="svd", **kw).fit(toy[0].views)
    np.testing.assert_allclose(fast.singular_values_, svd.singular_values_, atol=1e-8)
    # The leading functions are non-degenerate: same vectors (same sign rule) to 4 decimals.
    np.testing.assert_allclose(fast.functions_[:, :3], svd.functions_[:, :3], atol=1e-4)
    # Per-view energies of f_i^+ are equal: ||W_1^T f||^2 = ||W_2^T f||^2 = (1 + gamma_i) / 2.
    np.testing.assert_allclose(fast.energies_[:, 0], fast.energies_[:, 1], atol=1e-10)


def test_general_k_three_views_bounded(toy):
    X0, X1 = toy[0].views
    jsf3 = JointlySmoothFunctions(n_functions=4, n_kernel_eigenvectors=60, random_state=0).fit(
        [X0, X1, X1 * 2]
    )
    assert jsf3.singular_values_.max() <= np.sqrt(3) + 1e-12
    assert jsf3.singular_values_[0] ** 2 > 0.99 * 3
    assert 0 < jsf3.threshold_ < 1


def test_toy_recovers_z_and_rejects_nuisances(toy, jsf):
    train = toy[0]
    nuisances = [v for nz in train.nuisance for v in nz.values()]
    for i in (1, 2):  # the first non-constant functions
        f = jsf.functions_[:, i]
        assert curve_r2(f, train.shared["z"]) >= 0.95
        for t in nuisances:
            assert abs(curve_r2(f, t)) < 0.1
    assert jsf.n_significant_ >= 3  # f_0, f_1, f_2 above the noise floor


def test_nystrom_reproduces_in_sample_projection(toy, jsf):
    X0, X1 = toy[0].views
    ext = jsf.transform_views({0: X0, 1: X1})
    for k, W in enumerate(jsf.bases_):
        # Exact eigenvectors + all kept => extension at the training samples = projection on the span.
        np.testing.assert_allclose(ext[k], W @ (W.T @ jsf.functions_), atol=2e-3)
    np.testing.assert_allclose(jsf.transform([X0, X1]), (ext[0] + ext[1]) / 2)
    # f_0 and f_1 are almost in both spans: the extension nearly reproduces their values.
    assert np.all(jsf.extension_error_[:, :2] < 0.25)


def test_nystrom_small_error_on_fresh_points_from_one_view(toy, jsf):
    train, test = toy
    ext = jsf.transform_views({0: test.views[0], 1: test.views[1]})
    for k, bound in ((0, 0.3), (1, 0.15)):
        err = curve_error(jsf.functions_[:, 1], train.shared["z"], ext[k][:, 1], test.shared["z"])
        assert err < bound
    # A wrong (unpaired) reference is far worse: the error measures something.
    wrong = curve_error(jsf.functions_[:, 1], train.shared["z"], ext[1][::-1, 1], test.shared["z"])
    assert wrong > 1.0


def test_analytic_threshold_reference_values():
    assert analytic_threshold(4000, [1000, 1000]) == pytest.approx(0.933, abs=1e-3)
    assert analytic_threshold(2000, [400, 400]) == pytest.approx(0.900, abs=1e-3)
    assert analytic_threshold(2000, [100, 100]) == pytest.approx(0.718, abs=1e-3)


def test_analytic_and_permutation_thresholds_agree(toy, jsf):
    perm = JointlySmoothFunctions(
        n_functions=6, n_kernel_eigenvectors=D, threshold="permutation", random_state=0
    ).fit(toy[0].views)
    assert perm.threshold_ == pytest.approx(jsf.threshold_, abs=0.02)
    np.testing.assert_allclose(perm.functions_, jsf.functions_)  # the threshold does not change the fit


def test_permuted_pairing_leaves_no_function_above_threshold(toy):
    X0, X1 = toy[0].views
    shuffled = JointlySmoothFunctions(n_functions=6, n_kernel_eigenvectors=D, random_state=0).fit(
        [X0, X1[np.random.default_rng(3).permutation(len(X1))]]
    )
    assert np.all(shuffled.energy_[1:] < shuffled.threshold_ + 0.03)


def test_randomized_and_dense_eigensolvers_agree(toy):
    kw = dict(n_functions=4, n_kernel_eigenvectors=D, random_state=0)
    a = JointlySmoothFunctions(eigen_solver="randomized", **kw).fit(toy[0].views)
    b = JointlySmoothFunctions(eigen_solver="dense", **kw).fit(toy[0].views)
    np.testing.assert_allclose(a.singular_values_, b.singular_values_, atol=1e-3)
    assert np.all(np.abs((a.functions_ * b.functions_).sum(0))[:3] > 0.999)


def test_landmarks_with_all_points_equal_dense(toy):
    views = [V[:400] for V in toy[0].views]
    kw = dict(n_functions=4, n_kernel_eigenvectors=40, random_state=0, eigen_solver="dense")
    dense = JointlySmoothFunctions(**kw).fit(views)
    lm = JointlySmoothFunctions(n_landmarks=400, **kw).fit(views)
    assert lm.bandwidths_ == pytest.approx(dense.bandwidths_)
    np.testing.assert_allclose(lm.singular_values_, dense.singular_values_, atol=1e-4)  # randomised solver
    # In-sample Nystrom through landmarks is exact.
    np.testing.assert_allclose(
        lm.transform_views({0: views[0]})[0], lm.bases_[0] @ (lm.bases_[0].T @ lm.functions_), atol=1e-8
    )


@pytest.mark.parametrize(
    "views, kwargs, match",
    [
        ([np.zeros((10, 2)), np.zeros((11, 2))], {}, "same number of samples"),
        ([np.full((10, 2), np.nan), np.ones((10, 2))], {}, "NaN"),
        ([_RNG.random((50, 2)), _RNG.random((50, 3))], {"n_kernel_eigenvectors": 50}, "d=50"),
        ([_RNG.random((50, 2))], {}, "at least 2"),
        (
            [_RNG.random((50, 2)), _RNG.random((50, 3))],
            {"kernel": "laplace", "n_kernel_eigenvectors": 10},
            "Unknown kernel",
        ),
        (
            [_RNG.random((50, 2)), _RNG.random((50, 3))],
            {"n_kernel_eigenvectors": 10, "n_functions": 30},
            "n_functions",
        ),
        ([_RNG.random((12_001, 1)), _RNG.random((12_001, 1))], {}, "too large for a dense"),
    ],
)
def test_bad_input_raises_value_error(views, kwargs, match):
    with pytest.raises(ValueError, match=match):
        JointlySmoothFunctions(**kwargs).fit(views)


def test_transform_checks_input(jsf):
    with pytest.raises(ValueError, match="not fitted"):
        JointlySmoothFunctions().transform({0: np.zeros((3, 2))})
    with pytest.raises(ValueError, match="features"):
        jsf.transform({0: np.zeros((3, 5))})
    with pytest.raises(ValueError, match="View index"):
        jsf.transform({4: np.zeros((3, 2))})

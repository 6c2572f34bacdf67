"""Regression tests for the review of issue 9: each failed before its fix."""

from __future__ import annotations

import numpy as np
import pytest

from dlsa_core.jointly_smooth import JointlySmoothFunctions, make_parameter_redundancy, make_spiral_torus
from dlsa_core.jointly_smooth.metrics import curve_r2


@pytest.fixture(scope="module")
def knn_fit():
    data = make_spiral_torus(1200, random_state=3)
    jsf = JointlySmoothFunctions(
        n_functions=4, n_kernel_eigenvectors=60, kernel="knn", n_neighbors=30, random_state=0
    )
    return data, jsf.fit(data.views)


def test_knn_nystrom_at_training_points_reproduces_the_projection(knn_fit):
    """Wrong 1: the k-NN cross-kernel must equal the (symmetrised, degree-normalised) training kernel, so
    the extension at the training samples is exactly the projection on the view's kept eigenvectors."""
    data, jsf = knn_fit
    ext = jsf.transform_views(list(data.views))
    for k, W in enumerate(jsf.bases_):
        assert jsf.n_extension_eigenvectors_[k] == W.shape[1]  # nothing cut: P = W W^T
        proj = W @ (W.T @ jsf.functions_)
        rel = np.linalg.norm(ext[k] - proj, axis=0) / np.linalg.norm(proj, axis=0)
        assert rel.max() < 1e-4, (k, rel)


def test_knn_cross_kernel_rows_equal_training_rows(knn_fit):
    data, jsf = knn_fit
    from dlsa_core.jointly_smooth.kernels import ViewKernel

    X = data.views[0]
    vk, A = ViewKernel.fit(X, kind="knn", n_neighbors=30)
    C = vk.cross(X[:50])
    np.testing.assert_allclose(C.toarray(), A[:50].toarray(), atol=1e-12)


def test_knn_held_out_extension_is_not_biased_low(knn_fit):
    """f0 extended to fresh samples from either view is on the training curve's scale (was 4-5 % low:
    the training rows had self-loops of weight 1 that a new sample's row lacks)."""
    data, jsf = knn_fit
    fresh = make_spiral_torus(400, random_state=99)
    from sklearn.neighbors import KNeighborsRegressor

    ref = KNeighborsRegressor(20).fit(data.shared["z"][:, None], jsf.functions_[:, 0])
    h = ref.predict(fresh.shared["z"][:, None])
    for k in (0, 1):
        f_new = jsf.transform({k: fresh.views[k]})[:, 0]
        ratio = float(f_new @ h / (h @ h))
        assert 0.98 < ratio < 1.02, (k, ratio)


def test_parameter_redundancy_nuisance_is_independent_of_the_shared_variable():
    """Wrong 2: view 0's nuisance must carry no information about the shared p1 + p2^3."""
    data = make_parameter_redundancy(6000, random_state=0)
    shared = data.shared["p1 + p2^3"]
    for nz in data.nuisance:
        for name, u in nz.items():
            assert abs(np.corrcoef(u, shared)[0, 1]) < 0.05, name
            assert curve_r2(u, shared) < 0.02, name
            assert curve_r2(shared, u) < 0.02, name
    # ... and together with the shared variable it determines view 0's parameters (p1, p2).
    (u,) = data.nuisance[0].values()
    from sklearn.neighbors import KNeighborsRegressor

    Z = np.column_stack([shared, u])
    pred = KNeighborsRegressor(10).fit(Z[:5000], data.views[0][:5000]).predict(Z[5000:])
    assert np.abs(pred - data.views[0][5000:]).mean() < 0.05


@pytest.fixture(scope="module")
def toy_analysis():
    from dlsa_core.jointly_smooth import analysis as jsa

    return jsa.analyse("spiral_torus", 1000, 100, 0.3, "gaussian", 12, "analytic", 100, 0)


def test_noise_floor_band_and_margin_reject_the_function_sitting_on_e0(toy_analysis):
    """Misleading 3: f3 (energy 0.7997 vs E0 0.7995, R^2(z) < 0) is not counted; f1, f2 are."""
    res = toy_analysis
    f = res.floor
    assert len(f.null) >= 20 and f.band[0] < f.permutation < f.band[1]
    assert f.analytic == pytest.approx(0.7995, abs=1e-3)
    assert abs(f.permutation - f.analytic) < 0.01  # formula vs measured null
    assert f.margin > 0 and f.cut == pytest.approx(f.e0 + f.margin)
    assert res.energy[3] > f.e0 and not res.significant(3)  # above E0, but inside the null's spread
    assert res.r2["shared: z"][3] < 0.5
    assert all(res.significant(i) and res.r2["shared: z"][i] > 0.95 for i in (1, 2))
    assert res.n_significant == 3


def test_null_band_is_calibrated_on_unrelated_views():
    """Pairing destroyed: about 5 % of fresh null draws exceed the cut (its 95 % quantile)."""
    from dlsa_core.jointly_smooth.threshold import noise_floor, permutation_null

    data = make_spiral_torus(600, random_state=1)
    jsf = JointlySmoothFunctions(n_functions=3, n_kernel_eigenvectors=30, threshold=None, random_state=0)
    jsf.fit(data.views)
    floor = noise_floor(jsf.bases_, "permutation", n_permutations=100, random_state=0)
    fresh = permutation_null(jsf.bases_, n_permutations=100, random_state=7)
    assert 0.0 <= (fresh > floor.cut).mean() <= 0.15


def test_count_is_not_capped_by_the_functions_kept():
    """Misleading 3: the count runs over the whole spectrum (was capped at the 12 functions kept)."""
    from dlsa_core.jointly_smooth import analysis as jsa

    res = jsa.analyse("parameter_redundancy", 1000, 100, 0.3, "gaussian", 12, "analytic", 100, 0)
    assert len(res.energy) == 12 and len(res.spectrum) == 100
    assert res.n_significant == int((res.spectrum > res.floor.cut).sum()) > 12


def test_extension_check_compares_with_a_refit_only_above_the_floor(toy_analysis):
    """Misleading 6: held-out extension against a refit that includes the held-out rows."""
    from dlsa_core.jointly_smooth.validation import extension_check

    check = extension_check(toy_analysis)
    assert check.indices == [0, 1, 2]  # f3 (noise) is not compared
    assert check.errors.shape == (2, 3) and check.align_residual.max() < 0.1
    assert check.errors[:, 0].max() < 0.02  # f0 is essentially in both views' spans
    # One view holds only part of a function: the error is about sqrt(1 - that view's energy), not 5.
    assert check.errors.max() < 0.5


def test_sweep_point_counts_passing_and_real_functions():
    from dlsa_core.jointly_smooth.validation import sweep_point

    small = sweep_point("spiral_torus", 600, 30, 0.3, "gaussian", "analytic", 0)
    large = sweep_point("spiral_torus", 600, 250, 0.3, "gaussian", "analytic", 0)
    assert small["E0"] < large["E0"]  # the floor rises with d / N
    assert large["above"] >= large["depends"] >= 1 and small["above"] >= 1


def test_rank_warning_and_labels_follow_the_kernel(toy_analysis):
    from dlsa_core.jointly_smooth import analysis as jsa
    from dlsa_core.jointly_smooth import captions as cap

    assert cap.rank_warning(toy_analysis) is None
    deep = jsa.analyse("spiral_torus", 600, 400, 0.3, "gaussian", 4, "analytic", 20, 0)
    assert min(deep.n_extension_eigenvectors) < 400 and "Numerical rank" in cap.rank_warning(deep)
    assert "30th neighbour" in cap.bandwidth_text("knn", 0.3) and "pairwise" in cap.bandwidth_text(
        "gaussian", 0.3
    )
    knn = jsa.analyse("spiral_torus", 600, 40, 0.3, "knn", 4, "analytic", 20, 0)
    assert "near-constant" not in cap.function_note(knn, 0)
    assert "near-constant" in cap.function_note(toy_analysis, 0)

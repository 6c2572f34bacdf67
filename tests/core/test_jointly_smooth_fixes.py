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

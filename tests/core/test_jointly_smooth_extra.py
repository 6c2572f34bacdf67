"""Baselines, the sparse k-NN path, the other data sets and the metrics of the jointly smooth topic."""

from __future__ import annotations

import numpy as np
import pytest

from dlsa_core.jointly_smooth import JointlySmoothFunctions, load_dataset, make_spiral_torus
from dlsa_core.jointly_smooth.baselines import ConcatenatedEigenmap, KernelCCA, LinearCCA
from dlsa_core.jointly_smooth.metrics import curve_r2, cv_accuracy


@pytest.fixture(scope="module")
def toy():
    return make_spiral_torus(800, random_state=2)


def test_curve_r2_separates_curve_from_cloud():
    rng = np.random.default_rng(0)
    t = rng.uniform(size=800)
    assert curve_r2(np.cos(2 * np.pi * t), t) > 0.99
    assert abs(curve_r2(rng.normal(size=800), t)) < 0.05


def test_baselines_interface_and_behaviour(toy):
    z = toy.shared["z"]
    jsf = JointlySmoothFunctions(n_functions=4, random_state=0).fit(toy.views)
    lin = LinearCCA(n_functions=4).fit(toy.views)
    kcca = KernelCCA(n_functions=4, random_state=0).fit(toy.views)
    cat = ConcatenatedEigenmap(n_functions=4, random_state=0).fit(toy.views)
    for m in (lin, kcca, cat):
        F = m.functions_
        assert F.shape[0] == 800 and np.all(np.isfinite(F))
    assert lin.functions_.shape[1] == 2  # min(n_functions, D_1 = 2, D_2 = 3)
    np.testing.assert_allclose(kcca.functions_.T @ kcca.functions_, np.eye(4), atol=1e-10)
    best = {
        name: max(curve_r2(f, z) for f in m.functions_[:, 1:].T)
        for name, m in {"jsf": jsf, "lin": lin, "cat": cat}.items()
    }
    # A linear map cannot unroll the spiral; the concatenated eigenmap follows the nuisances.
    assert best["jsf"] > 0.95 and best["lin"] < 0.5 and best["cat"] < 0.5


def test_sparse_knn_kernel_recovers_z():
    data = make_spiral_torus(3000, random_state=0)
    jsf = JointlySmoothFunctions(
        n_functions=3, n_kernel_eigenvectors=100, kernel="knn", n_neighbors=30, random_state=0
    ).fit(data.views)
    assert np.all(jsf.singular_values_ <= np.sqrt(2) + 1e-9)
    assert max(curve_r2(f, data.shared["z"]) for f in jsf.functions_[:, 1:].T) > 0.9
    new = make_spiral_torus(50, random_state=9)
    out = jsf.transform({1: new.views[1]})
    assert out.shape == (50, 3) and np.all(np.isfinite(out))


def test_parameter_redundancy_finds_effective_parameter():
    data = load_dataset("parameter_redundancy", 1000, random_state=0)
    jsf = JointlySmoothFunctions(n_functions=3, random_state=0).fit(data.views)
    f1 = jsf.functions_[:, 1]
    assert curve_r2(f1, data.shared["p1 + p2^3"]) > 0.95
    assert abs(curve_r2(f1, data.nuisance[1]["p3"])) < 0.1


def test_digits_jsf_features_beat_concatenation():
    data = load_dataset("digits", 1000, random_state=0)
    kw = dict(n_functions=21, random_state=0)
    jsf = JointlySmoothFunctions(n_kernel_eigenvectors=100, bandwidth_scale=1.0, **kw).fit(data.views)
    cat = ConcatenatedEigenmap(bandwidth_scale=1.0, **kw).fit(data.views)
    acc_jsf = cv_accuracy(jsf.functions_[:, 1:], data.labels)
    acc_cat = cv_accuracy(cat.functions_[:, 1:], data.labels)
    assert acc_jsf["kNN"] > acc_cat["kNN"] + 0.05
    assert acc_jsf["kNN"] > 0.7
    # The stripes' phases are rejected: no leading function follows them (scored jointly on cos, sin).
    for nz in data.nuisance:
        phi = nz["stripe phase φ (cos φ, sin φ)"]
        leak = curve_r2(jsf.functions_[:, 1:4], np.column_stack([np.cos(phi), np.sin(phi)]))
        assert np.abs(leak).max() < 0.1


def test_dataset_split_and_bad_names():
    data = load_dataset("spiral_torus", 100, random_state=0)
    train, test = data.split(20)
    assert train.n_samples == 80 and test.n_samples == 20
    np.testing.assert_array_equal(test.shared["z"], data.shared["z"][80:])
    with pytest.raises(ValueError, match="Unknown data set"):
        load_dataset("mnist", 100)
    with pytest.raises(ValueError, match="out of range"):
        load_dataset("digits", 5000)


def test_analyse_and_its_reproduce_snippet_agree():
    from dlsa_core.jointly_smooth import analysis as jsa

    res = jsa.analyse("spiral_torus", 400, 40, 0.3, "gaussian", 4, "permutation", 30, 0)
    assert res.extended[0].shape == (30, 4) and len(res.spectrum) == 40
    assert res.threshold == res.floor.permutation == pytest.approx(res.floor.analytic, abs=0.03)
    scope: dict = {}
    exec(jsa.reproduce_snippet(res.params).replace("print(", "(lambda *a: None)("), scope)
    np.testing.assert_allclose(scope["jsf"].energy_, res.energy)
    assert (
        scope["floor"].e0 == res.threshold
        and scope["floor"].count(scope["jsf"].spectrum_) == res.n_significant
    )


def test_estimator_follows_scikit_learn_conventions():
    from sklearn.base import clone

    est = JointlySmoothFunctions(n_functions=3, n_kernel_eigenvectors=20, n_landmarks=None, random_state=5)
    assert clone(est).get_params() == est.get_params()
    assert not hasattr(est, "functions_")  # learned attributes appear in fit only
    data = make_spiral_torus(200, random_state=0)
    assert est.fit(data.views) is est and est.functions_.shape == (200, 3)
    np.testing.assert_array_equal(clone(est).fit(data.views).functions_, est.functions_)  # random_state


def test_kernel_cca_is_centred_and_comparison_refuses_large_n():
    from dlsa_core.jointly_smooth import analysis as jsa

    data = make_spiral_torus(300, random_state=1)
    kcca = KernelCCA(n_functions=5, n_components_kernel=50, random_state=0).fit(data.views)
    # Centred kernels: every feature is orthogonal to the constant vector (unlike f_0 of the JSF).
    assert np.abs(kcca.functions_.sum(0)).max() < 1e-8
    with pytest.raises(ValueError, match="compare them at N <="):
        jsa.compare_baselines("spiral_torus", jsa.MAX_BASELINE_N + 1)


def test_live_figures_are_valid_plotly_and_subsampled():
    """The live function figures skip Plotly's validation for speed: rebuilding them with validation on
    must succeed (a misspelt property fails here), and every panel holds at most LIVE_POINTS markers."""
    import plotly.graph_objects as go

    from dlsa_core.jointly_smooth import analysis as jsa
    from dlsa_core.viz.jointly_smooth import subsample
    from dlsa_core.viz.jointly_smooth_views import LIVE_POINTS, function_figures

    res = jsa.analyse("spiral_torus", 700, 40, 0.3, "gaussian", 4, "analytic", 30, 0)
    for fig in function_figures(res, 1):
        go.Figure(fig.to_dict())  # raises ValueError on an invalid property
        big = [t for t in fig.data if t.x is not None and len(t.x) > 30]  # not the 30 held-out markers
        assert big and all(len(t.x) == LIVE_POINTS for t in big)
        assert fig.layout.template.layout.plot_bgcolor == "white"
    idx = subsample(1000, 500)
    assert len(idx) == 500 and idx[0] == 0 and idx[-1] == 999 and np.all(np.diff(idx) > 0)
    assert np.array_equal(subsample(300, 500), np.arange(300))


def test_fit_reports_its_stages_in_order():
    """The page's progress bar for long fits: one report per view and one before combining, rising."""
    from dlsa_core.jointly_smooth import analysis as jsa

    seen = []
    jsa.analyse(
        "spiral_torus", 400, 20, 0.3, "knn", 3, "analytic", 0, 0, progress=lambda f, t: seen.append((f, t))
    )
    fractions = [f for f, _ in seen]
    assert len(seen) == 3 and fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] < 1
    assert seen[0][1].startswith("View 1 of 2") and "Combining" in seen[-1][1]

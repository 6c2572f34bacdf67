"""One call per result for the app (and for notebooks): fit, score against the ground truth, extend, compare.

:func:`analyse` fits the estimator on a data set, scores every function against the known shared and
nuisance variables, and extends the functions to held-out samples from each view alone.
:func:`compare_baselines` does the same scoring for the baselines, plus cross-validated accuracy for
labelled data. Both return plain dataclasses of arrays (picklable, so a UI can cache them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dlsa_core.jointly_smooth.baselines import BASELINES
from dlsa_core.jointly_smooth.datasets import MultiViewData, load_dataset
from dlsa_core.jointly_smooth.estimator import JointlySmoothFunctions
from dlsa_core.jointly_smooth.metrics import curve_error, cv_accuracy, r2_table
from dlsa_core.jointly_smooth.threshold import analytic_threshold, permutation_threshold

#: Kernel choices of the app: name -> estimator keyword arguments.
KERNEL_OPTIONS = {
    "gaussian": {"kernel": "gaussian"},
    "landmarks": {"kernel": "gaussian", "n_landmarks": 1500},
    "knn": {"kernel": "knn", "n_neighbors": 30},
}


def latents_of(data: MultiViewData) -> dict[str, np.ndarray]:
    """Shared variables first, then each view's nuisances (named ``"view k: name"``)."""
    out = {f"shared: {k}": v for k, v in data.shared.items()}
    for k, nz in enumerate(data.nuisance):
        out.update({f"view {k} nuisance: {name}": v for name, v in nz.items()})
    return out


def view_coordinates(X: np.ndarray) -> np.ndarray:
    """The view's own coordinates when ``D <= 3``, else its first three principal components ``(N, 3)``."""
    if X.shape[1] <= 3:
        return X
    Xc = X - X.mean(0)
    _, _, Vt = np.linalg.svd(Xc, full_matrices=False)
    return Xc @ Vt[:3].T


@dataclass
class Analysis:
    """Everything the page draws for one setting (arrays are float64 unless noted)."""

    train: MultiViewData
    test: MultiViewData
    functions: np.ndarray  # (N, M)
    energy: np.ndarray  # (M,) sigma^2 / K
    energies: np.ndarray  # (M, K)
    threshold: float
    threshold_method: str
    thresholds: dict  # {"analytic": E0, "permutation": E0}: the formula beside the measured null
    n_significant: int
    r2: dict  # latent name -> (M,) R^2 of each function
    extended: dict  # view index -> (n_test, M) single-view Nystrom values at held-out samples
    extension_error: np.ndarray  # (K, M) relative error at held-out samples against the training curve
    insample_error: np.ndarray  # (K, M) relative in-sample error of each single-view extension
    n_extension_eigenvectors: list
    bandwidths: list
    fit_seconds: float
    params: dict = field(default_factory=dict)

    def extension_table(self, i: int) -> pd.DataFrame:
        """Per view: held-out and in-sample relative error of function ``i``, eigenvectors used."""
        return pd.DataFrame(
            {
                "view": [f"{k}: {name}" for k, name in enumerate(self.train.view_names)],
                "held-out error": np.round(self.extension_error[:, i], 3),
                "in-sample error": np.round(self.insample_error[:, i], 3),
                "eigenvectors used": self.n_extension_eigenvectors,
            }
        )


def analyse(
    dataset: str = "spiral_torus",
    n_samples: int = 1000,
    n_kernel_eigenvectors: int = 100,
    bandwidth_scale: float = 0.3,
    kernel: str = "gaussian",
    n_functions: int = 6,
    threshold: str = "analytic",
    n_test: int = 100,
    seed: int = 0,
) -> Analysis:
    """Fit jointly smooth functions on ``n_samples`` training rows and extend them to ``n_test`` fresh rows.

    Raises ``ValueError`` with a user-facing message for impossible settings.
    """
    if kernel not in KERNEL_OPTIONS:
        raise ValueError(f"Unknown kernel type {kernel!r}; choose one of {sorted(KERNEL_OPTIONS)}.")
    data = load_dataset(dataset, int(n_samples) + int(n_test), random_state=seed)
    train, test = data.split(int(n_test))
    est = JointlySmoothFunctions(
        n_functions=n_functions,
        n_kernel_eigenvectors=n_kernel_eigenvectors,
        bandwidth_scale=bandwidth_scale,
        threshold=threshold,
        random_state=seed,
        **KERNEL_OPTIONS[kernel],
    )
    start = time.perf_counter()
    est.fit(train.views)
    fit_seconds = time.perf_counter() - start
    F = est.functions_
    extended = est.transform_views(dict(enumerate(test.views))) if n_test else {}
    ((shared_name, t_train),) = list(train.shared.items())[:1]
    t_test = test.shared[shared_name]
    err = (
        np.array(
            [
                [curve_error(F[:, i], t_train, ext[:, i], t_test) for i in range(F.shape[1])]
                for ext in extended.values()
            ]
        )
        if n_test
        else np.zeros((0, F.shape[1]))
    )
    return Analysis(
        train=train,
        test=test,
        functions=F,
        energy=est.energy_,
        energies=est.energies_,
        threshold=est.threshold_,
        threshold_method=threshold,
        thresholds={
            "analytic": analytic_threshold(len(t_train), [W.shape[1] for W in est.bases_], random_state=seed),
            "permutation": permutation_threshold(est.bases_, random_state=seed),
        },
        n_significant=est.n_significant_,
        r2={k: np.array(v) for k, v in r2_table(F, latents_of(train)).items()},
        extended=extended,
        extension_error=err,
        insample_error=est.extension_error_,
        n_extension_eigenvectors=est.n_extension_eigenvectors_,
        bandwidths=est.bandwidths_,
        fit_seconds=fit_seconds,
        params=dict(
            dataset=dataset,
            n_samples=n_samples,
            n_kernel_eigenvectors=n_kernel_eigenvectors,
            bandwidth_scale=bandwidth_scale,
            kernel=kernel,
            n_functions=n_functions,
            threshold=threshold,
            n_test=n_test,
            seed=seed,
        ),
    )


#: Largest N for the baseline comparison (kernel CCA and the concatenated eigenmap are dense).
MAX_BASELINE_N = 5000

#: Methods whose first feature is the near-constant top eigenvector of an uncentred kernel.
DROP_FIRST = ("jointly smooth", "concatenated eigenmap")


@dataclass
class Comparison:
    """Features of each method on the same training rows, their R^2 and (labelled data) accuracy."""

    functions: dict  # method -> (N, m) features (f_0 / the constant-like first column dropped)
    r2: dict  # method -> {latent name -> (m,) R^2}
    accuracy: dict | None  # method -> {"kNN": acc, "SVM": acc}
    seconds: dict  # method -> fit time
    latents: dict  # name -> (N,) known variables of the rows used


def compare_baselines(
    dataset: str = "spiral_torus",
    n_samples: int = 1000,
    n_kernel_eigenvectors: int = 100,
    bandwidth_scale: float = 0.3,
    n_features: int = 10,
    seed: int = 0,
    n_scored: int = 6,
) -> Comparison:
    """Jointly smooth functions against linear CCA, kernel CCA and the concatenated eigenmap.

    The near-constant first feature of the uncentred kernel methods (jointly smooth, concatenated
    eigenmap) is dropped; kernel CCA (centred kernels) and linear CCA keep all of theirs; linear CCA has
    ``min(n_features, D_1, D_2)`` canonical pairs. Accuracy: 5-fold CV of k-NN and RBF-SVM on the features;
    R^2 for the first ``n_scored`` features only (the scoring is the slow part).
    """
    if n_samples > MAX_BASELINE_N:
        raise ValueError(
            f"The baselines use dense N x N kernels; compare them at N <= {MAX_BASELINE_N:,} "
            f"(N = {n_samples:,} now)."
        )
    data = load_dataset(dataset, int(n_samples), random_state=seed)
    latents = latents_of(data)
    methods = {
        "jointly smooth": JointlySmoothFunctions(
            n_functions=n_features + 1,
            n_kernel_eigenvectors=n_kernel_eigenvectors,
            bandwidth_scale=bandwidth_scale,
            threshold=None,
            random_state=seed,
        )
    }
    for name, cls in BASELINES.items():
        kw = {} if name == "linear CCA" else {"bandwidth_scale": bandwidth_scale, "random_state": seed}
        methods[name] = cls(n_functions=n_features + (name in DROP_FIRST), **kw)
    functions, r2, accuracy, seconds = {}, {}, {}, {}
    for name, m in methods.items():
        start = time.perf_counter()
        F = m.fit(data.views).functions_
        seconds[name] = time.perf_counter() - start
        F = F[:, 1:] if name in DROP_FIRST else F
        functions[name] = F
        r2[name] = {k: np.array(v) for k, v in r2_table(F[:, :n_scored], latents).items()}
        if data.labels is not None:
            accuracy[name] = cv_accuracy(F, data.labels, random_state=seed)
    return Comparison(functions, r2, accuracy or None, seconds, latents)


def reproduce_snippet(params: dict) -> str:
    """Python code reproducing :func:`analyse`'s fit with the estimator alone, for the given parameters."""
    p = params
    extra = ", ".join(f"{k}={v!r}" for k, v in KERNEL_OPTIONS[p["kernel"]].items())
    return (
        "from dlsa_core.jointly_smooth import JointlySmoothFunctions, load_dataset\n\n"
        f"data = load_dataset({p['dataset']!r}, {p['n_samples'] + p['n_test']}, random_state={p['seed']})\n"
        f"train, test = data.split({p['n_test']})\n"
        f"jsf = JointlySmoothFunctions(n_functions={p['n_functions']}, "
        f"n_kernel_eigenvectors={p['n_kernel_eigenvectors']}, bandwidth_scale={p['bandwidth_scale']!r},\n"
        f"                             threshold={p['threshold']!r}, random_state={p['seed']}, {extra})\n"
        "jsf.fit(train.views)\n"
        "print(jsf.energy_, jsf.threshold_, jsf.n_significant_)\n"
        "f_new = jsf.transform({0: test.views[0]})  # Nystrom extension from view 0 alone\n"
    )

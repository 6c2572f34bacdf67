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

from dlsa_core.jointly_smooth.baselines import BASELINES, SingleViewEigenmap
from dlsa_core.jointly_smooth.datasets import MultiViewData, load_dataset
from dlsa_core.jointly_smooth.estimator import JointlySmoothFunctions
from dlsa_core.jointly_smooth.kernels import MAX_DENSE_N
from dlsa_core.jointly_smooth.metrics import cv_accuracy, r2_table
from dlsa_core.jointly_smooth.threshold import NoiseFloor, noise_floor

#: Kernel choices of the app: name -> estimator keyword arguments.
KERNEL_OPTIONS = {
    "gaussian": {"kernel": "gaussian"},
    "landmarks": {"kernel": "gaussian", "n_landmarks": 1500},
    "knn": {"kernel": "knn", "n_neighbors": 30},
}


#: The app's names of the kernel choices (error messages speak the sidebar's words).
KERNEL_LABELS = {"gaussian": "Gaussian (dense)", "landmarks": "Gaussian (landmarks)", "knn": "k-NN (sparse)"}
#: Rows available per data set (None: generated, any N).
DATASET_SIZES = {"spiral_torus": None, "parameter_redundancy": None, "digits": 1797}
#: Relative eigenvalue cut-off of the Nystrom extension (the estimator's default).
CUTOFF = 1e-5


def check_settings(dataset: str, n_samples: int, d: int, kernel: str, n_test: int) -> None:
    """Refuse impossible settings with a message in the page's words (``ValueError``), before any work."""
    if kernel not in KERNEL_OPTIONS:
        raise ValueError(f"Unknown kernel type {kernel!r}; choose one of {sorted(KERNEL_OPTIONS)}.")
    if dataset not in DATASET_SIZES:
        raise ValueError(f"Unknown data set {dataset!r}; choose one of {sorted(DATASET_SIZES)}.")
    total = DATASET_SIZES[dataset]
    if total is not None and n_samples + n_test > total:
        raise ValueError(
            f"Corrupted digits has {total:,} images: N = {n_samples:,} training samples plus {n_test} held-out "
            f"samples is {n_samples + n_test:,}. Set N to at most {total - n_test:,} (or hold out fewer "
            "samples under Advanced)."
        )
    if kernel == "gaussian" and n_samples > MAX_DENSE_N:
        raise ValueError(
            f"N = {n_samples:,} is too large for the Gaussian (dense) kernel: its N x N matrix would take "
            f"{8 * n_samples**2 / 1e9:.1f} GB (limit N = {MAX_DENSE_N:,}). Choose Kernel: Gaussian (landmarks) "
            "or k-NN (sparse), or lower N."
        )
    limit = min(n_samples, KERNEL_OPTIONS["landmarks"]["n_landmarks"]) if kernel == "landmarks" else n_samples
    if d >= limit:
        what = "landmarks" if kernel == "landmarks" and limit < n_samples else "training samples N"
        raise ValueError(
            f"d = {d} kernel eigenvectors per view need more than d {what} ({limit:,}); lower d."
        )


def latents_of(data: MultiViewData) -> dict[str, np.ndarray]:
    """Shared variables first, then each view's nuisances (named ``"view k nuisance: name"``)."""
    out = {f"shared: {k}": v for k, v in data.shared.items()}
    for k, nz in enumerate(data.nuisance):
        out.update({f"view {k} nuisance: {name}": v for name, v in nz.items()})
    return out


def circular_latents(data: MultiViewData) -> set[str]:
    """Names (as in :func:`latents_of`) of angles, scored jointly through ``(cos, sin)``."""
    circ = set(data.notes.get("circular", ()))
    return {name for name in latents_of(data) if name.split(": ", 1)[-1] in circ}


def view_coordinates(X: np.ndarray, n_components: int = 3, *, elevation: float = 35.0) -> np.ndarray:
    """Plotting coordinates of a view: its own when ``D <= n_components``; a 3-D view drawn in 2-D is seen
    from ``elevation`` degrees above its x-y plane (an oblique camera, so a torus still looks like one);
    a higher-dimensional view gives its first ``n_components`` principal components."""
    if X.shape[1] <= n_components:
        return X
    if X.shape[1] == 3 and n_components == 2:
        e = np.deg2rad(elevation)
        return np.column_stack([X[:, 0], X[:, 1] * np.sin(e) + X[:, 2] * np.cos(e)])
    Xc = X - X.mean(0)
    _, _, Vt = np.linalg.svd(Xc, full_matrices=False)
    return Xc @ Vt[:n_components].T


@dataclass
class Analysis:
    """Everything the page draws for one setting (arrays are float64 unless noted)."""

    train: MultiViewData
    test: MultiViewData
    functions: np.ndarray  # (N, M)
    energy: np.ndarray  # (M,) sigma^2 / K of the kept functions
    energies: np.ndarray  # (M, K)
    spectrum: np.ndarray  # all energies (not capped at M)
    floor: NoiseFloor  # analytic E0, permutation null, chosen method, margin
    n_significant: int  # energies above E0 + margin over the whole spectrum (f_0 included)
    r2: dict  # latent name -> (M,) R^2 of each function
    extended: dict  # view index -> (n_test, M) single-view Nystrom values at held-out samples
    eigenvalues: list  # per view (d,) kernel eigenvalues, descending
    n_extension_eigenvectors: list  # per view, eigenvalues above CUTOFF x lambda_1
    bandwidths: list
    fit_seconds: float
    params: dict = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        """E0 of the chosen method (one number: the same value everywhere on the page)."""
        return self.floor.e0

    def significant(self, i: int) -> bool:
        return bool(self.energy[i] > self.floor.cut)

    def shared_name(self) -> str:
        return next(iter(self.r2))


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
    progress=None,
) -> Analysis:
    """Fit jointly smooth functions on ``n_samples`` training rows and extend them to ``n_test`` fresh rows.

    ``progress(fraction, message)``, optional, is passed to :meth:`JointlySmoothFunctions.fit`.

    E0 and its permutation null come from one computation on the fitted bases (seeded by ``seed``); the
    count is over the whole spectrum and needs ``E0 + margin``. Raises ``ValueError`` with a user-facing
    message for impossible settings.
    """
    n_samples, n_test, d = int(n_samples), int(n_test), int(n_kernel_eigenvectors)
    check_settings(dataset, n_samples, d, kernel, n_test)
    data = load_dataset(dataset, n_samples + n_test, random_state=seed)
    train, test = data.split(n_test)
    est = JointlySmoothFunctions(
        n_functions=min(int(n_functions), d),
        n_kernel_eigenvectors=d,
        bandwidth_scale=bandwidth_scale,
        threshold=None,
        random_state=seed,
        eigenvalue_cutoff=CUTOFF,
        **KERNEL_OPTIONS[kernel],
    )
    start = time.perf_counter()
    est.fit(train.views, progress=progress)
    floor = noise_floor(est.bases_, threshold, random_state=seed)
    fit_seconds = time.perf_counter() - start
    F = est.functions_
    return Analysis(
        train=train,
        test=test,
        functions=F,
        energy=est.energy_,
        energies=est.energies_,
        spectrum=est.spectrum_,
        floor=floor,
        n_significant=floor.count(est.spectrum_),
        r2=r2_table(F, latents_of(train), circular=circular_latents(train)),
        extended=est.transform_views(dict(enumerate(test.views))) if n_test else {},
        eigenvalues=est.eigenvalues_,
        n_extension_eigenvectors=est.n_extension_eigenvectors_,
        bandwidths=est.bandwidths_,
        fit_seconds=fit_seconds,
        params=dict(
            dataset=dataset,
            n_samples=n_samples,
            n_kernel_eigenvectors=d,
            bandwidth_scale=bandwidth_scale,
            kernel=kernel,
            n_functions=min(int(n_functions), d),
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
    """Features of each method on the page's training rows, their R^2 and (labelled data) accuracy."""

    functions: dict  # method -> (N, m) features (f_0 / the constant-like first column dropped)
    r2: dict  # method -> {latent name -> (m,) R^2}
    accuracy: dict | None  # method -> {"kNN": acc, "SVM": acc}
    seconds: dict  # method -> fit time
    latents: dict  # name -> (N,) known variables of the rows used
    canonical_correlations: np.ndarray  # (m,) of linear CCA
    ridge: float  # kernel CCA's ridge (relative to the top kernel eigenvalue)


def compare_baselines(
    dataset: str = "spiral_torus",
    n_samples: int = 1000,
    n_kernel_eigenvectors: int = 100,
    bandwidth_scale: float = 0.3,
    n_features: int = 10,
    seed: int = 0,
    n_scored: int = 6,
    *,
    kernel: str = "gaussian",
    n_test: int = 100,
    ridge: float = 1e-2,
    single_views: bool = False,
) -> Comparison:
    """Jointly smooth functions against linear CCA, kernel CCA, the concatenated eigenmap (and, with
    ``single_views``, each view's own eigenmap), on exactly the training rows and kernel of :func:`analyse`.

    The near-constant first feature of the uncentred kernel methods is dropped; kernel CCA (centred
    kernels) and linear CCA keep all of theirs. Accuracy: 5-fold CV of k-NN and RBF-SVM on the features;
    R^2 for the first ``n_scored`` features only (the scoring is the slow part).
    """
    if n_samples > MAX_BASELINE_N:
        raise ValueError(
            f"The baselines use dense N x N kernels; compare them at N <= {MAX_BASELINE_N:,} "
            f"(N = {n_samples:,} now)."
        )
    check_settings(dataset, int(n_samples), int(n_kernel_eigenvectors), kernel, int(n_test))
    data = load_dataset(dataset, int(n_samples) + int(n_test), random_state=seed)
    data, _ = data.split(int(n_test))  # the page's training rows
    latents = latents_of(data)
    circular = circular_latents(data)
    methods = {
        "jointly smooth": JointlySmoothFunctions(
            n_functions=n_features + 1,
            n_kernel_eigenvectors=n_kernel_eigenvectors,
            bandwidth_scale=bandwidth_scale,
            threshold=None,
            random_state=seed,
            eigenvalue_cutoff=CUTOFF,
            **KERNEL_OPTIONS[kernel],
        )
    }
    if single_views:
        for k in range(len(data.views)):
            methods[f"view {k} alone"] = SingleViewEigenmap(
                n_features + 1, view=k, bandwidth_scale=bandwidth_scale, random_state=seed
            )
    for name, cls in BASELINES.items():
        kw = {} if name == "linear CCA" else {"bandwidth_scale": bandwidth_scale, "random_state": seed}
        if name == "kernel CCA":
            kw["reg"] = float(ridge)
        methods[name] = cls(n_functions=n_features + (name in DROP_FIRST), **kw)
    functions, r2, accuracy, seconds = {}, {}, {}, {}
    for name, m in methods.items():
        start = time.perf_counter()
        F = m.fit(data.views).functions_
        seconds[name] = time.perf_counter() - start
        F = F[:, 1:] if name in DROP_FIRST or name.endswith(" alone") else F
        functions[name] = F
        r2[name] = r2_table(F[:, :n_scored], latents, circular=circular)
        if data.labels is not None:
            accuracy[name] = cv_accuracy(F, data.labels, random_state=seed)
    return Comparison(
        functions, r2, accuracy or None, seconds, latents, methods["linear CCA"].correlations_, float(ridge)
    )


def reproduce_snippet(params: dict) -> str:
    """Python code reproducing :func:`analyse`'s fit with the estimator alone, for the given parameters."""
    p = params
    extra = ", ".join(f"{k}={v!r}" for k, v in KERNEL_OPTIONS[p["kernel"]].items())
    return (
        "from dlsa_core.jointly_smooth import JointlySmoothFunctions, load_dataset\n"
        "from dlsa_core.jointly_smooth.threshold import noise_floor\n\n"
        f"data = load_dataset({p['dataset']!r}, {p['n_samples'] + p['n_test']}, random_state={p['seed']})\n"
        f"train, test = data.split({p['n_test']})\n"
        f"jsf = JointlySmoothFunctions(n_functions={p['n_functions']}, "
        f"n_kernel_eigenvectors={p['n_kernel_eigenvectors']}, bandwidth_scale={p['bandwidth_scale']!r},\n"
        f"                             threshold=None, random_state={p['seed']}, {extra})\n"
        "jsf.fit(train.views)\n"
        f"floor = noise_floor(jsf.bases_, {p['threshold']!r}, random_state={p['seed']})  # E0 + permutation null\n"
        "print(jsf.energy_, floor.e0, floor.margin, floor.count(jsf.spectrum_))\n"
        "f_new = jsf.transform({0: test.views[0]})  # Nystrom extension from view 0 alone\n"
    )

"""Checks of a fit against what the theory promises: the Nystrom extension against a refit, and sweeps.

* :func:`extension_check`: the functions extended to held-out samples from one view alone, against a refit
  on the training *and* held-out rows (aligned to the first fit by least squares on the training rows,
  which absorbs sign flips and rotations among near-equal energies). Only functions above E0 + margin are
  compared: below it a function is noise and no extension is expected to agree with a refit.
* :func:`sweep_point`: one point of a d / s sweep: how many functions clear E0 + margin, how many truly
  depend on the shared variable (R^2 > 0.9), and the extension error against a refit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from dlsa_core.jointly_smooth.analysis import (
    CUTOFF,
    KERNEL_OPTIONS,
    Analysis,
    analyse,
    check_settings,
)
from dlsa_core.jointly_smooth.estimator import JointlySmoothFunctions

#: R^2 against the shared variable above which a function "truly depends" on it.
R2_DEPENDS = 0.9
#: Largest N used by a sweep point (a sweep refits many times; larger N is subsampled).
MAX_SWEEP_N = 2000


@dataclass
class ExtensionCheck:
    """Held-out Nystrom values against a refit that includes the held-out rows."""

    indices: list  # functions compared (those above E0 + margin, f_0 included)
    errors: np.ndarray  # (K, len(indices)) relative RMS error per view
    align_residual: np.ndarray  # (len(indices),) how well the refit reproduces the fit on training rows
    seconds: float


def refit_reference(res: Analysis, indices) -> tuple[np.ndarray, np.ndarray]:
    """Refit on training + held-out rows; return the aligned functions at the held-out rows ``(n, m)``
    and the relative alignment residual on the training rows ``(m,)``."""
    p = res.params
    views = [np.vstack([a, b]) for a, b in zip(res.train.views, res.test.views, strict=True)]
    N, m = res.train.n_samples, len(indices)
    extra = min(m + 3, p["n_kernel_eigenvectors"])  # a few more columns absorb near-degenerate rotations
    est = JointlySmoothFunctions(
        n_functions=extra,
        n_kernel_eigenvectors=p["n_kernel_eigenvectors"],
        bandwidth_scale=p["bandwidth_scale"],
        threshold=None,
        random_state=p["seed"],
        eigenvalue_cutoff=CUTOFF,
        **KERNEL_OPTIONS[p["kernel"]],
    ).fit(views)
    G = est.functions_
    target = res.functions[:, indices]
    A, *_ = np.linalg.lstsq(G[:N], target, rcond=None)
    resid = np.linalg.norm(G[:N] @ A - target, axis=0) / np.linalg.norm(target, axis=0)
    return G[N:] @ A, resid


def extension_check(res: Analysis, *, max_functions: int | None = None) -> ExtensionCheck:
    """Relative error of each view's held-out extension against the refit, for functions above E0 + margin."""
    if not res.extended:
        raise ValueError("No held-out samples: set 'Held-out samples' above 0 to check the extension.")
    start = time.perf_counter()
    indices = [i for i in range(len(res.energy)) if res.significant(i)][:max_functions]
    if not indices:
        return ExtensionCheck([], np.zeros((len(res.extended), 0)), np.zeros(0), 0.0)
    ref, resid = refit_reference(res, indices)
    errors = np.array(
        [
            np.linalg.norm(ext[:, indices] - ref, axis=0) / np.maximum(np.linalg.norm(ref, axis=0), 1e-300)
            for ext in res.extended.values()
        ]
    )
    return ExtensionCheck(indices, errors, resid, time.perf_counter() - start)


def sweep_grid(n_samples: int, d: int, scale: float) -> tuple[list[int], list[float]]:
    """The d values (at the current s) and s values (at the current d) of a sweep."""
    n = min(n_samples, MAX_SWEEP_N)
    ds = sorted({x for x in (10, 25, 50, 100, 200, 300, 400, 500, d) if x < n // 2 or x == d})
    ss = sorted({0.1, 0.2, 0.3, 0.5, 1.0, 2.0, float(scale)})
    return ds, ss


def sweep_point(
    dataset: str, n_samples: int, d: int, scale: float, kernel: str, threshold: str, seed: int
) -> dict:
    """One fit of a sweep: ``{"d", "s", "above": count over E0 + margin, "depends": count with
    R^2(shared) > 0.9, "E0", "cut", "extension_error": median over views and significant functions}``.

    N is capped at :data:`MAX_SWEEP_N` (the sweep refits many times); 50 held-out samples.
    """
    n = min(int(n_samples), MAX_SWEEP_N)
    check_settings(dataset, n, int(d), kernel, 50)
    res = analyse(dataset, n, int(d), float(scale), kernel, min(40, int(d)), threshold, 50, seed)
    depends = res.r2[res.shared_name()] > R2_DEPENDS
    check = extension_check(res)
    return {
        "d": int(d),
        "s": float(scale),
        "N": n,
        "above": res.n_significant,
        "depends": int(depends.sum()),
        "E0": res.floor.e0,
        "cut": res.floor.cut,
        "extension_error": float(np.median(check.errors)) if check.indices else float("nan"),
    }

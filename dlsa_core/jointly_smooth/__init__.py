"""Jointly smooth functions for multi-view data (Dietrich et al., SIMODS 2022): kernels, the estimator,
its Nystrom extension, the noise floor E0, baselines (CCA, kernel CCA, concatenated eigenmap), data sets
with known ground truth and metrics."""

from dlsa_core.jointly_smooth.datasets import (
    DATASETS,
    MultiViewData,
    load_dataset,
    make_corrupted_digits,
    make_parameter_redundancy,
    make_spiral_torus,
)
from dlsa_core.jointly_smooth.estimator import JointlySmoothFunctions
from dlsa_core.jointly_smooth.threshold import analytic_threshold, permutation_threshold

__all__ = [
    "DATASETS",
    "JointlySmoothFunctions",
    "MultiViewData",
    "analytic_threshold",
    "load_dataset",
    "make_corrupted_digits",
    "make_parameter_redundancy",
    "make_spiral_torus",
    "permutation_threshold",
]

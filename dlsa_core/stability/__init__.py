"""Exact mean-square stability of SGD near a minimum (Mulayoff & Michaeli, COLT 2024).

``eta*(B) = 2 / lambda_max(C^+ D)`` with ``C = (H kron I + I kron H)/2`` and
``D = (1-p) H kron H + p mean_i H_i kron H_i``, ``p = (n - B) / (B (n - 1))``.

Modules: :mod:`.spectral` (validation, eigenbasis reduction, Gram reduction), :mod:`.thresholds`
(``eta*`` by dense / power / Lanczos / shared-subspace Rayleigh-Ritz), :mod:`.bounds` (necessary and
sufficient closed forms), :mod:`.recursion` (exact second moment, stationary covariance), :mod:`.simulation` (Monte Carlo on a
torch device), :mod:`.operators` (dense reference operators), :mod:`.problems` (builders),
:mod:`.report` (everything for a figure), :mod:`.views` (secondary views, captions), :mod:`.presets`
(the page's problems, shipped precomputations, reproduce snippet), :mod:`.eos` (edge-of-stability experiment).
"""

from dlsa_core.stability.bounds import bound_rank_one, bound_top_eigvec, bound_trace, sandwich_bounds
from dlsa_core.stability.operators import c_d_matrices, mixture_operator, sgd_operator_enumerated
from dlsa_core.stability.problems import (
    StabilityProblem,
    digits_least_squares,
    digits_regular_gradients,
    dominant_sample_2d,
    incoherent_2d,
    rank_one_problem,
    relu_net_minimum,
    toy_rank_one_2d,
)
from dlsa_core.stability.recursion import (
    loss_floor_curve,
    second_moment_enumerated,
    second_moment_trajectory,
    stationary_covariance,
)
from dlsa_core.stability.report import batch_grid, dynamics_report, exact_report, mc_report, stability_report
from dlsa_core.stability.simulation import mc_summary, simulate_sgd
from dlsa_core.stability.spectral import batch_p
from dlsa_core.stability.thresholds import (
    gd_threshold,
    generalized_sharpness,
    sgd_threshold,
    sgd_threshold_from_jacobians,
    spectral_radius,
    threshold_curve,
)

__all__ = [
    "StabilityProblem",
    "batch_grid",
    "batch_p",
    "bound_rank_one",
    "bound_top_eigvec",
    "bound_trace",
    "c_d_matrices",
    "digits_least_squares",
    "digits_regular_gradients",
    "dynamics_report",
    "exact_report",
    "mc_report",
    "dominant_sample_2d",
    "gd_threshold",
    "generalized_sharpness",
    "incoherent_2d",
    "loss_floor_curve",
    "mc_summary",
    "mixture_operator",
    "rank_one_problem",
    "relu_net_minimum",
    "sandwich_bounds",
    "second_moment_enumerated",
    "second_moment_trajectory",
    "sgd_operator_enumerated",
    "sgd_threshold",
    "sgd_threshold_from_jacobians",
    "simulate_sgd",
    "spectral_radius",
    "stability_report",
    "stationary_covariance",
    "threshold_curve",
    "toy_rank_one_2d",
]

"""The expected loss of preconditioned Langevin dynamics reveals the Hessian rank (Bar et al., AAAI 2024).

Modules: :mod:`.closed_form` (Ornstein-Uhlenbeck expected loss, continuous and discrete time),
:mod:`.simulation` (batched Euler-Maruyama on a torch device), :mod:`.rank` (the rank estimator, the exact
deep-linear Gauss-Newton rank), :mod:`.deep_linear` (the paper's linear-network minimum, Hessian-vector
products, Langevin on the weights), :mod:`.baseline` (Ubaru & Saad's Chebyshev/KPM numerical rank),
:mod:`.experiment` (the rank experiment), :mod:`.quadratic` (preconditioners and noise of the playground),
:mod:`.report` (page views).
"""

from dlsa_core.langevin.baseline import KPMRank, ubaru_saad_rank
from dlsa_core.langevin.closed_form import (
    excess_loss_curve,
    mode_curve,
    mode_window_mean,
    ou_modes,
    stationary_excess_loss,
)
from dlsa_core.langevin.deep_linear import (
    DeepLinearNet,
    balanced_minimum,
    gauss_newton,
    hvp,
    kron_factors,
    langevin_on_weights,
    preconditioned_spectrum,
    random_factorisation,
)
from dlsa_core.langevin.experiment import PROTOCOLS, RankRun, baseline_rank, rank_experiment
from dlsa_core.langevin.quadratic import (
    PRECONDITIONERS,
    make_quadratic,
    preconditioner_and_noise,
    sgd_vs_adam,
)
from dlsa_core.langevin.rank import RankEstimate, deep_linear_gn_rank, estimate_rank
from dlsa_core.langevin.report import playground_report, regime_report, spread_report
from dlsa_core.langevin.simulation import simulate_langevin

__all__ = [
    "PRECONDITIONERS",
    "PROTOCOLS",
    "DeepLinearNet",
    "KPMRank",
    "RankEstimate",
    "RankRun",
    "balanced_minimum",
    "baseline_rank",
    "deep_linear_gn_rank",
    "estimate_rank",
    "excess_loss_curve",
    "gauss_newton",
    "hvp",
    "kron_factors",
    "langevin_on_weights",
    "make_quadratic",
    "mode_curve",
    "mode_window_mean",
    "ou_modes",
    "playground_report",
    "preconditioned_spectrum",
    "preconditioner_and_noise",
    "random_factorisation",
    "rank_experiment",
    "regime_report",
    "sgd_vs_adam",
    "simulate_langevin",
    "spread_report",
    "stationary_excess_loss",
    "ubaru_saad_rank",
]

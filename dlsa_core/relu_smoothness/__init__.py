"""Stable shallow ReLU nets are smooth (Nacson, Mulayoff, Ongie, Michaeli, Soudry, ICLR 2023).

At a minimum of ``L = (1/2n) sum (f(x_i) - y_i)^2`` that GD with step ``eta`` can stably stay at
(``lambda_max <= 2/eta``), a one-hidden-layer ReLU net satisfies

    sum_k |v_k| ||w_k|| g(w_k / ||w_k||, -b_k / ||w_k||) <= 1/eta - 1/2

(reduced form), a data-weighted L1 norm of the Laplacian: larger steps force smoother interpolants.

Modules: :mod:`.weights` (``g``, ``g~``), :mod:`.network` (reduced form, the norm, Gauss-Newton
sharpness through :mod:`dlsa_core.stability`'s Gram reduction, the lemma), :mod:`.training` (GD batched
over step sizes and seeds), :mod:`.datasets` (toys and MNIST), :mod:`.report` (what the page draws).
"""

from dlsa_core.relu_smoothness.datasets import Dataset, make_dataset, parse_points
from dlsa_core.relu_smoothness.network import (
    Network,
    Reduced,
    as_network,
    gn_sharpness,
    jacobian,
    lemma_terms,
    raw_oriented_sum,
    reduced_form,
    relu_stability_norm,
)
from dlsa_core.relu_smoothness.training import Run, Sweep, init_params, sweep_step_sizes, train_shallow_relu
from dlsa_core.relu_smoothness.weights import relu_weight, relu_weight_oriented, weight_curve_1d

__all__ = [
    "Dataset",
    "Network",
    "Reduced",
    "Run",
    "Sweep",
    "as_network",
    "gn_sharpness",
    "init_params",
    "jacobian",
    "lemma_terms",
    "make_dataset",
    "parse_points",
    "raw_oriented_sum",
    "reduced_form",
    "relu_stability_norm",
    "relu_weight",
    "relu_weight_oriented",
    "sweep_step_sizes",
    "train_shallow_relu",
    "weight_curve_1d",
]

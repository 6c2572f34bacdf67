"""Flat minima of deep linear networks are balanced and coupled (Mulayoff & Michaeli, ICML 2020).

Loss ``L = 1/2 E||T x - W_N ... W_1 x||^2``. With whitened inputs the flattest global minima have
``lambda_max = N sigma_1(T)^(2(N-1)/N)`` (:func:`minimal_sharpness`), equal gains along the top singular
path (:func:`layer_gains`) and coupled consecutive layers (:func:`coupling_matrix`); zero-init linear
ResNets trained by GD end there (:func:`train_linear_net`).

Modules: :mod:`.net` (conventions, targets, factorisations), :mod:`.hessian` (sharpness by Lanczos on
exact Hessian-vector products, dense, or the NTK Gram matrix; explicit Gauss-Newton), :mod:`.geometry`
(gains, bounds, coupling, balancedness), :mod:`.training` (batched full-batch GD from three inits),
:mod:`.report` (what the page draws).
"""

from dlsa_core.flat_minima.geometry import (
    Coupling,
    LayerGains,
    balancedness,
    coupling_matrix,
    end_to_end_error,
    layer_gains,
    sharpness_lower_bound,
)
from dlsa_core.flat_minima.hessian import (
    gauss_newton_matrix,
    hessian_autograd,
    hessian_matrix,
    hessian_vector_product,
    loss,
    ntk_gram,
    sharpness,
)
from dlsa_core.flat_minima.net import (
    balanced_factorisation,
    input_covariance,
    minimal_sharpness,
    product,
    rescale,
    target_matrix,
)
from dlsa_core.flat_minima.training import (
    INITS,
    TrainResult,
    init_weights,
    step_size_sweep,
    train_inits,
    train_linear_net,
)

__all__ = [
    "INITS",
    "Coupling",
    "LayerGains",
    "TrainResult",
    "balanced_factorisation",
    "balancedness",
    "coupling_matrix",
    "end_to_end_error",
    "gauss_newton_matrix",
    "hessian_autograd",
    "hessian_matrix",
    "hessian_vector_product",
    "init_weights",
    "input_covariance",
    "layer_gains",
    "loss",
    "minimal_sharpness",
    "ntk_gram",
    "product",
    "rescale",
    "sharpness",
    "sharpness_lower_bound",
    "step_size_sweep",
    "target_matrix",
    "train_inits",
    "train_linear_net",
]

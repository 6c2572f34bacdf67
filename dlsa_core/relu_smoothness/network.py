"""Shallow ReLU networks ``f(x) = sum_k v_k relu(w_k^T x + b_k) + c``: reduced form, norm, sharpness.

* :func:`reduced_form` merges neurons that share a hyperplane (in either orientation: ``relu(-z) =
  relu(z) - z``, the difference is affine) and drops neurons with ``w_k = 0`` (constants);
* :func:`relu_stability_norm` is the left side of the bound, ``sum_k |a_k| g(u_k, t_k)`` over the
  reduced neurons, ``a_k = sum v_j ||w_j||`` over the group (hyperplanes missing the data hull get
  ``g = 0``, i.e. they are dropped, as the paper's reduced form asks);
* :func:`gn_sharpness` is ``lambda_max`` of the Gauss-Newton matrix ``(1/n) J^T J`` (the loss Hessian
  at an interpolating minimum), computed exactly in the ``n x n`` Gram (NTK) space;
* :func:`lemma_terms` gives both sides of the key inequality
  ``lambda_max >= ||mean_i grad f(x_i)||^2 >= 1 + 2 sum_k |v_k| ||w_k|| g~(u_k, t_k)``.

Loss convention: ``L = (1/2n) sum_i (f(x_i) - y_i)^2``, so GD with step ``eta`` is linearly stable at
a minimum iff ``lambda_max(Hessian) <= 2 / eta``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dlsa_core.relu_smoothness.weights import _oriented, as_inputs
from dlsa_core.stability.spectral import spectral_from_factors

#: Two hyperplanes are "the same" when their canonical (u, t) agree to this tolerance.
MERGE_TOL = 1e-9


@dataclass(frozen=True)
class Network:
    """Parameters of a one-hidden-layer ReLU net, float64 numpy.

    Attributes
    ----------
    W : (K, d) float64
    b : (K,) float64
    v : (K,) float64
    c : float
    """

    W: np.ndarray
    b: np.ndarray
    v: np.ndarray
    c: float

    @property
    def width(self) -> int:
        return int(self.W.shape[0])

    @property
    def dim(self) -> int:
        return int(self.W.shape[1])

    def __call__(self, x: Any) -> np.ndarray:
        """Evaluate ``f`` at inputs ``x (m, d)``; returns ``(m,)`` float64."""
        x = as_inputs(x)
        return np.maximum(x @ self.W.T + self.b, 0.0) @ self.v + self.c

    def as_dict(self) -> dict[str, Any]:
        return {"W": self.W, "b": self.b, "v": self.v, "c": self.c}


def as_network(params: Any) -> Network:
    """Accept a :class:`Network` or a mapping with ``W (K, d)``, ``b (K,)``, ``v (K,)``, ``c``."""
    if isinstance(params, Network):
        return params
    try:
        raw = {k: params[k] for k in ("W", "b", "v", "c")}
    except (KeyError, TypeError) as exc:
        raise ValueError("params must hold 'W' (K, d), 'b' (K,), 'v' (K,) and 'c'.") from exc
    arr = {}
    for k, val in raw.items():
        if hasattr(val, "detach"):
            val = val.detach().cpu().numpy()
        arr[k] = np.asarray(val, dtype=np.float64)
    w = arr["W"]
    if w.ndim == 1:
        w = w[:, None]
    k = w.shape[0] if w.ndim == 2 else -1
    if w.ndim != 2 or arr["b"].shape != (k,) or arr["v"].shape != (k,) or arr["c"].size != 1:
        raise ValueError(
            f"params shapes must be W (K, d), b (K,), v (K,), c scalar; got W {w.shape}, "
            f"b {arr['b'].shape}, v {arr['v'].shape}, c {arr['c'].shape}."
        )
    if not all(np.all(np.isfinite(a)) for a in (w, arr["b"], arr["v"], arr["c"])):
        raise ValueError("network parameters contain NaN or infinite values (did training diverge?).")
    return Network(W=w, b=arr["b"], v=arr["v"], c=float(arr["c"].reshape(())))


@dataclass(frozen=True)
class Reduced:
    """A network's neurons in reduced form: one row per distinct hyperplane.

    Attributes
    ----------
    u : (m, d) float64
        Canonical unit normals (first non-zero coordinate positive).
    t : (m,) float64
        Offsets: the hyperplane is ``u^T x = t``.
    a : (m,) float64
        Signed kink strength ``sum v_j ||w_j||`` over the merged neurons (the jump of the slope
        across the hyperplane along ``u``; in 1-D, the jump of ``f'`` at the knot ``t``).
    g : (m,) float64
        Un-oriented weight ``g(u, t)``; 0 for hyperplanes missing the data hull.
    counts : (m,) int
        How many original neurons were merged into each row.
    """

    u: np.ndarray
    t: np.ndarray
    a: np.ndarray
    g: np.ndarray
    counts: np.ndarray

    @property
    def contributions(self) -> np.ndarray:
        """``|a_k| g(u_k, t_k)``: each hyperplane's share of the norm, (m,)."""
        return np.abs(self.a) * self.g

    @property
    def in_hull(self) -> np.ndarray:
        """Hyperplanes with data strictly on both sides (the others act as affine terms), (m,) bool."""
        return self.g > 0


def reduced_form(params: Any, x_train: Any, *, tol: float = MERGE_TOL) -> Reduced:
    """Merge neurons with the same hyperplane; drop constant neurons; weight each hyperplane by ``g``."""
    net = as_network(params)
    x = as_inputs(x_train)
    if x.shape[1] != net.dim:
        raise ValueError(f"x_train has d = {x.shape[1]} but the network expects d = {net.dim}.")
    norms = np.linalg.norm(net.W, axis=1)
    live = norms > 0
    u = net.W[live] / norms[live, None]
    t = -net.b[live] / norms[live]
    a = net.v[live] * norms[live]
    # canonical orientation: the first coordinate that is not ~0 is positive
    lead = np.argmax(np.abs(u) > 1e-12, axis=1)
    sign = np.sign(u[np.arange(u.shape[0]), lead])
    u, t = u * sign[:, None], t * sign
    # group equal hyperplanes: sort lexicographically by (u, t), then split where a key jumps
    key = np.column_stack([u, t])
    order = np.lexsort(key.T[::-1]) if key.shape[0] else np.zeros(0, dtype=int)
    key, a_sorted = key[order], a[order]
    scale = 1.0 + np.abs(key)
    new = np.ones(key.shape[0], dtype=bool)
    if key.shape[0] > 1:
        new[1:] = np.any(np.abs(np.diff(key, axis=0)) > tol * scale[1:], axis=1)
    group = np.cumsum(new) - 1
    m = int(group[-1] + 1) if group.size else 0
    a_red = np.bincount(group, weights=a_sorted, minlength=m)
    counts = np.bincount(group, minlength=m)
    uk, tk = key[new, :-1], key[new, -1]
    g = np.minimum(_oriented(x, uk, tk), _oriented(x, -uk, -tk)) if m else np.zeros(0)
    return Reduced(u=uk, t=tk, a=a_red, g=g, counts=counts)


def relu_stability_norm(params: Any, x_train: Any) -> float:
    """Left side of the bound: ``sum_k |v_k| ||w_k|| g(u_k, t_k)`` over the reduced form.

    Parameters
    ----------
    params : Network or mapping with ``W (K, d)``, ``b (K,)``, ``v (K,)``, ``c``
    x_train : array-like (n, d)

    Returns
    -------
    float
        A function-space quantity: unchanged by splitting a neuron or rescaling ``(w, b, v) ->
        (s w, s b, v / s)``, s > 0. In 1-D it equals ``int |f''(x)| g(x) dx``.
    """
    return float(reduced_form(params, x_train).contributions.sum())


def raw_oriented_sum(params: Any, x_train: Any) -> float:
    """``sum_k |v_k| ||w_k|| g~(u_k, t_k)`` over the *original* neurons (>= the reduced norm)."""
    net, x = as_network(params), as_inputs(x_train)
    norms = np.linalg.norm(net.W, axis=1)
    live = norms > 0
    g = _oriented(x, net.W[live] / norms[live, None], -net.b[live] / norms[live])
    return float(np.sum(np.abs(net.v[live]) * norms[live] * g))


def jacobian(params: Any, x_train: Any) -> np.ndarray:
    """Per-sample gradient ``d f(x_i) / d theta``, ``theta = (W, b, v, c)`` flattened, shape ``(n, K(d+2)+1)``.

    The ReLU derivative at 0 is taken as 0 (torch's convention).
    """
    net, x = as_network(params), as_inputs(x_train)
    pre = x @ net.W.T + net.b  # (n, K)
    act = (pre > 0).astype(np.float64) * net.v  # v_k 1_k(x_i)
    dw = act[:, :, None] * x[:, None, :]  # (n, K, d)
    return np.concatenate(
        [dw.reshape(x.shape[0], -1), act, np.maximum(pre, 0.0), np.ones((x.shape[0], 1))], axis=1
    )


def gn_sharpness(params: Any, x_train: Any) -> float:
    """``lambda_max`` of the Gauss-Newton matrix ``(1/n) J^T J`` (the Hessian of L at interpolation).

    Computed by :mod:`dlsa_core.stability`'s Gram (NTK) reduction: the ``n x n`` matrix ``J J^T / n``
    has the same non-zero spectrum, so the cost is independent of the width.
    """
    jac = jacobian(params, x_train)
    return float(spectral_from_factors(jac[:, None, :], space="gram").lam[0])


def lemma_terms(params: Any, x_train: Any) -> dict[str, float]:
    """Both sides of the lemma ``lambda_max(GN) >= ||g_bar||^2 >= 1 + 2 sum |v| ||w|| g~``.

    Returns
    -------
    dict with ``lambda_max``, ``mean_grad_sq`` (``||mean_i grad f(x_i)||^2``), ``rhs``
    (``1 + 2 * raw_oriented_sum``) and ``norm`` (the reduced, un-oriented left side of the bound).
    """
    jac = jacobian(params, x_train)
    return {
        "lambda_max": float(spectral_from_factors(jac[:, None, :], space="gram").lam[0]),
        "mean_grad_sq": float(np.sum(jac.mean(0) ** 2)),
        "rhs": 1.0 + 2.0 * raw_oriented_sum(params, x_train),
        "norm": relu_stability_norm(params, x_train),
    }

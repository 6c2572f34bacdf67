"""Problem builders: small quadratics, least squares on digits, and a trained ReLU-net minimum.

A :class:`StabilityProblem` holds per-sample Hessians ``(n, d, d)`` or, for squared loss at an
interpolating minimum, per-sample Jacobians ``(n, k, d)`` with ``H_i = J_i^T J_i`` (never materialised
for large ``d``). Every function of this package accepts a problem wherever it accepts Hessians.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlsa_core.stability.spectral import Spectral, as_array, spectral_from_factors, spectral_from_hessians


@dataclass
class StabilityProblem:
    """A minimum described by its per-sample curvature.

    Attributes
    ----------
    name : str
    hessians : (n, d, d) float64 or None
    jacobians : (n, k, d) float64 or None
        ``H_i = J_i^T J_i`` (squared loss at an interpolating minimum).
    gradients : (n, d) float64 or None
        Per-sample gradients at a regular minimum (``None``: interpolating).
    info : dict
        Provenance (data, sizes, training loss...).
    """

    name: str
    hessians: np.ndarray | None = None
    jacobians: np.ndarray | None = None
    gradients: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    _spectral: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if (self.hessians is None) == (self.jacobians is None):
            raise ValueError("give exactly one of hessians or jacobians.")
        if self.hessians is not None:
            self.hessians = as_array(self.hessians, "hessians", 3)
        else:
            self.jacobians = as_array(self.jacobians, "jacobians", 3)

    @property
    def n(self) -> int:
        return int((self.hessians if self.hessians is not None else self.jacobians).shape[0])

    @property
    def d(self) -> int:
        return int((self.hessians if self.hessians is not None else self.jacobians).shape[-1])

    def spectral(self, space: str = "auto") -> Spectral:
        """Reduced problem (cached): parameter space, or the Gram reduction when ``n k < d``."""
        if space not in self._spectral:
            if self.hessians is not None:
                self._spectral[space] = spectral_from_hessians(self.hessians)
            else:
                self._spectral[space] = spectral_from_factors(self.jacobians, space=space)
        return self._spectral[space]


def rank_one_problem(vectors: Any, name: str = "rank-one") -> StabilityProblem:
    """``H_i = g_i g_i^T`` from vectors ``(n, d)`` (scalar-output squared loss)."""
    g = as_array(vectors, "vectors", 2)
    return StabilityProblem(name, jacobians=g[:, None, :], info={"n": g.shape[0], "d": g.shape[1]})


def toy_rank_one_2d() -> StabilityProblem:
    """The digest's hand-checkable example: g = (1, 0), (1, 1), (0, 2); eta*(1) = 0.5760394922."""
    return rank_one_problem([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]], name="toy 2-D (hand-checkable)")


def dominant_sample_2d() -> StabilityProblem:
    """2-D quadratic, 8 samples; one sample carries most of the curvature along H's top direction.

    Bound (15) is tight-ish here; SGD with small batches is far less stable than GD.
    """
    g = [[2.6, 0.0]] + [[0.25 * np.cos(a), np.sin(a) + 0.0] for a in np.linspace(1.2, 1.9, 7)]
    prob = rank_one_problem(g, name="2-D: one dominant sample")
    prob.info.update(what="sample 1 dominates H's top direction: small batches are much less stable than GD")
    return prob


def incoherent_2d(n: int = 6) -> StabilityProblem:
    """2-D quadratic: ``H_i = R(phi_i) diag(1.6, 0.1) R(phi_i)^T`` with evenly spread angles.

    Samples have equal spectra in different bases (incoherent); bound (16) is the tight one.
    """
    hs = []
    for phi in np.arange(n) * np.pi / n:
        rot = np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
        hs.append(rot @ np.diag([1.6, 0.1]) @ rot.T)
    return StabilityProblem(
        "2-D: incoherent samples",
        hessians=np.array(hs),
        info={"n": n, "d": 2, "what": "equal spectra in rotated bases: H is isotropic, samples are not"},
    )


def digits_least_squares(n_samples: int = 200, *, seed: int = 0) -> StabilityProblem:
    """Least squares on scikit-learn digits (8x8, pixels in [0, 1]): ``H_i = x_i x_i^T``, d = 64.

    At an interpolating least-squares solution the per-sample Hessians are exactly ``x_i x_i^T``. The
    targets are taken realizable (``y = X theta0`` for some ``theta0``), so the minimum interpolates; the
    real labels give a regular minimum with the same Hessians (:func:`digits_regular_gradients`).
    """
    x, _ = _digits_subset(n_samples, seed)
    prob = rank_one_problem(x, name="digits least squares")
    prob.info.update(
        data="sklearn digits",
        what="real data with realizable targets (y = X theta0: an interpolating minimum), H_i = x_i x_i^T",
    )
    return prob


def _digits_subset(n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.data / 16.0
    if not 2 <= n_samples <= len(x):
        raise ValueError(f"n_samples must be in [2, {len(x)}], got {n_samples}.")
    idx = np.random.default_rng(seed).choice(len(x), size=n_samples, replace=False)
    return x[idx], digits.target[idx].astype(np.float64)


def digits_regular_gradients(n_samples: int = 200, *, seed: int = 0) -> tuple[np.ndarray, float]:
    """Per-sample gradients at the least-squares minimum of :func:`digits_least_squares` with the real labels.

    With ``n = 200 > rank 59`` the real labels cannot be fitted: the minimum is *regular* (loss about
    1.44), ``g_i = x_i (x_i^T theta* - y_i)`` sum to zero but are not zero.

    Returns
    -------
    gradients : (n_samples, 64) float64
    loss : float
        ``mean_i (x_i^T theta* - y_i)^2 / 2`` at the minimum.
    """
    x, y = _digits_subset(n_samples, seed)
    theta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = x @ theta - y
    g = x * resid[:, None]
    return g - g.mean(axis=0), float(0.5 * np.mean(resid**2))  # remove the lstsq round-off (~1e-12)


def relu_net_minimum(
    n_samples: int = 50,
    *,
    width: int = 256,
    classes: tuple[int, ...] = (0, 1, 2, 3, 4),
    scalar_output: bool = False,
    seed: int = 0,
    max_iter: int = 400,
    device: Any = None,
) -> StabilityProblem:
    """Train a one-hidden-layer ReLU net to interpolation on a digits subset; return its Jacobians.

    Squared loss on one-hot labels (or, with ``scalar_output``, on +-1 parity labels), no softmax
    (cross-entropy has no minima). Full-batch L-BFGS in float64 drives the training loss to ~1e-12; the
    per-sample Hessians are then ``J_i^T J_i`` (the residual term vanishes at interpolation).

    Returns
    -------
    StabilityProblem
        ``jacobians`` of shape ``(n_samples, k, d)`` float64, ``d = width * (64 + 1 + k) + k``;
        ``info`` holds ``train_loss``, ``width``, ``d``, ``seconds``.
    """
    import torch
    from sklearn.datasets import load_digits

    from dlsa_core.device import get_device

    if width < 1 or width > 20_000:
        raise ValueError(f"width must be in [1, 20000], got {width}.")
    start = time.perf_counter()
    dev = get_device(device)
    digits = load_digits()
    mask = np.isin(digits.target, classes)
    x_all, y_all = digits.data[mask] / 16.0, digits.target[mask]
    if not 1 <= n_samples <= len(x_all):
        raise ValueError(f"n_samples must be in [1, {len(x_all)}] for classes {classes}, got {n_samples}.")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(x_all), generator=gen)[:n_samples].numpy()
    x = torch.tensor(x_all[idx], dtype=torch.float64, device=dev)
    labels = torch.tensor([classes.index(c) for c in y_all[idx]], device=dev)
    if scalar_output:
        y = (1.0 - 2.0 * (labels % 2)).to(torch.float64)[:, None]
    else:
        y = torch.nn.functional.one_hot(labels, len(classes)).to(torch.float64)
    k = y.shape[1]
    net = torch.nn.Sequential(torch.nn.Linear(64, width), torch.nn.ReLU(), torch.nn.Linear(width, k))
    with torch.no_grad():  # seeded init, independent of the global torch generator
        for prm in net.parameters():
            bound = 1.0 / np.sqrt(prm.shape[-1] if prm.ndim == 2 else width)
            prm.copy_((torch.rand(prm.shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
    net = net.to(device=dev, dtype=torch.float64)
    opt = torch.optim.LBFGS(
        net.parameters(),
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-14,
        tolerance_change=1e-16,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = 0.5 * ((net(x) - y) ** 2).sum(1).mean()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        loss = float(0.5 * ((net(x) - y) ** 2).sum(1).mean())
    params = {name: prm.detach() for name, prm in net.named_parameters()}

    def f(prm, xi):
        return torch.func.functional_call(net, prm, (xi[None],))[0]

    jac = torch.func.vmap(torch.func.jacrev(f), in_dims=(None, 0))(params, x)  # {name: (n, k, *shape)}
    jmat = torch.cat([jac[name].reshape(n_samples, k, -1) for name in params], dim=2)
    d = jmat.shape[2]
    info = {
        "n": n_samples,
        "k": k,
        "d": d,
        "width": width,
        "train_loss": loss,
        "classes": classes,
        "seconds": time.perf_counter() - start,
        "data": "sklearn digits",
        "what": "a real network minimum: Gauss-Newton H_i = J_i^T J_i, computed in the n k x n k Gram space",
    }
    return StabilityProblem("ReLU net minimum (digits)", jacobians=jmat.cpu().numpy(), info=info)

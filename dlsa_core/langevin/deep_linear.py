"""Deep linear networks at a global minimum: the paper's rank experiment (Bar et al., AAAI 2024, Sec. 5).

Loss (official code, whitened inputs ``Sigma_x = I``, no 1/2): ``L(W) = ||W_K ... W_1 - T||_F^2`` up to a
constant, so the Hessian at a zero-residual minimum is ``2 J^T J`` (``J = d vec(A) / d theta``, ``A`` the
end-to-end product) and its rank is ``q (d_0 + d_K - q)``. The start is exactly a global minimum: ``W_k = T^(1/K)``
with ``T = R R^T / sqrt(d)``, then a random orthogonal change of basis. The loss is computed in closed form from
the weights (no data sampling). Vectors over parameters are row-major flattenings of ``(W_1, ..., W_K)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dlsa_core.device import get_device
from dlsa_core.langevin.closed_form import psd_sqrt
from dlsa_core.langevin.simulation import check_int

PRECONDITIONERS = ("identity", "kron")
#: Relative regulariser of the Kronecker factors.
DELTA = 1e-6


@dataclass(frozen=True)
class DeepLinearNet:
    """Weights ``W_1 ... W_K`` (``W_k``: ``(d_k, d_(k-1))`` float64) and the target ``T`` (``(d_K, d_0)``)."""

    weights: tuple[np.ndarray, ...]
    target: np.ndarray

    @property
    def widths(self) -> list[int]:
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def n_params(self) -> int:
        return int(sum(w.size for w in self.weights))

    def product(self) -> np.ndarray:
        return end_to_end(self.weights)

    def loss(self) -> float:
        """``||A - T||_F^2``: zero at a global minimum."""
        return float(np.sum((self.product() - self.target) ** 2))


def end_to_end(weights) -> np.ndarray:
    a = weights[0]
    for w in weights[1:]:
        a = w @ a
    return a


def _orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))  # Haar distributed


def balanced_minimum(width: int, depth: int = 5, *, seed: int = 0) -> DeepLinearNet:
    """The paper's start: square width ``d``, ``W_k = T^(1/K)``, ``W_1 <- Q W_1``, ``W_k <- Q W_k Q^T``, ``W_K <- W_K Q^T``."""
    d = check_int(width, "width", 1, 512)
    k = check_int(depth, "depth", 1, 20)
    rng = np.random.default_rng(seed)
    r = rng.standard_normal((d, d))
    t = r @ r.T / np.sqrt(d)
    lam, u = np.linalg.eigh(t)
    s = (u * np.clip(lam, 0, None) ** (1 / k)) @ u.T
    q = _orthogonal(d, rng)
    if k == 1:
        ws = [s]
    else:
        ws = [q @ s] + [q @ s @ q.T for _ in range(k - 2)] + [s @ q.T]
    return DeepLinearNet(weights=tuple(ws), target=end_to_end(ws))


def random_factorisation(widths, *, seed: int = 0) -> DeepLinearNet:
    """Gaussian weights of the given widths ``[d_0, ..., d_K]``, with target their own product (a minimum)."""
    w = [check_int(x, "width", 1, 512) for x in widths]
    if len(w) < 2:
        raise ValueError("widths needs at least an input and an output width.")
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal((w[i + 1], w[i])) / np.sqrt(w[i]) for i in range(len(w) - 1)]
    return DeepLinearNet(weights=tuple(ws), target=end_to_end(ws))


def partial_products(weights):
    """``B_k = W_K ... W_(k+1)`` and ``C_k = W_(k-1) ... W_1`` for every layer (numpy)."""
    k = len(weights)
    c = [np.eye(weights[0].shape[1])]
    for w in weights[:-1]:
        c.append(w @ c[-1])
    b = [np.eye(weights[-1].shape[0])]
    for w in weights[:0:-1]:
        b.insert(0, b[0] @ w)
    assert len(b) == len(c) == k
    return b, c


def jacobian(net: DeepLinearNet) -> np.ndarray:
    """Explicit ``J = d vec(A) / d theta``, ``(d_K d_0, n_params)``: block ``k`` is ``kron(B_k, C_k^T)``."""
    b, c = partial_products(net.weights)
    return np.concatenate([np.kron(bk, ck.T) for bk, ck in zip(b, c, strict=True)], axis=1)


def gauss_newton(net: DeepLinearNet) -> np.ndarray:
    """The Gauss-Newton matrix ``2 J^T J`` (= the Hessian at a zero-residual minimum), ``(n_params, n_params)``."""
    j = jacobian(net)
    return 2 * j.T @ j


def kron_factors(net: DeepLinearNet, delta: float = DELTA) -> list[tuple[np.ndarray, np.ndarray]]:
    """Layer-wise Kronecker preconditioner ``P_k = 1/2 L_k (x) R_k`` from the weights alone (K-FAC/Shampoo-like).

    ``L_k = (B_k^T B_k + delta_k I)^(-1)``, ``R_k = (C_k C_k^T + delta_k I)^(-1)``, so ``P_k`` inverts the diagonal
    Hessian block ``2 (B_k^T B_k) (x) (C_k C_k^T)``; ``delta_k`` is ``delta`` times the block factor's norm.
    """
    b, c = partial_products(net.weights)
    out = []
    for bk, ck in zip(b, c, strict=True):
        gl, gr = bk.T @ bk, ck @ ck.T
        el = np.linalg.inv(gl + delta * np.linalg.norm(gl, 2) * np.eye(gl.shape[0]))
        er = np.linalg.inv(gr + delta * np.linalg.norm(gr, 2) * np.eye(gr.shape[0]))
        out.append(((el + el.T) / 2, (er + er.T) / 2))
    return out


def preconditioned_spectrum(
    net: DeepLinearNet, preconditioner: str = "identity", *, delta: float = DELTA
) -> np.ndarray:
    """Non-zero eigenvalues of ``A = P^(1/2) H P^(1/2)``, ascending (the rates of the Langevin modes).

    They are the eigenvalues of ``2 J P J^T = sum_k kron(X_k, Y_k)`` (``d_K d_0`` square). At the balanced minimum
    every ``X_k``, ``Y_k`` is diagonal in ``T``'s eigenbasis, giving all ``d^2`` values in ``O(K d^3)``; otherwise a
    dense eigensolve (``d_K d_0 <= 2500``).
    """
    if preconditioner not in PRECONDITIONERS:
        raise ValueError(f"preconditioner must be one of {PRECONDITIONERS}, got {preconditioner!r}.")
    b, c = partial_products(net.weights)
    if preconditioner == "identity":
        xs = [2 * bk @ bk.T for bk in b]
        ys = [ck.T @ ck for ck in c]
    else:
        f = kron_factors(net, delta)
        xs = [bk @ lk @ bk.T for bk, (lk, _) in zip(b, f, strict=True)]
        ys = [ck.T @ rk @ ck for ck, (_, rk) in zip(c, f, strict=True)]
    tol = 1e-9
    if net.target.shape[0] == net.target.shape[1]:
        _, u = np.linalg.eigh((net.target + net.target.T) / 2)
        dx = [u.T @ x @ u for x in xs]
        dy = [u.T @ y @ u for y in ys]
        off = max(np.abs(m - np.diag(np.diag(m))).max() / max(np.abs(m).max(), 1e-300) for m in dx + dy)
        if off < tol:
            lam = sum(np.outer(np.diag(x), np.diag(y)) for x, y in zip(dx, dy, strict=True)).ravel()
            return np.sort(lam[lam > 1e-10 * lam.max()])
    if net.target.size > 2500:
        raise ValueError("the exact spectrum needs the balanced square minimum or d_K d_0 <= 2500.")
    m = sum(np.kron(x, y) for x, y in zip(xs, ys, strict=True))
    lam = np.linalg.eigvalsh((m + m.T) / 2)
    return np.sort(lam[lam > 1e-10 * lam.max()])


def hvp(net: DeepLinearNet, vecs: np.ndarray) -> np.ndarray:
    """Hessian-vector products ``2 J^T J V`` for a block ``V`` of ``(n_params, k)`` vectors, matrix-free."""
    b, c = partial_products(net.weights)
    v = np.asarray(vecs, dtype=np.float64)
    single = v.ndim == 1
    v = v.reshape(net.n_params, -1)
    k = v.shape[1]
    blocks, start = [], 0
    for w in net.weights:
        blocks.append(v[start : start + w.size].T.reshape(k, *w.shape))
        start += w.size
    jv = sum(bk @ vk @ ck for bk, vk, ck in zip(b, blocks, c, strict=True))  # (k, d_K, d_0)
    out = [2 * (bk.T @ jv @ ck.T).reshape(k, -1).T for bk, ck in zip(b, c, strict=True)]
    res = np.concatenate(out, axis=0)
    return res[:, 0] if single else res


# ---------------------------------------------------------------------------------------------
# Langevin dynamics on the weights (batched over runs, torch)
# ---------------------------------------------------------------------------------------------


def _product(w: torch.Tensor) -> torch.Tensor:
    """End-to-end product of stacked square layers ``w``: ``(runs, K, d, d) -> (runs, d, d)``."""
    a = w[:, 0]
    for k in range(1, w.shape[1]):
        a = w[:, k] @ a
    return a


def _loss(w: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((_product(w) - target) ** 2).sum((-2, -1))


def _grads(w: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``dL/dW_k = 2 B_k^T (A - T) C_k^T`` with shared prefix products (3K - 2 batched matmuls), stacked."""
    n_layers = w.shape[1]
    pre = [None, w[:, 0]]
    for k in range(1, n_layers - 1):
        pre.append(w[:, k] @ pre[-1])
    u = 2 * ((w[:, -1] @ pre[-1] if n_layers > 1 else w[:, 0]) - target)
    grads = [None] * n_layers
    for k in range(n_layers - 1, -1, -1):
        grads[k] = u if pre[k] is None else u @ pre[k].transpose(-2, -1)
        if k:
            u = w[:, k].transpose(-2, -1) @ u
    return torch.stack(grads, 1)


def langevin_on_weights(
    net: DeepLinearNet,
    *,
    noise: float,
    eta: float,
    steps: int,
    runs: int,
    seed: int,
    preconditioner: str = "identity",
    delta: float = DELTA,
    midpoint: bool = False,
    record_every: int = 1,
    device: str | torch.device | None = None,
    progress=None,
    stop=None,
) -> np.ndarray:
    """Batched Langevin runs on the weights from ``net``: ``W <- W - eta P grad L + sqrt(eta) (cP)^(1/2) xi``.

    Parameters
    ----------
    net : the start (a minimum) with square layers (all widths equal)
    noise : float > 0, ``c`` (the paper's ``sigma^2``); the diffusion is ``D = c P``
    eta : float > 0, step size
    steps, runs : int
    seed : int, torch generator seed
    preconditioner : {"identity", "kron"}
        ``"identity"``: the paper's protocol (``P = I``, ``D = c I``). ``"kron"``: the layer-wise Kronecker
        preconditioner of :func:`kron_factors`, fixed at the start, with matched noise ``D = c P``.
    delta : float, regulariser of :func:`kron_factors`
    midpoint : bool, record the loss at ``(theta_t + theta_(t+1)) / 2`` (no discretisation bias on a quadratic)
    record_every : int
    device : optional torch device (float64)
    progress : callable(fraction), optional
    stop : callable(losses so far: (runs, records) ndarray) -> bool, optional, checked every 64 records

    Returns
    -------
    (runs, records) float64 ndarray of losses ``||A - T||^2``; column 0 is ``L(theta_0)``. Fewer columns than
    ``steps // record_every + 1`` when ``stop`` ended the runs early.
    """
    if preconditioner not in PRECONDITIONERS:
        raise ValueError(f"preconditioner must be one of {PRECONDITIONERS}, got {preconditioner!r}.")
    if len(set(net.widths)) != 1:
        raise ValueError("Langevin runs on the weights need square layers (all widths equal).")
    steps = check_int(steps, "steps", 1, 10_000_000)
    runs = check_int(runs, "runs", 1, 100_000)
    record_every = check_int(record_every, "record_every", 1, steps)
    for name, val in (("noise", noise), ("step size", eta)):
        if not np.isfinite(val) or val <= 0:
            raise ValueError(f"{name} must be a positive finite number, got {val!r}.")
    dev = get_device(device)
    f64 = dict(dtype=torch.float64, device=dev)
    target = torch.as_tensor(net.target, **f64)
    w = torch.as_tensor(np.stack(net.weights), **f64).expand(runs, -1, -1, -1).clone()
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    scale = float(np.sqrt(eta * noise))
    if preconditioner == "kron":
        facs = kron_factors(net, delta)
        lft = torch.as_tensor(np.stack([lk / 2 for lk, _ in facs]), **f64)
        rgt = torch.as_tensor(np.stack([rk for _, rk in facs]), **f64)
        lft_h = torch.as_tensor(np.stack([psd_sqrt(lk / 2) for lk, _ in facs]), **f64) * scale
        rgt_h = torch.as_tensor(np.stack([psd_sqrt(rk) for _, rk in facs]), **f64)
    out = np.empty((runs, steps // record_every + 1))
    kept, col = [_loss(w, target)], 0
    for k in range(1, steps + 1):
        g = _grads(w, target)
        xi = torch.randn(w.shape, generator=gen, **f64)
        if preconditioner == "kron":
            new = w - eta * (lft @ g @ rgt) + lft_h @ xi @ rgt_h
        else:
            new = w - eta * g + scale * xi
        if k % record_every == 0:
            kept.append(_loss((w + new) / 2 if midpoint else new, target))
        w = new
        if len(kept) >= 64 or k == steps:
            if kept:
                block = torch.stack(kept, 1).cpu().numpy()
                out[:, col : col + block.shape[1]] = block
                col += block.shape[1]
                kept = []
            if progress is not None:
                progress(k / steps)
            if stop is not None and k < steps and stop(out[:, :col]):
                return out[:, :col]
    return out

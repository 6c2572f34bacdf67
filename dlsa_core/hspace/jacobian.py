"""Image-specific h-space directions (Haas et al., Sec. 3.2): right singular vectors of d eps / d h_t.

At one step of one sample's trajectory, with ``x_t`` (hence the encoder skips) held fixed, the noise
prediction is a function ``g(h) -> eps (784,)`` (:func:`dlsa_core.diffusion.eps_of_h`). Its top right
singular vectors are the h-directions that change eps -- and the predicted x0 -- most.

- :func:`exact_svd`: the full Jacobian (784 x d, ``torch.func.jacrev``) and its SVD; cheap at 28x28.
- :func:`subspace_iteration`: the paper's matrix-free Algorithm 1 (JVPs and VJPs with ``torch.func``),
  which must agree with the exact SVD on the top singular values.
- :func:`output_mask`: optional region (top/bottom/left/right half, the stroke) the output is restricted
  to, giving region-specific directions (the masked Jacobian).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..diffusion import eps_of_h, h_jacobian
from ..diffusion.config import IMAGE_SIZE

MASKS = ("all", "top", "bottom", "left", "right", "stroke")


def output_mask(name: str, x0: torch.Tensor | None = None) -> torch.Tensor:
    """Pixel mask ``(784,) float32`` of an output region.

    Parameters
    ----------
    name : one of ``MASKS``
    x0 : (1, 1, 28, 28) or (28, 28), optional
        The (predicted) image in [-1, 1] model space; needed for ``"stroke"`` (pixels above 0).
    """
    m = torch.zeros(IMAGE_SIZE, IMAGE_SIZE)
    half = IMAGE_SIZE // 2
    if name == "all":
        m[:] = 1
    elif name == "top":
        m[:half] = 1
    elif name == "bottom":
        m[half:] = 1
    elif name == "left":
        m[:, :half] = 1
    elif name == "right":
        m[:, half:] = 1
    elif name == "stroke":
        if x0 is None:
            raise ValueError("the stroke mask needs the image x0")
        m = (torch.as_tensor(x0).reshape(IMAGE_SIZE, IMAGE_SIZE).float().cpu() > 0).float()
        if m.sum() == 0:
            raise ValueError("the stroke mask is empty (no pixel above mid-grey)")
    else:
        raise ValueError(f"mask must be one of {MASKS}, got {name!r}")
    return m.reshape(-1)


@dataclass
class JacobianSVD:
    """Top singular triplets of the (masked) Jacobian at one step.

    Attributes
    ----------
    singular_values : (k,) float32, descending
    directions : (k, C, H, W) float32
        Unit right singular vectors (h-space directions).
    outputs : (k, 784) float32
        Unit left singular vectors (the eps-change each direction causes).
    """

    singular_values: torch.Tensor
    directions: torch.Tensor
    outputs: torch.Tensor


def _fix_signs(v: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic sign per pair: the largest-magnitude entry of each right vector is positive."""
    idx = v.abs().argmax(dim=1)
    s = torch.sign(v[torch.arange(v.shape[0]), idx])
    s[s == 0] = 1
    return v * s[:, None], u * s[:, None]


def exact_svd(model, x_t: torch.Tensor, t, *, k: int = 8, mask: torch.Tensor | None = None) -> JacobianSVD:
    """SVD of the exact Jacobian ``d (mask * eps) / d h_t`` at ``(x_t, t)``.

    Parameters
    ----------
    x_t : (1, 1, 28, 28) float32
    t : int, training timestep
    k : number of singular triplets kept
    mask : (784,) float, optional (see :func:`output_mask`)
    """
    jac = h_jacobian(model, x_t, t).double()
    if mask is not None:
        jac = jac * mask.double()[:, None]
    u, s, vh = torch.linalg.svd(jac, full_matrices=False)
    v, u = _fix_signs(vh[:k], u[:, :k].T)
    return JacobianSVD(s[:k].float(), v.float().reshape(k, *model.h_shape), u.float())


def subspace_iteration(
    model,
    x_t: torch.Tensor,
    t,
    *,
    k: int = 4,
    iters: int = 40,
    mask: torch.Tensor | None = None,
    seed: int = 0,
    tol: float = 1e-6,
) -> JacobianSVD:
    """Matrix-free top-k SVD of ``J = d (mask * eps) / d h_t`` (Haas et al., Algorithm 1).

    Repeats ``U <- J V`` (JVPs), ``V_hat <- J^T U`` (VJPs), ``V <- left singular vectors of V_hat``, whose
    singular values converge to ``sigma^2``. Stops when the singular values change by less than ``tol``
    (relative) or after ``iters`` rounds. Never forms J.
    """
    h0, g = eps_of_h(model, x_t, t)
    m = None if mask is None else mask.to(h0.device, h0.dtype)

    def f(h):
        out = g(h)
        return out if m is None else out * m

    d = h0.numel()
    gen = torch.Generator().manual_seed(int(seed))
    V, _ = torch.linalg.qr(torch.randn(d, k, generator=gen, dtype=torch.float64))
    _, jvp_fn = torch.func.linearize(f, h0)
    _, vjp_fn = torch.func.vjp(f, h0)

    def J(V):  # (d, k) -> (784, k)
        cols = [jvp_fn(V[:, i].to(h0.dtype).reshape(h0.shape)) for i in range(V.shape[1])]
        return torch.stack(cols, 1).double()

    def JT(U):  # (784, k) -> (d, k)
        cols = [vjp_fn(U[:, i].to(h0.dtype))[0].reshape(-1) for i in range(U.shape[1])]
        return torch.stack(cols, 1).double()

    prev = None
    for _ in range(int(iters)):
        V_hat = JT(J(V))
        V, s2, _ = torch.linalg.svd(V_hat, full_matrices=False)
        sig = s2.sqrt()
        if prev is not None and torch.max((sig - prev).abs() / sig.clamp_min(1e-12)) < tol:
            break
        prev = sig
    U = J(V)
    sig = U.norm(dim=0)
    order = torch.argsort(sig, descending=True)
    sig, V, U = sig[order], V[:, order], U[:, order] / sig[order].clamp_min(1e-12)
    v, u = _fix_signs(V.T, U.T)
    return JacobianSVD(sig.float(), v.float().reshape(k, *model.h_shape), u.float())


def subspace_angles_deg(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Angles (degrees) between two sets of unit vectors, pairwise by index, sign-insensitive."""
    a = a.reshape(a.shape[0], -1).double()
    b = b.reshape(b.shape[0], -1).double()
    cos = (a * b).sum(1).abs() / (a.norm(dim=1) * b.norm(dim=1))
    return np.degrees(np.arccos(cos.clamp(0, 1).numpy()))


@torch.no_grad()
def state_at(model, trajectory, step: int) -> tuple[torch.Tensor, int]:
    """``x_t`` (model space, ``(1, 1, 28, 28)``) before sampling step ``step`` of an unedited replay, and ``t``."""
    if not 0 <= int(step) < trajectory.steps:
        raise ValueError(f"step must be in [0, {trajectory.steps}), got {step}")
    sched = model.ddim_scheduler(trajectory.steps)
    x = trajectory.x_T[:1].to(model.device)
    for i, t in enumerate(sched.timesteps[: int(step)]):
        eps = model.unet(x, t.to(model.device).expand(1)).sample
        z = None if trajectory.variance_noise is None else trajectory.variance_noise[i, :1].to(model.device)
        x = sched.step(eps, t, x, eta=trajectory.eta, variance_noise=z).prev_sample
    return x, int(sched.timesteps[int(step)])


def as_bank_direction(v: torch.Tensor, step_scale: torch.Tensor) -> torch.Tensor:
    """A unit h-direction copied to every bank step and scaled by ``step_scale (S,)`` (e.g. PC1's std per
    step, so γ = 1 is a typical h-variation): ``(S, C, H, W)``."""
    return v[None].float() * step_scale.float().reshape(-1, 1, 1, 1)

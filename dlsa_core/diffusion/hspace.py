"""Access to h-space: the output of ``unet.mid_block`` (the U-Net bottleneck) through forward hooks.

A forward hook's return value replaces the module output, so the diffusers forward pass is used
unchanged: the encoder skips are computed from ``x_t`` as usual and only the tensor entering the
first up block changes. Three uses:

- capture ``h_t`` at every sampling step (:class:`MidBlockHook` with ``capture=True``);
- add a per-step ``delta_h_t`` (``delta_h=``), as in Haas et al. (2024);
- replace ``h_t`` by a differentiable input, so ``d eps / d h_t`` can be formed exactly
  (:func:`eps_of_h`, :func:`h_jacobian`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .model import DDPMBundle


class MidBlockHook:
    """Forward hook on ``unet.mid_block``; use as a context manager (the hook is removed on exit).

    Parameters
    ----------
    unet : UNet2DModel
    capture : bool
        Store a detached CPU copy of h at every call, in ``self.captured`` (one entry per step).
    delta_h : tensor, optional
        ``(S, C, H, W)`` (one per step, broadcast over the batch) or ``(S, B, C, H, W)``; added to h at
        step ``self.step``, which the sampling loop sets before each U-Net call.
    replace : tensor, optional
        ``(B, C, H, W)``: returned instead of the mid-block output (may require grad).
    """

    def __init__(self, unet, *, capture: bool = False, delta_h: torch.Tensor | None = None, replace=None):
        self.unet = unet
        self.capture = capture
        self.delta_h = delta_h
        self.replace = replace
        self.step = 0
        self.captured: list[torch.Tensor] = []
        self._handle = None

    def __enter__(self) -> MidBlockHook:
        self._handle = self.unet.mid_block.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _hook(self, module, inputs, output):
        h = output
        if self.replace is not None:
            if self.replace.shape != h.shape:
                raise ValueError(
                    f"replacement h has shape {tuple(self.replace.shape)}, expected {tuple(h.shape)}"
                )
            h = self.replace
        if self.delta_h is not None:
            # h + 0 is bitwise h, so a zero delta leaves the output unchanged bit for bit
            h = h + self.delta_h[self.step].to(device=h.device, dtype=h.dtype)
        if self.capture:
            self.captured.append(h.detach().float().cpu())
        return h


def check_delta_h(delta_h: torch.Tensor, steps: int, n: int, h_shape: tuple[int, int, int]) -> torch.Tensor:
    """Validate a per-step edit: ``(steps, C, H, W)`` or ``(steps, n, C, H, W)``, finite."""
    delta_h = torch.as_tensor(delta_h, dtype=torch.float32)
    ok = (delta_h.ndim == 4 and tuple(delta_h.shape) == (steps, *h_shape)) or (
        delta_h.ndim == 5 and tuple(delta_h.shape) == (steps, n, *h_shape)
    )
    if not ok:
        raise ValueError(
            f"delta_h must be ({steps}, {', '.join(map(str, h_shape))}) or ({steps}, {n}, ...), "
            f"got {tuple(delta_h.shape)}"
        )
    if not torch.isfinite(delta_h).all():
        raise ValueError("delta_h contains NaN or inf")
    return delta_h


def _timestep(t, n: int, device) -> torch.Tensor:
    return torch.as_tensor(t, device=device).long().reshape(-1).expand(n)


@torch.no_grad()
def capture_h_at(model: DDPMBundle, x_t: torch.Tensor, t) -> torch.Tensor:
    """h for a batch at one timestep: ``x_t (B, 1, 28, 28)`` -> ``(B, C, H, W) float32`` (CPU)."""
    with MidBlockHook(model.unet, capture=True) as hook:
        model.unet(x_t.to(model.device), _timestep(t, x_t.shape[0], model.device))
    return hook.captured[0]


def eps_of_h(
    model: DDPMBundle, x_t: torch.Tensor, t
) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """Expose h as a differentiable input of the noise prediction at fixed ``x_t`` (skips fixed).

    Parameters
    ----------
    x_t : (1, 1, 28, 28) float32
    t : int
        Training timestep in [0, T).

    Returns
    -------
    h0 : (C, H, W) float32
        The unedited h at ``(x_t, t)``.
    g : callable
        ``g(h: (C, H, W)) -> eps: (784,)``, differentiable in h (works with ``torch.func``).
    """
    if x_t.ndim != 4 or x_t.shape[0] != 1:
        raise ValueError(f"x_t must be (1, 1, 28, 28), got {tuple(x_t.shape)}")
    x_t = x_t.to(model.device)
    h0 = capture_h_at(model, x_t, t)[0].to(model.device)
    tt = _timestep(t, 1, model.device)

    def g(h: torch.Tensor) -> torch.Tensor:
        with MidBlockHook(model.unet, replace=h[None]):
            return model.unet(x_t, tt).sample.reshape(-1)

    return h0, g


def h_jacobian(model: DDPMBundle, x_t: torch.Tensor, t, *, chunk_size: int | None = 98) -> torch.Tensor:
    """Exact Jacobian ``d eps / d h_t`` at one point, with ``torch.func.jacrev``.

    Returns
    -------
    torch.Tensor
        ``(784, C*H*W) float32``: row i is the gradient of pixel i of eps with respect to flattened h.
    """
    h0, g = eps_of_h(model, x_t, t)
    jac = torch.func.jacrev(g, chunk_size=chunk_size)(h0)
    return jac.reshape(jac.shape[0], -1).detach()

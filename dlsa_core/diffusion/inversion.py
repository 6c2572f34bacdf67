"""Inversion of real images into sampler state, so that sampling (with or without an edit) starts
from them.

- ``eta = 0``: DDIM inversion. The deterministic DDIM update is run backwards from the image to x_T,
  evaluating epsilon at the next (higher) timestep; reconstruction is close but not exact.
- ``eta > 0``: edit-friendly DDPM inversion (Huberman-Spiegelglas et al., 2024). Each x_t is drawn
  independently from q(x_t | x_0); then for every step the noise map is solved from
  ``x_{t-1} = mu_t(x_t) + sigma_t z_t``, so that the sampler reproduces the image up to float rounding.

Both return a :class:`~dlsa_core.diffusion.sampling.Trajectory`; ``replay(model, inv.trajectory)``
reconstructs the images, ``replay(..., delta_h=...)`` edits them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..device import get_device
from .config import IMAGE_SIZE
from .hspace import MidBlockHook
from .model import DDPMBundle, check_steps, to_model_space
from .sampling import BATCH, Trajectory, _check_eta


@dataclass
class Inversion:
    """Result of an inversion.

    Attributes
    ----------
    trajectory : Trajectory
        Sampler state that reconstructs the images (``x_T`` and, for ``eta > 0``, the noise maps).
    x0 : (n, 1, 28, 28) float32 in [-1, 1]
        The inverted images in model space.
    h : (steps, n, C, H, W) float32 or None
        Mid-block output at every step, in sampling order (step 0 = highest t), if captured.
    """

    trajectory: Trajectory
    x0: torch.Tensor
    h: torch.Tensor | None = None


def _model_input(images, x0) -> torch.Tensor:
    if (images is None) == (x0 is None):
        raise ValueError("give exactly one of images (in [0, 1]) or x0 (model space, e.g. SampleResult.x0)")
    if images is not None:
        return to_model_space(images, device="cpu")
    x0 = torch.as_tensor(x0, dtype=torch.float32).cpu()
    if x0.ndim != 4 or tuple(x0.shape[1:]) != (1, IMAGE_SIZE, IMAGE_SIZE) or not torch.isfinite(x0).all():
        raise ValueError(f"x0 must be a finite (N, 1, 28, 28) tensor, got {tuple(x0.shape)}")
    return x0


def _alpha_bars(scheduler, timesteps: torch.Tensor) -> list[float]:
    """alpha_bar for each timestep and, last, the level the sampler ends on (alpha_bar_0 here)."""
    a = [float(scheduler.alphas_cumprod[int(t)]) for t in timesteps]
    return a + [float(scheduler.final_alpha_cumprod)]


@torch.no_grad()
def ddim_invert(
    model: DDPMBundle, images=None, *, x0=None, steps: int = 50, device=None, capture_h: bool = False
) -> Inversion:
    """Deterministic DDIM inversion (``eta = 0``).

    Parameters
    ----------
    images : (n, 28, 28) or (n, 1, 28, 28)
        uint8 in [0, 255] or float in [0, 1].
    x0 : (n, 1, 28, 28) float32, optional
        Instead of ``images``: a tensor already in model space (e.g. ``SampleResult.x0``).
    steps : int
        Number of inversion (and reconstruction) steps.

    Returns
    -------
    Inversion
    """
    check_steps(steps, model.config.num_train_timesteps)
    if device is not None:
        model.unet.to(get_device(device))
    x0 = _model_input(images, x0)
    scheduler = model.ddim_scheduler(steps)
    ts = scheduler.timesteps
    abar = _alpha_bars(scheduler, ts)
    outs, hs = [], []
    for start in range(0, x0.shape[0], BATCH):
        x = x0[start : start + BATCH].to(model.device)
        with MidBlockHook(model.unet, capture=capture_h) as hook:
            # walk the grid upwards: from level abar[k+1] (one step less noisy) to abar[k]
            for k in reversed(range(steps)):
                a_from, a_to = abar[k + 1], abar[k]
                eps = model.unet(x, ts[k].to(model.device).expand(x.shape[0])).sample
                pred_x0 = (x - (1 - a_from) ** 0.5 * eps) / a_from**0.5
                x = a_to**0.5 * pred_x0 + (1 - a_to) ** 0.5 * eps
        outs.append(x.float().cpu())
        if capture_h:
            hs.append(torch.stack(hook.captured[::-1]))  # captured upwards; store in sampling order
    traj = Trajectory(x_T=torch.cat(outs), variance_noise=None, timesteps=ts.clone(), eta=0.0, seed=None)
    return Inversion(trajectory=traj, x0=x0, h=torch.cat(hs, dim=1) if capture_h else None)


@torch.no_grad()
def edit_friendly_invert(
    model: DDPMBundle,
    images=None,
    *,
    x0=None,
    steps: int = 50,
    eta: float = 1.0,
    seed: int = 0,
    device=None,
    capture_h: bool = False,
) -> Inversion:
    """Edit-friendly DDPM inversion for ``eta > 0``: sampling the result reproduces the images.

    Parameters
    ----------
    images : (n, 28, 28) or (n, 1, 28, 28)
        uint8 in [0, 255] or float in [0, 1].
    x0 : (n, 1, 28, 28) float32, optional
        Instead of ``images``: a tensor already in model space.
    steps : int
    eta : float in (0, 1]
    seed : int
        Seeds the independent noising ``x_t ~ q(x_t | x_0)``.

    Returns
    -------
    Inversion
        ``trajectory.variance_noise`` holds the solved noise maps ``(steps, n, 1, 28, 28)``.
    """
    check_steps(steps, model.config.num_train_timesteps)
    eta = _check_eta(eta)
    if eta == 0:
        raise ValueError("edit-friendly inversion needs eta > 0; use ddim_invert for eta = 0")
    if device is not None:
        model.unet.to(get_device(device))
    x0 = _model_input(images, x0)
    n = x0.shape[0]
    scheduler = model.ddim_scheduler(steps)
    ts = scheduler.timesteps
    abar = _alpha_bars(scheduler, ts)
    gen = torch.Generator().manual_seed(int(seed))
    # 1. independent noising: x_{t_i} for every grid point, the image itself at the end level
    noisy = [
        abar[i] ** 0.5 * x0 + (1 - abar[i]) ** 0.5 * torch.randn(x0.shape, generator=gen)
        for i in range(steps)
    ]
    noisy.append(x0)
    zs = torch.empty((steps, n, 1, IMAGE_SIZE, IMAGE_SIZE))
    hs = []
    for start in range(0, n, BATCH):
        sl = slice(start, min(n, start + BATCH))
        x = noisy[0][sl].to(model.device)
        with MidBlockHook(model.unet, capture=capture_h) as hook:
            for i, t in enumerate(ts):
                hook.step = i
                eps = model.unet(x, t.to(model.device).expand(x.shape[0])).sample
                mean = scheduler.step(eps, t, x, eta=eta, variance_noise=torch.zeros_like(x)).prev_sample
                var = (1 - abar[i + 1]) / (1 - abar[i]) * (1 - abar[i] / abar[i + 1])
                std = eta * var**0.5
                if std <= 0:
                    raise ValueError(f"zero posterior variance at step {i}; the scheduler grid is degenerate")
                # 2. solve x_{t-1} = mean + std * z for z, then step exactly as the sampler will
                z = (noisy[i + 1][sl].to(model.device) - mean) / std
                zs[i, sl] = z.float().cpu()
                x = scheduler.step(eps, t, x, eta=eta, variance_noise=z).prev_sample
        if capture_h:
            hs.append(torch.stack(hook.captured))
    traj = Trajectory(x_T=noisy[0].clone(), variance_noise=zs, timesteps=ts.clone(), eta=eta, seed=int(seed))
    return Inversion(trajectory=traj, x0=x0, h=torch.cat(hs, dim=1) if capture_h else None)


def invert(
    model: DDPMBundle,
    images=None,
    *,
    x0=None,
    steps: int = 50,
    eta: float = 0.0,
    seed: int = 0,
    device=None,
    capture_h: bool = False,
) -> Inversion:
    """DDIM inversion for ``eta == 0``, edit-friendly DDPM inversion for ``eta > 0``."""
    kw = dict(x0=x0, steps=steps, device=device, capture_h=capture_h)
    if _check_eta(eta) == 0:
        return ddim_invert(model, images, **kw)
    return edit_friendly_invert(model, images, eta=eta, seed=seed, **kw)

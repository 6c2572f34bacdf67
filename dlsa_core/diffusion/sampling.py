"""DDIM / DDPM-like sampling with recorded noise, so that every run can be replayed exactly.

The image is a deterministic function of ``(x_T, z_{1:S}, delta_h_{1:S})``: ``x_T`` is drawn from
``seed`` and, for ``eta > 0``, the per-step noise maps ``z`` from ``seed + 1`` (drawing both from one
seed correlates them; Haas et al.'s code avoids it the same way), then passed to
``DDIMScheduler.step(..., variance_noise=z)``. Replaying a :class:`Trajectory` with a ``delta_h``
changes only what the edit touches; with ``delta_h = 0`` the images are identical bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import IMAGE_SIZE
from .hspace import MidBlockHook, check_delta_h
from .model import DDPMBundle, check_steps, to_unit

BATCH = 256  # fixed chunking: a replay must batch exactly like the original run to be bitwise equal


@dataclass
class Trajectory:
    """Everything that determines a sampling run besides the model and the edit.

    Attributes
    ----------
    x_T : (n, 1, 28, 28) float32
        Starting noise (CPU).
    variance_noise : (steps, n, 1, 28, 28) float32 or None
        Noise map ``z`` for each step (``None`` when ``eta == 0``).
    timesteps : (steps,) int64
        The DDIM timestep grid, highest first.
    eta : float
    seed : int or None
    """

    x_T: torch.Tensor
    variance_noise: torch.Tensor | None
    timesteps: torch.Tensor
    eta: float
    seed: int | None = None

    @property
    def steps(self) -> int:
        return int(self.timesteps.numel())

    @property
    def n(self) -> int:
        return int(self.x_T.shape[0])


@dataclass
class SampleResult:
    """Output of :func:`sample`.

    Attributes
    ----------
    images : (n, 1, 28, 28) float32 in [0, 1]
    x0 : (n, 1, 28, 28) float32
        Final sample in model space (about [-1, 1], unclamped).
    trajectory : Trajectory
        Pass back to :func:`sample` (``trajectory=``) to replay.
    h : (steps, n, C, H, W) float32 or None
        The mid-block output at every step (after any edit), if ``capture_h``.
    """

    images: torch.Tensor
    x0: torch.Tensor
    trajectory: Trajectory
    h: torch.Tensor | None = None


def _check_eta(eta: float) -> float:
    eta = float(eta)
    if not 0.0 <= eta <= 1.0 or eta != eta:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    return eta


def draw_trajectory(model: DDPMBundle, n: int, *, steps: int, eta: float, seed: int) -> Trajectory:
    """Draw ``x_T`` (from ``seed``) and, for ``eta > 0``, the noise maps (from ``seed + 1``) on CPU,
    so the same seed gives the same noise on every device."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    eta = _check_eta(eta)
    scheduler = model.ddim_scheduler(steps)
    shape = (n, 1, IMAGE_SIZE, IMAGE_SIZE)
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(int(seed)))
    z = None
    if eta > 0:
        z = torch.randn((steps, *shape), generator=torch.Generator().manual_seed(int(seed) + 1))
    return Trajectory(
        x_T=x_T, variance_noise=z, timesteps=scheduler.timesteps.clone(), eta=eta, seed=int(seed)
    )


@torch.no_grad()
def denoise(
    model: DDPMBundle,
    trajectory: Trajectory,
    *,
    delta_h: torch.Tensor | None = None,
    capture_h: bool = False,
    batch_size: int = BATCH,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run the DDIM loop for a trajectory. Returns ``x0 (n, 1, 28, 28)`` (CPU) and captured h or None."""
    steps, n = trajectory.steps, trajectory.n
    scheduler = model.ddim_scheduler(steps)
    if not torch.equal(scheduler.timesteps.cpu(), trajectory.timesteps.cpu()):
        raise ValueError("trajectory timesteps do not match this model's scheduler")
    if delta_h is not None:
        delta_h = check_delta_h(delta_h, steps, n, model.h_shape)
    device = model.device
    outs, hs = [], []
    for start in range(0, n, batch_size):
        sl = slice(start, min(n, start + batch_size))
        x = trajectory.x_T[sl].to(device)
        d = None
        if delta_h is not None:
            d = delta_h if delta_h.ndim == 4 else delta_h[:, sl]
            d = d.to(device)
        with MidBlockHook(model.unet, capture=capture_h, delta_h=d) as hook:
            for i, t in enumerate(scheduler.timesteps):
                hook.step = i
                eps = model.unet(x, t.to(device).expand(x.shape[0])).sample
                z = None
                if trajectory.variance_noise is not None and trajectory.eta > 0:
                    z = trajectory.variance_noise[i, sl].to(device)
                x = scheduler.step(eps, t, x, eta=trajectory.eta, variance_noise=z).prev_sample
        outs.append(x.float().cpu())
        if capture_h:
            hs.append(torch.stack(hook.captured))
    h = torch.cat(hs, dim=1) if capture_h else None
    return torch.cat(outs), h


def sample(
    model: DDPMBundle,
    n: int,
    *,
    steps: int = 50,
    eta: float = 0.0,
    seed: int = 0,
    device=None,
    trajectory: Trajectory | None = None,
    delta_h: torch.Tensor | None = None,
    capture_h: bool = False,
    batch_size: int = BATCH,
) -> SampleResult:
    """Sample ``n`` digits with the DDIM sampler (``eta = 0``) or its stochastic variant (``eta > 0``).

    Parameters
    ----------
    model : DDPMBundle
        From :func:`load_ddpm`.
    n : int
        Number of images.
    steps : int
        Inference steps (1 .. T).
    eta : float in [0, 1]
        0 is deterministic DDIM; 1 is DDPM-like ancestral sampling on the same grid.
    seed : int
        Seeds ``x_T`` (and ``z`` from ``seed + 1``).
    device : str or torch.device or None
        If given, the model is moved there first.
    trajectory : Trajectory, optional
        Replay this recorded state instead of drawing from ``seed`` (``n``, ``steps``, ``eta`` must match).
    delta_h : tensor, optional
        Per-step edit added to h: ``(steps, C, H, W)`` or ``(steps, n, C, H, W)``.
    capture_h : bool
        Return h at every step in ``.h``.

    Returns
    -------
    SampleResult
        ``.images (n, 1, 28, 28) float32 in [0, 1]``, ``.trajectory`` for replay, ``.h``.
    """
    check_steps(steps, model.config.num_train_timesteps)
    if device is not None:
        from ..device import get_device

        model.unet.to(get_device(device))
    if trajectory is None:
        trajectory = draw_trajectory(model, n, steps=steps, eta=eta, seed=seed)
    elif trajectory.n != n or trajectory.steps != steps or trajectory.eta != _check_eta(eta):
        raise ValueError(
            f"trajectory has n={trajectory.n}, steps={trajectory.steps}, eta={trajectory.eta}; "
            f"got n={n}, steps={steps}, eta={eta}"
        )
    x0, h = denoise(model, trajectory, delta_h=delta_h, capture_h=capture_h, batch_size=batch_size)
    return SampleResult(images=to_unit(x0), x0=x0, trajectory=trajectory, h=h)


def replay(
    model: DDPMBundle, trajectory: Trajectory, *, delta_h=None, capture_h: bool = False
) -> SampleResult:
    """Re-run a recorded trajectory, optionally with an h-space edit."""
    return sample(
        model,
        trajectory.n,
        steps=trajectory.steps,
        eta=trajectory.eta,
        trajectory=trajectory,
        delta_h=delta_h,
        capture_h=capture_h,
    )

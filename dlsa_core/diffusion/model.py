"""The DDPM model bundle: a diffusers ``UNet2DModel`` plus its scheduler config, and loading it.

``load_ddpm()`` returns a :class:`DDPMBundle` built from the shipped, sha256-verified weights in
``assets/weights/ddpm-mnist``. Samplers (``sampling.py``), inversion (``inversion.py``) and h-space
hooks (``hspace.py``) all take this bundle; the model itself knows nothing about them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel

from .. import weights
from ..device import get_device
from .config import IMAGE_SIZE, DDPMConfig

DEFAULT_NAME = "ddpm-mnist"


def build_unet(config: DDPMConfig) -> UNet2DModel:
    """A freshly initialised ``UNet2DModel`` for ``config`` (float32, CPU)."""
    return UNet2DModel(**config.unet_kwargs())


@dataclass
class DDPMBundle:
    """U-Net, its config and scheduler config; what every sampler and inversion function takes.

    Attributes
    ----------
    unet : UNet2DModel
        In eval mode, on ``device``. Predicts epsilon for ``x_t: (B, 1, 28, 28) float32``.
    config : DDPMConfig
    name : str or None
        Registry name when loaded from shipped weights.
    card : dict
        Model card of the shipped weights (empty for an untrained or in-training model).
    """

    unet: UNet2DModel
    config: DDPMConfig
    name: str | None = None
    card: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def h_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the mid-block output h for one image."""
        return self.config.h_shape

    @property
    def scheduler_config(self) -> dict[str, Any]:
        return self.config.scheduler_config()

    def ddim_scheduler(self, steps: int) -> DDIMScheduler:
        """A fresh ``DDIMScheduler`` with ``steps`` inference steps (schedulers are stateful)."""
        check_steps(steps, self.config.num_train_timesteps)
        scheduler = DDIMScheduler(**self.scheduler_config)
        scheduler.set_timesteps(steps)
        return scheduler

    def ddpm_scheduler(self) -> DDPMScheduler:
        """The training scheduler (``add_noise``); same betas as the DDIM sampler."""
        return ddpm_scheduler(self.config)


def ddpm_scheduler(config: DDPMConfig) -> DDPMScheduler:
    """``DDPMScheduler`` for ``config`` (training noise schedule; same betas as the DDIM sampler)."""
    cfg = {k: v for k, v in config.scheduler_config().items() if k != "set_alpha_to_one"}
    return DDPMScheduler(**cfg)


def check_steps(steps: int, num_train_timesteps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise ValueError(f"steps must be an integer, got {steps!r}")
    if not 1 <= steps <= num_train_timesteps:
        raise ValueError(f"steps must be in [1, {num_train_timesteps}], got {steps}")


def bundle_from_state(
    config: DDPMConfig, state_dict: dict[str, torch.Tensor] | None = None, *, device=None, **meta
) -> DDPMBundle:
    """Build a bundle from a config and (optionally) a U-Net state dict, in eval mode on ``device``."""
    unet = build_unet(config)
    if state_dict is not None:
        missing, unexpected = unet.load_state_dict(state_dict, strict=False)
        if missing or unexpected:
            raise weights.WeightsError(
                f"U-Net weights do not fit the config: missing {missing[:3]}..., unexpected {unexpected[:3]}..."
            )
    unet.requires_grad_(False)
    return DDPMBundle(unet=unet.to(get_device(device)).eval(), config=config, **meta)


def load_ddpm(name: str = DEFAULT_NAME, device=None, *, root=None) -> DDPMBundle:
    """Load shipped DDPM weights (EMA) after checking their sha256 against the manifest.

    Parameters
    ----------
    name : str
        Registry name under ``assets/weights``.
    device : str or torch.device or None
        Resolved by :func:`dlsa_core.device.get_device`.

    Raises
    ------
    WeightsError
        If the weights are missing, corrupted, or do not match their config.
    """
    loaded = weights.load(name, root=root, device="cpu")
    try:
        config = DDPMConfig.from_dict(loaded.config["ddpm"])
    except (KeyError, TypeError, ValueError) as exc:
        raise weights.WeightsError(f"{loaded.path / 'config.json'} is not a DDPM config: {exc}") from exc
    return bundle_from_state(
        config,
        loaded.tensors,
        device=device,
        name=name,
        card=loaded.card,
        sha256=loaded.sha256.get("model.safetensors"),
    )


# ----------------------------------------------------------------------------- image <-> model space


def to_model_space(images, *, device=None) -> torch.Tensor:
    """Images to the model's input space.

    Parameters
    ----------
    images : array or tensor, (N, 28, 28) or (N, 1, 28, 28)
        uint8 in [0, 255] or float in [0, 1].

    Returns
    -------
    torch.Tensor
        ``(N, 1, 28, 28) float32 in [-1, 1]`` on ``device``.
    """
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    x = x.float()
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"images must be (N, 28, 28) or (N, 1, 28, 28), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or inf")
    if x.min() < -1e-6 or x.max() > 1 + 1e-6:
        raise ValueError("float images must lie in [0, 1] (uint8 images in [0, 255])")
    return (x * 2 - 1).to(get_device(device))


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Model space ``(N, 1, 28, 28)`` in [-1, 1] to float images in [0, 1] (clamped), on CPU."""
    return ((x.detach().float().cpu() + 1) / 2).clamp(0, 1)

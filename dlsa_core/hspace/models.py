"""Any diffusers ``UNet2DModel`` with a mid block, not only the shipped one.

:func:`load_pretrained` turns a ``save_pretrained`` folder (a bare U-Net folder or a pipeline folder
with ``unet/`` and ``scheduler/``), or a Hub id where a network exists, into the
:class:`~dlsa_core.diffusion.DDPMBundle` every sampler, hook and direction function takes. h is the
output of ``unet.mid_block``; its shape is measured with one forward pass. The samplers work on
1 x 28 x 28 images, so the U-Net must take those.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import UNet2DModel

from ..device import get_device
from ..diffusion import DDPMBundle
from ..diffusion.config import IMAGE_SIZE
from ..diffusion.hspace import MidBlockHook

DEFAULT_SCHEDULER = {
    "num_train_timesteps": 1000,
    "beta_schedule": "linear",
    "prediction_type": "epsilon",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "timestep_spacing": "trailing",
}
SCHEDULER_KEYS = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "prediction_type")


@dataclass(frozen=True)
class ForeignConfig:
    """What samplers need to know about a U-Net that was not built from a ``DDPMConfig``."""

    h_shape: tuple[int, int, int]
    scheduler: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SCHEDULER))

    @property
    def num_train_timesteps(self) -> int:
        return int(self.scheduler["num_train_timesteps"])

    def scheduler_config(self) -> dict[str, Any]:
        return dict(self.scheduler)


def measure_h_shape(unet: UNet2DModel) -> tuple[int, int, int]:
    """``(C, H, W)`` of the mid-block output for one 1 x 28 x 28 input."""
    if getattr(unet, "mid_block", None) is None:
        raise ValueError("this U-Net has no mid block, so it has no h-space")
    dev = next(unet.parameters()).device
    with torch.no_grad(), MidBlockHook(unet, capture=True) as hook:
        unet(torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE, device=dev), torch.tensor([0], device=dev))
    return tuple(hook.captured[0].shape[1:])


def bundle_from_unet(
    unet: UNet2DModel, scheduler: dict | None = None, *, device=None, name=None
) -> DDPMBundle:
    """Wrap a U-Net (eval, no grad) as a :class:`DDPMBundle`."""
    cfg = unet.config
    if cfg.in_channels != 1 or cfg.out_channels != 1 or int(cfg.sample_size) != IMAGE_SIZE:
        raise ValueError(
            f"the samplers work on 1 x {IMAGE_SIZE} x {IMAGE_SIZE} images; this U-Net takes "
            f"{cfg.in_channels} x {cfg.sample_size} x {cfg.sample_size}"
        )
    sched = dict(DEFAULT_SCHEDULER)
    sched.update({k: v for k, v in (scheduler or {}).items() if k in SCHEDULER_KEYS})
    unet = unet.to(get_device(device)).eval().requires_grad_(False)
    return DDPMBundle(unet=unet, config=ForeignConfig(measure_h_shape(unet), sched), name=name)


def load_pretrained(path_or_id: str | Path, *, device=None) -> DDPMBundle:
    """Load a ``save_pretrained`` U-Net or pipeline folder (or a Hub id, online only)."""
    path = Path(path_or_id)
    sub, sched = None, None
    if path.is_dir():
        if (path / "unet" / "config.json").is_file():
            sub = "unet"
        for cand in (path / "scheduler" / "scheduler_config.json", path / "scheduler_config.json"):
            if cand.is_file():
                sched = json.loads(cand.read_text())
    try:
        unet = UNet2DModel.from_pretrained(str(path_or_id), subfolder=sub)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load a UNet2DModel from {path_or_id!s}: {exc}") from exc
    return bundle_from_unet(unet, sched, device=device, name=str(path_or_id))

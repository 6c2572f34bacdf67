"""Small MNIST DDPM: diffusers ``UNet2DModel`` + DDIM sampling with recorded noise, inversion, h-space.

Quick start::

    from dlsa_core.diffusion import load_ddpm, sample
    model = load_ddpm()
    out = sample(model, 16, steps=20, eta=0.0, seed=0)   # out.images: (16, 1, 28, 28) in [0, 1]
"""

from .config import DDPMConfig
from .hspace import MidBlockHook, capture_h_at, eps_of_h, h_jacobian
from .inversion import Inversion, ddim_invert, edit_friendly_invert, invert
from .model import DDPMBundle, build_unet, bundle_from_state, load_ddpm, to_model_space, to_unit
from .sampling import SampleResult, Trajectory, draw_trajectory, replay, sample

__all__ = [
    "DDPMBundle",
    "DDPMConfig",
    "Inversion",
    "MidBlockHook",
    "SampleResult",
    "Trajectory",
    "build_unet",
    "bundle_from_state",
    "capture_h_at",
    "ddim_invert",
    "draw_trajectory",
    "edit_friendly_invert",
    "eps_of_h",
    "h_jacobian",
    "invert",
    "load_ddpm",
    "replay",
    "sample",
    "to_model_space",
    "to_unit",
]

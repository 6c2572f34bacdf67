"""Where an edited image comes from: a seed, or a real digit (held-out, drawn, uploaded) through inversion.

Real digits are inverted into sampler state (:func:`dlsa_core.diffusion.invert`) and then edited by
replaying that state with an edit. Two inversions:

- ``"edit-friendly"`` (eta = 1, Huberman-Spiegelglas et al.): the solved noise maps reproduce the
  digit up to float rounding (PSNR well above 30 dB at any step count);
- ``"ddim"`` (eta = 0): deterministic, approximate (the error grows as steps get fewer).

:func:`trace` replays a trajectory and returns x_t and the predicted x0 at every step (the scrubber).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from ..diffusion import invert, to_unit
from ..diffusion.hspace import MidBlockHook
from ..diffusion.sampling import Trajectory
from .edit import _lock, default_model, unedited

METHODS = {"edit-friendly": 1.0, "ddim": 0.0}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of images in [0, 1] (inf when identical)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@dataclass
class InvertedDigit:
    """A real digit as sampler state.

    Attributes
    ----------
    trajectory : Trajectory (n = 1)
    image : (28, 28) float32 in [0, 1], the input
    reconstruction : (28, 28) float32 in [0, 1], the unedited replay
    psnr_db : float
    key : str, identifies the source in the edit cache
    """

    trajectory: Trajectory
    image: np.ndarray
    reconstruction: np.ndarray
    psnr_db: float
    key: str


def prepare_digit(image) -> np.ndarray:
    """Any grey image-like array (H, W) in [0, 1] or uint8, any size -> (28, 28) float32 in [0, 1].

    Resized with area averaging (PIL) when not 28x28; an image with a light background is inverted so the
    stroke is bright on black, as in MNIST.
    """
    from PIL import Image

    x = np.asarray(image)
    if x.ndim == 3:
        x = x[..., :3].mean(-1) if x.shape[-1] in (3, 4) else x[0]
    if x.ndim != 2 or min(x.shape) < 4:
        raise ValueError(f"expected a 2-D grey image, got shape {np.asarray(image).shape}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError("image contains NaN or inf")
    x = x / 255.0 if x.max() > 1.0 else x
    if x.shape != (28, 28):
        pil = Image.fromarray((np.clip(x, 0, 1) * 255).astype(np.uint8))
        x = np.asarray(pil.resize((28, 28), Image.Resampling.BOX), np.float64) / 255.0
    if np.median(x) > 0.5:  # dark ink on white paper
        x = 1.0 - x
    if x.max() - x.min() < 0.05:
        raise ValueError("the image is blank")
    return np.clip(x, 0, 1).astype(np.float32)


def invert_digit(
    image, *, steps: int = 20, method: str = "edit-friendly", model=None, seed: int = 0
) -> InvertedDigit:
    """Invert one digit and measure the reconstruction.

    Parameters
    ----------
    image : (28, 28) float in [0, 1] or uint8 (see :func:`prepare_digit` for other sizes)
    steps : int
    method : ``"edit-friendly"`` or ``"ddim"``
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    model = model or default_model()
    x = prepare_digit(image)
    with _lock:
        inv = invert(model, x[None], steps=steps, eta=METHODS[method], seed=seed)
    rec = unedited(model, inv.trajectory)
    key = f"img:{hashlib.sha1(x.tobytes()).hexdigest()[:16]}:{method}:{seed}"
    return InvertedDigit(inv.trajectory, x, rec, psnr(x, rec), key)


@torch.no_grad()
def trace(model, trajectory: Trajectory, delta: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Replay one image and record every step.

    Returns
    -------
    x_t : (S + 1, 28, 28) float32 in [0, 1]
        The state before each step and the final image (clamped from model space).
    pred_x0 : (S, 28, 28) float32 in [0, 1]
        The scheduler's predicted x0 at each step.
    """
    if trajectory.n != 1:
        raise ValueError("trace replays a single image")
    model = model or default_model()
    sched = model.ddim_scheduler(trajectory.steps)
    dev = model.device
    x = trajectory.x_T.to(dev)
    xs, x0s = [to_unit(x)[0, 0].numpy()], []
    with _lock, MidBlockHook(model.unet, delta_h=None if delta is None else delta.to(dev)) as hook:
        for i, t in enumerate(sched.timesteps):
            hook.step = i
            eps = model.unet(x, t.to(dev).expand(1)).sample
            z = None if trajectory.variance_noise is None else trajectory.variance_noise[i].to(dev)
            out = sched.step(eps, t, x, eta=trajectory.eta, variance_noise=z)
            x = out.prev_sample
            xs.append(to_unit(x)[0, 0].numpy())
            x0s.append(to_unit(out.pred_original_sample)[0, 0].numpy())
    return np.stack(xs), np.stack(x0s)

"""h-space directions (Haas et al., FG 2024): find and apply semantic edits in a DDPM's bottleneck.

Quick start::

    from dlsa_core.hspace import list_directions, edit_images
    imgs = edit_images([0, 1, 2], "thickness", [-1, 0, 1], steps=10)   # (3, 3, 28, 28) in [0, 1]

Modules: :mod:`.collect` (h over generated samples), :mod:`.pca` (per-timestep PCA),
:mod:`.jacobian` (exact SVD and subspace iteration of d eps / d h), :mod:`.supervised` (mean
differences, projection), :mod:`.annotate` (slant, thickness, size, digit), :mod:`.bank` (the shipped
direction bank and its build command), :mod:`.edit` (editing with caching), :mod:`.source` (inversion
of real digits, the trajectory trace), :mod:`.evaluate` (dose-response, effect matrix),
:mod:`.models` (any diffusers ``UNet2DModel`` from a ``save_pretrained`` folder).
"""

from ..diffusion import invert as _invert
from .annotators import annotate
from .bank import DirectionBank, build_bank, load_bank, save_bank
from .collect import collect_h
from .edit import clear_cache, default_bank, default_model, edit_images, edit_trajectory, random_direction
from .jacobian import exact_svd, output_mask, subspace_iteration
from .models import load_pretrained
from .pca import timestep_pca
from .source import invert_digit, psnr, trace
from .supervised import disentangle, mean_difference, project_out


def diffusion_invert(model, images, *, steps: int = 20, eta: float = 1.0, seed: int = 0):
    """Invert a batch of real digits ``(n, 28, 28)`` in [0, 1] (edit-friendly for eta > 0, DDIM for eta = 0)."""
    return _invert(model, images, steps=steps, eta=eta, seed=seed)


def list_directions(bank=None) -> list[str]:
    """Names :func:`edit_images` accepts: ``pc1``.., ``thickness``, ``slant``, ``width``,
    their ``*_disentangled`` versions and digit-to-digit directions such as ``digit_1_to_7``
    (any ``digit_a_to_b`` works)."""
    return (bank or default_bank()).names()


__all__ = [
    "DirectionBank",
    "annotate",
    "build_bank",
    "clear_cache",
    "collect_h",
    "default_bank",
    "default_model",
    "diffusion_invert",
    "disentangle",
    "edit_images",
    "edit_trajectory",
    "exact_svd",
    "invert_digit",
    "list_directions",
    "load_bank",
    "load_pretrained",
    "mean_difference",
    "output_mask",
    "project_out",
    "psnr",
    "random_direction",
    "save_bank",
    "subspace_iteration",
    "timestep_pca",
    "trace",
]

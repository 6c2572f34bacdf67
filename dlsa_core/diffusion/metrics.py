"""Sample-quality metrics: Frechet distance of feature sets, PSNR, nearest-neighbour distances."""

from __future__ import annotations

import numpy as np
import torch
from scipy import linalg


def frechet_distance(a, b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets.

    ``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2})``.

    Parameters
    ----------
    a, b : (N, D) and (M, D) arrays, N, M >= 2
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(
            f"need two (N, D) feature sets with the same D and N >= 2, got {a.shape} and {b.shape}"
        )
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("features contain NaN or inf")
    mu = a.mean(0) - b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(sa @ sb)  # (no disp=: removed in newer SciPy)
    if not np.isfinite(covmean).all():  # near-singular product: regularise, as in the FID reference code
        eps = np.eye(sa.shape[0]) * 1e-6
        covmean = linalg.sqrtm((sa + eps) @ (sb + eps))
    covmean = np.real(covmean)
    return float(mu @ mu + np.trace(sa) + np.trace(sb) - 2 * np.trace(covmean))


def psnr(a: torch.Tensor, b: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Per-image PSNR in dB of ``(N, ...)`` tensors in [0, data_range]; returns ``(N,) float64``."""
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {tuple(a.shape)} vs {tuple(b.shape)}")
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-20))


def nearest_neighbour_distance(
    queries: torch.Tensor, reference: torch.Tensor, *, chunk: int = 1024
) -> torch.Tensor:
    """Euclidean distance from each query to its nearest reference image (pixel space).

    Parameters
    ----------
    queries : (N, ...) float
    reference : (M, ...) float

    Returns
    -------
    (N,) float32
    """
    q = queries.float().flatten(1)
    r = reference.float().flatten(1)
    if q.shape[1] != r.shape[1]:
        raise ValueError("queries and reference must have the same image size")
    return torch.cat([torch.cdist(q[i : i + chunk], r).min(1).values for i in range(0, q.shape[0], chunk)])

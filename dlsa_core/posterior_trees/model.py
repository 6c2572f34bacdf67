"""The tree predictor: the paper's plain U-Net with K**d leaf outputs and a probability head.

Architecture (Nehme et al. 2024, App. A.1, narrowed for CPU): the 28x28 input is padded to 32x32;
each resolution has two Conv3x3 -> GroupNorm -> LeakyReLU(0.2) blocks; 2x average pooling down,
2x nearest-neighbour up with skip concatenation; widths ``c_init * K**d * 2**level`` (the paper's
proportionality to the number of leaves). With ``decoder="shared"`` the last 1x1 convolution is shared
by all leaves and outputs K**d residuals added to the input (residual learning); with ``"grouped"``
(the paper's *encoder-shared* variant, which it used for inpainting because full sharing reduced the
leaves' diversity) the decoder is split into K**d disjoint decoders by grouped convolutions, each fed an
equal, interleaved share of the encoder's features. The probability head global-average-
pools every decoder level, concatenates, and maps through an MLP (d_f -> 256 -> 64 -> K**d, BatchNorm1d
+ SiLU between layers) to one softmax over the leaves.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import weights
from ..device import get_device
from .tasks import IMAGE_SIZE, check_images, get_task
from .tree import PosteriorTree

PAD = 2  # 28 -> 32, so that three halvings stay integer
DECODERS = ("shared", "grouped")


@dataclass(frozen=True)
class TreeConfig:
    """Everything needed to rebuild a tree model.

    Attributes
    ----------
    branching, depth : int
        K and d; the model has K**d leaves.
    c_init : int
        First-level width is ``c_init * K**d`` (the paper uses 4 or 8; 2 keeps CPU training short).
    levels : int
        Number of 2x downsamplings (32 -> 4 at 3).
    head_hidden : tuple of int
        Hidden widths of the probability MLP.
    task : str
        Restoration task (see :mod:`.tasks`).
    decoder : {"shared", "grouped"}
        One decoder for all leaves, or one per leaf (grouped convolutions, ``groups = K**d``).
    """

    branching: int = 3
    depth: int = 2
    c_init: int = 2
    levels: int = 3
    head_hidden: tuple[int, ...] = (256, 64)
    task: str = "mnist-inpaint"
    decoder: str = "shared"

    def __post_init__(self):
        object.__setattr__(self, "head_hidden", tuple(int(h) for h in self.head_hidden))
        if self.branching < 2 or self.depth < 1 or self.branching**self.depth > 64:
            raise ValueError(f"need K >= 2, d >= 1 and K**d <= 64; got K={self.branching}, d={self.depth}")
        if self.c_init < 1 or not 1 <= self.levels <= 3:
            raise ValueError("c_init >= 1 and 1 <= levels <= 3 are required")
        get_task(self.task)
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {self.decoder!r}")

    @property
    def n_leaves(self) -> int:
        return self.branching**self.depth

    @property
    def widths(self) -> list[int]:
        base = self.c_init * self.n_leaves
        return [base * 2**i for i in range(self.levels + 1)]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["head_hidden"] = list(self.head_hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TreeConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown TreeConfig fields {sorted(unknown)}")
        return cls(**d)


def _groups(c: int) -> int:
    return max(g for g in range(1, 9) if c % g == 0)


class ConvBlock(nn.Sequential):
    """Two Conv3x3 -> GroupNorm -> LeakyReLU(0.2). With ``groups > 1`` the convolutions are grouped and
    every norm group lies inside one convolution group, so the groups never mix."""

    def __init__(self, cin: int, cout: int, groups: int = 1):
        norm = _groups(cout) if groups == 1 else groups
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, groups=groups),
            nn.GroupNorm(norm, cout),
            nn.LeakyReLU(0.2),
            nn.Conv2d(cout, cout, 3, padding=1, groups=groups),
            nn.GroupNorm(norm, cout),
            nn.LeakyReLU(0.2),
        )


def interleave(a: torch.Tensor, b: torch.Tensor, groups: int) -> torch.Tensor:
    """Concatenate channels so that group g of the result holds group g of ``a`` then group g of ``b``.

    ``a (B, Ca, H, W)``, ``b (B, Cb, H, W)`` with Ca and Cb divisible by ``groups``; a grouped
    convolution on the result gives every group an equal share of both.
    """
    n, _, hh, ww = a.shape
    return torch.cat([a.reshape(n, groups, -1, hh, ww), b.reshape(n, groups, -1, hh, ww)], 2).reshape(
        n, -1, hh, ww
    )


class TreeUNet(nn.Module):
    """``forward(y) -> (leaves (B, K**d, 1, 28, 28), logits (B, K**d))``; ``y`` in [0, 1]."""

    def __init__(self, config: TreeConfig):
        super().__init__()
        self.config = config
        w = config.widths
        self.groups = g = config.n_leaves if config.decoder == "grouped" else 1
        self.enc = nn.ModuleList([ConvBlock(1, w[0])] + [ConvBlock(w[i - 1], w[i]) for i in range(1, len(w))])
        self.dec = nn.ModuleList([ConvBlock(w[i + 1] + w[i], w[i], g) for i in reversed(range(len(w) - 1))])
        self.out = nn.Conv2d(w[0], config.n_leaves, 1, groups=g)
        nn.init.zeros_(self.out.weight)  # start at "every leaf = input": the MSE warm-up begins calmly
        nn.init.zeros_(self.out.bias)
        d_f = sum(w[:-1])
        layers: list[nn.Module] = []
        for h in config.head_hidden:
            layers += [nn.Linear(d_f, h), nn.BatchNorm1d(h), nn.SiLU()]
            d_f = h
        layers.append(nn.Linear(d_f, config.n_leaves))
        self.head = nn.Sequential(*layers)

    def body_parameters(self):
        return [p for n, p in self.named_parameters() if not n.startswith("head.")]

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.pad(y * 2 - 1, (PAD,) * 4, value=-1.0)
        skips = []
        for i, block in enumerate(self.enc):
            if i:
                h = F.avg_pool2d(h, 2)
            h = block(h)
            skips.append(h)
        pooled = []
        for block, skip in zip(self.dec, reversed(skips[:-1]), strict=False):
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = block(torch.cat([h, skip], 1) if self.groups == 1 else interleave(h, skip, self.groups))
            pooled.append(h.mean((2, 3)))
        res = self.out(h)[..., PAD : PAD + IMAGE_SIZE, PAD : PAD + IMAGE_SIZE]
        leaves = y + res  # residual to the input, (B, K**d, 28, 28)
        logits = self.head(torch.cat(pooled, 1))
        return leaves[:, :, None], logits


class TreeModel:
    """A loaded tree predictor (eval mode, no gradients) with :meth:`predict_tree`.

    Attributes
    ----------
    net : TreeUNet
    config : TreeConfig
    name : str or None
    card : dict
    sha256 : str or None
    """

    def __init__(self, net: TreeUNet, *, name=None, card=None, sha256=None):
        self.net = net.eval().requires_grad_(False)
        self.config = net.config
        self.name, self.card, self.sha256 = name, card or {}, sha256

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def branching(self) -> int:
        return self.config.branching

    @property
    def depth(self) -> int:
        return self.config.depth

    @property
    def task(self) -> str:
        return self.config.task

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    @torch.inference_mode()
    def predict_tree(self, y: torch.Tensor) -> PosteriorTree:
        """One forward pass: the tree for degraded inputs ``y (B, 1, 28, 28)`` float in [0, 1].

        Returns a CPU :class:`PosteriorTree` with ``.leaves (B, K**d, 1, 28, 28)`` and ``.probs (B, K**d)``.
        """
        check_images(y, "y")
        leaves, logits = self.net(y.float().to(self.device))
        return PosteriorTree(
            leaves.float().cpu(), logits.float().softmax(-1).cpu(), self.branching, self.depth
        )


def build_model(config: TreeConfig) -> TreeUNet:
    return TreeUNet(config)


def model_from_state(config: TreeConfig, state: dict[str, torch.Tensor], *, device=None, **meta) -> TreeModel:
    net = TreeUNet(config)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise weights.WeightsError(f"tree weights do not fit the config {config}: {exc}") from exc
    return TreeModel(net.to(get_device(device)), **meta)


def load_tree_model(name: str = "tree-mnist-inpaint-k3d2", device=None, *, root=None) -> TreeModel:
    """Load shipped tree weights after checking their sha256 against the manifest.

    Raises
    ------
    WeightsError
        If the weights are missing, corrupted or do not fit their config.
    """
    loaded = weights.load(name, root=root, device="cpu")
    try:
        config = TreeConfig.from_dict(loaded.config["tree"])
    except (KeyError, TypeError, ValueError) as exc:
        raise weights.WeightsError(f"{loaded.path / 'config.json'} is not a tree config: {exc}") from exc
    return model_from_state(
        config,
        loaded.tensors,
        device=device,
        name=name,
        card=loaded.card,
        sha256=loaded.sha256.get("model.safetensors"),
    )


def epsilon_schedule(epoch: float, eps0: float = 1.0, t0: float = 5.0) -> float:
    """The paper's annealing of non-winner weights: ``eps0 * exp(-max(epoch - t0, 0) / 2)``."""
    return eps0 * math.exp(-max(epoch - t0, 0.0) / 2.0)

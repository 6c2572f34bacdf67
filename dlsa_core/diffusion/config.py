"""Configuration of the small MNIST DDPM: U-Net shape and noise schedule, as a frozen dataclass.

The U-Net is diffusers' ``UNet2DModel`` used as it is. Three resolution levels at 28x28
(28 -> 14 -> 7) give a 7x7 bottleneck; the mid block (ResNet -> self-attention -> ResNet) output is
``h`` (h-space), of shape ``(block_out_channels[-1], 7, 7)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

IMAGE_SIZE = 28  # MNIST; the model works on 28x28 directly (no padding) so h is 7x7


@dataclass(frozen=True)
class DDPMConfig:
    """U-Net and scheduler hyperparameters (everything needed to rebuild the model).

    Attributes
    ----------
    block_out_channels : tuple of int
        Channels per resolution level; the last one is the channel count of ``h``.
    layers_per_block : int
        ResNet layers per down block (up blocks get one more, as in diffusers).
    norm_num_groups : int
        GroupNorm groups; must divide every channel count.
    attention_head_dim : int
        Head size of the mid-block self-attention.
    num_train_timesteps : int
        Length T of the training noise schedule.
    beta_schedule : str
        diffusers name of the beta schedule. Linear (1e-4 .. 0.02), not cosine: the cosine schedule
        ends at alpha_bar ~ 2e-9, where the eta > 0 DDIM step loses its variance to float32 rounding (NaN).
    """

    block_out_channels: tuple[int, ...] = (32, 64, 128)
    layers_per_block: int = 1
    norm_num_groups: int = 8
    attention_head_dim: int = 32
    num_train_timesteps: int = 1000
    beta_schedule: str = "linear"

    def __post_init__(self):
        chans = tuple(int(c) for c in self.block_out_channels)
        object.__setattr__(self, "block_out_channels", chans)
        if len(chans) < 1 or any(c < 1 for c in chans):
            raise ValueError(f"block_out_channels must be positive, got {chans}")
        if IMAGE_SIZE % (2 ** (len(chans) - 1)) != 0:
            raise ValueError(f"{len(chans)} levels do not divide a 28x28 image evenly; use at most 3")
        if any(c % self.norm_num_groups for c in chans):
            raise ValueError(
                f"norm_num_groups={self.norm_num_groups} must divide every channel count {chans}"
            )
        if chans[-1] % self.attention_head_dim:
            raise ValueError("attention_head_dim must divide the bottleneck channel count")
        if self.layers_per_block < 1 or self.num_train_timesteps < 2:
            raise ValueError("layers_per_block must be >= 1 and num_train_timesteps >= 2")

    @classmethod
    def tiny(cls) -> DDPMConfig:
        """A ~50k-parameter configuration for tests (same structure, narrow channels)."""
        return cls(block_out_channels=(8, 16, 16), norm_num_groups=4, attention_head_dim=8)

    @property
    def h_shape(self) -> tuple[int, int, int]:
        """Shape ``(C, H, W)`` of the bottleneck ``h`` for one image."""
        side = IMAGE_SIZE // 2 ** (len(self.block_out_channels) - 1)
        return (self.block_out_channels[-1], side, side)

    def unet_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``diffusers.UNet2DModel``."""
        levels = len(self.block_out_channels)
        return dict(
            sample_size=IMAGE_SIZE,
            in_channels=1,
            out_channels=1,
            layers_per_block=self.layers_per_block,
            block_out_channels=self.block_out_channels,
            down_block_types=("DownBlock2D",) * levels,
            up_block_types=("UpBlock2D",) * levels,
            norm_num_groups=self.norm_num_groups,
            attention_head_dim=self.attention_head_dim,
            add_attention=True,  # self-attention in the mid block: its output is h
        )

    def scheduler_config(self) -> dict[str, Any]:
        """Config shared by ``DDPMScheduler`` (training) and ``DDIMScheduler`` (sampling).

        ``timestep_spacing="trailing"`` starts sampling at t = T-1 (pure noise). ``set_alpha_to_one=False``
        makes the last step land on alpha_bar_0 (not 1) so that its posterior variance is non-zero:
        edit-friendly inversion can then solve for the last noise map and reproduce the image exactly.
        """
        return dict(
            num_train_timesteps=self.num_train_timesteps,
            beta_schedule=self.beta_schedule,
            prediction_type="epsilon",
            clip_sample=False,
            set_alpha_to_one=False,
            timestep_spacing="trailing",
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["block_out_channels"] = list(self.block_out_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DDPMConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown DDPMConfig keys {sorted(unknown)}")
        return cls(**d)

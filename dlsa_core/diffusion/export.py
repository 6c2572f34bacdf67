"""Export a training checkpoint's EMA weights to the weights registry (``assets/weights/<name>``).

    python -m dlsa_core.diffusion.export --checkpoint checkpoints/ddpm-mnist --name ddpm-mnist

The model card records data, the training commands, steps, wall time and hardware from the
checkpoint; ``benchmarks/bench_ddpm.py --update-card`` adds the quality and speed metrics.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from safetensors.torch import load_file

from .. import weights
from .checkpoint import LAST, read_state
from .config import DDPMConfig
from .model import DEFAULT_NAME


def export_checkpoint(
    checkpoint: str | Path,
    name: str = DEFAULT_NAME,
    *,
    root=None,
    metrics: dict[str, Any] | None = None,
    extra_card: dict[str, Any] | None = None,
) -> Path:
    """Write the EMA weights of ``checkpoint/last`` to the registry; return the entry's folder."""
    state = read_state(checkpoint)
    model_cfg = DDPMConfig.from_dict(state["model_config"])
    tensors = load_file(str(Path(checkpoint) / LAST / "ema.safetensors"))
    sessions = state.get("sessions", [])
    card = {
        "model": "diffusers UNet2DModel (epsilon prediction), EMA weights",
        "parameters": int(sum(v.numel() for v in tensors.values())),
        "data": state.get("data"),
        "command": [s.get("argv") for s in sessions],
        "steps": state["step"],
        "wall_time_s": round(state["wall_time_s"], 1),
        "hardware": sorted({s.get("hardware") for s in sessions}),
        "sessions": sessions,
        "train_config": state.get("train_config"),
        "final_loss": state.get("last_loss"),
        "loss_history": state.get("history", [])[-40:],
        "metrics": metrics or {},
    }
    card.update(extra_card or {})
    config = {"ddpm": model_cfg.to_dict(), "scheduler": model_cfg.scheduler_config(), "weights": "ema"}
    return weights.save(name, tensors, config, card, root=root)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m dlsa_core.diffusion.export", description=__doc__.split("\n")[0]
    )
    p.add_argument("--checkpoint", default="checkpoints/ddpm-mnist")
    p.add_argument("--name", default=DEFAULT_NAME)
    p.add_argument("--root", default=None, help="weights registry root (default assets/weights)")
    a = p.parse_args(argv)
    print(export_checkpoint(a.checkpoint, a.name, root=a.root))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Training checkpoints: a folder of safetensors files plus a JSON state, nothing pickled.

``<out>/last/`` holds ``model.safetensors`` (raw weights), ``ema.safetensors`` (EMA weights),
``optimizer.safetensors`` (AdamW moments), and ``trainer.json`` (step, wall time, configs, RNG
state, optimizer hyperparameters, loss history). A checkpoint is written to ``last.tmp/`` and then
renamed, so an interrupted write never replaces a good checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

LAST = "last"


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    sd = opt.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            tensors[f"{idx}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return tensors, sd["param_groups"]


def save_checkpoint(out_dir: str | Path, *, unet, ema, opt, state: dict[str, Any]) -> Path:
    """Write the checkpoint atomically to ``out_dir/last`` and return that path."""
    out_dir = Path(out_dir)
    tmp = out_dir / (LAST + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    raw = {k: v.detach().cpu().contiguous() for k, v in unet.state_dict().items()}
    save_file(raw, str(tmp / "model.safetensors"))
    save_file({k: v.cpu().contiguous() for k, v in ema.state_dict().items()}, str(tmp / "ema.safetensors"))
    opt_tensors, groups = _optimizer_tensors(opt)
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    state = dict(state, param_groups=groups, torch_rng_state=torch.get_rng_state().tolist())
    (tmp / "trainer.json").write_text(json.dumps(state, indent=1, default=str) + "\n")
    final = out_dir / LAST
    old = out_dir / (LAST + ".old")
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)
    return final


def has_checkpoint(out_dir: str | Path) -> bool:
    return (Path(out_dir) / LAST / "trainer.json").is_file()


def read_state(out_dir: str | Path) -> dict[str, Any]:
    path = Path(out_dir) / LAST / "trainer.json"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint in {out_dir} (expected {path})")
    return json.loads(path.read_text())


def load_checkpoint(out_dir: str | Path, *, unet, ema, opt, device) -> dict[str, Any]:
    """Restore model, EMA and optimizer in place; return the trainer state (step, history, ...)."""
    folder = Path(out_dir) / LAST
    state = read_state(out_dir)
    unet.load_state_dict(load_file(str(folder / "model.safetensors"), device=str(device)))
    ema.load_state_dict(load_file(str(folder / "ema.safetensors"), device=str(device)))
    flat = load_file(str(folder / "optimizer.safetensors"), device=str(device))
    opt_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        idx, name = key.split(".", 1)
        # AdamW keeps "step" on the CPU unless capturable; match that
        opt_state.setdefault(int(idx), {})[name] = value.cpu() if name == "step" else value
    opt.load_state_dict({"state": opt_state, "param_groups": state["param_groups"]})
    torch.set_rng_state(torch.tensor(state["torch_rng_state"], dtype=torch.uint8))
    return state

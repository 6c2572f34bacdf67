"""Train a posterior-tree model (hierarchical WTA with annealed relaxation), then refit its probability head.

One process (CPU or one GPU)::

    python -m dlsa_core.posterior_trees.train --task mnist-inpaint -K 3 -d 2 \
        --out checkpoints/tree-mnist-inpaint-k3d2 --epochs 40 --max-minutes 30 --resume
    python -m dlsa_core.posterior_trees.train --out checkpoints/tree-mnist-inpaint-k3d2 --refit-head
    python -m dlsa_core.posterior_trees.train --out checkpoints/tree-mnist-inpaint-k3d2 \
        --export tree-mnist-inpaint-k3d2

Several GPUs: ``torchrun --standalone --nproc_per_node=N -m dlsa_core.posterior_trees.train ...``
(DDP; rank 0 logs and writes). Stage 1 trains everything with the loss of :mod:`.loss` (U-Net lr 1e-3,
head lr 2e-4, eps = 1 up to epoch t0 = 5, then ``exp(-(t - t0)/2)``); batches are drawn from a
generator seeded by (seed, rank, step), so ``--resume`` continues exactly. Stage 2 (``--refit-head``, :mod:`.refit`)
freezes the body (EMA weights) and refits the head alone by cross-entropy of the cell holding the
ground truth, with early stopping on the validation split (10 % of the training data, never trained on).
``--weighted-sampler`` switches on the paper's leaf-balancing sampler (:mod:`.sampler`) one epoch after
eps starts to decay; ``--init-from NAME`` fine-tunes shipped weights instead of starting at random.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..device import configure_threads, device_name
from ..diffusion.checkpoint import LAST, has_checkpoint, load_checkpoint, read_state, save_checkpoint
from ..diffusion.ema import EMA
from ..diffusion.train import _ddp_setup
from ..diffusion.train import translate as _translate
from .loss import tree_loss
from .metrics import evaluate
from .model import DECODERS, TreeConfig, TreeUNet, epsilon_schedule
from .refit import refit_head
from .sampler import WeightedSampler
from .tasks import degrade, load_task_images
from .tree import PosteriorTree


@dataclass(frozen=True)
class TrainConfig:
    out_dir: str = "checkpoints/tree"
    batch_size: int = 32
    lr: float = 1e-3
    head_lr: float = 2e-4
    epochs: float = 40.0
    steps_per_epoch: int | None = None  # default: one pass over the training split
    t0: float = 5.0
    translate_px: int = 1
    rotate_deg: float = 0.0  # random rotations in [-r, r] degrees (0 = off)
    scale: float = 0.0  # random scaling in [1 - s, 1 + s] (0 = off)
    ema_decay: float = 0.998
    max_minutes: float | None = None
    ckpt_every: int = 200
    seed: int = 0
    level_weights: tuple[float, ...] | None = None  # beta_0 (root) .. beta_d; None = uniform
    weighted_sampler: bool = False  # the paper's leaf-balancing sampler (App. C), from epoch t0 + 1
    init_from: str | None = None  # start from shipped weights (registry name) instead of at random

    def __post_init__(self):
        if self.batch_size < 1 or self.lr <= 0 or self.head_lr <= 0 or self.epochs <= 0:
            raise ValueError("batch_size >= 1, lr > 0, head_lr > 0 and epochs > 0 are required")
        if not (0 <= self.rotate_deg <= 45 and 0 <= self.scale < 0.5):
            raise ValueError(
                f"rotate_deg must be in [0, 45] and scale in [0, 0.5); got {self.rotate_deg}, {self.scale}"
            )


def augment(x: torch.Tensor, g: torch.Generator, pad: int, rotate_deg: float = 0.0, scale: float = 0.0):
    """Random integer translations by up to ``pad`` pixels (background fill), ``(B,1,28,28)`` in [0,1].

    With ``rotate_deg`` or ``scale`` > 0, each image is first rotated by U(-rotate_deg, rotate_deg)
    degrees and scaled by U(1 - scale, 1 + scale) about its centre (bilinear, background 0). The extra
    draws come after the shifts, and only when enabled, so runs without them are reproduced exactly.
    """
    b = x.shape[0]
    shifts = torch.randint(-pad, pad + 1, (b, 2), generator=g).to(x.device)
    if rotate_deg > 0 or scale > 0:
        ang = (torch.rand(b, generator=g) * 2 - 1) * math.radians(rotate_deg)
        s = 1 + (torch.rand(b, generator=g) * 2 - 1) * scale
        cos, sin = torch.cos(ang) / s, torch.sin(ang) / s  # the grid maps output to input coordinates
        theta = torch.stack([torch.stack([cos, -sin, 0 * s], 1), torch.stack([sin, cos, 0 * s], 1)], 1)
        grid = torch.nn.functional.affine_grid(theta.to(x), list(x.shape), align_corners=False)
        x = torch.nn.functional.grid_sample(
            x, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )
    return (_translate(x * 2 - 1, shifts, pad) + 1) / 2


def train(cfg: TrainConfig, model_cfg: TreeConfig, *, resume=False, device=None, quiet=False) -> dict:
    """Stage 1; returns the trainer state of the last checkpoint."""
    rank, world, device, ddp = _ddp_setup(device)
    master = rank == 0
    if device.type == "cpu":
        configure_threads()
    out = Path(cfg.out_dir)
    if resume and has_checkpoint(out):
        model_cfg = TreeConfig.from_dict(read_state(out)["model_config"])
    elif has_checkpoint(out) and not resume:
        raise ValueError(f"{out} already holds a checkpoint; pass --resume or choose another --out")
    torch.manual_seed(cfg.seed)
    net = TreeUNet(model_cfg).to(device).train()
    ema = EMA(net, cfg.ema_decay)
    opt = torch.optim.Adam(
        [
            {"params": net.body_parameters(), "lr": cfg.lr},
            {"params": list(net.head.parameters()), "lr": cfg.head_lr},
        ]
    )
    state = {"step": 0, "wall_time_s": 0.0, "sessions": [], "history": []}
    if resume and has_checkpoint(out):
        state = load_checkpoint(out, unet=net, ema=ema, opt=opt, device=device)
    elif cfg.init_from:
        _init_from(net, ema, cfg.init_from, model_cfg, device)
    model = net
    if ddp:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    x_train, _ = load_task_images(model_cfg.task, "train")
    x_val, _ = load_task_images(model_cfg.task, "val")
    x_train, x_val = x_train.to(device), x_val[:500].to(device)
    spe = cfg.steps_per_epoch or -(-len(x_train) // (cfg.batch_size * world))
    sampler = None
    if cfg.weighted_sampler:
        if world > 1:
            raise ValueError("--weighted-sampler runs in one process (its association table is not shared)")
        sampler = WeightedSampler(len(x_train), model_cfg.n_leaves, cfg.batch_size)
        if resume and (out / LAST / SAMPLER_FILE).is_file():
            sampler.load_state_dict(load_file(str(out / LAST / SAMPLER_FILE)))
    total = int(round(cfg.epochs * spe))
    session = {
        "hardware": f"{world} x {device_name(device)}"
        + (f" ({torch.get_num_threads()} threads)" if device.type == "cpu" else ""),
        "start_step": state["step"],
        "argv": "python -m dlsa_core.posterior_trees.train " + " ".join(sys.argv[1:]),
    }
    t_start, step, base_wall = time.time(), state["step"], state["wall_time_s"]
    sessions = list(state["sessions"])

    def checkpoint():
        elapsed = time.time() - t_start
        session.update(end_step=step, wall_time_s=round(elapsed, 1))
        state.update(
            step=step,
            epoch=step / spe,
            steps_per_epoch=spe,
            wall_time_s=base_wall + elapsed,
            model_config=model_cfg.to_dict(),
            train_config=asdict(cfg),
            n_train=len(x_train),
            sessions=sessions + [dict(session)],
        )
        if master:
            save_checkpoint(out, unet=net, ema=ema, opt=opt, state=state)
            if sampler is not None:
                save_file(sampler.state_dict(), str(out / LAST / SAMPLER_FILE))

    loss_avg, last_saved, last_epoch = None, step, step // spe
    while step < total:
        if cfg.max_minutes is not None and (time.time() - t_start) / 60 >= cfg.max_minutes:
            break
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + rank * 10_007 + step)
        eps = epsilon_schedule(step / spe, t0=cfg.t0)
        gamma = None
        if sampler is not None and step / spe >= cfg.t0 + 1:  # the paper: one epoch after eps decays
            idx, gamma = sampler.draw(g)
            gamma = gamma.to(device)
        else:
            idx = torch.randint(len(x_train), (cfg.batch_size,), generator=g)
        x = augment(x_train[idx.to(device)], g, cfg.translate_px, cfg.rotate_deg, cfg.scale)
        leaves, logits = model(degrade(x, model_cfg.task))
        tree = PosteriorTree(leaves, logits.softmax(-1), model_cfg.branching, model_cfg.depth)
        loss = tree_loss(tree, x, eps, weights=gamma, level_weights=cfg.level_weights)
        if sampler is not None:  # the association table follows every batch, sampled or not
            sampler.update(idx, tree.greedy_leaf(x))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema.update(net, step)
        step += 1
        v = loss.item()
        loss_avg = v if loss_avg is None else 0.98 * loss_avg + 0.02 * v
        if step // spe != last_epoch or step == total:  # end of an epoch: validate the EMA weights
            last_epoch = step // spe
            shadow = TreeUNet(model_cfg).to(device)
            shadow.load_state_dict(ema.state_dict())
            m = evaluate(shadow, x_val, model_cfg.task)
            rec = {
                "step": step,
                "epoch": round(step / spe, 2),
                "eps": round(eps, 4),
                "loss": round(loss_avg, 5),
            }
            rec.update(psnr=m["psnr"], nll=m["nll"], time_s=round(time.time() - t_start, 1))
            state["history"].append(rec)
            if master and not quiet:
                print(json.dumps(rec), flush=True)
        if step - last_saved >= cfg.ckpt_every:
            checkpoint()
            last_saved = step
    state["last_loss"] = loss_avg
    checkpoint()
    if ddp:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return state


SAMPLER_FILE = "sampler.safetensors"


def _init_from(net: TreeUNet, ema: EMA, name: str, model_cfg: TreeConfig, device) -> None:
    """Load shipped weights (checked against the manifest) into the net and its EMA."""
    from .. import weights

    loaded = weights.load(name, device="cpu")
    shipped = TreeConfig.from_dict(loaded.config["tree"])
    if shipped != model_cfg:
        raise ValueError(f"{name} has config {shipped.to_dict()}, not {model_cfg.to_dict()}")
    net.load_state_dict({k: v.to(device) for k, v in loaded.tensors.items()})
    ema.load_state_dict({k: v.to(device) for k, v in net.state_dict().items()})


def export(out_dir, name: str, *, root=None, metrics=None) -> Path:
    """Write the refit (else EMA) weights to the registry with a model card."""
    from .. import weights

    out = Path(out_dir)
    state = read_state(out)
    refit = out / "refit" / "model.safetensors"
    tensors = load_file(str(refit if refit.is_file() else out / LAST / "ema.safetensors"))
    refit_info = json.loads((out / "refit" / "refit.json").read_text()) if refit.is_file() else None
    sessions = state.get("sessions", [])
    model_cfg = TreeConfig.from_dict(state["model_config"])
    card = {
        "model": f"posterior-tree U-Net, K={model_cfg.branching}, d={model_cfg.depth}, widths {model_cfg.widths}, "
        f"{model_cfg.decoder} decoder{'s (one per leaf)' if model_cfg.decoder == 'grouped' else ''}",
        "parameters": int(sum(v.numel() for v in tensors.values())),
        "data": f"{model_cfg.task}: {state.get('n_train')} training images (10 % held out for validation)",
        "command": [s.get("argv") for s in sessions] + ([refit_info["command"]] if refit_info else []),
        "steps": state["step"],
        "epochs": round(state.get("epoch", 0), 2),
        "wall_time_s": round(state["wall_time_s"], 1),
        "hardware": sorted({s.get("hardware") for s in sessions}),
        "sessions": sessions,
        "train_config": state.get("train_config"),
        "weights": "EMA body" + (" + refit probability head" if refit_info else ""),
        "head_refit": refit_info,
        "history": state.get("history", [])[-60:],
        "weighted_sampler": bool((state.get("train_config") or {}).get("weighted_sampler", False)),
        "metrics": metrics or {},
    }
    config = {"tree": model_cfg.to_dict()}
    return weights.save(name, tensors, config, card, root=root)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m dlsa_core.posterior_trees.train", description=__doc__.split("\n")[0]
    )
    d = TrainConfig()
    p.add_argument("--task", default="mnist-inpaint")
    p.add_argument("-K", "--branching", type=int, default=3)
    p.add_argument("-d", "--depth", type=int, default=2)
    p.add_argument("--c-init", type=int, default=2)
    p.add_argument("--decoder", choices=DECODERS, default="shared",
                   help="one decoder for all leaves, or one per leaf (grouped convolutions; the paper's inpainting choice)")  # fmt: skip
    p.add_argument("--out", default=None, help="checkpoint folder (default checkpoints/tree-<task>-k<K>d<d>)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--epochs", type=float, default=d.epochs)
    p.add_argument("--steps-per-epoch", type=int, default=None)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--head-lr", type=float, default=d.head_lr)
    p.add_argument("--t0", type=float, default=d.t0)
    p.add_argument("--translate", type=int, default=d.translate_px)
    p.add_argument(
        "--rotate", type=float, default=d.rotate_deg, help="random rotations up to this many degrees"
    )
    p.add_argument("--scale", type=float, default=d.scale, help="random scaling by up to this fraction")
    p.add_argument("--ckpt-every", type=int, default=d.ckpt_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--level-weights", default=None, help="per-level loss weights root..leaves, e.g. 1,1,2")
    p.add_argument("--weighted-sampler", action="store_true",
                   help="the paper's leaf-balancing sampler with unbiasing loss weights, from epoch t0 + 1")  # fmt: skip
    p.add_argument("--init-from", default=None, metavar="NAME",
                   help="start from shipped weights (e.g. tree-mnist-inpaint-k3d2) instead of at random")  # fmt: skip
    p.add_argument("--device", default=None)
    p.add_argument("--refit-head", action="store_true", help="stage 2 on an existing checkpoint")
    p.add_argument("--refit-epochs", type=int, default=60)
    p.add_argument(
        "--refit-max-train",
        type=int,
        default=10_000,
        help="training images the head refit sees (a random subset)",
    )
    p.add_argument(
        "--export", default=None, metavar="NAME", help="write weights + card to assets/weights/NAME"
    )
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    out = a.out or f"checkpoints/tree-{a.task}-k{a.branching}d{a.depth}"
    try:
        if a.refit_head:
            info = refit_head(out, epochs=a.refit_epochs, seed=a.seed, max_train=a.refit_max_train)
            print(f"refit: best validation leaf NLL {info['best_val_leaf_nll']}; {info['val_metrics']}")
            return 0
        if a.export:
            print(export(out, a.export))
            return 0
        cfg = TrainConfig(
            out_dir=out,
            batch_size=a.batch_size,
            lr=a.lr,
            head_lr=a.head_lr,
            epochs=a.epochs,
            steps_per_epoch=a.steps_per_epoch,
            t0=a.t0,
            translate_px=a.translate,
            rotate_deg=a.rotate,
            scale=a.scale,
            max_minutes=a.max_minutes,
            ckpt_every=a.ckpt_every,
            seed=a.seed,
            weighted_sampler=a.weighted_sampler,
            init_from=a.init_from,
            level_weights=None
            if a.level_weights is None
            else tuple(float(v) for v in a.level_weights.split(",")),
        )
        model_cfg = TreeConfig(
            branching=a.branching, depth=a.depth, c_init=a.c_init, task=a.task, decoder=a.decoder
        )
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = train(cfg, model_cfg, resume=a.resume, device=a.device)
    if int(os.environ.get("RANK", "0")) == 0:
        print(
            f"stopped at step {state['step']} (epoch {state['epoch']:.2f}), wall {state['wall_time_s']:.0f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

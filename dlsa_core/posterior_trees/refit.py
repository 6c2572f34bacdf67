"""Stage 2 of tree training: refit the probability head on the frozen body.

The body's EMA weights fix the leaves, and so every training image's cell (the leaf at the end of its
nearest-child path). The head alone is then trained by the cross-entropy of that cell, exactly the
depth-d NLL, with early stopping on the validation split (10 % of the training data, never trained on).
Run through the training CLI: ``python -m dlsa_core.posterior_trees.train --out DIR --refit-head``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..device import configure_threads
from ..diffusion.checkpoint import LAST, read_state
from .loss import cell_nll
from .metrics import evaluate
from .model import TreeConfig, TreeUNet
from .tasks import degrade, load_task_images
from .tree import PosteriorTree


def refit_head(
    out_dir,
    *,
    epochs=60,
    patience=6,
    lr=1e-3,
    batch_size=128,
    max_train=10_000,
    device="cpu",
    seed=0,
    quiet=False,
):
    """Stage 2: refit the head of the EMA model on a frozen body; keep the best validation NLL.

    Writes ``<out>/refit/model.safetensors`` and ``refit.json`` (history, best epoch, metrics).
    """
    if max_train < 1:
        raise ValueError(f"max_train must be >= 1, got {max_train}")
    configure_threads()
    out = Path(out_dir)
    state = read_state(out)
    model_cfg = TreeConfig.from_dict(state["model_config"])
    net = TreeUNet(model_cfg).to(device)
    net.load_state_dict(load_file(str(out / LAST / "ema.safetensors"), device=str(device)))
    x_train, _ = load_task_images(model_cfg.task, "train")
    x_train = x_train[torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))[:max_train]]
    x_val, _ = load_task_images(model_cfg.task, "val")
    x_val = x_val[:5000]
    net.eval()
    # the body is frozen: compute its pooled features and leaves once
    with torch.no_grad():
        feats, trees_x = {}, {}
        for name, xs in (("train", x_train), ("val", x_val)):
            fs, ls = [], []
            for i in range(0, len(xs), 256):
                f, lv = _features(net, degrade(xs[i : i + 256], model_cfg.task))
                fs.append(f)
                ls.append(lv)
            feats[name], trees_x[name] = torch.cat(fs), torch.cat(ls)
    torch.manual_seed(seed)
    head = net.head
    head.train()
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=1e-4)
    k, d = model_cfg.branching, model_cfg.depth

    def val_nll():
        head.eval()
        with torch.no_grad():
            logits = head(feats["val"])
            tree = PosteriorTree(trees_x["val"], logits.softmax(-1), k, d)
            v = cell_nll(tree, x_val, logits).item()
        head.train()
        return v

    best, best_state, bad, hist = val_nll(), {kk: v.clone() for kk, v in head.state_dict().items()}, 0, []
    hist.append({"epoch": 0, "val_nll": round(best, 4)})
    g = torch.Generator().manual_seed(seed)
    n = len(x_train)
    for ep in range(1, epochs + 1):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, batch_size):
            b = perm[i : i + batch_size]
            if len(b) < 2:
                continue
            logits = head(feats["train"][b])
            with torch.no_grad():
                tree = PosteriorTree(trees_x["train"][b], logits.softmax(-1), k, d)
            loss = cell_nll(tree, x_train[b], logits)
            opt.zero_grad()
            loss.backward()
            opt.step()
        v = val_nll()
        hist.append({"epoch": ep, "val_nll": round(v, 4)})
        if not quiet:
            print(json.dumps(hist[-1]), flush=True)
        if v < best - 1e-4:
            best, bad = v, 0
            best_state = {kk: vv.clone() for kk, vv in head.state_dict().items()}
        else:
            bad += 1
            if bad >= patience:
                break
    head.load_state_dict(best_state)
    net.eval()
    metrics = evaluate(net, x_val, model_cfg.task)
    folder = out / "refit"
    folder.mkdir(exist_ok=True)
    save_file({kk: v.contiguous() for kk, v in net.state_dict().items()}, str(folder / "model.safetensors"))
    info = {
        "history": hist,
        "best_val_leaf_nll": round(best, 4),
        "val_metrics": metrics,
        "command": "python -m dlsa_core.posterior_trees.train " + " ".join(sys.argv[1:]),
    }
    (folder / "refit.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def _features(net: TreeUNet, y: torch.Tensor):
    """Pooled decoder features ``(B, d_f)`` and leaves ``(B, K**d, 1, 28, 28)`` of a frozen net."""
    captured = {}
    hook = net.head.register_forward_pre_hook(lambda m, args: captured.setdefault("f", args[0]))
    try:
        leaves, _ = net(y)
    finally:
        hook.remove()
    return captured["f"], leaves

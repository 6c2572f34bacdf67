"""Quality of a posterior tree against ground truth: path PSNR, cell NLL, calibration, consistency.

All metrics follow the paper's Sec. 4.1: the node at each depth is the nearest child on the greedy
path (the same rule as training), PSNR is computed on images clamped to [0, 1] (peak 1), and the NLL
at depth j is ``-ln`` of the *absolute* probability of the depth-j cell holding the ground truth.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .tasks import degrade, measurement_error, observed_mask
from .tree import PosteriorTree

NLL_FLOOR = 1e-6  # an empty baseline cell has probability 0: floor it so its NLL stays finite (13.8 nats)


def psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image PSNR in dB (peak 1) of ``a`` vs ``b`` ``(..., 1, 28, 28)``, over ``mask`` pixels if given."""
    err = (a.clamp(0, 1) - b.clamp(0, 1)) ** 2
    if mask is not None:
        m = mask.expand_as(err)
        mse = (err * m).flatten(-3).sum(-1) / m.flatten(-3).sum(-1)
    else:
        mse = err.flatten(-3).mean(-1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def tree_metrics(tree: PosteriorTree, x: torch.Tensor, task: str = "mnist-inpaint") -> dict[str, np.ndarray]:
    """Per-image metrics for a batch of trees.

    Returns
    -------
    dict of numpy arrays:
        ``path`` (B, d) branch indices; ``psnr`` (B, d+1) and ``psnr_masked`` (B, d+1) along the path
        (depth 0 = root); ``nll`` (B, d) at depths 1..d; ``consistency`` (B,) the largest RMSE between
        any node's observed pixels and the measurement.
    """
    x = x.float().cpu()
    path = tree.greedy_path(x)
    imgs, probs = tree.path_nodes(path)
    hidden = 1 - observed_mask()
    y = degrade(x, task)
    cons = []
    for j in range(tree.depth + 1):
        li, _ = tree.level(j)
        b, n = li.shape[:2]
        err = measurement_error(li.reshape(b * n, 1, 28, 28), y.repeat_interleave(n, 0), task)
        cons.append(err.reshape(b, n).max(1).values)
    return {
        "path": path.numpy(),
        "psnr": psnr(imgs, x[:, None]).numpy(),
        "psnr_masked": psnr(imgs, x[:, None], hidden).numpy(),
        "nll": -np.log(np.maximum(probs[:, 1:].numpy(), NLL_FLOOR)),
        "consistency": torch.stack(cons, 1).max(1).values.numpy(),
    }


def calibration(trees: list[PosteriorTree], xs: list[torch.Tensor], level: int, n_bins: int = 10) -> dict:
    """Predicted vs observed cell frequencies at depth ``level`` over a set of inputs.

    Every depth-``level`` node of every tree contributes one (predicted probability, hit) pair, where
    hit = 1 if the greedy path of the ground truth passes through that node. Binned by predicted
    probability; ``ece`` is the count-weighted mean |predicted - observed| over bins.

    Returns
    -------
    dict with ``pred``, ``obs``, ``count`` (n_bins,) arrays (NaN for empty bins), ``edges``, ``ece``.
    """
    preds, hits = [], []
    for tree, x in zip(trees, xs, strict=False):
        path = tree.greedy_path(x.float().cpu())
        idx = torch.zeros(tree.batch_size, dtype=torch.long)
        for j in range(level):
            idx = idx * tree.branching + path[:, j]
        _, p = tree.level(level)
        h = torch.zeros_like(p)
        h[torch.arange(tree.batch_size), idx] = 1.0
        preds.append(p.flatten().numpy())
        hits.append(h.flatten().numpy())
    p, h = np.concatenate(preds), np.concatenate(hits)
    edges = np.linspace(0, 1, n_bins + 1)
    b = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    count = np.bincount(b, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        pred = np.bincount(b, weights=p, minlength=n_bins) / count
        obs = np.bincount(b, weights=h, minlength=n_bins) / count
    ok = count > 0
    ece = float(np.sum(count[ok] * np.abs(pred[ok] - obs[ok])) / count.sum())
    return {"pred": pred, "obs": obs, "count": count, "edges": edges, "ece": ece}


def mean_sem(a: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of the mean along ``axis``."""
    a = np.asarray(a, dtype=float)
    n = a.shape[axis]
    return a.mean(axis), a.std(axis, ddof=1) / math.sqrt(n) if n > 1 else np.zeros_like(a.mean(axis))


def summarize(per_image: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """Means and SEMs of :func:`tree_metrics` outputs (concatenated over batches)."""
    out = {}
    for key in ("psnr", "psnr_masked", "nll"):
        m, s = mean_sem(per_image[key])
        out[key], out[key + "_sem"] = np.round(m, 4).tolist(), np.round(s, 4).tolist()
    out["consistency_max"] = float(np.max(per_image["consistency"]))
    out["n_images"] = int(per_image["psnr"].shape[0])
    return out


def concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def build_tree(net, y: torch.Tensor) -> tuple[PosteriorTree, torch.Tensor]:
    leaves, logits = net(y)
    c = net.config
    return PosteriorTree(leaves, logits.softmax(-1), c.branching, c.depth), logits


@torch.no_grad()
def evaluate(net, x: torch.Tensor, task: str, batch: int = 250) -> dict:
    """Metrics summary of ``net`` (eval mode) on images ``x``."""
    was = net.training
    net.eval()
    parts = []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch]
        tree, _ = build_tree(net, degrade(xb, task))
        parts.append(tree_metrics(tree.detach_cpu(), xb.cpu(), task))
    net.train(was)
    return summarize(concat(parts))

"""Train the MNIST (or Fashion-MNIST) classifier with random translations and small rotations.

    python -m dlsa_core.classifier.train --epochs 30 --export
    python -m dlsa_core.classifier.train --dataset fashion-mnist --width 16 --epochs 4 --export

A few minutes on one CPU thread for the 4,500-digit subset. ``--export`` writes the weights and a
model card (held-out accuracy included) to ``assets/weights/mnist-classifier`` (Fashion-MNIST:
``fashion-mnist-classifier``, which scores the samples of ``ddpm-fashion-mnist``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import weights
from ..data import load_fashion_mnist, load_mnist
from ..device import configure_threads, device_name, get_device
from .model import DEFAULT_NAME, MnistCNN, as_batch, predict_proba

#: registry name of the classifier trained on each dataset
CLASSIFIER_NAMES = {"mnist": DEFAULT_NAME, "fashion-mnist": "fashion-mnist-classifier"}


def augment(
    x: torch.Tensor, g: torch.Generator, *, shift: float = 2.0, degrees: float = 10.0
) -> torch.Tensor:
    """Random affine jitter (rotation, translation in pixels, 0.9-1.1 scale) of ``(B, 1, 28, 28)``."""
    b = x.shape[0]
    ang = (torch.rand(b, generator=g) * 2 - 1) * math.radians(degrees)
    scale = 1 + (torch.rand(b, generator=g) * 2 - 1) * 0.1
    txy = (torch.rand(b, 2, generator=g) * 2 - 1) * shift * 2 / 28  # pixels -> normalised coords
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos, -sin, txy[:, 0]], 1), torch.stack([sin, cos, txy[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)


def train(
    *,
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 2e-3,
    label_smoothing: float = 0.0,
    seed: int = 0,
    device=None,
    data_dir=None,
    dataset: str = "mnist",
    width: int = 32,
):
    """Return (model, report): model in eval mode, report with accuracy, wall time, hardware.

    ``dataset`` is ``"mnist"`` or ``"fashion-mnist"`` (full 60,000/10,000 split); ``width`` the
    channel count of the first convolutions.

    No label smoothing by default: it caps the softmax near 1 - smoothing, and the classifier's
    confidence is what the DDPM quality metric thresholds (>= 0.9).
    """
    device = get_device(device)
    if device.type == "cpu":
        configure_threads()
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    if dataset not in CLASSIFIER_NAMES:
        raise ValueError(f"dataset must be one of {sorted(CLASSIFIER_NAMES)}, got {dataset!r}")
    load = load_mnist if dataset == "mnist" else load_fashion_mnist
    train_set, test_set = load("train", data_dir=data_dir), load("test", data_dir=data_dir)
    x, y = as_batch(train_set.images, device), torch.as_tensor(train_set.labels).to(device)
    model = MnistCNN(width=width).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(x.shape[0] / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    t0 = time.time()
    bar = tqdm(total=steps, desc="classifier", dynamic_ncols=True)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(x.shape[0], generator=g).to(device)
        for i in range(0, x.shape[0], batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(model(augment(x[idx], g)), y[idx], label_smoothing=label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            bar.update(1)
    bar.close()
    model.eval()
    probs = predict_proba(model, test_set.images)
    acc = float((probs.argmax(1).numpy() == test_set.labels).mean())
    report = {
        "label_smoothing": label_smoothing,
        "dataset": dataset,
        "data": f"train: {train_set.source}; held-out: {test_set.source}",
        "steps": steps,
        "epochs": epochs,
        "wall_time_s": round(time.time() - t0, 1),
        "hardware": device_name(device)
        + (f" ({torch.get_num_threads()} threads)" if device.type == "cpu" else ""),
        "metrics": {"test_accuracy": acc, "test_size": int(len(test_set.labels))},
    }
    return model, report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m dlsa_core.classifier.train", description=__doc__.split("\n")[0]
    )
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dataset", choices=sorted(CLASSIFIER_NAMES), default="mnist")
    p.add_argument("--width", type=int, default=32, help="channels of the first convolutions")
    p.add_argument("--export", action="store_true", help="write assets/weights/<dataset>-classifier")
    p.add_argument("--root", default=None, help="weights registry root (default assets/weights)")
    a = p.parse_args(argv)
    model, report = train(
        epochs=a.epochs,
        batch_size=a.batch_size,
        lr=a.lr,
        label_smoothing=a.label_smoothing,
        seed=a.seed,
        device=a.device,
        data_dir=a.data_dir,
        dataset=a.dataset,
        width=a.width,
    )
    print(f"held-out accuracy {report['metrics']['test_accuracy']:.4f} in {report['wall_time_s']} s")
    if a.export:
        card = dict(
            report,
            command="python -m dlsa_core.classifier.train " + " ".join(sys.argv[1:]),
            model=f"MnistCNN (4 conv + 2 fc, width {a.width}), 128-d penultimate features",
        )
        config = {"model": {"width": a.width, "feature_dim": 128}}
        path = weights.save(CLASSIFIER_NAMES[a.dataset], model.state_dict(), config, card, root=a.root)
        print(f"exported to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

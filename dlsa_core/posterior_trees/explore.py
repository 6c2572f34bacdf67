"""Helpers behind the posterior-trees page: shipped layouts, inputs (test set, upload, drawing),
one timed prediction with its ground-truth report, the node table and a reproducible snippet.

Everything here is plain Python/torch (no Streamlit), so the page stays a thin arrangement of widgets.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import weights
from .metrics import tree_metrics
from .tasks import IMAGE_SIZE, degrade, get_task
from .tree import PosteriorTree, index_to_path

NAME_RE = re.compile(r"^tree-(?P<task>[a-z-]+?)-k(?P<k>\d+)d(?P<d>\d+)$")


def model_name(task: str, layout: str) -> str:
    """``("mnist-inpaint", "k3d2")`` -> ``"tree-mnist-inpaint-k3d2"``."""
    return f"tree-{task}-{layout}"


def shipped_layouts(task: str, *, root=None) -> list[str]:
    """Layouts (``"k3d2"``, ...) shipped for ``task``, K=3, d=2 first."""
    out = []
    for name in weights.read_manifest(root):
        m = NAME_RE.match(name)
        if m and m["task"] == task:
            out.append(f"k{m['k']}d{m['d']}")
    return sorted(out, key=lambda s: (s != "k3d2", s))


def parse_layout(layout: str) -> tuple[int, int]:
    m = re.fullmatch(r"k(\d+)d(\d+)", layout)
    if not m:
        raise ValueError(f"layout must look like 'k3d2', got {layout!r}")
    return int(m[1]), int(m[2])


def image_from_upload(data: bytes) -> torch.Tensor:
    """An uploaded picture as ``(1, 1, 28, 28)`` in [0, 1]: greyscale, resized, a light background
    inverted so that the strokes are bright as in MNIST.

    Raises ``ValueError`` for anything that is not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ValueError("the uploaded file is empty")
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValueError(f"the uploaded file is not an image Pillow can read ({exc})") from exc
    if im.width * im.height > 40_000_000:
        raise ValueError("the uploaded image is too large (over 40 megapixels)")
    a = np.asarray(im.convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR), dtype=np.float32) / 255
    if np.median(a) > 0.5:  # dark ink on light paper
        a = 1 - a
    return torch.from_numpy(a)[None, None].contiguous()


def image_from_canvas(rgba: np.ndarray | None) -> torch.Tensor | None:
    """A drawable-canvas image ``(H, W, 4)`` uint8 (white strokes on black) as ``(1, 1, 28, 28)``, or None if blank."""
    from PIL import Image

    if rgba is None:
        return None
    a = np.asarray(rgba)
    if a.ndim != 3 or a.shape[2] < 3 or a[..., :3].max() == 0:
        return None
    g = (
        Image.fromarray(a[..., :3].astype(np.uint8))
        .convert("L")
        .resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
    )
    return torch.from_numpy(np.asarray(g, dtype=np.float32) / 255)[None, None].contiguous()


@dataclass
class Prediction:
    """One input's tree, how long the forward pass took, and (with ground truth) its report."""

    y: torch.Tensor  # (1, 1, 28, 28)
    tree: PosteriorTree  # batch 1
    seconds: float
    x: torch.Tensor | None = None
    report: dict | None = None  # tree_metrics of the single image

    @property
    def gt_path(self) -> tuple[int, ...] | None:
        return None if self.report is None else tuple(int(k) for k in self.report["path"][0])


def predict(
    model, x: torch.Tensor | None = None, *, y: torch.Tensor | None = None, repeats: int = 3
) -> Prediction:
    """Degrade ``x`` (or take ``y``), run the tree model, time the forward pass (best of ``repeats``)."""
    if y is None:
        if x is None:
            raise ValueError("give a clean image x or a measurement y")
        y = degrade(x, model.task)
    best, tree = float("inf"), None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        tree = model.predict_tree(y)
        best = min(best, time.perf_counter() - t0)
    report = tree_metrics(tree, x, model.task) if x is not None else None
    return Prediction(y=y, tree=tree, seconds=best, x=x, report=report)


def node_table(tree: PosteriorTree, x: torch.Tensor | None = None) -> list[dict]:
    """One row per node: path, depth, absolute and conditional probability, samples, MSE to ``x``."""
    rows = []
    for j in range(tree.depth + 1):
        imgs, probs = tree.level(j)
        for i in range(imgs.shape[1]):
            path = index_to_path(i, tree.branching, j)
            row = {
                "node": "-".join(map(str, path)) or "root",
                "depth": j,
                "p_abs": round(float(probs[0, i]), 5),
                "p_cond": round(float(tree.conditional(path)[0]), 5),
            }
            if tree.counts is not None:
                row["samples"] = int(tree.leaf_counts(path)[0])
            if x is not None:
                row["mse_to_truth"] = round(float(((imgs[0, i].clamp(0, 1) - x[0]) ** 2).mean()), 5)
            rows.append(row)
    return rows


def reproduce_snippet(task: str, layout: str, index: int) -> str:
    """Python that recomputes what the page shows for a held-out test image."""
    get_task(task)
    return (
        "from dlsa_core.posterior_trees import degrade, load_task_images, load_tree_model, tree_metrics\n"
        f"model = load_tree_model({model_name(task, layout)!r})\n"
        f"x, labels = load_task_images({task!r}, 'test')\n"
        f"x = x[{int(index)}:{int(index) + 1}]\n"
        f"tree = model.predict_tree(degrade(x, task={task!r}))\n"
        "report = tree_metrics(tree, x, model.task)\n"
        "print(tree.probs.round(decimals=3), report['path'], report['psnr'].round(2), report['nll'].round(3))\n"
    )


def heldout_report(model, x: torch.Tensor, batch: int = 500) -> tuple[dict, dict]:
    """Path PSNR / NLL summary (mean, SEM) and calibration per depth of ``model`` on clean images ``x``."""
    from .metrics import calibration, concat, summarize

    xs = [x[i : i + batch] for i in range(0, len(x), batch)]
    trees = [model.predict_tree(degrade(xb, model.task)) for xb in xs]
    summ = summarize(concat([tree_metrics(t, xb, model.task) for t, xb in zip(trees, xs, strict=True)]))
    return summ, {j: calibration(trees, xs, j) for j in range(1, model.depth + 1)}


def baseline_caption(
    bt: PosteriorTree, timing: dict, tree_seconds: float, x: torch.Tensor | None, task: str
) -> str:
    """What the page says under the baseline tree: wall times, the ratio, sample counts, its path metrics."""
    wall = timing["sampling_s"] + timing["clustering_s"]
    thin = int((bt.counts < 2).sum())
    s = (
        f"Baseline wall time {wall:.1f} s ({timing['sampling_s']:.1f} s sampling, {timing['clustering_s']:.2f} s "
        f"k-means) vs {tree_seconds * 1000:.1f} ms for the tree: {wall / tree_seconds:,.0f}× slower. "
        f"Samples per leaf: {bt.counts[0].tolist()}"
        + (f"; {thin} leaves hold fewer than 2 samples (degenerate)." if thin else ".")
    )
    if x is not None:
        r = tree_metrics(bt, x, task)
        s += " Baseline path PSNR by depth: " + ", ".join(f"{v:.2f}" for v in r["psnr"][0]) + " dB; NLL: "
        s += ", ".join(f"{v:.2f}" for v in r["nll"][0]) + " nats."
    return s


def benchmark_rows(bench: dict) -> list[dict]:
    """The model card's benchmark as one row per measured series, one column per depth (0.01 precision).

    Rows: path PSNR (dB), then NLL (nats; 0 at the root), of the tree and of the nearest-neighbour
    reference on all the benchmark's images (when it ran the reference), and of the tree and the
    diffusion baseline on the baseline's images; each label carries its image count.
    """
    t_all, ref = bench.get("tree"), bench.get("reference")
    t, b = bench.get("tree_on_baseline_images"), bench.get("baseline")
    if not t_all or not (ref or (t and b)):
        return []
    n_all = t_all.get("n_images", "all")
    n_b = (bench.get("baseline_seconds_per_image") or {}).get("n_images", "")
    series = [("tree", t_all, n_all)] + ([("reference", ref, n_all)] if ref else [])
    series += [("tree", t, n_b), ("baseline", b, n_b)] if t and b else []
    depths = range(len(t_all["psnr"]))
    rows = []
    for metric in ("PSNR (dB)", "NLL (nats)"):
        for name, d, n in series:
            row = {"measure": f"{metric.split()[0]}, {name} ({n} images)"}
            for j in depths:
                # NLL at the root is -ln 1 = 0 exactly
                v = d["psnr"][j] if metric.startswith("PSNR") else (d["nll"][j - 1] if j else 0.0)
                row[f"depth {j}"] = round(float(v), 2)
            rows.append(row)
    return rows


def benchmark_note(bench: dict) -> str:
    """What the benchmark table compares: image counts, the reference, the baseline and the speed."""
    n = bench["tree"]["n_images"]
    s = f"Tree on {n} held-out images: forward pass {bench['tree_forward_ms_batch1']} ms at batch 1 on {bench.get('device')}."
    ref = bench.get("reference")
    if ref:
        s += (
            f" Reference (same {n} images): {ref.get('what', 'nearest training images, clustered')}; it is a lookup of "
            "real completions, not a model, and shows how much the per-level rise can be for this task."
        )
    b = bench.get("baseline_seconds_per_image")
    if b:
        which = bench.get("baseline_test_indices", f"the first {b.get('n_images')}")
        s += (
            f" Baseline on {b.get('n_images')} of them ({which}): {b.get('samples')} DDNM samples × "
            f"{b.get('ddnm_steps')} steps, {b.get('total')} s per image; the tree is "
            f"{bench.get('speed_ratio_baseline_over_tree', 0):,}× faster (shared CPU)"
        )
        same = bench.get("same_run_timing")
        s += (
            f"; re-timed in the same run on {same['images']} input(s): {same['baseline_s']} s vs {same['tree_ms']} ms, "
            f"{same['ratio']:,}×."
            if same
            else "."
        )
    return s


#: "The math" on the page (KaTeX-safe): assembly, the loss along the greedy path, annealing and NLL.
MATH = [
    r"\hat\alpha_{\text{parent}}=\sum_{c}\hat\alpha_c,\qquad \hat x_{\text{parent}}=\sum_c "
    r"\frac{\hat\alpha_c}{\hat\alpha_{\text{parent}}}\hat x_c,\qquad \hat x_{\text{root}}=\sum_{n=1}^{K^d}"
    r"\hat\alpha_n\hat x_n\approx\mathbb E[x\mid y]",
    r"k^*_j=\arg\min_k \|x-\hat x_{(k^*_1..k^*_{j-1},k)}\|^2,\qquad \mathcal L=\frac{1}{\sum_j\beta_j}\sum_{j=0}^{d}"
    r"\beta_j\frac{\sum_k w_{jk}\|\hat x_{jk}-x\|^2}{\sum_k w_{jk}},\ w=1\ \text{(winner)},\ \varepsilon_t\ \text{(others)}",
    r"\varepsilon_t=\exp\!\big(-[t-t_0]_+/2\big),\qquad \mathrm{NLL}_j=-\ln\hat\alpha_{(k^*_1..k^*_j)}",
]
MATH_NOTE = (
    "The network predicts only the leaves and one softmax over them; every inner node is computed. Under L2 "
    "the optimal tree is hierarchical k-means of the posterior, which the baseline approximates from samples. "
    "Our probability head is then refitted on the frozen body by the cross-entropy of the ground truth's leaf "
    "cell, with early stopping on a validation split (the NLL it minimises is the one reported). The per-level "
    "weights β_j are left unstated by the paper; the shipped trees were trained with light inner levels (the "
    "model card's command shows them, with t in training 'epochs' and t_0 = 5 unless it says otherwise), because an inner node, a weighted mean of its children, pulls siblings together."
)

"""The direction bank: every named h-space direction of one model, built by a command and shipped.

Build (resumable: each chunk of samples is cached under ``--cache`` and reused on restart)::

    nice -n 10 python -m dlsa_core.hspace.bank --n 1000 --threads 1

It generates n samples with the DDIM sampler, records h at every step, annotates the images
(:mod:`.annotate`), and stores per-step PCA directions ``pc1..pcK``, supervised within-class
mean differences (``thickness``, ``slant``, ``width``; see :data:`STYLE` for why not height), their disentangled versions
(``<name>_disentangled``: the others projected out) and the class means of h (for ``digit_a_to_b``).
The result is a ``dlsa_core.weights`` entry (safetensors + sha256 manifest + card).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import weights
from . import annotators as ann
from .collect import collect_chunk
from .identity import collect_margin_gradients, sensitive_subspace, step_vectors
from .pca import timestep_pca
from .supervised import mean_difference, project_out

DEFAULT_BANK = "hspace-mnist"
# No ``height`` direction: MNIST scales every digit so that its larger side is 20 px, so height hardly
# varies within a class (whole-pixel, 67 % of generated digits measure exactly 20 px). A within-class
# "height" mean difference moved height the wrong way (-0.08 within-class std at +1, 100 seeds) and,
# projected out of the other directions, passed side effects on to them (thickness_disentangled moved
# height by +0.09 std). Height stays an annotated attribute: a column of the effect matrix.
STYLE = ("thickness", "slant", "width")
DIGIT_RE = re.compile(r"^digit_(\d)_to_(\d)$")
PRESET_PAIRS = ((1, 7), (7, 1), (3, 8), (4, 9), (0, 6), (5, 6))


@dataclass
class DirectionBank:
    """Named per-step directions on one DDIM timestep grid.

    Attributes
    ----------
    timesteps : (S,) int64
        The grid the directions were measured on (highest first).
    directions : dict of str -> (S, C, H, W) float32
    class_means : (10, S, C, H, W) float32 or None
        Mean h per digit class (digit-to-digit directions are differences of these).
    meta : dict
        ``families``, ``attribute_std`` (within-class std of each attribute), ``pc_std`` ((S, K) list),
        ``explained_ratio``, ``n_samples``, ``steps``, ``eta``, ``frac``.
    """

    timesteps: torch.Tensor
    directions: dict[str, torch.Tensor]
    class_means: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def h_shape(self) -> tuple[int, ...]:
        return tuple(next(iter(self.directions.values())).shape[1:])

    def names(self) -> list[str]:
        """Every direction name the bank answers to (stored ones plus preset digit pairs)."""
        pairs = [f"digit_{a}_to_{b}" for a, b in PRESET_PAIRS] if self.class_means is not None else []
        return list(self.directions) + pairs

    def families(self) -> dict[str, list[str]]:
        fam = {
            "PCA (unsupervised)": [n for n in self.directions if n.startswith("pc")],
            "Supervised": [n for n in self.directions if n in STYLE],
            "Disentangled": [n for n in self.directions if n.endswith("_disentangled")],
        }
        if self.class_means is not None:
            fam["Digit to digit"] = [f"digit_{a}_to_{b}" for a, b in PRESET_PAIRS]
        return fam

    def get(self, name: str) -> torch.Tensor:
        """Direction ``(S, C, H, W) float32`` on the bank grid; ``digit_a_to_b`` for any digits a != b."""
        if name in self.directions:
            return self.directions[name]
        m = DIGIT_RE.match(name)
        if m and self.class_means is not None and m.group(1) != m.group(2):
            a, b = int(m.group(1)), int(m.group(2))
            return self.class_means[b] - self.class_means[a]
        raise KeyError(f"unknown direction {name!r}; known: {', '.join(self.names())}")

    def on_grid(self, name_or_delta, timesteps) -> torch.Tensor:
        """A direction resampled to another DDIM grid: linear in the timestep between bank steps,
        exact (a plain selection) when ``timesteps`` is a subset of the bank's grid."""
        d = self.get(name_or_delta) if isinstance(name_or_delta, str) else torch.as_tensor(name_or_delta)
        return resample_steps(d.float(), self.timesteps, torch.as_tensor(timesteps))


def resample_steps(delta: torch.Tensor, grid: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """Interpolate ``delta (S, ...)`` given on ``grid (S,)`` (descending) at ``timesteps (S',)``."""
    g = grid.double().flip(0).numpy()  # ascending for np.interp-style search
    out = []
    for t in timesteps.double().numpy():
        t = float(np.clip(t, g[0], g[-1]))
        j = int(np.searchsorted(g, t))
        if j < len(g) and g[j] == t:
            out.append(delta[len(g) - 1 - j])
            continue
        lo, hi = j - 1, j
        w = (t - g[lo]) / (g[hi] - g[lo])
        out.append((1 - w) * delta[len(g) - 1 - lo] + w * delta[len(g) - 1 - hi])
    return torch.stack(out).float()


# ----------------------------------------------------------------------------- build


def class_means(h: np.ndarray, digits: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Mean h per digit class ``(10, S, d) float64`` (zero for absent classes) and the present classes."""
    means = np.zeros((10, *h.shape[1:]))
    present = [c for c in range(10) if (digits == c).any()]
    for c in present:
        means[c] = h[digits == c].astype(np.float64).mean(0)
    return means, present


def style_directions(
    h: np.ndarray, attrs: dict[str, np.ndarray], *, frac: float, active: np.ndarray | None = None, means=None,
    sensitive: np.ndarray | None = None,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Supervised style directions ``{name: (S, d)}`` and their ``*_disentangled`` versions.

    Each is the within-class mean difference (top ``frac`` minus bottom ``frac`` of each digit class)
    with the span of the class means projected out, so that an edit changes the style of a digit
    rather than which digit it is; ``<name>_disentangled`` also has the other style directions
    projected out. ``active (S,) bool`` is their edit window: they are zero at the other steps, and the
    projections are taken over the active steps only, so they stay zero there.
    ``sensitive (S, k, d)``: an identity-sensitive subspace per step (:mod:`.identity`); every style
    direction is also made orthogonal to it at every active step (one joint least-squares projection,
    so all the orthogonalities hold exactly together).
    """
    n, steps, d = h.shape
    act = np.ones(steps, bool) if active is None else np.asarray(active, bool)
    if act.shape != (steps,) or not act.any():
        raise ValueError(f"active must be a (steps,) boolean mask with a True entry, got {act.shape}")
    mask = act[:, None].astype(np.float64)
    digits = attrs["digit"]
    means, present = (
        class_means(h, digits) if means is None else (means, [c for c in range(10) if (digits == c).any()])
    )
    centre = means[present].mean(0)
    identity = [(means[c] - centre) * mask for c in present]  # the span that moves between digit classes
    if sensitive is not None:
        if sensitive.shape[0] != steps or sensitive.shape[2] != d:
            raise ValueError(f"sensitive must be ({steps}, k, {d}), got {sensitive.shape}")
        identity += step_vectors(sensitive, act)
    groups = digits if np.bincount(digits, minlength=10).max() >= 10 else None  # tiny runs: one group
    sup = {
        a: project_out(mean_difference(h, attrs[a], groups=groups, frac=frac) * mask, identity) for a in STYLE
    }
    out = dict(sup)
    out.update({f"{k}_disentangled": project_out(v, identity + [sup[m] for m in STYLE if m != k])
                for k, v in sup.items()})  # fmt: skip
    return out


def build_directions(
    h: np.ndarray, attrs: dict[str, np.ndarray], *, n_pcs: int, frac: float, active: np.ndarray | None = None,
    sensitive: np.ndarray | None = None,
):  # fmt: skip
    """Directions from collected h ``(n, S, d)`` and annotations. Returns (dirs (S, d) dict, class means, meta).

    PCA directions ``pc1..pcK`` (:func:`.pca.timestep_pca`) and the style directions of
    :func:`style_directions` (``active``: their edit window).
    """
    n, steps, d = h.shape
    act = np.ones(steps, bool) if active is None else np.asarray(active, bool)
    pca = timestep_pca(h, n_pcs)
    dirs = {f"pc{j + 1}": pca.direction(j) for j in range(n_pcs)}
    digits = attrs["digit"]
    means, _ = class_means(h, digits)
    dirs.update(style_directions(h, attrs, frac=frac, active=act, means=means, sensitive=sensitive))
    std = {}
    for a in ann.ATTRIBUTES:
        resid = [
            attrs[a][digits == c] - attrs[a][digits == c].mean() for c in range(10) if (digits == c).sum() > 1
        ]
        std[a] = float(np.concatenate(resid).std()) if resid else float(attrs[a].std())
    meta = {
        "attribute_std": std,
        "attribute_mean": {a: float(attrs[a].mean()) for a in ann.ATTRIBUTES},
        "pc_std": pca.std.tolist(),
        "explained_ratio": pca.explained_ratio.tolist(),
        "class_counts": np.bincount(digits, minlength=10).tolist(),
        "n_samples": int(n),
        "frac": frac,
        "style_active_steps": act.tolist(),
    }
    return dirs, means, meta


def build_bank(
    model, n: int = 1000, *, steps: int = 20, eta: float = 0.0, seed: int = 10_000, batch_size: int = 50,
    n_pcs: int = 8, frac: float = 0.33, style_t_max: int | None = None, classifier=None,
    identity_k: int = 0, identity_n: int = 600, cache: str | Path | None = None, log=print,
) -> DirectionBank:  # fmt: skip
    """Generate, annotate and decompose; see the module docstring. ``cache`` makes it resumable.

    ``style_t_max``: the style directions act only at timesteps ``t < style_t_max`` (None: every step).
    ``identity_k``: if positive, the style directions are made orthogonal to the top ``identity_k``
    singular vectors per step of ``identity_n`` samples' classifier-margin gradients (:mod:`.identity`).
    """
    cache = Path(cache) if cache else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    hs, images = [], []
    t0 = time.perf_counter()
    for k, start in enumerate(range(0, n, batch_size)):
        b = min(batch_size, n - start)
        path = cache / f"chunk{k:04d}_b{b}_s{steps}_e{eta:g}_seed{seed}.npz" if cache else None
        if path is not None and path.is_file():
            z = np.load(path)
            hk, ik = z["h"], z["images"]
        else:
            c = collect_chunk(model, k, b, steps=steps, eta=eta, seed=seed)
            hk, ik = c.h, c.images
            if path is not None:
                np.savez(path, h=hk, images=ik)
        hs.append(hk)
        images.append(ik)
        log(f"chunk {k}: {start + b}/{n} samples, {time.perf_counter() - t0:.0f} s")
    h = np.concatenate(hs)
    imgs = np.concatenate(images)
    attrs = ann.annotate(imgs, classifier)
    timesteps = model.ddim_scheduler(steps).timesteps.clone()
    active = None if style_t_max is None else (timesteps < int(style_t_max)).numpy()
    sensitive = None
    if identity_k > 0:
        clf = classifier if classifier is not None else ann._default_classifier()
        grads = collect_margin_gradients(
            model, clf, identity_n, steps=steps, batch_size=batch_size, cache=cache, log=log
        )
        sensitive = sensitive_subspace(grads, identity_k)
        del grads
    dirs, means, meta = build_directions(h, attrs, n_pcs=n_pcs, frac=frac, active=active, sensitive=sensitive)
    shape = model.h_shape
    meta.update(
        steps=steps,
        eta=eta,
        seed=seed,
        style_t_max=style_t_max,
        build_s=time.perf_counter() - t0,
        identity_k=identity_k,
        identity_n=identity_n if identity_k > 0 else 0,
    )
    return DirectionBank(
        timesteps=timesteps,
        directions={k: torch.from_numpy(v).float().reshape(steps, *shape) for k, v in dirs.items()},
        class_means=torch.from_numpy(means).float().reshape(10, steps, *shape),
        meta=meta,
    )


# ----------------------------------------------------------------------------- save / load


def save_bank(bank: DirectionBank, name: str = DEFAULT_BANK, *, card: dict, root=None) -> Path:
    """Ship ``bank`` as a weights entry (float16 tensors; directions are smooth, half precision is ample)."""
    tensors = {f"dir.{k}": v.half() for k, v in bank.directions.items()}
    tensors["timesteps"] = bank.timesteps.long()
    if bank.class_means is not None:
        tensors["class_means"] = bank.class_means.half()
    config = {"hspace_bank": {"h_shape": list(bank.h_shape), "names": list(bank.directions), **bank.meta}}
    return weights.save(name, tensors, config, card, root=root)


def load_bank(name: str = DEFAULT_BANK, *, root=None) -> DirectionBank:
    """Load a shipped bank (sha256-verified)."""
    loaded = weights.load(name, root=root, device="cpu")
    try:
        meta = dict(loaded.config["hspace_bank"])
        dirs = {k: loaded.tensors[f"dir.{k}"].float() for k in meta.pop("names")}
        meta.pop("h_shape", None)
        ts = loaded.tensors["timesteps"].long()
    except KeyError as exc:
        raise weights.WeightsError(f"{name} is not an h-space direction bank (missing {exc})") from exc
    cm = loaded.tensors.get("class_means")
    meta["card"] = loaded.card
    return DirectionBank(ts, dirs, None if cm is None else cm.float(), meta)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Build the h-space direction bank of the shipped DDPM.")
    p.add_argument("--n", type=int, default=1000, help="generated samples")
    p.add_argument("--steps", type=int, default=20, help="DDIM steps of the bank grid")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--n-pcs", type=int, default=8)
    p.add_argument("--frac", type=float, default=0.33, help="fraction of each class taken from each end")
    p.add_argument("--style-t-max", type=int, default=None,
                   help="style directions act only at timesteps t < this (default: every step)")  # fmt: skip
    p.add_argument(
        "--identity-k",
        type=int,
        default=0,
        help="make style directions orthogonal to this many identity-sensitive dimensions per step",
    )
    p.add_argument("--identity-n", type=int, default=600, help="samples whose margin gradients define them")
    p.add_argument("--seed", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--name", default=DEFAULT_BANK)
    p.add_argument("--model", default="ddpm-mnist")
    p.add_argument("--cache", default="build/hspace_bank_cache", help="chunk cache (resume)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from ..diffusion import load_ddpm

    model = load_ddpm(args.model, device="cpu")
    t0 = time.perf_counter()
    bank = build_bank(
        model, args.n, steps=args.steps, seed=args.seed, batch_size=args.batch_size, n_pcs=args.n_pcs,
        frac=args.frac, style_t_max=args.style_t_max, identity_k=args.identity_k, identity_n=args.identity_n,
        cache=args.cache,
    )  # fmt: skip
    argv_s = " ".join(sys.argv[1:] if argv is None else argv)
    card = {
        "model": f"h-space direction bank of {args.model} (mid-block output, {bank.h_shape})",
        "data": f"{args.n} samples generated by {args.model} (DDIM, {args.steps} steps, eta 0, seeds "
        f"{args.seed}+2k per chunk of {args.batch_size}); annotated by dlsa_core.hspace.annotators and the "
        f"mnist-classifier; class counts {bank.meta['class_counts']}",
        "command": f"python -m dlsa_core.hspace.bank {argv_s}".strip(),
        "steps": args.steps,
        "wall_time_s": round(time.perf_counter() - t0, 1),
        "hardware": f"CPU ({platform.machine()}), {args.threads} torch thread(s), shared with other jobs",
        "metrics": {
            "n_samples": args.n,
            "n_per_end": f"{args.frac:.0%} of each digit class (within-class ranking)",
            "style_edit_window": "every step" if args.style_t_max is None else f"t < {args.style_t_max}",
            "identity_subspace": "none"
            if args.identity_k <= 0
            else f"top {args.identity_k} singular vectors per step "
            f"of {args.identity_n} samples' classifier-margin gradients (seeds 20000+2k), projected out of style directions",
            "pc_explained_ratio_step0": [round(x, 4) for x in bank.meta["explained_ratio"][0]],
            "attribute_std_within_class": {k: round(v, 3) for k, v in bank.meta["attribute_std"].items()},
        },
    }
    path = save_bank(bank, args.name, card=card)
    print(json.dumps(card, indent=1))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

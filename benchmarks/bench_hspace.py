"""h-space directions: speed of live editing and the issue's quality targets (100 seeds).

    python benchmarks/bench_hspace.py --speed            # latencies, ratios against the 20-step baseline
    python benchmarks/bench_hspace.py --targets --write  # thickness/slant/disentangling/inversion targets;
                                                         # --write saves assets/hspace/effects.json for the page
    python benchmarks/bench_hspace.py --targets --parts dirs,heldout   # a subset (parts run independently,
    python benchmarks/bench_hspace.py --targets --parts effects --write #  e.g. as two parallel processes)

Timings on a shared 2-core machine are pessimistic; the ratios are measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from dlsa_core import hspace
from dlsa_core.hspace import annotators as ann
from dlsa_core.hspace import evaluate, instrument
from dlsa_core.hspace.bank import STYLE
from dlsa_core.hspace.edit import clear_cache, delta_on_grid, random_direction

ROOT = Path(__file__).resolve().parents[1]


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def speed() -> None:
    model, bank = hspace.default_model(), hspace.default_bank()
    strip = np.linspace(-2, 2, 7)

    def uncached(seeds, strengths, steps):
        def f():
            clear_cache()
            hspace.edit_images(seeds, "thickness", strengths, steps=steps, model=model, bank=bank)

        return f

    uncached([1], [1.0], 5)()  # warm-up
    base1 = best_of(uncached([1], [1.0], 20))
    base7 = 7 * base1  # today: one 20-step run per strength
    rows = [
        ("one edited image, 20 steps (baseline)", base1, base1, None),
        ("one edited image, preview 5 steps", best_of(uncached([1], [1.0], 5)), base1, 0.150),
        ("one edited image, 10 steps", best_of(uncached([1], [1.0], 10)), base1, None),
        ("7-strength strip, 5 steps, one batch", best_of(uncached([1], strip, 5)), base7, 1.0),
        ("7-strength strip, 10 steps, one batch", best_of(uncached([1], strip, 10)), base7, 1.0),
        ("7-strength strip, 20 steps, one batch", best_of(uncached([1], strip, 20), 1), base7, None),
    ]

    def shown(strength, steps):  # the page shows the original first: its replay state is kept
        def f():
            clear_cache(states=False)
            hspace.edit_images([1], "thickness", [strength], steps=steps, model=model, bank=bank)

        hspace.edit_images([1], "thickness", [0.0], steps=steps, model=model, bank=bank)
        return f

    rows.insert(2, ("one edited image, 5 steps, source shown", best_of(shown(1.0, 5)), base1, 0.150))
    rows.insert(4, ("one edited image, 10 steps, source shown", best_of(shown(1.0, 10)), base1, None))
    hspace.edit_images([1], "thickness", strip, steps=5, model=model, bank=bank)
    rows.append(("cached repeat of the strip", best_of(lambda: hspace.edit_images([1], "thickness", strip, steps=5,
                                                                                model=model, bank=bank), 5), base7, 0.050))  # fmt: skip
    print(f"{'case':<42} {'seconds':>8} {'vs baseline':>12} {'target':>8}")
    for name, t, base, target in rows:
        verdict = "" if target is None else ("ok" if t <= target else "MISSED")
        tgt = "" if target is None else f"<= {target:g}"
        print(f"{name:<42} {t:8.3f} {base / t:11.1f}x {tgt:>8} {verdict}")
    print(f"(threads: {torch.get_num_threads()}; shared machine, numbers are pessimistic)")


def sign_rate(x: np.ndarray, sign: int) -> float:
    return float(np.mean(np.sign(x) == sign))


def wilson(rate: float, n: int) -> str:
    """95 % Wilson interval of a rate measured on ``n`` seeds, as text: 100 seeds pin a rate to about ±6 %."""
    from scipy.stats import binomtest

    ci = binomtest(round(rate * n), n).proportion_ci(0.95, method="wilson")
    return f"[{ci.low:.0%}-{ci.high:.0%}]"


def style_targets(model, bank, n_seeds: int, steps: int, first_seed: int = 1000) -> None:
    """thickness/slant at +1 and -1: right way and digit kept on generated seeds (95 % intervals)."""
    seeds = range(first_seed, first_seed + n_seeds)
    traj = evaluate.seeds_trajectory(model, seeds, steps=steps)
    images = evaluate.edit_batch(model, traj, None)
    base = ann.annotate(images)
    for name in ("thickness", "slant"):
        d = delta_on_grid(bank, name, traj.timesteps)
        for g in (1.0, -1.0):
            ch = evaluate.attribute_changes(base, ann.annotate(evaluate.edit_batch(model, traj, g * d)))
            r, kept = sign_rate(ch[name], int(g)), ch["digit_kept"].mean()
            ok = "ok" if r >= 0.9 and kept >= 0.9 else "MISSED"
            print(f"{name:>10} γ={g:+.0f}: {name} moves the right way on {r:.0%} {wilson(r, len(seeds))}, "
                  f"digit kept on {kept:.0%} {wilson(kept, len(seeds))} "
                  f"(mean Δ {ch[name].mean():+.3f} {ann.UNITS[name]})  [{ok}]")  # fmt: skip
            exact_counterpart(images, base, name, ch[name].mean())


def exact_counterpart(images, base, name: str, mean_change: float, indent: str = "           ") -> None:
    """The instrument check: an exact transform of the same images with the edit's mean change."""
    m = instrument.matched_transform(images, name, mean_change, before=base)
    what = "thickening/thinning by a blend of" if name == "thickness" else "shear by"
    unit = "" if name == "thickness" else "°"
    print(f"{indent}exact counterpart ({what} {m['parameter']:+.3f}{unit}, same mean Δ): read the right way on "
          f"{m['right_way']:.0%}, digit kept on {m['digit_kept']:.0%}")  # fmt: skip


def effect_targets(model, bank, n_seeds: int, steps: int, first_seed: int = 1000) -> dict:
    """The effect matrix (original and disentangled) and the random control of each row's norm."""
    seeds = range(first_seed, first_seed + n_seeds)
    eff = {}
    for label, rows in (("original", STYLE), ("disentangled", [f"{s}_disentangled" for s in STYLE])):
        per_row = label == "disentangled"  # the target's control: a random direction of each row's norm
        m = evaluate.effect_matrix(seeds, rows, steps=steps, model=model, bank=bank, random_per_row=per_row)
        eff[label] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in m.items()}
        print(f"-- effect matrix, {label} (normalised Δ at γ=+1; columns {m['columns']})")
        own_ok, own_signed, ratios = 0, 0, []
        for i, r in enumerate(m["rows"]):
            z = m["normalised"][i]
            line = " ".join(f"{v:+6.2f}" for v in z)
            note = ""
            if r != "random":
                own = m["columns"].index(r.removesuffix("_disentangled"))
                largest = int(np.argmax(np.abs(z)))
                own_ok += largest == own
                own_signed += largest == own and z[own] > 0
                note = "own largest" if largest == own else f"largest: {m['columns'][largest]}"
                note += "" if z[own] > 0 else " (own effect has the wrong sign)"
                if per_row:  # the control: a random direction of the same (per-step) norm as this row
                    rnd_i = np.abs(m["random_normalised"][i])
                    ratios.append(rnd_i.max() / max(abs(z[own]), 1e-12))
                    note += f"; random of this norm: max |Δ| {rnd_i.max():.3f} = {ratios[-1]:.2f} x own"
            print(f"{r:>24} {line}   kept {m['digit_kept'][i]:.0%}  {note}")
        rnd = np.abs(m["normalised"][-1])
        own_eff = [
            abs(m["normalised"][i][m["columns"].index(r.removesuffix("_disentangled"))])
            for i, r in enumerate(m["rows"][:-1])
        ]
        print(f"   own attribute largest in {own_ok}/{len(rows)} rows ({own_signed}/{len(rows)} also with the right "
              f"sign); row-0 random / smallest own effect "
              f"(previous definition) {rnd.max() / min(own_eff):.2f}")  # fmt: skip
        if per_row:
            print(f"   random of each row's norm / own effect: max {max(ratios):.2f} (target < 0.33; per row "
                  f"{', '.join(f'{x:.2f}' for x in ratios)})")  # fmt: skip
    return eff


def heldout_targets(model, bank, n_seeds: int, steps: int) -> None:
    """Held-out test digits: exact inversion, then the same thickness/slant checks.

    The digits are a class-balanced sample (the r-th test digit of every class in turn): the split is
    sorted by class, so its first 100 digits are 50 zeros and 50 ones.
    """
    from dlsa_core.data import balanced_indices, load_mnist

    test = load_mnist("test")
    idx = balanced_indices(test.labels, n_seeds)
    imgs = test.images[idx].astype(np.float32) / 255.0
    per_class = np.bincount(test.labels[idx], minlength=10).tolist()
    print(f"-- held-out digits: {len(idx)} test digits, {per_class} per class")
    inv = hspace.diffusion_invert(model, imgs, steps=steps)
    rec = evaluate.edit_batch(model, inv.trajectory, None)
    psnrs = np.array([hspace.psnr(a, b) for a, b in zip(imgs, rec, strict=True)])
    print(f"   edit-friendly inversion PSNR min {min(psnrs.min(), 999):.1f} dB, median "
          f"{min(np.median(psnrs), 999):.1f} dB (target >= 30)")  # fmt: skip
    ddim = hspace.diffusion_invert(model, imgs, steps=steps, eta=0.0)
    p2 = np.array(
        [
            hspace.psnr(a, b)
            for a, b in zip(imgs, evaluate.edit_batch(model, ddim.trajectory, None), strict=True)
        ]
    )
    print(f"   DDIM inversion ({steps} steps) PSNR median {np.median(p2):.1f} dB, min {p2.min():.1f} dB")
    base_r = ann.annotate(rec)
    for name in ("thickness", "slant"):
        d = delta_on_grid(bank, name, inv.trajectory.timesteps)
        for g in (1.0, -1.0):
            ch = evaluate.attribute_changes(
                base_r, ann.annotate(evaluate.edit_batch(model, inv.trajectory, g * d))
            )
            r, kept = sign_rate(ch[name], int(g)), ch["digit_kept"].mean()
            print(f"   held-out {name} γ={g:+.0f}: right way on {r:.0%} {wilson(r, len(idx))}, digit kept on "
                  f"{kept:.0%} {wilson(kept, len(idx))} "
                  f"(mean Δ {ch[name].mean():+.3f} {ann.UNITS[name]})  "
                  f"[{'ok' if r >= 0.9 and kept >= 0.9 else 'MISSED'}]")  # fmt: skip
            exact_counterpart(rec, base_r, name, ch[name].mean(), indent="      ")


def targets(
    n_seeds: int, steps: int, write: bool, parts: str = "dirs,effects,heldout", first_seed: int = 1000
) -> None:
    model, bank = hspace.default_model(), hspace.default_bank()
    t0 = time.perf_counter()
    print(
        f"== {n_seeds} seeds from {first_seed}, {steps} DDIM steps; bank: {bank.meta.get('n_samples')} samples =="
    )
    if "dirs" in parts:
        style_targets(model, bank, n_seeds, steps, first_seed)
    if "effects" in parts:
        eff = effect_targets(model, bank, n_seeds, steps, first_seed)
        if write:
            ts = hspace.default_model().ddim_scheduler(steps).timesteps
            rnd = random_direction(delta_on_grid(bank, "thickness", ts), 0)
            eff.update(n_seeds=n_seeds, steps=steps, random_norm=float(rnd.norm()))
            out = ROOT / "assets" / "hspace" / "effects.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(eff, indent=1))
            print(f"wrote {out}")
    if "heldout" in parts:
        heldout_targets(model, bank, n_seeds, steps)
    print(f"total {time.perf_counter() - t0:.0f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--speed", action="store_true")
    p.add_argument("--targets", action="store_true")
    p.add_argument("--write", action="store_true", help="save the effect matrix for the page")
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument(
        "--first-seed", type=int, default=1000, help="generated seeds first_seed, first_seed + 1, ..."
    )
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--parts", default="dirs,effects,heldout",
                   help="which targets: dirs (thickness/slant ±1), effects (matrix; --write), heldout")  # fmt: skip
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.speed or not a.targets:
        speed()
    if a.targets:
        if a.write and a.first_seed != 1000:
            p.error("--write stores the page's effect matrix, which is measured on seeds 1000+")
        targets(a.seeds, a.steps, a.write, a.parts, a.first_seed)


if __name__ == "__main__":
    main()

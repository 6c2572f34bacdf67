"""Measuring edits: dose-response curves, the effect matrix (Haas et al.'s Table I on digits), targets.

Edits of many seeds run as one batch (:func:`edit_batch`). Effects are attribute changes (edited minus
unedited); the *normalised* effect divides by the attribute's within-class standard deviation over the
bank's samples, so slant in degrees and thickness in pixels share one scale.
"""

from __future__ import annotations

import numpy as np
import torch

from ..diffusion.model import to_unit
from ..diffusion.sampling import Trajectory
from . import annotators as ann
from .edit import (
    _lock,
    _loop,
    default_bank,
    default_model,
    delta_on_grid,
    first_active_step,
    random_direction,
    seed_trajectory,
)


def seeds_trajectory(model, seeds, *, steps: int, eta: float = 0.0) -> Trajectory:
    """One trajectory holding every seed's own ``x_T`` (and noise), as ``sample(model, 1, seed=s)`` draws it."""
    trs = [seed_trajectory(model, int(s), steps=steps, eta=eta) for s in seeds]
    z = None if trs[0].variance_noise is None else torch.cat([t.variance_noise for t in trs], 1)
    return Trajectory(torch.cat([t.x_T for t in trs]), z, trs[0].timesteps, eta, None)


_batch_states: dict = {}  # id(trajectory) -> (trajectory, unedited states (S + 1, n, 1, 28, 28))


def edit_batch(model, trajectory: Trajectory, delta: torch.Tensor | None) -> np.ndarray:
    """All images of ``trajectory`` with the same per-step edit ``delta (S, C, H, W)`` (or none), ``(n, 28, 28)``.

    The unedited run records its states; an edit that is zero for its first k steps resumes from the
    recorded ``x_k`` of the same batch, which is the same computation as replaying those k steps.
    """
    key = id(trajectory)
    hit = _batch_states.get(key)
    hit = hit[1] if hit is not None and hit[0] is trajectory else None
    with _lock, torch.inference_mode():
        if delta is None:
            states: list[torch.Tensor] = []
            states.append(_loop(model, trajectory.x_T, trajectory, 0, None, states))
            _batch_states.clear()  # one batch at a time is all a benchmark needs
            _batch_states[key] = (trajectory, torch.stack(states))
            return to_unit(states[-1])[:, 0].numpy()
        k = first_active_step(torch.as_tensor(delta)[None]) if hit is not None else 0
        x = trajectory.x_T if k == 0 else hit[k]
        if k >= trajectory.steps:
            return to_unit(x)[:, 0].numpy()
        x0 = _loop(model, x, trajectory, k, torch.as_tensor(delta, dtype=torch.float32)[k:].contiguous())
    return to_unit(x0)[:, 0].numpy()


def attribute_changes(before: dict, after: dict) -> dict[str, np.ndarray]:
    """Per-image change of every attribute plus ``digit_kept`` (bool) and ``p_orig`` (prob. of the original class)."""
    out = {a: after[a] - before[a] for a in ann.ATTRIBUTES}
    out["digit_kept"] = after["digit"] == before["digit"]
    out["p_orig"] = after["proba"][np.arange(len(before["digit"])), before["digit"]]
    return out


def dose_response(
    seeds, direction, strengths, *, steps: int = 10, eta: float = 0.0, window=None, model=None, bank=None,
    control_seed: int = 0,
) -> dict:  # fmt: skip
    """Attribute change against strength for a direction and a random direction of the same per-step norm.

    Returns
    -------
    dict with ``strengths (m,)``, ``base`` (annotations of the unedited images) and for each of
    ``"direction"`` and ``"random"``: ``{attr: (m, n) change}``, ``digit_kept (m, n)``, ``p_orig (m, n)``.
    """
    model = model or default_model()
    bank = bank or default_bank()
    traj = seeds_trajectory(model, seeds, steps=steps, eta=eta)
    d = delta_on_grid(bank, direction, traj.timesteps, window)
    ctrl = random_direction(d, control_seed)
    base = ann.annotate(edit_batch(model, traj, None))
    res = {"strengths": np.asarray(strengths, float), "base": base}
    for label, vec in (("direction", d), ("random", ctrl)):
        rows = [
            attribute_changes(base, ann.annotate(edit_batch(model, traj, float(s) * vec))) for s in strengths
        ]
        res[label] = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    return res


def effect_matrix(
    seeds, rows, *, strength: float = 1.0, steps: int = 10, eta: float = 0.0, model=None, bank=None,
    with_random: bool = True, random_per_row: bool = False,
) -> dict:  # fmt: skip
    """Mean attribute change per direction at ``+strength`` (Table I analogue).

    Returns
    -------
    dict with ``rows`` (names, plus ``"random"`` control for the first row), ``columns`` (attributes),
    ``raw (R, A)`` mean change in attribute units, ``normalised (R, A)`` divided by the within-class std,
    ``sem (R, A)`` standard error of the raw mean, ``digit_kept (R,)``. With ``random_per_row`` also
    ``random_normalised (R', A)`` and ``random_kept (R',)``: for each named row, a random direction with
    that row's per-step norm (the control the targets compare each direction with).
    """
    model = model or default_model()
    bank = bank or default_bank()
    traj = seeds_trajectory(model, seeds, steps=steps, eta=eta)
    base = ann.annotate(edit_batch(model, traj, None))
    names = list(rows)
    deltas = [delta_on_grid(bank, r, traj.timesteps) for r in names]
    if with_random:
        names.append("random")
        deltas.append(random_direction(deltas[0], 0))
    std = np.array([bank.meta["attribute_std"][a] for a in ann.ATTRIBUTES])

    def measure(d):
        ch = attribute_changes(base, ann.annotate(edit_batch(model, traj, strength * d)))
        raw = [ch[a].mean() for a in ann.ATTRIBUTES]
        sem = [ch[a].std(ddof=1) / np.sqrt(len(seeds)) for a in ann.ATTRIBUTES]
        return raw, sem, ch["digit_kept"].mean()

    results = [measure(d) for d in deltas]
    raw, sem, kept = (np.array(x) for x in zip(*results, strict=True))
    out = {"rows": names, "columns": list(ann.ATTRIBUTES), "raw": raw, "normalised": raw / std,
           "sem": sem, "digit_kept": kept}  # fmt: skip
    if random_per_row:  # row 0's control is the "random" row already measured
        first = [results[-1]] if with_random else [measure(random_direction(deltas[0], 0))]
        ctrl = first + [measure(random_direction(d, 0)) for d in deltas[1 : len(rows)]]
        out["random_normalised"] = np.array([c[0] for c in ctrl]) / std
        out["random_kept"] = np.array([c[2] for c in ctrl])
    return out

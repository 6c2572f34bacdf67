"""Editing: replay a sample's recorded trajectory with ``strength * delta_h_t`` added to h at every step.

The image is a deterministic function of (x_T, z, delta_h) (see :mod:`dlsa_core.diffusion.sampling`),
so an edit changes only what delta_h touches. Several strengths (or several seeds) run as one batch.
Batch composition changes float rounding in the U-Net, so a strength of exactly 0 is not taken from the
batch but from the unedited one-image run of that seed: it is then the sample of
``sample(model, 1, steps=..., seed=seed)`` bit for bit.

Directions live on the bank's timestep grid (20 DDIM steps); a run with fewer steps uses the bank's
values at its own timesteps (exact for 10, 5, 4, 2 steps, whose grids are subsets of the 20-step one).
Results are cached per image, keyed on (model, seed or source, direction, strength rounded to 1e-3,
steps, eta, window), so a repeated request costs a dictionary look-up.

Replay state: the unedited run of a source records its state ``x_t`` before every step (a few KB).
An edit that is zero for the first k steps (an edit window, or a direction that is zero at high noise)
starts from the recorded ``x_k`` and runs only the remaining ``S - k`` U-Net calls; the first k steps
of the edited run would repeat the unedited ones exactly.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
import torch

from ..diffusion import draw_trajectory
from ..diffusion.hspace import MidBlockHook
from ..diffusion.model import to_unit
from ..diffusion.sampling import Trajectory

CACHE_ENTRIES = 8192
STATE_ENTRIES = 256
_cache: OrderedDict = OrderedDict()
_states: OrderedDict = OrderedDict()  # source -> unedited x_t before every step (replay state)
_lock = threading.RLock()  # one U-Net run at a time: the model object is shared by all page sessions
_defaults: dict = {}


def default_model():
    """The shipped ``ddpm-mnist`` (loaded once per process, CPU unless a device is resolved)."""
    if "model" not in _defaults:
        from ..diffusion import load_ddpm

        _defaults["model"] = load_ddpm()
    return _defaults["model"]


def default_bank():
    """The shipped direction bank (loaded once per process)."""
    if "bank" not in _defaults:
        from .bank import load_bank

        _defaults["bank"] = load_bank()
    return _defaults["bank"]


def quantise(strength: float) -> float:
    return round(float(strength), 3)


def check_strengths(strengths) -> np.ndarray:
    s = np.atleast_1d(np.asarray(strengths, dtype=np.float64))
    if s.ndim != 1 or s.size == 0:
        raise ValueError("strengths must be a non-empty 1-D sequence")
    if not np.isfinite(s).all():
        raise ValueError("strengths must be finite numbers")
    if np.abs(s).max() > 1e3:
        raise ValueError(f"strengths must lie within [-1000, 1000], got {s.min()} .. {s.max()}")
    return s


def window_mask(steps: int, window: tuple[int, int] | None) -> torch.Tensor:
    """``(steps,)`` 0/1 weights: 1 for sampling-step indices in ``[start, stop)`` (all steps if None)."""
    m = torch.ones(steps)
    if window is not None:
        start, stop = int(window[0]), int(window[1])
        if not 0 <= start < stop <= steps:
            raise ValueError(f"window must satisfy 0 <= start < stop <= {steps}, got {window}")
        m[:] = 0
        m[start:stop] = 1
    return m


def _key_of(direction) -> str:
    if isinstance(direction, str):
        return direction
    arr = np.ascontiguousarray(torch.as_tensor(direction).float().numpy())
    return "array:" + hashlib.sha1(arr.tobytes()).hexdigest()[:16]


def delta_on_grid(bank, direction, timesteps, window=None) -> torch.Tensor:
    """Direction (name or ``(S_bank, C, H, W)`` array) on a run's grid, zero outside ``window``."""
    d = bank.on_grid(direction, timesteps)
    return d * window_mask(d.shape[0], window)[:, None, None, None]


def first_active_step(deltas: torch.Tensor) -> int:
    """Index of the first step where any edit of ``deltas (m, S, C, H, W)`` is nonzero (S if none)."""
    active = deltas.flatten(2).abs().amax(dim=(0, 2)) > 0
    return int(active.to(torch.int8).argmax()) if bool(active.any()) else deltas.shape[1]


def _loop(
    model, x: torch.Tensor, trajectory: Trajectory, start: int, delta: torch.Tensor | None, states=None
):
    """DDIM steps ``start..S-1`` from state ``x (m, 1, 28, 28)``, as :func:`dlsa_core.diffusion.sample` runs them
    (same calls in the same order, so a full unedited loop is bitwise ``sample``). ``delta (S - start, [m,] C, H, W)``."""
    sched = model.ddim_scheduler(trajectory.steps)
    if not torch.equal(sched.timesteps.cpu(), trajectory.timesteps.cpu()):
        raise ValueError("trajectory timesteps do not match this model's scheduler")
    dev, m = model.device, x.shape[0]
    x = x.to(dev)
    z_all = trajectory.variance_noise if trajectory.eta > 0 else None
    with MidBlockHook(model.unet, delta_h=None if delta is None else delta.to(dev)) as hook:
        for i in range(start, trajectory.steps):
            if states is not None:
                states.append(x.float().cpu())
            hook.step = i - start
            t = sched.timesteps[i]
            eps = model.unet(x, t.to(dev).expand(m)).sample
            z = None if z_all is None else z_all[i].to(dev).expand(m, -1, -1, -1)
            x = sched.step(eps, t, x, eta=trajectory.eta, variance_noise=z).prev_sample
    return x.float().cpu()


def unedited_states(model, trajectory: Trajectory, source_key=None) -> torch.Tensor:
    """States ``x_t`` before every step and the final x0 of the one-image unedited run, ``(S + 1, 1, 1, 28, 28)``.

    Cached per ``source_key`` (with the model, steps and eta), so an edit of a displayed source finds them.
    """
    if trajectory.n != 1:
        raise ValueError("unedited_states replays a single-image trajectory")
    key = None if source_key is None else (id(model), source_key, trajectory.steps, trajectory.eta)
    with _lock:
        hit = _states.get(key) if key is not None else None
        if hit is not None:
            _states.move_to_end(key)
            return hit
        states: list[torch.Tensor] = []
        with torch.inference_mode():
            states.append(_loop(model, trajectory.x_T, trajectory, 0, None, states))
        out = torch.stack(states)
        if key is not None:
            _states[key] = out
            while len(_states) > STATE_ENTRIES:
                _states.popitem(last=False)
    return out


def run_edits(model, trajectory: Trajectory, deltas: torch.Tensor, *, source_key=None) -> np.ndarray:
    """Replay a one-image trajectory once per edit, batched.

    Parameters
    ----------
    trajectory : Trajectory with n = 1
    deltas : (m, S, C, H, W) float32
        One per-step edit per output image.
    source_key : str, optional
        With a key whose unedited replay state is recorded (:func:`unedited_states`), an edit that is
        zero for its first k steps starts from the recorded ``x_k`` (only ``S - k`` U-Net calls).

    Returns
    -------
    (m, 28, 28) float32 in [0, 1]
    """
    if trajectory.n != 1:
        raise ValueError("run_edits replays a single-image trajectory")
    m = deltas.shape[0]
    # resume only from a state already recorded (the page shows the original first); computing it here
    # would cost a full unedited run more than it saves
    with _lock:
        states = (
            None
            if source_key is None
            else _states.get((id(model), source_key, trajectory.steps, trajectory.eta))
        )
    k = first_active_step(deltas) if states is not None else 0
    x = (states[k] if k > 0 else trajectory.x_T).expand(m, -1, -1, -1)
    if k >= trajectory.steps:  # an all-zero edit is the unedited image
        return to_unit(x)[:, 0].numpy()
    with _lock, torch.inference_mode():
        x0 = _loop(model, x.contiguous(), trajectory, k, deltas[:, k:].transpose(0, 1).contiguous())
    return to_unit(x0)[:, 0].numpy()


def unedited(model, trajectory: Trajectory, source_key=None) -> np.ndarray:
    """The one-image replay without an edit, ``(28, 28) float32`` (bitwise ``sample``'s image)."""
    return to_unit(unedited_states(model, trajectory, source_key)[-1])[0, 0].numpy()


def edit_trajectory(
    trajectory: Trajectory, direction, strengths, *, source_key: str, model=None, bank=None, window=None,
    extra=None,
) -> np.ndarray:  # fmt: skip
    """Edit one recorded trajectory along ``direction`` at each strength (cached).

    Parameters
    ----------
    trajectory : Trajectory (n = 1), from ``draw_trajectory`` or an inversion
    direction : str or (S_bank, C, H, W) array
    strengths : (m,) floats
    source_key : str
        Identifies the trajectory in the cache (e.g. ``"seed:3"``, or a hash of an inverted image).
    extra : (str or array, float), optional
        A second direction and its fixed strength, added to every edit (for 2-D grids).

    Returns
    -------
    (m, 28, 28) float32 in [0, 1]
    """
    model = model or default_model()
    bank = bank or default_bank()
    s = check_strengths(strengths)
    ts = trajectory.timesteps
    d = delta_on_grid(bank, direction, ts, window)
    base = torch.zeros_like(d)
    extra_key = ""
    if extra is not None:
        base = float(check_strengths([extra[1]])[0]) * delta_on_grid(bank, extra[0], ts, window)
        extra_key = f"+{_key_of(extra[0])}@{quantise(extra[1])}"
    prefix = (id(model), id(bank), source_key, _key_of(direction) + extra_key, trajectory.steps,
              trajectory.eta, tuple(window) if window else None)  # fmt: skip
    out = np.empty((len(s), 28, 28), np.float32)
    todo = []
    for i, st in enumerate(s):
        key = (*prefix, quantise(st))
        with _lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
        if hit is not None:
            out[i] = hit
        elif quantise(st) == 0 and extra is None:
            out[i] = unedited(model, trajectory, source_key)
            _store(key, out[i])
        else:
            todo.append(i)
    if todo:
        deltas = torch.stack([base + quantise(s[i]) * d for i in todo])
        imgs = run_edits(model, trajectory, deltas, source_key=source_key)
        for j, i in enumerate(todo):
            out[i] = imgs[j]
            _store((*prefix, quantise(s[i])), imgs[j])
    return out


def _store(key, img: np.ndarray) -> None:
    with _lock:
        _cache[key] = np.array(img, dtype=np.float32, copy=True)
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)


def clear_cache(*, states: bool = True) -> None:
    """Forget cached edited images (and, unless ``states=False``, the sources' replay states)."""
    with _lock:
        _cache.clear()
        if states:
            _states.clear()


def seed_trajectory(model, seed: int, *, steps: int, eta: float = 0.0) -> Trajectory:
    """The one-image trajectory of ``sample(model, 1, steps=steps, eta=eta, seed=seed)``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**31:
        raise ValueError(f"seeds must be integers in [0, 2^31), got {seed!r}")
    return draw_trajectory(model, 1, steps=steps, eta=eta, seed=int(seed))


def edit_images(
    seeds, direction, strengths, *, steps: int = 20, device=None, eta: float = 0.0, window=None,
    model=None, bank=None,
) -> np.ndarray:  # fmt: skip
    """Edit generated samples along a named (or given) h-space direction.

    Parameters
    ----------
    seeds : sequence of int
        Seed ``s`` means the image of ``sample(model, 1, steps=steps, eta=eta, seed=s)``.
    direction : str or (S_bank, C, H, W) array
        A name from :func:`list_directions` (any ``digit_a_to_b`` works), or a custom direction on the
        bank's grid.
    strengths : sequence of float
        In the direction's natural unit: one standard deviation for ``pcK``, the full mean difference
        for supervised and digit directions. 0 reproduces the unedited sample bit for bit.
    steps : int
        DDIM steps (fewer for fast previews).
    device : str or torch.device, optional
        Moves the model there first.
    window : (start, stop), optional
        Apply the edit only at sampling steps ``start <= i < stop`` (step 0 = highest noise).

    Returns
    -------
    (len(seeds), len(strengths), 28, 28) float32 in [0, 1]
    """
    model = model or default_model()
    if device is not None:
        from ..device import get_device

        model.unet.to(get_device(device))
    seeds = list(np.atleast_1d(seeds))
    if not seeds:
        raise ValueError("seeds must not be empty")
    s = check_strengths(strengths)
    out = np.empty((len(seeds), len(s), 28, 28), np.float32)
    for i, seed in enumerate(seeds):
        traj = seed_trajectory(model, seed, steps=steps, eta=eta)
        out[i] = edit_trajectory(traj, direction, s, source_key=f"seed:{int(seed)}", model=model, bank=bank,
                                 window=window)  # fmt: skip
    return out


def random_direction(like: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Gaussian direction with the same norm as ``like`` at every step (the paper's Fig. 4 control)."""
    g = torch.Generator().manual_seed(int(seed))
    r = torch.randn(like.shape, generator=g)
    like = torch.as_tensor(like).float()
    scale = like.flatten(1).norm(dim=1) / r.flatten(1).norm(dim=1).clamp_min(1e-12)
    return r * scale.reshape(-1, *([1] * (like.ndim - 1)))

"""What the page draws, computed from a :class:`~dlsa_core.relu_smoothness.training.Sweep` (no Streamlit).

Curves of the fitted functions, the weight curve and knot spikes (1-D), the fitted surface and knot
lines (2-D), a plain-words summary of how every run ended, and a runnable "reproduce" snippet.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from dlsa_core.relu_smoothness.network import Network, reduced_form
from dlsa_core.relu_smoothness.training import Run, Sweep
from dlsa_core.relu_smoothness.weights import weight_curve_1d


class SweepCache:
    """A small thread-safe LRU store of results by key (the page keeps one per process).

    ``get_or_compute(key, fn)`` returns the stored value or computes ``fn()`` outside the lock (so a
    progress callback inside ``fn`` may drive UI elements), stores it and evicts the oldest entry.
    """

    def __init__(self, max_entries: int = 32) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._data

    def get_or_compute(self, key, fn: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = fn()
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
        return value


def pad_range(lo: float, hi: float, frac: float = 0.15) -> tuple[float, float]:
    span = max(hi - lo, 1e-9)
    return lo - frac * span, hi + frac * span


def runs_for_seed(sweep: Sweep, seed: int) -> list[Run]:
    """The run of every step size at one seed, in step-size order."""
    return [r for r in sweep.runs if r.seed == seed]


def find_run(sweep: Sweep, eta: float, seed: int) -> Run:
    for r in sweep.runs:
        if math.isclose(r.eta, eta, rel_tol=1e-9) and r.seed == seed:
            return r
    raise ValueError(f"no run with eta = {eta} and seed = {seed} in this sweep.")


def curves_1d(sweep: Sweep, seed: int, m: int = 400) -> dict[str, Any]:
    """Fitted functions of every non-diverged run at ``seed`` on a grid, plus the weight curves.

    Returns
    -------
    dict with ``grid (m,)``, ``fits`` {eta: (m,)}, ``status`` {eta: str}, ``weights`` (the output of
    :func:`weight_curve_1d` on the grid).
    """
    if sweep.x.shape[1] != 1:
        raise ValueError("curves_1d needs 1-D inputs.")
    lo, hi = pad_range(float(sweep.x.min()), float(sweep.x.max()))
    grid = np.linspace(lo, hi, m)
    fits, status = {}, {}
    for r in runs_for_seed(sweep, seed):
        status[r.eta] = r.status
        if r.params is not None:
            fits[r.eta] = r.params(grid[:, None])
    return {"grid": grid, "fits": fits, "status": status, "weights": weight_curve_1d(sweep.x, grid)}


def knots(run: Run, x: np.ndarray) -> dict[str, np.ndarray]:
    """Reduced-form hyperplanes of a run: position/offset ``t``, normal ``u``, strength ``|a|``, ``g``,
    and the spike height ``|a| g`` (each knot's share of the norm), ordered by ``t``."""
    if run.params is None:
        return {k: np.zeros(0) for k in ("t", "u", "a", "g", "height")}
    red = reduced_form(run.params, x)
    order = np.argsort(red.t)
    return {
        "t": red.t[order],
        "u": red.u[order],
        "a": np.abs(red.a[order]),
        "g": red.g[order],
        "height": red.contributions[order],
    }


def surface_2d(net: Network, x: np.ndarray, m: int = 60) -> dict[str, np.ndarray]:
    """The fitted surface on an ``m x m`` grid around 2-D data: ``gx (m,)``, ``gy (m,)``, ``z (m, m)``."""
    if x.shape[1] != 2:
        raise ValueError("surface_2d needs 2-D inputs.")
    lo0, hi0 = pad_range(float(x[:, 0].min()), float(x[:, 0].max()), 0.1)
    lo1, hi1 = pad_range(float(x[:, 1].min()), float(x[:, 1].max()), 0.1)
    gx, gy = np.linspace(lo0, hi0, m), np.linspace(lo1, hi1, m)
    xx, yy = np.meshgrid(gx, gy)
    z = net(np.column_stack([xx.ravel(), yy.ravel()])).reshape(m, m)
    return {"gx": gx, "gy": gy, "z": z}


def knot_segments_2d(run: Run, x: np.ndarray, box: tuple[float, float, float, float]) -> list[dict]:
    """Knot lines ``u^T x = t`` clipped to ``box = (x0, x1, y0, y1)``, with their share of the norm."""
    k = knots(run, x)
    segs = []
    x0, x1, y0, y1 = box
    for u, t, h, a in zip(k["u"], k["t"], k["height"], k["a"], strict=True):
        pts = []
        if abs(u[1]) > 1e-12:  # intersect with the vertical sides x = x0, x1
            pts += [(xv, (t - u[0] * xv) / u[1]) for xv in (x0, x1)]
        if abs(u[0]) > 1e-12:  # and the horizontal sides y = y0, y1
            pts += [((t - u[1] * yv) / u[0], yv) for yv in (y0, y1)]
        pts = [(px, py) for px, py in pts if x0 - 1e-9 <= px <= x1 + 1e-9 and y0 - 1e-9 <= py <= y1 + 1e-9]
        if len(pts) >= 2 and a > 1e-9:
            pts.sort()
            segs.append({"x": [pts[0][0], pts[-1][0]], "y": [pts[0][1], pts[-1][1]], "height": h, "a": a})
    return segs


def status_summary(sweep: Sweep) -> dict[str, list[float]]:
    """Step sizes per outcome: ``{status: sorted unique etas}`` over all seeds."""
    out: dict[str, set] = {}
    for r in sweep.runs:
        out.setdefault(r.status, set()).add(r.eta)
    return {k: sorted(v) for k, v in out.items()}


def status_sentence(sweep: Sweep) -> str:
    """Plain words on how the runs ended, e.g. "12 of 15 runs interpolated; GD diverged at η = 1.6"."""
    counts = {
        s: sum(r.status == s for r in sweep.runs)
        for s in ("interpolated", "unstable", "diverged", "dead", "not converged")
    }
    by = status_summary(sweep)

    def etas(s: str) -> str:
        return ", ".join(f"{e:g}" for e in by.get(s, []))

    parts = [f"{counts['interpolated']} of {len(sweep.runs)} runs reached a stable interpolating minimum"]
    if counts["unstable"]:
        parts.append(
            f"{counts['unstable']} reached zero loss at a minimum too sharp to stay at, λmax > 2/η "
            f"(η = {etas('unstable')})"
        )
    if counts["diverged"]:
        parts.append(f"GD diverged in {counts['diverged']} (η = {etas('diverged')})")
    if counts["dead"]:
        parts.append(
            f"{counts['dead']} collapsed to a dead network with no kink inside the data (η = {etas('dead')}): "
            "constant or affine there, it cannot interpolate"
        )
    if counts["not converged"]:
        parts.append(
            f"{counts['not converged']} had not interpolated within the step budget (η = {etas('not converged')})"
        )
    return "; ".join(parts) + "."


def trend(sweep: Sweep) -> dict[str, float]:
    """Median norm at the smallest and largest step size that interpolated, and Spearman's rank
    correlation between eta and the norm over every interpolating run (negative: smoother with eta)."""
    med = sweep.median_norm()
    ok = np.flatnonzero(np.isfinite(med))
    rows = [(r.eta, r.norm) for r in sweep.runs if r.stable_interpolating]
    rho = math.nan
    if len(rows) >= 3:
        e, v = np.array(rows).T
        re, rv = np.argsort(np.argsort(e)).astype(float), np.argsort(np.argsort(v)).astype(float)
        if re.std() > 0 and rv.std() > 0:
            rho = float(np.corrcoef(re, rv)[0, 1])
    if ok.size == 0:
        return {
            "first": math.nan,
            "last": math.nan,
            "eta_first": math.nan,
            "eta_last": math.nan,
            "spearman": rho,
        }
    return {
        "first": float(med[ok[0]]),
        "last": float(med[ok[-1]]),
        "eta_first": float(sweep.etas[ok[0]]),
        "eta_last": float(sweep.etas[ok[-1]]),
        "spearman": rho,
    }


def reproduce_snippet(
    dataset: str,
    n: int,
    width: int,
    etas,
    seeds,
    *,
    max_steps: int,
    init_scale: float,
    data_seed: int = 0,
    points: tuple | None = None,
) -> str:
    """A Python snippet that reruns the page's sweep outside the app and prints the worst ratio.

    ``points = (x, y)`` (1-D lists) replaces the named data set (the page's editable table).
    """
    etas_s = ", ".join(f"{e:g}" for e in etas)
    if points is not None:
        xs = ", ".join(f"{v:g}" for v in points[0])
        ys = ", ".join(f"{v:g}" for v in points[1])
        data = f"data = rs.parse_points({{'x': [{xs}], 'y': [{ys}]}})\n"
    else:
        data = f"data = rs.make_dataset({dataset!r}, {n}, seed={data_seed})\n"
    return (
        "import dlsa_core.relu_smoothness as rs\n"
        + data
        + f"sweep = rs.sweep_step_sizes(data.x, data.y, {width}, [{etas_s}], seeds={list(seeds)},\n"
        f"                            max_steps={max_steps}, init_scale={init_scale:g})\n"
        "for r in sweep.runs:\n"
        "    print(f'eta={r.eta:g} seed={r.seed} {r.status:13s} norm={r.norm:.4f} '\n"
        "          f'bound={r.bound:.4f} lambda_max={r.lambda_max:.3f} (2/eta={2 / r.eta:.3f})')\n"
        "print('worst norm / bound over stable interpolating runs:', sweep.worst_ratio())\n"
    )

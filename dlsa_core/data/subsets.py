"""Fair subsets of a labelled split."""

from __future__ import annotations

import numpy as np


def balanced_indices(labels: np.ndarray, n: int) -> np.ndarray:
    """``n`` indices taking the classes in turn (the r-th image of every class, r = 0, 1, ...), sorted.

    Our held-out MNIST split is sorted by class (its first 50 images are all zeros), so its first n
    images are not a fair sample; the first ``10 r`` indices returned here hold r images of each class.

    Parameters
    ----------
    labels : (N,) int
    n : int
        How many indices, at most ``N``.

    Returns
    -------
    (n,) int64, ascending.
    """
    labels = np.asarray(labels)
    if not 0 <= n <= labels.size:
        raise ValueError(f"n must be in [0, {labels.size}], got {n}")
    per_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    order = [idx[r] for r in range(max(map(len, per_class), default=0)) for idx in per_class if r < len(idx)]
    return np.sort(np.array(order[:n], dtype=np.int64))

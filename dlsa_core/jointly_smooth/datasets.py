"""Multi-view data sets with known ground truth: what the views share and what each view adds.

* :func:`make_spiral_torus`: the paper's toy (Figs. 1-3). Latents ``z, a, b ~ U[0, 1]``; view 0 is a
  thick spiral strip in R^2 (``a`` runs along it, ``z`` across its width); view 1 a torus in R^3
  (``z`` the poloidal angle, ``b`` the toroidal one). Shared: ``z``.
* :func:`make_parameter_redundancy`: the dynamical-system example (Fig. 6b). ``p ~ U[-1, 1]^3``; view 0
  the parameters ``(p_1, p_2)``; view 1 the observed steady state ``g(p_1 + p_2^3, p_3)``. Shared: the
  effective parameter ``p_1 + p_2^3``.
* :func:`make_corrupted_digits`: scikit-learn digits seen by two corrupted sensors (a random cyclic
  shift plus vertical stripes of random phase; a random gain plus horizontal stripes of random phase).
  Shared: the digit.

Each returns a :class:`MultiViewData`; ``split(n_test)`` holds out fresh samples for Nystrom checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class MultiViewData:
    """Paired views and their known latent variables.

    Attributes
    ----------
    name : str
    views : list of (N, D_k) float64 arrays (row i is the same event in every view).
    view_names : list of str
    shared : dict name -> (N,) array, the latent variables common to all views.
    nuisance : list (one per view) of dict name -> (N,) array, the view-specific latent variables.
    labels : (N,) int array or None, class labels (classification data sets).
    """

    name: str
    views: list
    view_names: list
    shared: dict
    nuisance: list
    labels: np.ndarray | None = None
    notes: dict = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return self.views[0].shape[0]

    def subset(self, idx) -> MultiViewData:
        """The same data restricted to rows ``idx``."""
        return MultiViewData(
            self.name,
            [V[idx] for V in self.views],
            list(self.view_names),
            {k: v[idx] for k, v in self.shared.items()},
            [{k: v[idx] for k, v in nz.items()} for nz in self.nuisance],
            None if self.labels is None else self.labels[idx],
            dict(self.notes),
        )

    def split(self, n_test: int) -> tuple[MultiViewData, MultiViewData]:
        """(train, test): the last ``n_test`` rows are held out (the generators draw rows i.i.d.)."""
        n = self.n_samples
        if not 0 <= n_test < n:
            raise ValueError(f"n_test={n_test} must be in [0, N={n}).")
        return self.subset(np.arange(n - n_test)), self.subset(np.arange(n - n_test, n))


def make_spiral_torus(
    n_samples: int = 2000, *, torus_minor: float = 1 / 3, random_state=None
) -> MultiViewData:
    """The paper's spiral-strip + torus toy (official ``MainFigure2.m`` formulas)."""
    rng = np.random.default_rng(random_state)
    z, a, b = rng.uniform(0.0, 1.0, (3, n_samples))
    r = 1.5 * a + (z - 0.5) / 3 + 0.5
    theta = 4 * np.pi * a
    spiral = np.column_stack([r * np.cos(theta), r * np.sin(theta)])
    ring = 1.0 + torus_minor * np.cos(2 * np.pi * z + np.pi)
    torus = np.column_stack(
        [
            ring * np.cos(2 * np.pi * b),
            ring * np.sin(2 * np.pi * b),
            torus_minor * np.sin(2 * np.pi * z + np.pi),
        ]
    )
    return MultiViewData(
        "spiral_torus",
        [spiral, torus],
        ["spiral strip (2-D)", "torus (3-D)"],
        {"z": z},
        [{"a (along the spiral)": a}, {"b (around the torus)": b}],
    )


def observation_map(y1: np.ndarray, y2: np.ndarray) -> np.ndarray:
    """The paper's polynomial diffeomorphism ``g(y) = (y1 - y2^2, -y1^2 + y2 + 2 y1 y2^2 - y2^4)``."""
    return np.column_stack([y1 - y2**2, -(y1**2) + y2 + 2 * y1 * y2**2 - y2**4])


def make_parameter_redundancy(n_samples: int = 2000, *, random_state=None) -> MultiViewData:
    """Parameters ``(p_1, p_2)`` vs the observed steady state ``g(p_1 + p_2^3, p_3)`` (official Fig. 6b)."""
    rng = np.random.default_rng(random_state)
    p = rng.uniform(-1.0, 1.0, (n_samples, 3))
    eff = p[:, 0] + p[:, 1] ** 3
    return MultiViewData(
        "parameter_redundancy",
        [p[:, :2].copy(), observation_map(eff, p[:, 2])],
        ["parameters (p1, p2)", "steady state x* = g(p1 + p2^3, p3)"],
        {"p1 + p2^3": eff},
        [{"u (position along p1 + p2^3 = const)": level_set_position(eff, p[:, 1])}, {"p3": p[:, 2]}],
        notes={
            "nuisance": "u is where (p1, p2) sits along its level set p1 + p2^3 = const, as a fraction of "
            "that curve: uniform on [0, 1] and independent of p1 + p2^3, so (p1 + p2^3, u) is an "
            "orthogonal-in-law parametrisation of (p1, p2)."
        },
    )


def level_set_position(eff: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """The coordinate of ``(p1, p2)`` along its level set ``p1 + p2^3 = eff``, independent of ``eff``.

    For ``p ~ U[-1, 1]^2`` the map ``(p1, p2) -> (eff, p2)`` has Jacobian 1, so given ``eff`` the
    parameter ``p2`` is uniform on ``[cbrt(max(eff - 1, -1)), cbrt(min(eff + 1, 1))]`` (where
    ``p1 = eff - p2^3`` stays in ``[-1, 1]``). Its conditional CDF ``u`` is therefore ``U[0, 1]`` whatever
    ``eff`` is: a nuisance that is truly independent of the shared variable (``p1 - p2^3`` is not:
    correlation 0.44). Returns ``(N,)`` float64 in ``[0, 1]``.
    """
    lo = np.cbrt(np.maximum(eff - 1.0, -1.0))
    hi = np.cbrt(np.minimum(eff + 1.0, 1.0))
    return np.clip((p2 - lo) / np.maximum(hi - lo, 1e-12), 0.0, 1.0)


def make_corrupted_digits(
    n_samples: int | None = None, *, stripe_amplitude: float = 0.5, random_state=None
) -> MultiViewData:
    """scikit-learn digits (8 x 8, scaled to [0, 1]) seen through two structured corruptions.

    View 0: cyclic horizontal shift ``s in {-2..2}`` plus ``A sin(2 pi col / 8 + phi_0)``.
    View 1: gain ``g in [0.5, 1.5]`` times the image plus ``A cos(2 pi row / 8 + phi_1)``.
    """
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(random_state)
    digits = load_digits()
    images, labels = digits.images / 16.0, digits.target.astype(int)
    order = rng.permutation(len(labels))
    if n_samples is not None:
        if not 2 <= n_samples <= len(labels):
            raise ValueError(f"digits has {len(labels)} images; n_samples={n_samples} is out of range.")
        order = order[:n_samples]
    images, labels = images[order], labels[order]
    n = len(labels)
    shift = rng.integers(-2, 3, n)
    phi0, phi1 = rng.uniform(0, 2 * np.pi, (2, n))
    gain = rng.uniform(0.5, 1.5, n)
    grid = np.arange(8)
    view0 = np.stack([np.roll(im, s, axis=1) for im, s in zip(images, shift, strict=True)])
    view0 = view0 + stripe_amplitude * np.sin(2 * np.pi * grid[None, None, :] / 8 + phi0[:, None, None])
    view1 = gain[:, None, None] * images + stripe_amplitude * np.cos(
        2 * np.pi * grid[None, :, None] / 8 + phi1[:, None, None]
    )
    return MultiViewData(
        "digits",
        [view0.reshape(n, 64), view1.reshape(n, 64)],
        ["shifted + vertical stripes (64-D)", "gain + horizontal stripes (64-D)"],
        {"digit": labels.astype(float)},
        [
            {"stripe phase φ (cos φ, sin φ)": phi0, "shift": shift.astype(float)},
            {"stripe phase φ (cos φ, sin φ)": phi1, "gain": gain},
        ],
        notes={"circular": ["stripe phase φ (cos φ, sin φ)"]},
        labels=labels,
    )


DATASETS = {
    "spiral_torus": make_spiral_torus,
    "parameter_redundancy": make_parameter_redundancy,
    "digits": make_corrupted_digits,
}


def load_dataset(name: str, n_samples: int, *, random_state=None) -> MultiViewData:
    """One of :data:`DATASETS` by name with ``n_samples`` rows (digits: at most 1,797)."""
    if name not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; choose one of {sorted(DATASETS)}.")
    return DATASETS[name](n_samples, random_state=random_state)

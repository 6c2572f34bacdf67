"""How well a function recovers a known latent variable, and how useful a set of features is.

* :func:`curve_r2`: R^2 of a cross-validated 1-D k-NN regression of ``f`` on a latent ``t``. A clean curve
  ``f = h(t)`` gives R^2 near 1 whatever the shape of ``h``; a cloud (``f`` independent of ``t``) gives
  about 0 (slightly negative out of fold).
* :func:`curve_error`: relative RMS distance of extended values at fresh samples from the training curve.
* :func:`cv_accuracy`: cross-validated accuracy of k-NN and RBF-SVM classifiers on a feature matrix.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_predict, cross_val_score
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def curve_r2(f: np.ndarray, t: np.ndarray, *, n_neighbors: int = 20, n_folds: int = 5):
    """Out-of-fold R^2 of ``f`` predicted from ``t`` by k-NN regression (interleaved folds).

    ``f`` is ``(N,)`` (returns a float) or ``(N, M)`` (returns ``(M,)``, one regression for all columns).
    ``t`` is ``(N,)`` or ``(N, p)`` (a joint regression on several variables, e.g. ``(cos phi, sin phi)``).
    """
    f, t = np.asarray(f, float), np.asarray(t, float)
    t = t[:, None] if t.ndim == 1 else t
    k = int(min(n_neighbors, max(1, len(f) * (n_folds - 1) // n_folds - 1)))
    folds = np.arange(len(f)) % n_folds  # deterministic folds: the samples are i.i.d. already
    cv = [(np.flatnonzero(folds != i), np.flatnonzero(folds == i)) for i in range(n_folds)]
    pred = cross_val_predict(KNeighborsRegressor(k), t, f, cv=cv)
    ss = ((f - f.mean(0)) ** 2).sum(0)
    r2 = 1.0 - ((f - pred) ** 2).sum(0) / np.where(ss > 0, ss, 1.0)
    r2 = np.where(ss > 0, r2, 0.0)
    return float(r2) if f.ndim == 1 else r2


def r2_table(F: np.ndarray, latents: dict, *, circular=(), **kw) -> dict:
    """``{name: (M,) R^2 of each column of F against that latent}``; names in ``circular`` are angles,
    regressed on jointly through ``(cos t, sin t)`` (a phase has no ends)."""
    out = {}
    for name, t in latents.items():
        x = np.column_stack([np.cos(t), np.sin(t)]) if name in circular else t
        out[name] = np.atleast_1d(curve_r2(F, x, **kw))
    return out


def curve_error(
    f_train: np.ndarray, t_train: np.ndarray, f_new: np.ndarray, t_new: np.ndarray, *, n_neighbors: int = 20
) -> float:
    """Relative RMS error ``||f_new - h(t_new)|| / ||h(t_new)||`` with ``h`` the k-NN curve of the training
    values ``f_train`` against ``t_train``."""
    h = KNeighborsRegressor(n_neighbors).fit(np.asarray(t_train, float)[:, None], f_train)
    ref = h.predict(np.asarray(t_new, float)[:, None])
    return float(np.linalg.norm(f_new - ref) / max(np.linalg.norm(ref), 1e-300))


def cv_accuracy(features: np.ndarray, labels: np.ndarray, *, n_folds: int = 5, random_state=0) -> dict:
    """Cross-validated accuracy ``{"kNN": ..., "SVM": ...}`` of k-NN (10) and RBF-SVM on ``features``."""
    cv = StratifiedKFold(n_folds, shuffle=True, random_state=random_state)
    models = {
        "kNN": make_pipeline(StandardScaler(), KNeighborsClassifier(10)),
        "SVM": make_pipeline(StandardScaler(), SVC(kernel="rbf", C=10.0)),
    }
    return {name: float(cross_val_score(m, features, labels, cv=cv).mean()) for name, m in models.items()}

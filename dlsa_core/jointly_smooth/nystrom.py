"""Nystrom extension of functions on the training samples to new samples of a single view.

For a new sample x seen in view k, each kernel eigenvector extends as
``psi_j(x) = (1 / lambda_j) sum_i kappa_k(x, x_i) W_k[i, j]``, and a function ``f`` that lies in the
view's smooth subspace extends as ``f(x) = sum_j psi_j(x) (W_k^T f)_j``; in matrix form
``F_new = K_new W_k Lambda_k^{-1} W_k^T F``. Dividing by small ``lambda_j`` amplifies errors, so only
eigenvectors with ``lambda_j >= cutoff * lambda_1`` are used; the part of ``F`` on the others is lost,
which :func:`truncation_error` measures on the training samples.
"""

from __future__ import annotations

import numpy as np


def kept_eigenvectors(eigenvalues: np.ndarray, cutoff: float) -> np.ndarray:
    """Boolean mask ``(d,)`` of the eigenvectors used for extension (``lambda_j >= cutoff * lambda_1``)."""
    if not 0 <= cutoff < 1:
        raise ValueError(f"eigenvalue_cutoff must be in [0, 1); got {cutoff}.")
    return eigenvalues >= cutoff * eigenvalues[0]


def nystrom_extend(
    kernel,
    eigenvalues: np.ndarray,
    basis: np.ndarray,
    F: np.ndarray,
    Y: np.ndarray,
    *,
    cutoff: float = 1e-5,
    chunk: int = 2048,
) -> np.ndarray:
    """Extend functions ``F (N, M)`` from the training samples to new samples ``Y (n, D)`` of one view.

    Parameters
    ----------
    kernel : ViewKernel or LandmarkKernel
        The fitted kernel of the view (same bandwidth as in training).
    eigenvalues : (d,) float64, descending; basis : (N, d) float64, orthonormal columns
    F : (N, M) float64
        Function values on the training samples.
    Y : (n, D) float64
        New samples of that view.
    cutoff : float
        Relative eigenvalue cut-off.
    chunk : int
        Rows of ``Y`` per block, so the dense cross-kernel stays at ``chunk x N`` floats.

    Returns
    -------
    (n, M) float64
    """
    keep = kept_eigenvectors(eigenvalues, cutoff)
    coeff = basis[:, keep].T @ F  # (d', M)
    out = np.empty((Y.shape[0], F.shape[1]))
    for start in range(0, Y.shape[0], chunk):
        out[start : start + chunk] = (
            eigenfunctions(kernel, eigenvalues, basis, Y[start : start + chunk], keep) @ coeff
        )
    return out


def eigenfunctions(kernel, eigenvalues: np.ndarray, basis: np.ndarray, Y: np.ndarray, keep: np.ndarray):
    """Kernel eigenvectors extended to ``Y (n, D)``: ``psi_j(y) = K(y, X) W[:, j] / lambda_j``, ``(n, d')``.

    A landmark kernel (``kernel.features``) carries its own exact formula.
    """
    if hasattr(kernel, "features"):
        return kernel.features(Y)[:, keep]
    return np.asarray(kernel.cross(Y) @ basis[:, keep]) / eigenvalues[keep]


def truncation_error(eigenvalues: np.ndarray, basis: np.ndarray, F: np.ndarray, *, cutoff: float = 1e-5):
    """Relative in-sample error of the extension per function, ``||F - P F|| / ||F||``, shape ``(M,)``.

    ``P`` projects on the eigenvectors kept by the cut-off; with an exact eigenbasis the Nystrom
    extension evaluated at the training samples equals ``P F``.
    """
    Wk = basis[:, kept_eigenvectors(eigenvalues, cutoff)]
    R = F - Wk @ (Wk.T @ F)
    return np.linalg.norm(R, axis=0) / np.maximum(np.linalg.norm(F, axis=0), 1e-300)

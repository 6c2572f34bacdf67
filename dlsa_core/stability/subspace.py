"""Rayleigh-Ritz on one subspace shared by a whole family ``M(p) = (1-p) M_A + p M_B``.

The solver behind the ``"subspace"`` method of :mod:`.thresholds`: every eigenvalue it returns is certified
by its residual, and a whole curve of ``p`` values costs about as many operator applications as one
Lanczos run, because each stored ``M_B v`` serves every ``p``.
"""

from __future__ import annotations

import numpy as np

from dlsa_core.stability.spectral import Spectral

#: Memory budget (bytes) of the stored subspace vectors and their images in :class:`PencilSubspace`.
SUBSPACE_BYTES = 400_000_000


class PencilSubspace:
    """Rayleigh-Ritz for the top eigenpair of ``M(p) = (1-p) M_A + p M_B`` on one growing subspace.

    ``M(p) = C^(-1/2) D(p) C^(-1/2)`` on symmetric matrices over range(H). ``M_A`` (from ``H kron H``) is
    diagonal in the eigenbasis, with entries ``lam_a lam_b / c_ab``; ``M_B = C^(-1/2) D_1 C^(-1/2)`` with
    ``D_1(X) = mean_i H_i X H_i`` is the only costly part. Symmetric matrices are stored packed (upper
    triangle, off-diagonal entries times sqrt 2, so dot products are Frobenius products). For every basis
    vector ``v`` the image ``M_B v`` is stored once; the projected pencil ``V^T M_A V``, ``V^T M_B V`` then
    gives Ritz pairs and their exact residuals for *any* ``p`` without new applications. When a residual
    is too large it is orthogonalised (twice, classical Gram-Schmidt) and added to the basis: for one
    ``p`` this is Lanczos; along a curve the subspace is shared, so later ``p`` need few or no additions.
    A thick restart keeps the top Ritz vectors when the memory budget is reached.
    """

    def __init__(
        self,
        spec: Spectral,
        max_dim: int | None = None,
        *,
        diag: np.ndarray | None = None,
        scaled: bool = True,
    ) -> None:
        self.spec = spec
        r = spec.r
        self.iu = np.triu_indices(r)
        self.w = np.where(self.iu[0] == self.iu[1], 1.0, np.sqrt(2.0))
        c = spec.c
        #: ``scaled``: the costly part is ``M_B = C^(-1/2) D_1 C^(-1/2)``; otherwise ``D_1`` itself.
        self.s = 1.0 / np.sqrt(c) if scaled else None
        #: the cheap diagonal part, (r, r) -> packed; default ``M_A``
        full = np.outer(spec.lam, spec.lam) / c if diag is None else np.asarray(diag, dtype=np.float64)
        self.ma = full[self.iu]
        size = self.ma.size
        cap = max_dim if max_dim is not None else SUBSPACE_BYTES // (16 * size)
        self.cap = int(min(max(cap, 8), size))
        self.v = np.empty((self.cap, size))
        self.mb = np.empty((self.cap, size))
        self.ta = np.empty((self.cap, self.cap))
        self.tb = np.empty((self.cap, self.cap))
        self.m = 0
        self.applications = 0
        self._diag_b: np.ndarray | None = None

    def diag_b(self) -> np.ndarray | None:
        """Diagonal of ``M_B`` in the packed basis (Davidson preconditioner), or None if too costly.

        ``<E_ab, D_1(E_ab)> = mean_i (H_i,aa H_i,bb + H_i,ab^2)`` (``a < b``), ``mean_i H_i,aa^2`` (``a = b``).
        """
        if self._diag_b is None:
            spec = self.spec
            if spec.hess is not None:
                hd = np.diagonal(spec.hess, axis1=1, axis2=2)
                full = hd.T @ hd + np.einsum("nab,nab->ab", spec.hess, spec.hess)
            else:
                n, k, r = spec.factors.shape
                if n * k * k * r > 20_000_000:
                    return None
                prod = (spec.factors[:, :, None, :] * spec.factors[:, None, :, :]).reshape(n * k * k, r)
                hd = np.sum(spec.factors**2, axis=1)
                full = hd.T @ hd + prod.T @ prod
            full = full / spec.n / (spec.c if self.s is not None else 1.0)
            diag = self.iu[0] == self.iu[1]
            self._diag_b = np.where(diag, 0.5 * full[self.iu], full[self.iu])
        return self._diag_b

    def pack(self, y: np.ndarray) -> np.ndarray:
        return y[self.iu] * self.w

    def unpack(self, v: np.ndarray) -> np.ndarray:
        r = self.spec.r
        y = np.empty((r, r))
        vals = v / self.w
        y[self.iu] = vals
        y[self.iu[1], self.iu[0]] = vals
        return y

    def apply_b(self, v: np.ndarray) -> np.ndarray:
        """``M_B v`` (packed in, packed out): one application of the per-sample term."""
        self.applications += 1
        s = self.s
        if s is None:
            return self.pack(self.spec.d1(self.unpack(v)))
        return self.pack(s * self.spec.d1(s * self.unpack(v)))

    def start(self, v0: np.ndarray | None = None, *, top: tuple[int, int] = (0, 0)) -> None:
        """Seed the basis with ``E_top`` (default ``E_11``: the exact eigenvector at ``p = 0``),
        ``C^(1/2) I`` (positive definite, so it overlaps the PSD Perron vector) and ``v0``."""
        r = self.spec.r
        e11 = np.zeros((r, r))
        e11[top] = e11[top[::-1]] = 1.0
        for y in (e11, np.diag(np.sqrt(self.spec.lam)), v0):
            if y is not None:
                y = np.asarray(y, dtype=np.float64).reshape(r, r)
                self.add(self.pack(0.5 * (y + y.T)))

    def add(self, x: np.ndarray) -> bool:
        """Orthogonalise ``x`` against the basis and append it (with its image). False if dependent."""
        m = self.m
        if m == self.cap:
            raise RuntimeError("subspace is full; restart first.")
        x = np.array(x, dtype=np.float64)
        norm0 = np.linalg.norm(x)
        if m:
            basis = self.v[:m]
            for _ in range(2):  # CGS2: orthogonal to working precision
                x -= basis.T @ (basis @ x)
        norm = np.linalg.norm(x)
        if not norm > 1e-10 * norm0 or not np.isfinite(norm):
            return False
        x /= norm
        self.v[m] = x
        self.mb[m] = self.apply_b(x)
        both = self.v[: m + 1] @ np.stack([self.ma * x, self.mb[m]], axis=1)
        self.ta[m, : m + 1] = self.ta[: m + 1, m] = both[:, 0]
        self.tb[m, : m + 1] = self.tb[: m + 1, m] = both[:, 1]
        self.m = m + 1
        return True

    def ritz(self, p: float, count: int = 1, coef: tuple[float, float] | None = None):
        """Top ``count`` Ritz values (descending) and coefficient vectors ``(m, count)`` at ``p``.

        The operator is ``alpha diag + beta B`` with ``(alpha, beta) = coef``, default ``(1 - p, p)``.
        """
        m = self.m
        alpha, beta = (1.0 - p, p) if coef is None else coef
        t = alpha * self.ta[:m, :m] + beta * self.tb[:m, :m]
        w, u = np.linalg.eigh(0.5 * (t + t.T))
        return w[::-1][:count], u[:, ::-1][:, :count]

    def restart(self, p: float, keep: int, coef: tuple[float, float] | None = None) -> None:
        """Thick restart: keep the span of the top ``keep`` Ritz vectors at ``p`` (no new applications)."""
        _, u = self.ritz(p, min(keep, self.m), coef)
        u, _ = np.linalg.qr(u)
        m, k = self.m, u.shape[1]
        self.v[:k] = u.T @ self.v[:m]
        self.mb[:k] = u.T @ self.mb[:m]
        self.ta[:k, :k] = u.T @ self.ta[:m, :m] @ u
        self.tb[:k, :k] = u.T @ self.tb[:m, :m] @ u
        self.m = k

    def solve(
        self,
        p: float,
        tol: float,
        max_applications: int = 2000,
        coef: tuple[float, float] | None = None,
    ) -> tuple[float, np.ndarray, float]:
        """Top eigenpair of ``M(p)`` with certified relative residual ``<= tol``.

        Returns ``(mu, y, residual)`` with ``y`` the packed unit eigenvector (``unpack(y)`` is ``Y``, and
        ``C^(-1/2) Y`` is PSD).
        """
        budget = self.applications + max_applications
        while True:
            alpha, beta = (1.0 - p, p) if coef is None else coef
            theta, u = self.ritz(p, 1, coef)
            theta, u = float(theta[0]), u[:, 0]
            y = u @ self.v[: self.m]
            resid = alpha * self.ma * y + beta * (u @ self.mb[: self.m]) - theta * y
            rel = float(np.linalg.norm(resid)) / abs(theta)
            if rel <= tol:
                return theta, y, rel
            if self.applications >= budget:
                raise RuntimeError(
                    f"subspace eigensolver did not reach residual {tol:g} at p = {p:.4g} "
                    f"(reached {rel:.2e}); use method='lanczos' or 'dense'."
                )
            if self.m == self.cap:
                self.restart(p, max(2, self.cap // 3), coef)
            db = self.diag_b()
            if db is not None:  # Davidson: (theta - diag M(p))^(-1) r, guarded away from zero
                den = theta - (alpha * self.ma + beta * db)
                den = np.where(np.abs(den) < 1e-3 * theta, np.copysign(1e-3 * theta, den), den)
                if self.add(resid / den):
                    continue
            if not self.add(resid):
                raise RuntimeError(f"subspace eigensolver stagnated at p = {p:.4g} (residual {rel:.2e}).")

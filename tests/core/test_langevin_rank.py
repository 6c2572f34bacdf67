"""Deep linear networks: exact Gauss-Newton rank, Hessian-vector products, spectra, the Langevin rank
estimate against the exact rank and the transient-corrected closed form, and the Ubaru & Saad baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlsa_core import langevin as lg


@pytest.mark.parametrize(
    "widths,rank",
    [
        ([5, 3, 4], 18),
        ([3, 10, 10, 2], 6),
        ([6, 6, 6], 36),
        ([4, 4, 4, 4, 4], 16),
        ([2, 5, 3], 6),
        ([4, 7, 6, 5], 20),
    ],
)
def test_gn_rank_equals_numerical_rank_of_explicit_gauss_newton(widths, rank):
    assert lg.deep_linear_gn_rank(widths) == rank
    net = lg.random_factorisation(widths, seed=1)
    gn = lg.gauss_newton(net)
    assert np.linalg.matrix_rank(gn, tol=1e-9 * np.abs(gn).max()) == rank


def test_gauss_newton_is_the_autograd_hessian_at_a_minimum():
    net = lg.random_factorisation([3, 4, 2], seed=2)
    shapes = [w.shape for w in net.weights]
    target = torch.as_tensor(net.target)

    def loss(flat):
        ws, start = [], 0
        for s in shapes:
            ws.append(flat[start : start + s[0] * s[1]].reshape(s))
            start += s[0] * s[1]
        a = ws[0]
        for w in ws[1:]:
            a = w @ a
        return ((a - target) ** 2).sum()

    flat = torch.as_tensor(np.concatenate([w.ravel() for w in net.weights]))
    hess = torch.autograd.functional.hessian(loss, flat).numpy()
    np.testing.assert_allclose(lg.gauss_newton(net), hess, atol=1e-10)


def test_hvp_and_spectra_match_dense():
    net = lg.balanced_minimum(4, 3, seed=3)
    gn = lg.gauss_newton(net)
    v = np.random.default_rng(0).standard_normal((net.n_params, 5))
    np.testing.assert_allclose(lg.hvp(net, v), gn @ v, atol=1e-10)
    ev = np.linalg.eigvalsh(gn)
    np.testing.assert_allclose(
        lg.preconditioned_spectrum(net, "identity"), np.sort(ev[ev > 1e-9 * ev.max()]), rtol=1e-8
    )
    # kron: eigenvalues of P^1/2 H P^1/2 with the block-diagonal P = blockdiag(1/2 L_k (x) R_k)
    blocks = [np.kron(lk, rk) / 2 for lk, rk in lg.kron_factors(net)]
    p = np.zeros_like(gn)
    i = 0
    for b in blocks:
        p[i : i + len(b), i : i + len(b)] = b
        i += len(b)
    w, u = np.linalg.eigh(p)
    ph = (u * np.sqrt(w)) @ u.T
    ea = np.linalg.eigvalsh(ph @ gn @ ph)
    np.testing.assert_allclose(
        lg.preconditioned_spectrum(net, "kron"), np.sort(ea[ea > 1e-9 * ea.max()]), rtol=1e-6
    )


def test_balanced_minimum_is_the_papers_start():
    net = lg.balanced_minimum(6, 5, seed=4)
    rng = np.random.default_rng(4)
    r = rng.standard_normal((6, 6))
    np.testing.assert_allclose(net.product(), r @ r.T / np.sqrt(6), atol=1e-10)  # T = R R^T / sqrt(d)
    assert net.loss() < 1e-20 and net.n_params == 5 * 36
    gram = [w @ w.T for w in net.weights[:-1]]  # balanced: W_k W_k^T = W_{k+1}^T W_{k+1}
    np.testing.assert_allclose(gram, [w.T @ w for w in net.weights[1:]], atol=1e-10)


def test_kron_langevin_estimates_rank_within_3_percent():
    run = lg.rank_experiment(8, preconditioner="kron", runs=4, seed=0)
    assert run.true_rank == 64
    assert abs(run.error_pct) < 3
    assert abs(run.estimate.rank - run.expected) < 4 * run.estimate.stderr + 0.5
    assert run.lam_max < 5.0001 and run.lam_min > 3  # the preconditioned modes all relax at rate ~K


def test_paper_protocol_matches_transient_corrected_closed_form():
    """P = I reads low because slow modes have not relaxed; the closed form over the same window says by how much."""
    run = lg.rank_experiment(4, preconditioner="identity", runs=16, seed=1, steps=3000, burn_in=1000)
    assert run.expected < run.true_rank  # the transient is a real downward bias
    assert abs(run.estimate.rank - run.expected) < 4 * run.estimate.stderr


def test_ubaru_saad_counts_a_clear_gap():
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.standard_normal((300, 300)))
    lam = np.concatenate([rng.uniform(1, 3, 40), np.zeros(260)])
    h = (q * lam) @ q.T
    res = lg.ubaru_saad_rank(lambda v: h @ v, 300, degree=60, n_vectors=200, seed=0)
    assert res.lam_max == pytest.approx(lam.max(), rel=1e-4)
    assert 0 < res.threshold < 1
    assert res.rank == pytest.approx(40, rel=0.1)


def test_ubaru_saad_underestimates_the_deep_linear_rank():
    """The paper's observation: the KPM threshold cuts off the small eigenvalues of the deep-linear Hessian."""
    res, _ = lg.baseline_rank(8, n_vectors=100)
    assert 0.6 * 64 < res.rank < 0.97 * 64


def test_shipped_runs_round_trip_and_reject_mismatches(tmp_path, monkeypatch):
    from dlsa_core.langevin import shipped

    monkeypatch.setattr(shipped, "DIR", tmp_path)
    run = lg.rank_experiment(4, preconditioner="identity", runs=2, seed=3, steps=300, burn_in=100)
    shipped.save_run(run, shipped.path_for(4, 2, 3), command="test")
    back = shipped.load_run(4, 2, 3)
    assert back.estimate.rank == run.estimate.rank and back.steps == 300
    np.testing.assert_array_equal(back.theory, run.theory)
    assert shipped.load_run(4, 4, 3) is None  # other settings: not shipped, recompute
    shipped.path_for(8, 2, 3).write_text("{broken")
    assert shipped.load_run(8, 2, 3) is None


@pytest.mark.slow
@pytest.mark.parametrize("width", [4])
def test_shipped_paper_protocol_runs_are_reproducible(width):
    from dlsa_core.langevin import shipped

    ship = shipped.load_run(width, 4, 0)
    if ship is None:
        pytest.skip("no shipped run for this width")
    run = lg.rank_experiment(width, preconditioner="identity", runs=4, seed=0)
    assert run.estimate.rank == pytest.approx(ship.estimate.rank, rel=1e-9)
    assert run.expected == pytest.approx(ship.expected, rel=1e-9)

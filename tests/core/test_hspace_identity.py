"""Identity-sensitive subspace: margin gradients (against finite differences), per-step SVD, and a bank
build that uses it (the style directions' orthogonality to it is tested in test_hspace.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlsa_core.diffusion import DDPMConfig, bundle_from_state, draw_trajectory
from dlsa_core.diffusion.model import to_unit
from dlsa_core.hspace import bank as bank_mod
from dlsa_core.hspace import identity
from dlsa_core.hspace.edit import _loop


class TinyClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.lin = torch.nn.Linear(784, 10)

    def forward(self, x):
        return self.lin(x.flatten(1))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return bundle_from_state(DDPMConfig.tiny())


def _final_margin(model, clf, trajectory, delta):
    with torch.no_grad():
        return identity.margin(clf(to_unit(_loop(model, trajectory.x_T, trajectory, 0, delta))))


def test_margin_is_top_minus_runner_up():
    logits = torch.tensor([[1.0, 3.0, 2.5], [0.0, -1.0, 4.0]])
    np.testing.assert_allclose(identity.margin(logits).numpy(), [0.5, 4.0])


def test_margin_gradient_matches_finite_differences(tiny):
    clf = TinyClassifier()
    steps = 3
    tr = draw_trajectory(tiny, 2, steps=steps, eta=0.0, seed=4)
    grads, digits = identity.margin_gradients(tiny, clf, tr)
    assert grads.shape == (2, steps, int(np.prod(tiny.h_shape))) and digits.shape == (2,)
    rng = np.random.default_rng(0)
    v = torch.as_tensor(rng.normal(size=(steps, 2, *tiny.h_shape)), dtype=torch.float32)
    a = 1e-2
    fd = (_final_margin(tiny, clf, tr, a * v) - _final_margin(tiny, clf, tr, -a * v)) / (2 * a)
    pred = np.einsum("bsd,sbd->b", grads, v.reshape(steps, 2, -1).numpy())
    np.testing.assert_allclose(pred, fd.numpy(), rtol=0.05, atol=1e-3)


def test_sensitive_subspace_is_orthonormal_and_spans_the_dominant_gradients():
    rng = np.random.default_rng(1)
    n, steps, d = 40, 3, 12
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    coef = rng.normal(size=(n, steps, 2)) * [5.0, 3.0]
    g = coef @ basis[:2] + 0.01 * rng.normal(size=(n, steps, d))
    U = identity.sensitive_subspace(g, 2)
    for s in range(steps):
        np.testing.assert_allclose(U[s] @ U[s].T, np.eye(2), atol=1e-10)
        # the planted plane is recovered: its projector matches
        np.testing.assert_allclose(U[s].T @ U[s], basis[:2].T @ basis[:2], atol=1e-2)
    with pytest.raises(ValueError):
        identity.sensitive_subspace(g, 0)
    with pytest.raises(ValueError):
        identity.sensitive_subspace(g[0], 1)


def test_build_bank_with_identity_subspace_records_it(tiny, tmp_path):
    bank = bank_mod.build_bank(
        tiny, 24, steps=3, batch_size=12, n_pcs=2, identity_k=2, identity_n=12, classifier=TinyClassifier(),
        cache=tmp_path, log=lambda *a: None,
    )  # fmt: skip
    assert bank.meta["identity_k"] == 2 and bank.meta["identity_n"] == 12
    assert sorted(p.name for p in tmp_path.glob("grad*.npy")) == ["grad0000_b12_s3_seed20000.npy"]
    assert all(torch.isfinite(v).all() for v in bank.directions.values())

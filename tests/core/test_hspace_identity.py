"""Identity-sensitive subspace: margin gradients (against finite differences), per-step SVD, and style
directions made orthogonal to it together with the class-mean span and each other."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlsa_core.diffusion import DDPMConfig, bundle_from_state, draw_trajectory
from dlsa_core.diffusion.hspace import MidBlockHook
from dlsa_core.hspace import bank as bank_mod
from dlsa_core.hspace import identity


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


def _final_margin(model, clf, x_T, steps, delta):
    sched = model.ddim_scheduler(steps)
    x = x_T
    with torch.no_grad(), MidBlockHook(model.unet, delta_h=delta) as hook:
        for i in range(steps):
            hook.step = i
            t = sched.timesteps[i]
            x = sched.step(model.unet(x, t.expand(x.shape[0])).sample, t, x, eta=0.0).prev_sample
        return identity.margin(clf(((x + 1) / 2).clamp(0, 1)))


def test_margin_is_top_minus_runner_up():
    logits = torch.tensor([[1.0, 3.0, 2.5], [0.0, -1.0, 4.0]])
    np.testing.assert_allclose(identity.margin(logits).numpy(), [0.5, 4.0])


def test_margin_gradient_matches_finite_differences(tiny):
    clf = TinyClassifier()
    steps = 3
    tr = draw_trajectory(tiny, 2, steps=steps, eta=0.0, seed=4)
    flags = [p.requires_grad for p in tiny.unet.parameters()]
    grads, digits = identity.margin_gradients(tiny, clf, tr.x_T, steps=steps)
    assert grads.shape == (2, steps, int(np.prod(tiny.h_shape))) and digits.shape == (2,)
    rng = np.random.default_rng(0)
    v = torch.as_tensor(rng.normal(size=(steps, 2, *tiny.h_shape)), dtype=torch.float32)
    a = 1e-2
    fd = (
        _final_margin(tiny, clf, tr.x_T, steps, a * v) - _final_margin(tiny, clf, tr.x_T, steps, -a * v)
    ) / (2 * a)
    pred = np.einsum("bsd,sbd->b", grads, v.reshape(steps, 2, -1).numpy())
    np.testing.assert_allclose(pred, fd.numpy(), rtol=0.05, atol=1e-3)
    assert [p.requires_grad for p in tiny.unet.parameters()] == flags  # flags restored


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


def test_style_directions_are_orthogonal_to_the_sensitive_subspace_at_every_step():
    rng = np.random.default_rng(3)
    n, steps, d = 120, 4, 8
    digits = np.repeat([0, 1, 2], n // 3)
    attrs = {a: rng.normal(size=n) for a in bank_mod.STYLE}
    attrs["digit"] = digits
    h = rng.normal(size=(n, steps, d)) * 0.1 + rng.normal(size=(3, steps, d))[digits]
    h[:, :, 0] += 2 * attrs["slant"][:, None]
    h[:, :, 1] += 1 * attrs["slant"][:, None]
    act = np.array([False, True, True, True])
    sens = identity.sensitive_subspace(rng.normal(size=(30, steps, d)), 2)
    plain = bank_mod.style_directions(h, attrs, frac=0.5, active=act)
    dirs = bank_mod.style_directions(h, attrs, frac=0.5, active=act, sensitive=sens)
    means, present = bank_mod.class_means(h, digits)
    for name, v in dirs.items():
        assert np.abs(v[0]).max() == 0, name
        for s in np.flatnonzero(act):
            np.testing.assert_allclose(sens[s] @ v[s], 0, atol=1e-8)
        for c in present:
            assert abs(np.sum(v * (means[c] - means[present].mean(0)))) < 1e-8
    for k in bank_mod.STYLE:
        for m in bank_mod.STYLE:
            if m != k:
                assert abs(np.sum(dirs[f"{k}_disentangled"] * dirs[m])) < 1e-8
    # removing 2 of 8 dimensions per step keeps a good part of the planted slant direction
    assert np.sum(dirs["slant"] * plain["slant"]) > 0.3 * np.sum(plain["slant"] ** 2)
    with pytest.raises(ValueError):
        bank_mod.style_directions(h, attrs, frac=0.5, active=act, sensitive=sens[:, :, :3])


def test_build_bank_with_identity_subspace_records_it(tiny, tmp_path):
    bank = bank_mod.build_bank(
        tiny, 24, steps=3, batch_size=12, n_pcs=2, identity_k=2, identity_n=12, classifier=TinyClassifier(),
        cache=tmp_path, log=lambda *a: None,
    )  # fmt: skip
    assert bank.meta["identity_k"] == 2 and bank.meta["identity_n"] == 12
    assert sorted(p.name for p in tmp_path.glob("grad*.npy")) == ["grad0000_b12_s3_seed20000.npy"]
    assert all(torch.isfinite(v).all() for v in bank.directions.values())

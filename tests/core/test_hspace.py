"""h-space directions: PCA, projection, Jacobian SVD, annotators, editing contract, foreign U-Nets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlsa_core.diffusion import DDPMConfig, bundle_from_state, sample
from dlsa_core.hspace import annotators as ann
from dlsa_core.hspace import bank as bank_mod
from dlsa_core.hspace import edit, identity, jacobian, pca, supervised
from dlsa_core.hspace.collect import collect_h
from tests.core.strokes import bar


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return bundle_from_state(DDPMConfig.tiny())


@pytest.fixture(scope="module")
def tiny_bank(tiny):
    return bank_mod.build_bank(tiny, 24, steps=4, batch_size=12, n_pcs=3, log=lambda *a: None)


# ----------------------------------------------------------------------------- PCA


def test_pca_orthonormal_sign_aligned_and_scaled():
    rng = np.random.default_rng(0)
    n, steps, d = 80, 5, 40
    basis = rng.normal(size=(d, d))
    h = rng.normal(size=(n, steps, d)) * np.linspace(3, 0.1, d) @ basis
    res = pca.timestep_pca(h, 4)
    for s in range(steps):
        c = res.components[s]
        np.testing.assert_allclose(c @ c.T, np.eye(4), atol=1e-10)
        x = h[:, s] - h[:, s].mean(0)
        sv = np.linalg.svd(x, compute_uv=False)[:4]
        np.testing.assert_allclose(res.std[s], sv / np.sqrt(n - 1), rtol=1e-8)
    dots = np.einsum("skd,kd->sk", res.components, res.components[0])
    assert (dots >= 0).all()
    # a direction is the axis times one std per step
    np.testing.assert_allclose(np.linalg.norm(res.direction(0), axis=1), res.std[:, 0])


def test_align_signs_flips_negative_steps():
    v = np.array([[[1.0, 0.0]], [[-0.9, 0.1]], [[0.8, 0.2]]])
    out = pca.align_signs(v)
    assert out[1, 0, 0] > 0 and out[2, 0, 0] > 0


# ----------------------------------------------------------------------------- supervised


def test_projection_removes_other_components_exactly():
    rng = np.random.default_rng(1)
    others = [rng.normal(size=(3, 10)) for _ in range(3)]
    v = rng.normal(size=(3, 10))
    p = supervised.project_out(v, others)
    for o in others:
        assert abs(np.sum(p * o)) < 1e-10
    np.testing.assert_allclose(supervised.project_out(p, others), p, atol=1e-12)
    v1, v2 = rng.normal(size=7), rng.normal(size=7)
    np.testing.assert_allclose(supervised.project_out(v1, [v2]), v1 - v1 @ v2 / (v2 @ v2) * v2)
    dis = supervised.disentangle({"a": v1, "b": v2})
    assert abs(dis["a"] @ v2) < 1e-10 and abs(dis["b"] @ v1) < 1e-10


def test_mean_difference_is_within_groups():
    # group 1 has larger scores AND a large offset in h: pooled ranking would pick up the offset
    rng = np.random.default_rng(2)
    n = 200
    g = np.repeat([0, 1], n // 2)
    score = rng.normal(size=n) + 3 * g
    h = np.stack([score - 3 * g, 10.0 * g + rng.normal(scale=0.01, size=n)], axis=1)
    within = supervised.mean_difference(h, score, groups=g, frac=0.2)
    pooled = supervised.mean_difference(h, score, frac=0.2)
    assert abs(within[1]) < 0.05 and within[0] > 1.5
    assert pooled[1] > 5


@pytest.mark.parametrize("with_sensitive", [False, True])
def test_style_directions_respect_their_edit_window(with_sensitive):
    """Zero outside the active steps, orthogonal to the class-mean span and to each other after
    disentangling, and, with an identity-sensitive subspace, to that subspace at every active step
    (all in one projection); the planted slant axis survives."""
    rng = np.random.default_rng(3)
    n, steps, d = 120, 4, 6
    digits = np.repeat([0, 1, 2], n // 3)
    attrs = {a: rng.normal(size=n) for a in bank_mod.STYLE}
    attrs["digit"] = digits
    offsets = rng.normal(size=(3, steps, d)) * 3
    offsets[..., 0] = 0  # class identity lives off the planted slant axis (dimension 0)
    h = rng.normal(size=(n, steps, d)) * 0.1 + offsets[digits]
    h[:, :, 0] += 2 * attrs["slant"][:, None]
    act = np.array([False, True, True, True])
    # two random dimensions per step, orthogonal to the planted axis so that it can survive
    sens = identity.sensitive_subspace(rng.normal(size=(30, steps, d)) * (np.arange(d) > 0), 2)
    dirs = bank_mod.style_directions(
        h, attrs, frac=0.5, active=act, sensitive=sens if with_sensitive else None
    )
    means, present = bank_mod.class_means(h, digits)
    for name, v in dirs.items():
        assert v.shape == (steps, d) and np.abs(v[0]).max() == 0, name
        for c in present:
            assert abs(np.sum(v * (means[c] - means[present].mean(0)))) < 1e-8
        if with_sensitive:
            np.testing.assert_allclose(np.einsum("skd,sd->sk", sens[1:], v[1:]), 0, atol=1e-8)
    for k in bank_mod.STYLE:
        for m in bank_mod.STYLE:
            if m != k:
                assert abs(np.sum(dirs[f"{k}_disentangled"] * dirs[m])) < 1e-8
    assert dirs["slant"][1:, 0].min() > 2.0  # the planted axis survives (2 x the upper-lower half gap ~ 3.2)
    with pytest.raises(ValueError):
        bank_mod.style_directions(h, attrs, frac=0.5, active=np.zeros(steps, bool))
    with pytest.raises(ValueError):
        bank_mod.style_directions(h, attrs, frac=0.5, active=act, sensitive=sens[:, :, :3])


# ----------------------------------------------------------------------------- Jacobian


def test_exact_jacobian_and_subspace_iteration_agree(tiny):
    x = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    ex = jacobian.exact_svd(tiny, x, 500, k=3)
    # a block larger than the k compared converges faster (ratio sigma_7 / sigma_3 instead of sigma_4 / sigma_3)
    it = jacobian.subspace_iteration(tiny, x, 500, k=6, iters=40, tol=1e-9)
    torch.testing.assert_close(it.singular_values[:3], ex.singular_values, rtol=1e-3, atol=1e-6)
    assert (jacobian.subspace_angles_deg(ex.directions, it.directions[:3]) < 2.0).all()
    # directions are unit vectors; masked Jacobian only sees the masked half of the output
    np.testing.assert_allclose(ex.directions.flatten(1).norm(dim=1).numpy(), 1, rtol=1e-5)
    mask = jacobian.output_mask("top")
    top = jacobian.exact_svd(tiny, x, 500, k=2, mask=mask)
    assert top.outputs[:, mask == 0].abs().max() < 1e-6
    with pytest.raises(ValueError):
        jacobian.output_mask("middle")


# ----------------------------------------------------------------------------- annotators


def test_annotators_on_synthetic_strokes():
    bars = np.stack([bar(2), bar(4), bar(6)])
    th = ann.thickness(bars)
    np.testing.assert_allclose(th, [2, 4, 6], atol=0.6)
    assert th[0] < th[1] < th[2]
    np.testing.assert_allclose(ann.slant(bars), 0, atol=1e-6)
    k = -0.3  # x shifts left going down = top leans right: positive slant
    np.testing.assert_allclose(ann.shear(bar(3, k)[None]), k, atol=0.02)
    np.testing.assert_allclose(ann.slant(bar(3, k)[None]), np.degrees(np.arctan(-k)), atol=1.5)
    rect = np.zeros((1, 28, 28))
    rect[0, 5:15, 8:20] = 1
    assert ann.height(rect)[0] == 10 and ann.width(rect)[0] == 12 and ann.area(rect)[0] == 120
    # sub-pixel: a faint extra row (0.75) adds where the profile crosses 0.5, a third of a pixel
    rect[0, 4, 8:20] = 0.75
    np.testing.assert_allclose(ann.height(rect), 10 + 1 / 3 + 0.5, atol=1e-12)
    np.testing.assert_allclose(ann.width(rect), 12, atol=1e-12)
    assert ann.height(np.zeros((1, 28, 28)))[0] == 0
    # width is that of the upright digit: a leaning bar is as wide as an upright one, not its bounding box
    leaning = np.stack([bar(3, -0.3), bar(3, 0.2), bar(5, 0.25)])
    np.testing.assert_allclose(ann.width(leaning), [3, 3, 5], atol=0.4)
    assert np.all(ann.width(bar(3, -0.3)[None]) < ann.width(bar(4)[None]))
    np.testing.assert_allclose(ann.slant(ann.deslant(leaning)), 0, atol=1e-6)
    np.testing.assert_allclose(ann.height(ann.deslant(leaning)), ann.height(leaning), atol=1e-12)
    np.testing.assert_array_equal(ann.deslant(rect), rect)  # upright: unchanged
    assert ann.thickness(np.zeros((1, 28, 28)))[0] == 0
    with pytest.raises(ValueError):
        ann.slant(np.full((1, 28, 28), np.nan))


# ----------------------------------------------------------------------------- bank and editing


def test_collect_h_chunks_match_sample(tiny):
    chunks = list(collect_h(tiny, 5, steps=3, batch_size=3, seed=7))
    assert [c.h.shape for c in chunks] == [(3, 3, 16 * 49), (2, 3, 16 * 49)]
    ref = sample(tiny, 2, steps=3, seed=9, capture_h=True)
    np.testing.assert_allclose(chunks[1].images, ref.images[:, 0].numpy())


def test_resample_steps_subset_exact_and_linear():
    grid = torch.tensor([900, 600, 300, 0])
    d = torch.arange(4.0)[:, None] * torch.ones(4, 2)
    torch.testing.assert_close(bank_mod.resample_steps(d, grid, torch.tensor([600, 0])), d[[1, 3]])
    mid = bank_mod.resample_steps(d, grid, torch.tensor([450]))
    torch.testing.assert_close(mid, torch.full((1, 2), 1.5))


def test_strength_zero_is_the_sample_bit_for_bit(tiny, tiny_bank):
    edit.clear_cache()
    out = edit.edit_images([3, 8], "pc1", [0.0, 1.5, -1.5, 0.0], steps=4, model=tiny, bank=tiny_bank)
    assert out.shape == (2, 4, 28, 28) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    for i, seed in enumerate([3, 8]):
        ref = sample(tiny, 1, steps=4, seed=seed).images[0, 0].numpy()
        assert np.array_equal(out[i, 0], ref) and np.array_equal(out[i, 3], ref)
        assert np.abs(out[i, 1] - ref).max() > 1e-3
    # a cached repeat returns the same pixels; a window outside which nothing changes
    again = edit.edit_images([3], "pc1", [1.5], steps=4, model=tiny, bank=tiny_bank)
    assert np.array_equal(again[0, 0], out[0, 1])
    with pytest.raises(ValueError):
        edit.edit_images([3], "pc1", [np.nan], steps=4, model=tiny, bank=tiny_bank)
    with pytest.raises(KeyError):
        edit.edit_images([3], "nonsense", [1.0], steps=4, model=tiny, bank=tiny_bank)


def test_edit_from_recorded_state_matches_a_full_replay(tiny, tiny_bank):
    """An edit that starts at step k resumes from the unedited run's x_k: the same image as replaying all
    steps with a zero edit before k (up to batch rounding), with and without recorded noise (eta > 0)."""
    for eta in (0.0, 1.0):
        edit.clear_cache()
        traj = edit.seed_trajectory(tiny, 4, steps=4, eta=eta)
        d = edit.delta_on_grid(tiny_bank, "pc1", traj.timesteps, (2, 4))
        assert edit.first_active_step(1.5 * d[None]) == 2
        fast = edit.edit_trajectory(traj, "pc1", [0.0, 1.5], source_key="s4", model=tiny, bank=tiny_bank,
                                    window=(2, 4))  # fmt: skip
        assert ("s4" in str(list(edit._states))) and len(edit._states) == 1
        full = sample(tiny, 1, steps=4, eta=eta, trajectory=traj, delta_h=1.5 * d).images[0, 0].numpy()
        ref = sample(tiny, 1, steps=4, eta=eta, seed=4).images[0, 0].numpy()
        assert np.array_equal(fast[0], ref)
        np.testing.assert_allclose(fast[1], full, atol=1e-5)
        assert not np.array_equal(fast[1], ref)  # the edit acts (the tiny untrained model saturates pixels)
        # no key: the edit runs every step, and agrees
        slow = edit.run_edits(tiny, traj, 1.5 * d[None])
        np.testing.assert_allclose(slow[0], full, atol=1e-5)
    # the benchmark's batches: the same batch resumed from its recorded state is bitwise a full replay
    from dlsa_core.hspace import evaluate

    tr = evaluate.seeds_trajectory(tiny, [1, 2, 3], steps=4)
    base = evaluate.edit_batch(tiny, tr, None)
    assert np.array_equal(base, sample(tiny, 3, steps=4, trajectory=tr).images[:, 0].numpy())
    dd = 2.0 * edit.delta_on_grid(tiny_bank, "pc1", tr.timesteps, (1, 4))
    full = sample(tiny, 3, steps=4, trajectory=tr, delta_h=dd).images[:, 0].numpy()
    assert np.array_equal(evaluate.edit_batch(tiny, tr, dd), full) and not np.array_equal(full, base)


def test_bank_names_and_roundtrip(tiny_bank, tmp_path):
    names = tiny_bank.names()
    for required in ("pc1", "pc3", "thickness", "slant", "thickness_disentangled", "digit_1_to_7"):
        assert required in names
    card = {"data": "test", "command": "test", "steps": 4, "wall_time_s": 0, "hardware": "cpu", "metrics": {}}
    bank_mod.save_bank(tiny_bank, "tiny-bank", card=card, root=tmp_path)
    back = bank_mod.load_bank("tiny-bank", root=tmp_path)
    torch.testing.assert_close(back.get("slant"), tiny_bank.get("slant"), rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(back.timesteps, tiny_bank.timesteps)
    # disentangled directions are orthogonal to the other style directions
    v = back.directions["slant_disentangled"].double().flatten()
    for other in ("thickness", "width"):
        w = tiny_bank.directions[other].double().flatten()
        assert abs(float(v @ w)) / (float(v.norm() * w.norm()) + 1e-12) < 5e-3


def test_save_pretrained_folder_loads_and_edits(tmp_path):
    from diffusers import UNet2DModel

    from dlsa_core.hspace.models import load_pretrained

    torch.manual_seed(1)
    unet = UNet2DModel(**DDPMConfig.tiny().unet_kwargs())
    unet.save_pretrained(tmp_path / "unet")
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "scheduler" / "scheduler_config.json").write_text(
        '{"num_train_timesteps": 1000, "beta_schedule": "linear"}'
    )
    model = load_pretrained(tmp_path)
    assert model.h_shape == (16, 7, 7)
    bank = bank_mod.build_bank(model, 12, steps=2, batch_size=12, n_pcs=2, log=lambda *a: None)
    out = edit.edit_images([5], "pc2", [0.0, 2.0], steps=2, model=model, bank=bank)
    assert np.array_equal(out[0, 0], sample(model, 1, steps=2, seed=5).images[0, 0].numpy())
    assert np.abs(out[0, 1] - out[0, 0]).max() > 1e-4
    with pytest.raises(ValueError):
        load_pretrained(tmp_path / "missing")

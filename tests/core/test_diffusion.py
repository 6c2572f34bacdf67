"""Behaviour of the DDPM core on a tiny, untrained-or-briefly-trained model (fast, CPU)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from dlsa_core.diffusion import (
    DDPMConfig,
    MidBlockHook,
    bundle_from_state,
    ddim_invert,
    edit_friendly_invert,
    eps_of_h,
    h_jacobian,
    replay,
    sample,
    to_model_space,
)
from dlsa_core.diffusion.metrics import psnr
from dlsa_core.diffusion.train import TrainConfig, train, translate


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return bundle_from_state(DDPMConfig.tiny(), device="cpu")


def _cfg(out, **kw):
    base = dict(out_dir=str(out), batch_size=16, lr=2e-3, warmup_steps=2, ckpt_every=1000, log_every=5)
    return TrainConfig(**(base | kw))


def test_config_validation():
    with pytest.raises(ValueError):
        DDPMConfig(block_out_channels=(8, 16, 16), norm_num_groups=3)
    with pytest.raises(ValueError):
        DDPMConfig(block_out_channels=(8, 16, 16, 32))  # 28 -> 14 -> 7 -> 4 does not upsample back
    assert DDPMConfig().h_shape == (128, 7, 7)
    assert DDPMConfig.from_dict(DDPMConfig().to_dict()) == DDPMConfig()


def test_translate_shifts_content():
    x = -torch.ones(1, 1, 28, 28)
    x[0, 0, 10, 12] = 1.0
    y = translate(x, torch.tensor([[2, -1]]), 2)
    assert y[0, 0, 12, 11] == 1.0 and y.sum() == x.sum()


@pytest.mark.slow
def test_tiny_training_loss_falls(tmp_path):
    state = train(_cfg(tmp_path, max_steps=60), DDPMConfig.tiny(), quiet=True)
    losses = [h["loss"] for h in state["history"]]
    assert state["step"] == 60 and len(losses) == 12
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path):
    train(_cfg(tmp_path / "a", max_steps=6), DDPMConfig.tiny(), quiet=True)
    train(_cfg(tmp_path / "b", max_steps=3), DDPMConfig.tiny(), quiet=True)
    with pytest.raises(ValueError, match="--resume"):
        train(_cfg(tmp_path / "b", max_steps=6), DDPMConfig.tiny(), quiet=True)
    state = train(_cfg(tmp_path / "b", max_steps=6), DDPMConfig.tiny(), resume=True, quiet=True)
    assert state["step"] == 6 and len(state["sessions"]) == 2
    for f in ("model.safetensors", "ema.safetensors", "optimizer.safetensors"):
        a, b = load_file(str(tmp_path / "a" / "last" / f)), load_file(str(tmp_path / "b" / "last" / f))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (f, k)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_sampling_is_deterministic_per_seed(tiny, eta):
    a = sample(tiny, 3, steps=4, eta=eta, seed=7)
    b = sample(tiny, 3, steps=4, eta=eta, seed=7)
    c = sample(tiny, 3, steps=4, eta=eta, seed=8)
    assert a.images.shape == (3, 1, 28, 28) and a.images.dtype == torch.float32
    assert 0 <= a.images.min() and a.images.max() <= 1
    assert torch.equal(a.images, b.images)
    assert not torch.allclose(a.images, c.images)
    assert (a.trajectory.variance_noise is None) == (eta == 0)
    assert torch.equal(replay(tiny, a.trajectory).x0, a.x0)


def test_eta_noise_is_used(tiny):
    a = sample(tiny, 2, steps=4, eta=1.0, seed=3)
    traj = a.trajectory
    traj2 = type(traj)(traj.x_T, torch.zeros_like(traj.variance_noise), traj.timesteps, traj.eta, traj.seed)
    assert not torch.allclose(replay(tiny, traj2).x0, a.x0)


def test_delta_h_zero_is_bitwise_identity_and_nonzero_edits(tiny):
    base = sample(tiny, 2, steps=5, eta=1.0, seed=1)
    zero = torch.zeros(5, *tiny.h_shape)
    same = replay(tiny, base.trajectory, delta_h=zero)
    assert torch.equal(same.x0, base.x0)
    delta = torch.zeros(5, 2, *tiny.h_shape)
    delta[:, 1] = 0.5  # edit only the second image
    edited = replay(tiny, base.trajectory, delta_h=delta)
    assert torch.equal(edited.x0[0], base.x0[0])
    assert (edited.x0[1] - base.x0[1]).abs().max() > 1e-3


def test_captured_h_matches_config(tiny):
    out = sample(tiny, 3, steps=4, seed=0, capture_h=True)
    assert out.h.shape == (4, 3, *DDPMConfig.tiny().h_shape) == (4, 3, 16, 7, 7)
    # the captured h is exactly what a delta is added to: capture after an edit sees h + delta
    delta = torch.randn(4, *tiny.h_shape)
    edited = replay(tiny, out.trajectory, delta_h=delta, capture_h=True)
    assert torch.allclose(edited.h[0], out.h[0] + delta[0], atol=1e-6)  # step 0: same x_T, same h


def test_hook_is_removed_and_skips_untouched(tiny):
    x = torch.randn(1, 1, 28, 28)
    ref = tiny.unet(x, torch.tensor([500])).sample
    skips = {}

    def keep(module, inputs, output):  # returns None: observes without replacing the output
        skips["d"] = output[0].clone()

    handle = tiny.unet.down_blocks[0].register_forward_hook(keep)
    with MidBlockHook(tiny.unet, delta_h=torch.ones(1, *tiny.h_shape)):
        edited = tiny.unet(x, torch.tensor([500])).sample
    skip_edit = skips["d"]
    tiny.unet(x, torch.tensor([500]))
    handle.remove()
    assert torch.equal(skips["d"], skip_edit)  # encoder features do not see the edit
    assert not torch.allclose(edited, ref)
    assert torch.equal(tiny.unet(x, torch.tensor([500])).sample, ref)  # hook gone


def test_jacobian_matches_directional_derivative(tiny):
    x_t = torch.randn(1, 1, 28, 28)
    jac = h_jacobian(tiny, x_t, 400)
    c, h, w = tiny.h_shape
    assert jac.shape == (784, c * h * w)
    h0, g = eps_of_h(tiny, x_t, 400)
    v = torch.randn(c, h, w)
    _, jvp = torch.func.jvp(g, (h0,), (v,))
    assert torch.allclose(jac @ v.reshape(-1), jvp, atol=1e-4, rtol=1e-3)
    assert torch.allclose(g(h0), tiny.unet(x_t, torch.tensor([400])).sample.reshape(-1), atol=1e-6)


def test_edit_friendly_inversion_reconstructs_own_sample(tiny):
    s = sample(tiny, 2, steps=10, eta=1.0, seed=5)
    inv = edit_friendly_invert(tiny, s.images, steps=10, eta=1.0, seed=11)
    rec = replay(tiny, inv.trajectory)
    assert (rec.x0 - to_model_space(s.images)).abs().max() < 1e-4
    assert psnr(rec.images, s.images).min() > 60


def test_ddim_inversion_reconstructs_own_sample(tiny):
    # the untrained tiny model's samples lie far outside [0, 1], so invert in model space (x0=)
    errors = []
    for steps in (20, 50):
        s = sample(tiny, 2, steps=steps, eta=0.0, seed=2)
        inv = ddim_invert(tiny, x0=s.x0, steps=steps, capture_h=True)
        assert inv.h.shape == (steps, 2, *tiny.h_shape)
        rec = replay(tiny, inv.trajectory)
        errors.append(float((rec.x0 - s.x0).norm() / s.x0.norm()))
    assert errors[1] < 0.05 and errors[1] < errors[0], errors  # converges as the grid is refined


def test_bad_input_is_rejected(tiny):
    with pytest.raises(ValueError, match="steps"):
        sample(tiny, 2, steps=0)
    with pytest.raises(ValueError, match="eta"):
        sample(tiny, 2, steps=3, eta=1.5)
    with pytest.raises(ValueError, match="delta_h"):
        sample(tiny, 2, steps=3, delta_h=torch.zeros(2, *tiny.h_shape))
    with pytest.raises(ValueError, match="NaN"):
        sample(tiny, 2, steps=3, delta_h=torch.full((3, *tiny.h_shape), float("nan")))
    bad = torch.rand(2, 28, 28)
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        ddim_invert(tiny, bad, steps=3)
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        ddim_invert(tiny, torch.rand(2, 32, 32), steps=3)
    with pytest.raises(ValueError, match="eta > 0"):
        edit_friendly_invert(tiny, torch.rand(2, 28, 28), steps=3, eta=0.0)


@pytest.mark.slow
def test_export_then_load_gives_the_ema_weights(tmp_path):
    from dlsa_core.diffusion import load_ddpm
    from dlsa_core.diffusion.export import export_checkpoint

    train(_cfg(tmp_path / "ck", max_steps=3), DDPMConfig.tiny(), quiet=True)
    export_checkpoint(tmp_path / "ck", "tiny-ddpm", root=tmp_path / "reg", metrics={"note": "test"})
    model = load_ddpm("tiny-ddpm", root=tmp_path / "reg", device="cpu")
    ema = load_file(str(tmp_path / "ck" / "last" / "ema.safetensors"))
    assert model.config == DDPMConfig.tiny() and model.card["steps"] == 3
    for k, v in model.unet.state_dict().items():
        assert torch.equal(v, ema[k]), k
    assert sample(model, 2, steps=3, seed=0).images.shape == (2, 1, 28, 28)


def test_dataset_option_is_validated_and_parsed(tmp_path):
    from dlsa_core.diffusion.train import main, parse_args

    with pytest.raises(ValueError, match="dataset"):
        _cfg(tmp_path, dataset="cifar10")
    assert parse_args(["--dataset", "fashion-mnist"]).dataset == "fashion-mnist"
    assert parse_args([]).dataset == "mnist"
    with pytest.raises(SystemExit):
        parse_args(["--dataset", "cifar10"])  # argparse rejects names outside the choices
    assert main(["--dataset", "fashion-mnist", "--out", str(tmp_path / "x")]) == 2  # no --max-steps


@pytest.mark.slow
def test_fashion_training_records_its_dataset_and_refuses_a_mixed_resume(tmp_path):
    """A few tiny steps on the full Fashion-MNIST train set (Debian's dataset-fashion-mnist)."""
    from dlsa_core.data import DataUnavailableError
    from dlsa_core.diffusion.checkpoint import read_state
    from dlsa_core.diffusion.train import load_training_images

    try:
        ds = load_training_images("fashion-mnist")
    except DataUnavailableError:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    assert ds.images.shape == (60000, 28, 28) and "fashion" in ds.source.lower()
    out = tmp_path / "f"
    state = train(_cfg(out, max_steps=2, dataset="fashion-mnist"), DDPMConfig.tiny(), quiet=True)
    saved = read_state(out)
    assert state["step"] == 2 and saved["train_config"]["dataset"] == "fashion-mnist"
    assert saved["data"] == ds.source and saved["sessions"][0]["dataset"] == "fashion-mnist"
    with pytest.raises(ValueError, match="fashion-mnist"):  # resuming it as MNIST would mix datasets
        train(_cfg(out, max_steps=3), DDPMConfig.tiny(), resume=True, quiet=True)
    state = train(_cfg(out, max_steps=3, dataset="fashion-mnist"), DDPMConfig.tiny(), resume=True, quiet=True)
    assert state["step"] == 3

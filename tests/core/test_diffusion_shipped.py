"""The shipped DDPM: hash-verified loading and the model card's sample quality, on CPU."""

from __future__ import annotations

import shutil

import pytest
import torch

from dlsa_core import weights
from dlsa_core.classifier import load_classifier, predict_proba
from dlsa_core.data import load_mnist
from dlsa_core.diffusion import ddim_invert, load_ddpm, replay, sample
from dlsa_core.diffusion.metrics import psnr


@pytest.fixture(scope="module")
def ddpm():
    return load_ddpm(device="cpu")


def test_shipped_ddpm_loads_with_its_hash(ddpm):
    manifest = weights.read_manifest()
    assert ddpm.sha256 == manifest["ddpm-mnist"]["model.safetensors"]["sha256"]
    assert ddpm.h_shape == (128, 7, 7)
    n_params = sum(p.numel() for p in ddpm.unet.parameters())
    assert 1e6 <= n_params <= 3e6
    for key in weights.CARD_FIELDS:
        assert key in ddpm.card
    assert ddpm.card["metrics"]["quality_on_gpu"]["ddim20"]["pass"]


def test_corrupted_ddpm_weights_are_refused(tmp_path):
    src = weights.weights_dir()
    shutil.copytree(src / "ddpm-mnist", tmp_path / "ddpm-mnist")
    shutil.copy(src / weights.MANIFEST, tmp_path / weights.MANIFEST)
    path = tmp_path / "ddpm-mnist" / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(weights.WeightsError, match="corrupted"):
        load_ddpm(root=tmp_path)
    with pytest.raises(weights.WeightsError, match="no shipped weights"):
        load_ddpm("no-such-model", root=tmp_path)


@pytest.mark.slow
def test_shipped_ddpm_sample_quality_matches_card(ddpm):
    card = ddpm.card["metrics"]["quality_on_gpu"]["ddim20"]
    clf = load_classifier(device="cpu")
    out = sample(ddpm, 48, steps=20, eta=0.0, seed=0, capture_h=True)
    assert out.h.shape == (20, 48, 128, 7, 7)
    conf = predict_proba(clf, out.images).max(1).values
    # 48 samples: the binomial s.d. of the confident share is ~0.04; allow ~3.5 s.d.
    assert float((conf >= 0.9).double().mean()) >= card["confident_share"] - 0.15
    assert float(conf.mean()) >= card["mean_confidence"] - 0.08
    # the 48 seed-0 samples are the first 48 of the card's 1,000 (same seed, same batch of 256 on CPU)
    assert len(torch.unique(predict_proba(clf, out.images).argmax(1))) >= 8


@pytest.mark.slow
def test_shipped_ddpm_inverts_heldout_digits(ddpm):
    x = torch.as_tensor(load_mnist("test").images[:8]).float()[:, None] / 255
    rec = replay(ddpm, ddim_invert(ddpm, x, steps=50).trajectory)
    assert float(psnr(rec.images, x).mean()) >= 25.0


def test_fashion_ddpm_loads_with_its_hash_and_records_its_dataset():
    manifest = weights.read_manifest()
    model = load_ddpm("ddpm-fashion-mnist", device="cpu")
    assert model.sha256 == manifest["ddpm-fashion-mnist"]["model.safetensors"]["sha256"]
    for key in weights.CARD_FIELDS:
        assert key in model.card
    assert model.card["train_config"]["dataset"] == "fashion-mnist"
    assert "fashion-mnist" in model.card["data"] and "--dataset fashion-mnist" in model.card["command"][0]
    q = model.card["metrics"]["quality_on_cpu"]["ddim20"]  # written by benchmarks/bench_ddpm.py
    assert q["n"] >= 500 and q["fd_ratio"] > 0
    out = sample(model, 4, steps=5, eta=0.0, seed=0)
    assert out.images.shape == (4, 1, 28, 28) and torch.isfinite(out.images).all()


def test_fashion_classifier_loads_with_its_hash_and_held_out_accuracy():
    from dlsa_core.data import load_fashion_mnist

    clf = load_classifier("fashion-mnist-classifier", device="cpu")
    assert clf.card["dataset"] == "fashion-mnist" and clf.card["metrics"]["test_size"] == 10000
    test = load_fashion_mnist("test")
    acc = (predict_proba(clf, test.images[:1000]).argmax(1).numpy() == test.labels[:1000]).mean()
    assert acc >= 0.8 and abs(acc - clf.card["metrics"]["test_accuracy"]) < 0.05

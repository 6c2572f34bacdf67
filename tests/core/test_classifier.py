"""The MNIST classifier: shapes, probabilities, bad input, and the shipped weights' accuracy."""

from __future__ import annotations

import shutil

import pytest
import torch

from dlsa_core import weights
from dlsa_core.classifier import MnistCNN, features, load_classifier, predict_proba
from dlsa_core.classifier.train import augment
from dlsa_core.data import load_mnist


def test_shapes_and_probabilities():
    model = MnistCNN().eval()
    x = torch.rand(5, 1, 28, 28)
    assert model(x).shape == (5, 10)
    assert features(model, x).shape == (5, 128)
    p = predict_proba(model, (x[:, 0] * 255).to(torch.uint8))
    assert p.shape == (5, 10) and torch.allclose(p.sum(1), torch.ones(5), atol=1e-5)


def test_bad_input_is_rejected():
    model = MnistCNN().eval()
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        predict_proba(model, torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match="NaN"):
        predict_proba(model, torch.full((1, 28, 28), float("nan")))


def test_augment_keeps_shape_and_ink():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 10:18, 12:16] = 1.0
    y = augment(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    assert torch.allclose(y.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.25)  # moved/rotated, not erased
    assert not torch.equal(y, x)


def test_shipped_classifier_accuracy_matches_card():
    clf = load_classifier(device="cpu")
    test = load_mnist("test")
    acc = float((predict_proba(clf, test.images).argmax(1).numpy() == test.labels).mean())
    assert acc >= 0.97
    assert abs(acc - clf.card["metrics"]["test_accuracy"]) <= 0.004  # same digits; float noise only


def test_corrupted_classifier_is_refused(tmp_path):
    src = weights.weights_dir()
    shutil.copytree(src / "mnist-classifier", tmp_path / "mnist-classifier")
    shutil.copy(src / weights.MANIFEST, tmp_path / weights.MANIFEST)
    path = tmp_path / "mnist-classifier" / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(weights.WeightsError):
        load_classifier(root=tmp_path)

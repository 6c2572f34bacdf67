"""Shipped tree weights: hashes, loading, the contract of predict_tree, and the quality they reach."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

from dlsa_core import weights
from dlsa_core.posterior_trees import degrade, load_task_images, load_tree_model, tree_metrics
from dlsa_core.posterior_trees import explore as ex

SHIPPED = [n for n in weights.read_manifest() if n.startswith("tree-")]


def test_the_headline_tree_is_shipped():
    assert "tree-mnist-inpaint-k3d2" in SHIPPED
    assert ex.shipped_layouts("mnist-inpaint")[0] == "k3d2"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_tree_loads_with_hashes_and_keeps_the_contract(name):
    hashes = weights.verify(name)
    model = load_tree_model(name, device="cpu")
    assert model.sha256 == hashes["model.safetensors"]
    for field in weights.CARD_FIELDS:
        assert field in model.card
    assert "python -m dlsa_core.posterior_trees.train" in " ".join(model.card["command"])
    x = load_task_images(model.task, "test")[0][:8]
    tree = model.predict_tree(degrade(x, task=model.task))
    k, d = model.branching, model.depth
    assert tree.leaves.shape == (8, k**d, 1, 28, 28) and tree.probs.shape == (8, k**d)
    torch.testing.assert_close(tree.probs.sum(1), torch.ones(8))
    assert tree.node((0,) * d)[0].shape == (8, 1, 28, 28)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_tree_beats_uniform_probabilities_and_refines_with_depth(name):
    model = load_tree_model(name)
    x = load_task_images(model.task, "test")[0][:300]
    m = tree_metrics(model.predict_tree(degrade(x, model.task)), x, model.task)
    psnr, nll = m["psnr"].mean(0), m["nll"].mean(0)
    assert np.all(np.diff(psnr) > 0)  # the nearest-child path gets closer at every level
    k = model.branching
    assert nll[-1] < math.log(k**model.depth)  # the leaf cell of the truth beats a uniform guess


def test_corrupted_weights_are_refused(tmp_path):
    root = weights.weights_dir()
    for f in ("MANIFEST.json",):
        shutil.copy(root / f, tmp_path / f)
    shutil.copytree(root / "tree-mnist-inpaint-k3d2", tmp_path / "tree-mnist-inpaint-k3d2")
    path = tmp_path / "tree-mnist-inpaint-k3d2" / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(weights.WeightsError, match="corrupted"):
        load_tree_model("tree-mnist-inpaint-k3d2", root=tmp_path)
    with pytest.raises(weights.WeightsError, match="no shipped weights"):
        load_tree_model("tree-nope", root=tmp_path)

"""The tree trainer end to end on a few steps: exact resume, head refit, export and load."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from dlsa_core.posterior_trees import TreeConfig, degrade, load_task_images, load_tree_model
from dlsa_core.posterior_trees.refit import refit_head
from dlsa_core.posterior_trees.train import TrainConfig, export, train


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("trees")
    model_cfg = TreeConfig(branching=3, depth=2, c_init=1, task="mnist-inpaint")
    base = TrainConfig(
        batch_size=4, epochs=3, steps_per_epoch=2, ckpt_every=1, level_weights=(0.1, 0.25, 2.0)
    )
    straight = replace(base, out_dir=str(root / "straight"))
    train(straight, model_cfg, quiet=True)
    split = replace(base, out_dir=str(root / "split"), epochs=2)
    train(split, model_cfg, quiet=True)
    state = train(replace(split, epochs=3), model_cfg, resume=True, quiet=True)
    return root, state


def test_a_resumed_run_matches_an_uninterrupted_one_exactly(runs):
    root, state = runs
    assert state["step"] == 6 and [s["start_step"] for s in state["sessions"]] == [0, 4]
    a = load_file(str(root / "straight" / "last" / "ema.safetensors"))
    b = load_file(str(root / "split" / "last" / "ema.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_the_weighted_sampler_resumes_exactly_and_reaches_the_card(tmp_path):
    torch.set_num_threads(1)
    model_cfg = TreeConfig(branching=3, depth=2, c_init=1, task="mnist-inpaint")
    # t0 = 0: the sampler draws from epoch 1 (step 2) on, so both halves of the split run use it
    base = TrainConfig(batch_size=4, epochs=3, steps_per_epoch=2, ckpt_every=1, t0=0.0, weighted_sampler=True)
    train(replace(base, out_dir=str(tmp_path / "a")), model_cfg, quiet=True)
    train(replace(base, out_dir=str(tmp_path / "b"), epochs=2), model_cfg, quiet=True)
    train(replace(base, out_dir=str(tmp_path / "b")), model_cfg, resume=True, quiet=True)
    for f in ("ema.safetensors", "sampler.safetensors"):
        a, b = (load_file(str(tmp_path / r / "last" / f)) for r in "ab")
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=f"{f}:{k}")
    assoc = a["assoc"]  # 6 batches of 4 recorded: the visited columns moved off the uniform prior
    assert assoc.shape == (9, 4050) and (assoc.max(0).values > assoc.min(0).values).sum() >= 4
    export(tmp_path / "b", "tree-sampled", root=tmp_path / "weights")
    card = load_tree_model("tree-sampled", root=tmp_path / "weights").card
    assert card["weighted_sampler"] is True and card["train_config"]["weighted_sampler"] is True


def test_affine_augmentation_is_opt_in_and_moves_ink_without_losing_it():
    from dlsa_core.posterior_trees.train import augment

    x, _ = load_task_images("mnist-inpaint", "train")
    x = x[:16]
    plain = augment(x, torch.Generator().manual_seed(3), 1)
    off = augment(x, torch.Generator().manual_seed(3), 1, 0.0, 0.0)
    torch.testing.assert_close(plain, off, rtol=0, atol=0)  # runs without it are reproduced exactly
    rot = augment(x, torch.Generator().manual_seed(3), 0, 10.0, 0.0)
    assert rot.min() >= 0 and rot.max() <= 1 and (rot - x).abs().mean() > 0.02
    # a rotation about the centre keeps the ink (the digits sit inside the frame); scale s changes it by ~s^2
    torch.testing.assert_close(rot.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.03, atol=0)
    with pytest.raises(ValueError, match="rotate_deg"):
        TrainConfig(rotate_deg=90)


def test_init_from_refuses_a_different_layout(tmp_path):
    cfg = TrainConfig(
        out_dir=str(tmp_path / "x"), epochs=1, steps_per_epoch=1, init_from="tree-mnist-inpaint-k3d2"
    )
    with pytest.raises(ValueError, match="config"):
        train(cfg, TreeConfig(branching=2, depth=3, c_init=1, task="mnist-inpaint"), quiet=True)


def test_refit_export_and_load_round_trip(runs):
    root, _ = runs
    out = root / "split"
    with pytest.raises(ValueError, match="max_train"):
        refit_head(out, max_train=0)
    info = refit_head(out, epochs=2, max_train=64, quiet=True)
    assert info["best_val_leaf_nll"] == min(h["val_nll"] for h in info["history"])
    export(out, "tree-test", root=root / "weights")
    model = load_tree_model("tree-test", root=root / "weights")
    assert model.card["steps"] == 6 and model.card["weights"].endswith("refit probability head")
    assert model.card["train_config"]["level_weights"] == [0.1, 0.25, 2.0]
    x, _ = load_task_images("mnist-inpaint", "test")
    tree = model.predict_tree(degrade(x[:2]))
    assert tree.leaves.shape == (2, 9, 1, 28, 28)
    torch.testing.assert_close(tree.probs.sum(1), torch.ones(2))

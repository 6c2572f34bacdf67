"""Posterior trees (Nehme, Mulayoff, Michaeli, NeurIPS 2024): a tree-valued summary of p(x | y) in one pass.

Quick start::

    from dlsa_core.posterior_trees import degrade, load_tree_model
    model = load_tree_model("tree-mnist-inpaint-k3d2")
    tree = model.predict_tree(degrade(x, task="mnist-inpaint"))   # x: (B, 1, 28, 28) in [0, 1]
    tree.leaves, tree.probs, tree.root, tree.node((0, 2))
"""

from .loss import cell_nll, tree_loss
from .metrics import calibration, psnr, summarize, tree_metrics
from .model import TreeConfig, TreeModel, TreeUNet, epsilon_schedule, load_tree_model, model_from_state
from .tasks import TASKS, Task, degrade, get_task, load_task_images, measurement_error, observed_mask
from .tree import PosteriorTree, assemble_level, index_to_path, n_nodes, path_to_index

__all__ = [
    "TASKS",
    "PosteriorTree",
    "Task",
    "TreeConfig",
    "TreeModel",
    "TreeUNet",
    "assemble_level",
    "calibration",
    "cell_nll",
    "degrade",
    "epsilon_schedule",
    "get_task",
    "index_to_path",
    "load_task_images",
    "load_tree_model",
    "measurement_error",
    "model_from_state",
    "n_nodes",
    "observed_mask",
    "path_to_index",
    "psnr",
    "summarize",
    "tree_loss",
    "tree_metrics",
]


def baseline_tree(y, *, n_samples=100, branching=3, depth=2, seed=0, **kwargs):
    """Diffusion-sampling + hierarchical k-means baseline (see :mod:`.baseline`)."""
    from .baseline import baseline_tree as _bt

    return _bt(y, n_samples=n_samples, branching=branching, depth=depth, seed=seed, **kwargs)

"""Posterior-trees figures and page helpers: node ids, layout order, thumbnails, inputs, tables."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from dlsa_core.posterior_trees import PosteriorTree
from dlsa_core.posterior_trees import explore as ex
from dlsa_core.viz.posterior_trees import (
    make_calibration_figure,
    make_measurement_figure,
    make_node_figure,
    make_path_figure,
    make_tree_figure,
    parse_path_id,
    path_id,
    tree_layout,
    tree_png,
)


def _tree(k=3, d=2, counts=False):
    g = torch.Generator().manual_seed(0)
    leaves = torch.rand((1, k**d, 1, 28, 28), generator=g)
    probs = torch.rand((1, k**d), generator=g).softmax(-1)
    c = torch.randint(0, 20, (1, k**d), generator=g) if counts else None
    return PosteriorTree(leaves, probs, k, d, counts=c)


def test_path_ids_round_trip_and_reject_foreign_nodes():
    assert path_id(()) == "root" and path_id((2, 0)) == "2-0"
    assert parse_path_id("2-0", 3, 2) == (2, 0) and parse_path_id("root", 3, 2) == ()
    for bad in ("3", "0-0-0", "a", "1-"):
        with pytest.raises(ValueError):
            parse_path_id(bad, 3, 2)


def test_children_are_laid_out_by_probability_and_parents_centred():
    tree = _tree()
    pos = tree_layout(tree)
    assert len(pos) == 13
    for parent in [(), (0,), (1,), (2,)]:
        _, p = tree.children(parent)
        xs = [pos[parent + (c,)][0] for c in range(3)]
        assert np.argsort(xs).tolist() == np.argsort(-p[0].numpy(), kind="stable").tolist()
        assert pos[parent][0] == pytest.approx(np.mean(xs))
    assert sorted(pos[p][0] for p in pos if len(p) == 2) == list(range(9))


def test_tree_figure_has_a_clickable_marker_and_thumbnail_per_node():
    tree = _tree(2, 3, counts=True)
    fig = make_tree_figure(tree, focus=(1,), gt_path=(1, 0, 1))
    nodes = next(t for t in fig.data if t.name == "nodes")
    assert len(nodes.customdata) == 15 and "1-0-1" in nodes.customdata
    widths = dict(zip(nodes.customdata, nodes.marker.line.width, strict=True))
    assert widths["1"] == 4 and widths["root"] != 4
    assert len(fig.layout.images) == 15
    assert any(t.name == "ground-truth path" and t.showlegend for t in fig.data)
    assert any("samples:" in h for h in nodes.hovertext)


def test_other_figures_build():
    tree = _tree()
    img = tree.root[0, 0].numpy()
    assert len(make_measurement_figure(img, img, img, vertical=True).data) == 3
    assert len(make_node_figure(tree, (1,), x_true=img).data) == 1 + 3 + 3 + 1
    assert len(make_node_figure(tree, (1, 2)).data) == 1  # a leaf has no children
    fig = make_path_figure(
        [0, 1, 2], {"tree": ([14, 15, 16], [0.1] * 3, [1.0, 2.0], [0.1] * 2)}, reference_nll=[1.1, 2.2]
    )
    assert len(fig.data) == 3
    cal = {
        "pred": np.array([0.1, np.nan]),
        "obs": np.array([0.12, np.nan]),
        "count": np.array([5.0, 0.0]),
        "ece": 0.02,
    }
    assert "ECE 0.020" in make_calibration_figure({"depth 1": cal}).data[1].name
    png = Image.open(io.BytesIO(tree_png(tree)))
    assert png.size[0] == 9 * 30 * 3


def test_inputs_from_upload_and_canvas():
    buf = io.BytesIO()
    a = np.full((56, 56), 255, np.uint8)
    a[30:50, 20:30] = 0  # dark ink on white paper -> inverted
    Image.fromarray(a).save(buf, format="PNG")
    x = ex.image_from_upload(buf.getvalue())
    assert x.shape == (1, 1, 28, 28) and x.max() <= 1 and x[0, 0, 20, 12] > 0.9 and x[0, 0, 2, 2] < 0.1
    for bad in (b"", b"not an image"):
        with pytest.raises(ValueError):
            ex.image_from_upload(bad)
    assert ex.image_from_canvas(None) is None
    assert ex.image_from_canvas(np.zeros((224, 224, 4), np.uint8)) is None
    c = np.zeros((224, 224, 4), np.uint8)
    c[180:220, 100:120, :] = 255
    assert ex.image_from_canvas(c)[0, 0, 25:, 12:16].mean() > 0.5


def test_node_table_and_layout_names():
    tree = _tree(counts=True)
    rows = ex.node_table(tree, tree.root)
    assert len(rows) == 13 and rows[0]["node"] == "root" and rows[0]["p_abs"] == pytest.approx(1.0)
    assert sum(r["samples"] for r in rows if r["depth"] == 2) == int(tree.counts.sum())
    assert (
        ex.parse_layout("k2d3") == (2, 3)
        and ex.model_name("mnist-inpaint", "k3d2") == "tree-mnist-inpaint-k3d2"
    )
    with pytest.raises(ValueError):
        ex.parse_layout("3x2")

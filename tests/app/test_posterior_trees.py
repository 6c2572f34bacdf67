"""AppTest checks of the posterior-trees page: renders, node focus via session state, URL, baseline, snippet."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from dlsa_core.posterior_trees import degrade, load_task_images, load_tree_model

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "app_pages/posterior_trees.py"


def _open(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page(PAGE)
    return at.run()


def _charts(at) -> dict:
    return {i: json.loads(c.proto.spec) for i, c in enumerate(at.get("plotly_chart"))}


def _nodes(spec) -> dict:
    tr = next(t for t in spec["data"] if t.get("name") == "nodes")
    return dict(zip(tr["customdata"], tr["marker"]["line"]["width"], strict=True))


def _focus_caption(at) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Focused node"))


def _x(i: int) -> torch.Tensor:
    return load_task_images("mnist-inpaint", "test")[0][i : i + 1]


def test_page_renders_the_tree_with_every_node_clickable():
    at = _open()
    assert not at.exception and not at.error
    charts = list(_charts(at).values())
    tree_fig = next(c for c in charts if any(t.get("name") == "nodes" for t in c["data"]))
    nodes = _nodes(tree_fig)
    assert len(nodes) == 13 and nodes["root"] == 4  # 1 + 3 + 9 nodes; the root is focused
    assert set(nodes) == {"root"} | {str(a) for a in range(3)} | {
        f"{a}-{b}" for a in range(3) for b in range(3)
    }
    assert len(tree_fig["layout"]["images"]) == 13  # a thumbnail per node
    cap = next(c.value for c in at.caption if c.value.startswith("Tree K=3, d=2"))
    assert re.search(r"one forward pass of [\d.]+ ms", cap)


def test_selecting_a_node_through_session_state_moves_the_focus():
    at = _open()
    at.session_state["pt.node"] = "1"
    at.run()
    assert not at.exception
    model = load_tree_model("tree-mnist-inpaint-k3d2")
    tree = model.predict_tree(degrade(_x(453)))  # the default preset's image
    p = float(tree.node((1,))[1][0])
    assert _focus_caption(at).startswith(f"Focused node 1: P = {p:.3f} absolute")
    tree_fig = next(c for c in _charts(at).values() if any(t.get("name") == "nodes" for t in c["data"]))
    widths = _nodes(tree_fig)
    assert widths["1"] == 4 and widths["root"] != 4
    assert at.query_params["pt.node"] == ["1"] or at.query_params["pt.node"] == "1"
    # the breadcrumb leads back to the root
    crumb = at.button(key="pt.crumb0")
    crumb.click().run()
    assert _focus_caption(at).startswith("Focused node root")


def test_url_opens_an_image_and_a_node_and_ignores_bad_values():
    at = _open({"pt.i": "7", "pt.node": "2-1", "pt.preset": "A 3 or an 8?"})
    assert not at.exception
    assert at.number_input(key="pt.i").value == 7
    assert _focus_caption(at).startswith("Focused node 2-1:")
    at = _open({"pt.i": "inf", "pt.node": "9-9"})
    assert not at.exception
    notices = " ".join(c.value for c in at.caption)
    assert "pt.i=inf" in notices and "Ignored node '9-9'" in notices
    assert _focus_caption(at).startswith("Focused node root")


def test_ground_truth_metrics_agree_with_the_core():
    at = _open()
    model = load_tree_model("tree-mnist-inpaint-k3d2")
    from dlsa_core.posterior_trees import tree_metrics

    x = _x(453)
    r = tree_metrics(model.predict_tree(degrade(x)), x)
    metrics = {m.label: m.value for m in at.metric}
    for j in range(3):
        assert metrics[f"Depth {j} PSNR"] == f"{r['psnr'][0, j]:.2f} dB"


@pytest.mark.slow
def test_baseline_runs_on_demand_with_sample_counts():
    at = _open({"pt.ns": "10", "pt.steps": "5"})
    at.toggle(key="pt.base").set_value(True).run()
    assert not at.exception
    cap = next(c.value for c in at.caption if c.value.startswith("Baseline wall time"))
    counts = [int(v) for v in re.search(r"Samples per leaf: \[([\d, ]+)\]", cap)[1].split(",")]
    assert len(counts) == 9 and sum(counts) == 10
    assert re.search(r"[\d,]+× slower", cap)


def test_reproduce_snippet_runs_and_matches_the_page():
    at = _open()
    at.session_state["pt.code"] = True  # the expander is lazy: its body is drawn once opened
    at.run()
    code = next(c.value for c in at.code if "load_tree_model" in c.value)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, "<snippet>", "exec"), {})
    model = load_tree_model("tree-mnist-inpaint-k3d2")
    x = _x(453)
    tree = model.predict_tree(degrade(x))
    assert str(tree.probs.round(decimals=3)) in buf.getvalue()


def test_calibration_panel_reports_the_held_out_numbers():
    at = _open({"pt.cal": "true"})
    assert not at.exception
    cap = next(c.value for c in at.caption if c.value.startswith("Mean over 500 images"))
    from dlsa_core.posterior_trees import calibration, summarize, tree_metrics

    model = load_tree_model("tree-mnist-inpaint-k3d2")
    x = load_task_images("mnist-inpaint", "test")[0]
    tree = model.predict_tree(degrade(x))
    s = summarize(tree_metrics(tree, x))
    assert f"NLL by depth {s['nll'][0]:.2f}, {s['nll'][1]:.2f} nats" in cap
    assert f"depth 1: {calibration([tree], [x], 1)['ece']:.3f}" in cap


def test_plain_link_values_select_the_input_source():
    at = _open({"pt.src": "upload", "pt.layout": "k3d2", "pt.task": "mnist-inpaint"})
    assert not at.exception
    assert at.radio(key="pt.src").value == "upload"
    assert any("upload a picture" in i.value for i in at.info)
    at = _open({"pt.src": "Upload a picture"})  # a display label is not a link value
    assert "pt.src=Upload a picture" in " ".join(c.value for c in at.caption)


def test_fashion_preset_switches_task_and_model():
    at = _open({"pt.preset": "Fashion: T-shirt or dress?"})
    assert not at.exception and not at.error
    assert at.selectbox(key="pt.task").value == "fashion-inpaint"
    assert next(c.value for c in at.caption if c.value.startswith("Tree K=3, d=2"))


def test_fashion_baseline_runs_with_the_fashion_ddpm():
    at = _open({"pt.preset": "Fashion: T-shirt or dress?", "pt.ns": "10", "pt.steps": "5"})
    assert not any("No diffusion model" in i.value for i in at.info)  # ddpm-fashion-mnist is shipped
    at.toggle(key="pt.base").set_value(True).run()
    assert not at.exception and not at.error
    cap = next(c.value for c in at.caption if c.value.startswith("Baseline wall time"))
    counts = [int(v) for v in re.search(r"Samples per leaf: \[([\d, ]+)\]", cap)[1].split(",")]
    assert len(counts) == 9 and sum(counts) == 10

"""Posterior trees (Nehme, Mulayoff, Michaeli, NeurIPS 2024): widgets -> dlsa_core.posterior_trees -> figures."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd
import streamlit as st

from app_pages import _ui
from dlsa_core import weights
from dlsa_core.posterior_trees import explore as ex
from dlsa_core.posterior_trees import load_task_images, load_tree_model
from dlsa_core.posterior_trees.baseline import DEFAULT_DDPM, baseline_tree
from dlsa_core.viz.posterior_trees import (
    make_calibration_figure,
    make_measurement_figure,
    make_node_figure,
    make_path_figure,
    make_tree_figure,
    parse_path_id,
    path_id,
    tree_png,
)

TASKS = {"mnist-inpaint": "MNIST digits", "fashion-inpaint": "Fashion-MNIST"}
SOURCES = {"test": "Held-out test image", "upload": "Upload a picture", "draw": "Draw the visible part"}
N_TEST = {"mnist-inpaint": 500, "fashion-inpaint": 2000}
PRESETS = {  # each preset sets every widget it names
    "A 7 or a 9?": {"pt.task": "mnist-inpaint", "pt.layout": "k3d2", "pt.src": "test", "pt.i": 453, "pt.gt": True},
    "A 3 or an 8?": {"pt.task": "mnist-inpaint", "pt.layout": "k3d2", "pt.src": "test", "pt.i": 196, "pt.gt": True},
    "Two levels of three vs three of two": {"pt.task": "mnist-inpaint", "pt.layout": "k2d3", "pt.src": "test", "pt.i": 453, "pt.gt": True},
    "Fashion: T-shirt or dress?": {"pt.task": "fashion-inpaint", "pt.layout": "k3d2", "pt.src": "test", "pt.i": 27, "pt.gt": True},
}  # fmt: skip
NOTICE = {
    "A 7 or a 9?": "A lone stroke fits a 7, a 9 or a 4: the first split separates them, with their odds.",
    "A 3 or an 8?": "Follow the green ground-truth path: PSNR rises and the NLL stays below ln K^j.",
    "Two levels of three vs three of two": "Same input, 8 leaves in binary splits: compare the modes found.",
    "Fashion: T-shirt or dress?": "The hem alone: short or long sleeves, shirt or dress, with their odds.",
}

_ui.sanitize_url({
    "pt.preset": _ui.one_of(PRESETS), "pt.task": _ui.one_of(TASKS), "pt.layout": lambda s: bool(ex.parse_layout(s)),
    "pt.src": _ui.one_of(SOURCES), "pt.i": _ui.number_in(0, 9999, integer=True), "pt.gt": _ui.is_bool,
    "pt.base": _ui.is_bool, "pt.cal": _ui.is_bool, "pt.ns": _ui.number_in(10, 200, integer=True), "pt.steps": _ui.number_in(5, 50, integer=True),
})  # fmt: skip


@st.cache_resource(show_spinner="Loading the tree model…", max_entries=6)
def model(name):
    return load_tree_model(name)


@st.cache_resource(show_spinner="Loading held-out images…", max_entries=2)
def test_images(task):
    return load_task_images(task, "test")[0][: N_TEST[task]]


@st.cache_resource(max_entries=1)
def baseline_store() -> dict:
    return {}  # (task, input hash, K, d, samples, steps) -> (tree, timing); shared, bounded below


@st.cache_data(max_entries=6, show_spinner=False)
def heldout_report(name):
    return ex.heldout_report(model(name), test_images(model(name).task))


def random_image(n):
    st.session_state["pt.i"] = int(np.random.default_rng().integers(n))


def focus_from(chart_key):
    def cb():
        pts = st.session_state[chart_key].selection.points
        if pts:
            cd = pts[0].get("customdata")
            st.session_state["pt.node"] = cd[0] if isinstance(cd, list) else cd

    return cb


_ui.intro("posterior_trees", "Click a node of the tree to focus it; the breadcrumb takes you back.")
with st.sidebar:
    preset = _ui.preset_selector("pt.preset", PRESETS, help="Curated inputs; each sets the controls.")
    for k, v in PRESETS[preset].items():  # a value in the link wins over the preset's default
        if k not in st.query_params:
            st.session_state.setdefault(k, v)
    st.caption(f"What to notice: {NOTICE[preset]}")
    # options are the plain URL values (a bound widget writes format_func's label into the link)
    task = st.selectbox(
        "Task",
        list(TASKS),
        key="pt.task",
        bind="query-params",
        help="; ".join(f"{k}: {v}, top 20 of 28 rows hidden" for k, v in TASKS.items()),
    )
    layouts = ex.shipped_layouts(task)
    if not layouts:
        st.error(f"No tree model is shipped for {TASKS[task]}; run the training command in the README.")
        st.stop()
    if st.session_state.get("pt.layout", st.query_params.get("pt.layout")) not in layouts:
        st.session_state["pt.layout"] = layouts[0]
    layout = st.selectbox(
        "Tree layout: kKdD = K branches, D levels", layouts, key="pt.layout", bind="query-params"
    )
    src = st.radio("Input", list(SOURCES), captions=list(SOURCES.values()), key="pt.src", bind="query-params")
    if src == "test":
        n_test = len(test_images(task))
        idx = st.number_input(f"Test image (0–{n_test - 1})", 0, n_test - 1, key="pt.i", bind="query-params")
        st.button("🎲 Random test image", key="pt.random", on_click=random_image, args=(n_test,))
    show_gt = st.toggle("Ground-truth mode", key="pt.gt", bind="query-params", help="Only for test images.")
    with st.expander("Baseline settings"):
        n_samples = st.slider("Posterior samples", 10, 200, 100, step=10, key="pt.ns", bind="query-params")
        steps = st.slider("DDNM steps", 5, 50, 20, key="pt.steps", bind="query-params")

name = ex.model_name(task, layout)
m = _ui.guarded(model, name)  # a corrupted or missing weights file is a WeightsError (a RuntimeError)
if m is None:
    st.stop()
K, D = m.branching, m.depth
x = None
if src == "test":
    x = test_images(task)[int(idx) : int(idx) + 1]
elif src == "upload":
    up = st.file_uploader("A digit or garment (PNG/JPEG), resized to 28×28", ["png", "jpg", "jpeg"])
    if up is not None:
        x = _ui.guarded(ex.image_from_upload, up.getvalue())
else:
    from streamlit_drawable_canvas import st_canvas

    st.caption("Draw in white. Only the bottom 8 of 28 rows (the lowest 2/7 of the box) are measured.")
    cv = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000", height=224, width=224,
                   drawing_mode="freedraw", key="pt.canvas", update_streamlit=True, return_image_data=True)  # fmt: skip
    x = ex.image_from_canvas(cv.image_data)
if x is None:
    st.info("Give an input: upload a picture or draw the bottom part of a digit.")
    st.stop()
gt = show_gt and src == "test"
pred = ex.predict(m, x)
if not gt:
    pred.x, pred.report = None, None
sig = f"{name}|{hashlib.sha1(pred.y.numpy().tobytes()).hexdigest()[:12]}"
if st.session_state.get("pt.sig") not in (None, sig):
    st.session_state["pt.node"] = "root"  # a new tree: start at its root
st.session_state["pt.sig"] = sig
st.session_state.setdefault("pt.node", st.query_params.get("pt.node", "root"))
try:
    focus = parse_path_id(st.session_state["pt.node"], K, D)
except ValueError:
    st.caption(f"⚠️ Ignored node {st.session_state['pt.node']!r}: not in this K={K}, d={D} tree.")
    focus = ()
st.session_state["pt.node"] = path_id(focus)
st.query_params["pt.node"] = path_id(focus)

left, right = st.columns([1, 3])
with left:
    meas = make_measurement_figure(
        pred.y[0, 0], pred.tree.root[0, 0].clamp(0, 1), x[0, 0] if gt else None, vertical=True
    )
    _ui.plotly(meas, key="pt.meas")
with right:
    crumbs = st.columns(D + 3)
    for j in range(len(focus) + 1):
        p = focus[:j]
        if crumbs[j].button("root" if not j else f"› {path_id(p)}", key=f"pt.crumb{j}", disabled=p == focus):
            st.session_state["pt.node"] = path_id(p)
            st.rerun()
    fig = make_tree_figure(pred.tree, focus=focus, gt_path=pred.gt_path, height=330 + 70 * D)
    _ui.plotly(fig, key="pt.tree", on_select=focus_from("pt.tree"), selection_mode="points")
st.caption(
    f"Tree K={K}, d={D} ({K**D} leaves, {m.n_parameters():,} parameters) predicted in one forward pass of "
    f"{pred.seconds * 1000:.1f} ms on {m.device.type}. The root is the probability-weighted mean of the leaves."
)
p_abs, r = pred.tree.node(focus)[1], pred.report
st.caption(f"Focused node {path_id(focus)}: P = {float(p_abs[0]):.3f} absolute, {float(pred.tree.conditional(focus)[0]):.3f} "
           "given its parent. Labels read absolute | conditional." + (f" Ground-truth path {path_id(pred.gt_path)} (green)." if gt else ""))  # fmt: skip
_ui.plotly(make_node_figure(pred.tree, focus, x_true=None if not gt else x[0, 0]), key="pt.node_fig")
st.caption(
    "Top: node and children, most probable first. Bottom: child minus node (blue brighter, red darker)."
)

if gt:
    cols = st.columns(D + 2)
    for j in range(D + 1):
        cols[j].metric(f"Depth {j} PSNR", f"{r['psnr'][0, j]:.2f} dB", help="whole image, on the green path")
        if j:
            cols[j].caption(f"NLL {r['nll'][0, j - 1]:.2f} nats vs ln K^{j} = {math.log(K**j):.2f}")
    cols[-1].metric("Measurement consistency", f"{r['consistency'][0]:.3f}", help="max RMSE on observed rows")

st.subheader("Baseline: DDNM samples + hierarchical k-means")
if DEFAULT_DDPM[task] not in weights.read_manifest():
    st.info(f"No diffusion model `{DEFAULT_DDPM[task]}` is shipped, so this task has no baseline yet.")
elif st.toggle(f"Run the baseline ({n_samples} samples × {steps} steps)", key="pt.base", bind="query-params"):
    store, bkey = baseline_store(), (sig, K, D, n_samples, steps)
    if bkey not in store:
        bar, timing = st.progress(0.0, "Sampling posterior samples with DDNM…"), {}
        bt = baseline_tree(pred.y, n_samples=n_samples, branching=K, depth=D, task=task, steps=steps,
                           progress=lambda f: bar.progress(min(f, 1.0)), timing=timing)  # fmt: skip
        bar.empty()
        store[bkey] = (bt, timing)
        while len(store) > 16:
            store.pop(next(iter(store)))
    bt, timing = store[bkey]
    bfig = make_tree_figure(
        bt, focus=focus, gt_path=bt.greedy_path(x).tolist()[0] if gt else None, height=380 + 60 * D
    )
    _ui.plotly(bfig, key="pt.btree", on_select=focus_from("pt.btree"), selection_mode="points")
    st.caption(ex.baseline_caption(bt, timing, pred.seconds, x if gt else None, task))

if st.toggle(
    f"Calibration and quality over {N_TEST[task]:,} held-out images", key="pt.cal", bind="query-params"
):
    with _ui.timed("Predicting trees for the held-out set…"):
        summ, cal = heldout_report(name)
    ref = [math.log(K**j) for j in range(1, D + 1)]
    _ui.plotly(make_path_figure(range(D + 1), {"tree": (summ["psnr"], summ["psnr_sem"], summ["nll"], summ["nll_sem"])},
                                reference_nll=ref), key="pt.path")  # fmt: skip
    _ui.plotly(make_calibration_figure({f"depth {j}": c for j, c in cal.items()}), key="pt.cal_fig")
    st.caption(
        f"Mean over {summ['n_images']} images ± SEM. NLL by depth " + ", ".join(f"{v:.2f}" for v in summ["nll"])
        + " nats vs uniform " + ", ".join(f"{v:.2f}" for v in ref) + ". Calibration error (ECE) "
        + ", ".join(f"depth {j}: {c['ece']:.3f}" for j, c in cal.items()) + "."
    )  # fmt: skip
    rows = ex.benchmark_rows(m.card.get("metrics", {}).get("benchmark", {}))
    if rows:
        st.markdown(
            "**Benchmark** (`benchmarks/bench_posterior_trees.py`): the tree beside a nearest-neighbour reference "
            "and the diffusion baseline"
        )
        num = st.column_config.NumberColumn(format="%.2f")
        st.dataframe(
            pd.DataFrame(rows), hide_index=True, column_config={k: num for k in rows[0] if k != "measure"}
        )
        st.caption(ex.benchmark_note(m.card["metrics"]["benchmark"]))

_ui.math_expander(ex.MATH, ex.MATH_NOTE, key="pt.math")  # fmt: skip
if src == "test":
    with _ui.lazy_expander("Reproduce in Python", "pt.code") as exp:
        if exp.open:
            st.code(ex.reproduce_snippet(task, layout, int(idx)), language="python")
c1, c2 = st.columns(2)
c1.download_button(
    "Download the tree (PNG grid)", tree_png(pred.tree), f"{name}.png", "image/png", key="pt.png"
)
with c2:
    nodes = pd.DataFrame(ex.node_table(pred.tree, x if gt else None))
    _ui.download_csv("Download the nodes (CSV)", nodes, f"{name}.csv", key="pt.csv")

"""Jointly smooth functions (Dietrich et al., SIMODS 2022): widgets -> dlsa_core.jointly_smooth -> figures."""

from __future__ import annotations

import inspect

import pandas as pd
import streamlit as st

from app_pages import _ui
from dlsa_core.jointly_smooth import analysis as jsa
from dlsa_core.jointly_smooth import captions as cap
from dlsa_core.jointly_smooth import presets
from dlsa_core.jointly_smooth import validation as val
from dlsa_core.viz import jointly_smooth as viz
from dlsa_core.viz import jointly_smooth_views as viz2

N_FUNCTIONS = 12
URL = {"bind": "query-params"}  # every control is part of the shareable link
DATASETS, KERNELS, PRESETS = presets.DATASET_LABELS, jsa.KERNEL_LABELS, presets.PRESETS
CHECKS = {
    "jsf.preset": _ui.one_of(PRESETS),
    "jsf.dataset": _ui.one_of(DATASETS),
    "jsf.n": _ui.number_in(100, 20_000, integer=True),
    "jsf.d": _ui.number_in(10, 500, integer=True),
    "jsf.scale": _ui.number_in(0.05, 2.0),
    "jsf.kernel": _ui.one_of(KERNELS),
    "jsf.threshold": _ui.one_of(["analytic", "permutation"]),
    "jsf.ntest": _ui.number_in(20, 500, integer=True),
    "jsf.seed": _ui.number_in(0, 10_000, integer=True),
    "jsf.fn": _ui.number_in(0, N_FUNCTIONS - 1, integer=True),
    "jsf.compare": _ui.is_bool,
    "jsf.sweep": _ui.is_bool,
    "jsf.ridge": _ui.number_in(-4.0, 0.0),
}


def _fit(dataset, n, d, scale, kernel, threshold, n_test, seed, *, progress=None) -> jsa.Analysis:
    return jsa.analyse(dataset, n, d, scale, kernel, N_FUNCTIONS, threshold, n_test, seed, progress=progress)


@st.cache_data(max_entries=16, show_spinner=False)
def extension_check(key: tuple, _res: jsa.Analysis) -> val.ExtensionCheck:
    return val.extension_check(_res)


@st.cache_data(max_entries=256, show_spinner=False)
def sweep_point(*args) -> dict:
    return val.sweep_point(*args)


@st.cache_data(max_entries=8, show_spinner=False)
def comparison(dataset, n, d, scale, kernel, n_test, seed, ridge) -> jsa.Comparison:
    digits = dataset == "digits"  # digits: 20 features and the single-view baselines, as in the paper
    return jsa.compare_baselines(dataset, n, d, scale, 20 if digits else 6, seed, kernel=kernel, n_test=n_test,
                                 ridge=ridge, single_views=digits)  # fmt: skip


def _apply_preset() -> None:
    for k, v in PRESETS[st.session_state["jsf.preset"]].items():
        st.session_state[k] = v


def select(label: str, options: dict, key: str, default: str, **kw) -> str:
    """A select box whose URL value is the plain option key, not its label (``bind`` would write the
    label): the link seeds it once per session, and its value is always written back."""
    if key not in st.session_state and key in st.query_params:  # valid: sanitize_url ran first
        st.session_state[key] = st.query_params[key]
    # An index (not None) keeps the box unclearable; Streamlit logs once that state was also set by the API.
    value = st.selectbox(
        label, list(options), list(options).index(default), format_func=options.get, key=key, **kw
    )
    st.query_params[key] = value
    return value


_ui.sanitize_url(CHECKS)
_ui.intro("jointly_smooth", "Pick a data set, then pick a function: every view recolours together.")
with st.sidebar:
    preset = select(
        "Preset", presets.PRESET_LABELS, "jsf.preset", "paper_toy", on_change=_apply_preset,
        help="Curated starting points; each sets the five controls below.",
    )  # fmt: skip
    # The bound widgets' defaults are the preset's values: Streamlit drops a value equal to its widget's
    # default from the URL, so on reload the same preset restores it (and a changed value stays in the link).
    P = PRESETS[preset]
    notice = st.empty()
    dataset = select("Data set", DATASETS, "jsf.dataset", P["jsf.dataset"])
    n = st.number_input(
        "Training samples N", 100, 20_000, P["jsf.n"], step=100, key="jsf.n", **URL,
        help="Digits has 1,797 images in all (N + held-out samples must fit).",
    )  # fmt: skip
    d = st.slider(
        "Kernel eigenvectors per view d", 10, 500, P["jsf.d"], step=10, key="jsf.d", **URL,
        help="Too small misses the shared harmonics; too large raises the noise floor E0 and passes the "
        "kernel's numerical rank (see the spectrum).",
    )  # fmt: skip
    kernel = select(
        "Kernel", KERNELS, "jsf.kernel", P["jsf.kernel"],
        help="Dense: the paper's N x N kernel (N <= 12,000). Landmarks (1,500) and k-NN (30 neighbours) scale.",
    )  # fmt: skip
    scale = st.slider(
        "Bandwidth scale s", 0.05, 2.0, P["jsf.scale"], step=0.05, key="jsf.scale", **URL,
        help=cap.bandwidth_text(kernel, st.session_state.get("jsf.scale", P["jsf.scale"])),
    )  # fmt: skip
    with st.expander("Advanced"):
        threshold = st.radio(
            "Noise floor E0", ["analytic", "permutation"], horizontal=True, key="jsf.threshold", **URL
        )
        n_test = st.slider("Held-out samples", 20, 500, 100, step=20, key="jsf.ntest", **URL)
        seed = st.number_input("Seed", 0, 10_000, 0, key="jsf.seed", **URL)

args = (dataset, int(n), int(d), float(scale), kernel, threshold, int(n_test), int(seed))
try:  # impossible settings: a message in the sidebar's words, before any work
    jsa.check_settings(dataset, int(n), int(d), kernel, int(n_test))
except ValueError as exc:
    st.error(str(exc))
    st.stop()
if slow := cap.slow_fit_warning(kernel, int(n), int(d)):
    st.warning(slow, icon="⏳")
with _ui.timed("Fitting jointly smooth functions…"):
    bar = st.empty()  # stages of a long fit (k-NN at N = 20,000: ~40 s); empty again once it is done
    res = _ui.guarded(_ui.cached_with_progress, "jsf.fit", _fit, *args, bar=bar)
    bar.empty()
if res is None:
    st.info("Change the settings in the sidebar: e.g. fewer samples, a smaller d, or another kernel.")
    st.stop()
notice.caption(f"What to notice: {cap.what_to_notice(res)}")
if warning := cap.rank_warning(res):
    st.warning(warning, icon="⚠️")


@st.fragment
def function_explorer() -> None:
    """The function slider and everything it recolours: reruns alone when the slider moves."""
    i = st.slider(
        "Function f_i to show (ordered by smooth energy)", 0, N_FUNCTIONS - 1, 1, key="jsf.fn", **URL
    )
    views_fig, curves_fig = viz2.function_figures(res, i)
    _ui.plotly(views_fig, key="jsf.views")
    st.caption(cap.main_caption(res, i))
    for col, m in zip(st.columns(4), cap.metrics(res, i), strict=True):
        col.metric(**m)
    _ui.plotly(curves_fig, key="jsf.curves")
    st.caption(cap.curves_caption(res, i))


function_explorer()
left, right = st.columns(2)
with left:
    f = res.floor
    _ui.plotly(
        viz.make_energy_figure(res.spectrum, f.e0, band=f.band, cut=f.cut, method=f.method), key="jsf.energy"
    )
    st.caption(cap.energy_caption(res))
with right:
    _ui.plotly(
        viz.make_spectrum_figure(res.eigenvalues, res.train.view_names, cutoff=jsa.CUTOFF), key="jsf.spectrum"
    )
    st.caption(cap.spectrum_caption(res))

st.subheader("Nyström extension against a refit")
with _ui.timed("Refitting with the held-out rows…"):
    check = extension_check(args, res)
st.table(cap.extension_table(res, check), hide_index=True)  # static: no data-grid bundle to load
st.caption(cap.extension_caption(res, check))

if st.toggle("Sweep d and s: how many functions pass E0, how many are real", key="jsf.sweep", **URL):
    ds, ss = val.sweep_grid(int(n), int(d), float(scale))
    grid = [(x, float(scale)) for x in ds] + [(int(d), y) for y in ss if y != float(scale)]
    bar = st.progress(0.0, text="Sweeping…")
    rows = []
    for j, (dd, sv) in enumerate(grid):
        bar.progress(j / len(grid), text=f"Fitting d = {dd}, s = {sv:g} ({j + 1} of {len(grid)})…")
        rows.append(_ui.guarded(sweep_point, dataset, int(n), dd, sv, kernel, threshold, int(seed)))
    bar.empty()
    rows = [r for r in rows if r is not None]
    _ui.plotly(viz2.make_sweep_figure(rows, int(d), float(scale)), key="jsf.sweep_fig")
    st.caption(cap.sweep_caption(rows, int(d), float(scale)))

if dataset == "digits":
    st.subheader("Digits like the paper's figure")
    labels = res.train.labels
    _ui.plotly(
        viz2.make_digit_samples_figure(res.train.views, res.train.view_names, labels), key="jsf.digits"
    )
    cols = st.columns(2)
    with cols[0]:
        fig = viz2.make_feature_scatter(res.functions[:, 1:4], labels, title="(f1, f2, f3) coloured by digit")
        _ui.plotly(fig, key="jsf.digit_scatter")
    cols[1].caption(cap.digits_caption(res))

if st.toggle(
    "Compare with single views, linear CCA, kernel CCA and the concatenated eigenmap",
    key="jsf.compare",
    **URL,
):
    ridge = st.slider(
        "Kernel CCA ridge log10 κ (relative to λ_1)", -4.0, 0.0, -2.0, 0.5, key="jsf.ridge", **URL
    )
    with _ui.timed("Fitting the baselines…"):
        comp = _ui.guarded(
            comparison, dataset, int(n), int(d), float(scale), kernel, int(n_test), int(seed), 10**ridge
        )
    if comp is not None:
        j = int(min(max(st.session_state.get("jsf.fn", 1) - 1, 0), 5))
        _ui.plotly(
            viz.make_comparison_figure(comp.functions, comp.r2, comp.latents, index=j), key="jsf.compare_fig"
        )
        st.caption(cap.comparison_caption(comp, j))
        if comp.accuracy:
            st.markdown(
                f"**5-fold cross-validated accuracy on the first {comp.functions['kernel CCA'].shape[1]} features**"
            )
            st.dataframe(pd.DataFrame(comp.accuracy).T.rename_axis("features").reset_index(), hide_index=True)

_ui.math_expander(cap.MATH, cap.MATH_NOTE, key="jsf.math")
with _ui.lazy_expander("How this is computed", "jsf.how") as exp:
    if exp.open:
        st.markdown(cap.HOW)
        st.code(inspect.getsource(jsa.analyse), language="python")
with _ui.lazy_expander("Reproduce in Python", "jsf.code") as exp:
    if exp.open:
        st.code(jsa.reproduce_snippet(res.params), language="python")


c1, c2 = st.columns(2)
state = {k: st.session_state.get(k) for k in CHECKS}  # the files are built on click only (deferred data)
c1.download_button(
    "Download the functions (CSV)", lambda: cap.functions_csv(res), f"jointly_smooth_{dataset}.csv",
    "text/csv", key="jsf.csv", on_click="ignore",
)  # fmt: skip
c2.download_button(
    "Download the state (JSON)", lambda: cap.state_json(res, state), "jointly_smooth_state.json",
    "application/json", key="jsf.json", on_click="ignore",
)  # fmt: skip

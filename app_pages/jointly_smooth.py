"""Jointly smooth functions (Dietrich et al., SIMODS 2022): widgets -> dlsa_core.jointly_smooth -> figures."""

from __future__ import annotations

import inspect

import pandas as pd
import streamlit as st

from app_pages import _ui
from dlsa_core.jointly_smooth import analysis as jsa
from dlsa_core.viz.jointly_smooth import (
    make_comparison_figure,
    make_curves_figure,
    make_energy_figure,
    make_views_figure,
)

N_FUNCTIONS = 12
URL = {"bind": "query-params"}  # every control is part of the shareable link
HELP = {
    "n": "Digits has 1,797 images in all (100 are held out).",
    "d": "Too small misses the shared harmonics; too large raises the noise floor E0.",
    "kernel": "Dense: the paper's N x N kernel (N <= 12,000). Landmarks and k-NN scale further.",
}
# Widget labels (they are also the URL values) -> core names.
DATASETS = {
    "Spiral + torus": "spiral_torus",
    "Parameter redundancy": "parameter_redundancy",
    "Corrupted digits": "digits",
}
KERNELS = {"Gaussian (dense)": "gaussian", "Gaussian (landmarks)": "landmarks", "k-NN (sparse)": "knn"}
_FIELDS = ("jsf.dataset", "jsf.n", "jsf.d", "jsf.scale", "jsf.kernel")
PRESETS = {
    name: dict(zip(_FIELDS, values, strict=True))
    for name, values in {
        "Paper toy (d = 100)": ("Spiral + torus", 1000, 100, 0.3, "Gaussian (dense)"),
        "Too many eigenvectors (d = 400)": ("Spiral + torus", 1000, 400, 0.3, "Gaussian (dense)"),
        "Parameter redundancy": ("Parameter redundancy", 1000, 100, 0.3, "Gaussian (dense)"),
        "Digits, two corrupted sensors": ("Corrupted digits", 1000, 100, 1.0, "Gaussian (dense)"),
        "Large N (20,000, landmarks)": ("Spiral + torus", 20000, 150, 0.3, "Gaussian (landmarks)"),
    }.items()
}
NOTICE = {
    "Paper toy (d = 100)": "f1 and f2 are clean curves of z and clouds against each view's nuisance.",
    "Too many eigenvectors (d = 400)": "The noise floor E0 rises with d/N; more functions pass it than depend on z.",
    "Parameter redundancy": "Only p1 + p2³ is identifiable: f1 is a curve of it, a cloud against p3.",
    "Digits, two corrupted sensors": "Stripes and shifts are rejected; turn on the comparison for accuracy.",
    "Large N (20,000, landmarks)": "1,500 landmarks keep the paper's wide kernel at large N in seconds.",
}


@st.cache_data(max_entries=16, show_spinner=False)
def analysis(dataset, n, d, scale, kernel, threshold, n_test, seed) -> jsa.Analysis:
    return jsa.analyse(dataset, n, d, scale, kernel, N_FUNCTIONS, threshold, n_test, seed)


@st.cache_data(max_entries=8, show_spinner=False)
def comparison(dataset, n, d, scale, seed) -> jsa.Comparison:
    return jsa.compare_baselines(dataset, n, d, scale, n_features=20 if dataset == "digits" else 6, seed=seed)


_ui.intro("jointly_smooth", "Pick a data set, then pick a function: every view recolours together.")
with st.sidebar:
    preset = _ui.preset_selector(
        "jsf.preset", PRESETS, help="Curated starting points; each sets the controls."
    )
    for k, v in PRESETS[preset].items():
        st.session_state.setdefault(k, v)
    st.caption(f"What to notice: {NOTICE[preset]}")
    dataset = DATASETS[st.selectbox("Data set", list(DATASETS), key="jsf.dataset", bind="query-params")]
    n = st.number_input("Training samples N", 100, 20_000, step=100, key="jsf.n", help=HELP["n"], **URL)
    d = st.slider("Kernel eigenvectors per view d", 10, 500, step=10, key="jsf.d", help=HELP["d"], **URL)
    scale = st.slider(
        "Bandwidth scale (x median distance)", 0.05, 2.0, step=0.05, key="jsf.scale", bind="query-params"
    )
    kernel_label = st.selectbox("Kernel", list(KERNELS), key="jsf.kernel", help=HELP["kernel"], **URL)
    kernel = KERNELS[kernel_label]
    with st.expander("Advanced"):
        threshold = st.radio(
            "Noise floor E0",
            ["analytic", "permutation"],
            horizontal=True,
            key="jsf.threshold",
            bind="query-params",
        )
        n_test = st.slider("Held-out samples", 20, 500, 100, step=20, key="jsf.ntest", bind="query-params")
        seed = st.number_input("Seed", 0, 10_000, 0, key="jsf.seed", bind="query-params")

with _ui.timed("Fitting jointly smooth functions…"):
    res = _ui.guarded(
        analysis, dataset, int(n), int(d), float(scale), kernel, threshold, int(n_test), int(seed)
    )
if res is None:
    st.info("Change the settings in the sidebar: e.g. fewer samples, a smaller d, or another kernel.")
    st.stop()

shared_key = next(iter(res.r2))
latents = jsa.latents_of(res.train)
i = st.slider("Function f_i to show (0 is the near-constant one)", 0, N_FUNCTIONS - 1, 1, key="jsf.fn", **URL)
name = f"f{i}"
status = "above" if res.energy[i] > res.threshold else "below"
coords = [jsa.view_coordinates(X) for X in res.train.views]
names = [
    v + (", PCs 1-3" if X.shape[1] > 3 else "")
    for v, X in zip(res.train.view_names, res.train.views, strict=True)
]
_ui.plotly(make_views_figure(coords, names, res.functions[:, i], name), key="jsf.views")
worst = max((k for k in res.r2 if k != shared_key), key=lambda k: abs(res.r2[k][i]))
st.caption(
    f"{name} on N = {res.train.n_samples:,} paired samples, d = {d} eigenvectors per view, bandwidth "
    f"{scale:g} x median ({kernel_label}). Its smooth energy σ²/K = {res.energy[i]:.3f} is {status} the "
    f"noise floor E0 = {res.threshold:.3f} ({threshold}); {res.n_significant} of {N_FUNCTIONS} functions "
    f"(f0 included) are above it. R² against {shared_key.split(': ')[1]} = {res.r2[shared_key][i]:.2f}; the "
    f"largest nuisance R² is {res.r2[worst][i]:.2f} ({worst.split(': ')[1]})."
)

c = st.columns(4)
c[0].metric(
    "Energy σ²/K of " + name,
    f"{res.energy[i]:.3f}",
    f"{res.energy[i] - res.threshold:+.3f} vs E0",
    delta_color="normal" if status == "above" else "inverse",
)
c[1].metric(
    "E0: analytic / permutation",
    " / ".join(f"{res.thresholds[k]:.3f}" for k in ("analytic", "permutation")),
    help="Random-subspace formula beside the measured null (rows of one view shuffled, median of 5).",
)
c[2].metric(f"R² vs {shared_key.split(': ')[1]} (shared)", f"{res.r2[shared_key][i]:.2f}")
c[3].metric("Largest |R²| vs a nuisance", f"{abs(res.r2[worst][i]):.2f}")

held = {
    f"held out, extended from view {k} only": (res.test.shared[shared_key.split(": ")[1]], e[:, i])
    for k, e in res.extended.items()
}
_ui.plotly(
    make_curves_figure(
        res.functions[:, i], latents, {k: v[i] for k, v in res.r2.items()}, name, held_out=held
    ),
    key="jsf.curves",
)
st.caption(
    "A clean curve against the shared variable and a cloud against every nuisance is the claim: the function "
    f"depends only on what the views share. Crosses: {res.test.n_samples} fresh samples, {name} extended by "
    "Nyström from one view alone and drawn at their true shared value."
)

left, right = st.columns([3, 2])
with left:
    _ui.plotly(make_energy_figure(res.energy, res.threshold, n_views=len(res.train.views)), key="jsf.energy")
with right:
    st.markdown("**Out-of-sample error of the Nyström extension**")
    st.dataframe(res.extension_table(i), hide_index=True, width="stretch")
    st.caption(
        "Relative RMS error: held-out values against the training curve of the shared variable; in-sample, "
        "the extension at the training samples against the function itself (what lies outside the view's "
        f"smooth subspace). Fit took {res.fit_seconds:.2f} s on cpu."
    )

if st.toggle(
    "Compare with linear CCA, kernel CCA and the concatenated-views eigenmap",
    key="jsf.compare",
    bind="query-params",
):
    with _ui.timed("Fitting the baselines…"):
        comp = _ui.guarded(comparison, dataset, int(n), int(d), float(scale), int(seed))
    if comp is not None:
        j = min(max(i - 1, 0), len(next(iter(comp.r2["kernel CCA"].values()))) - 1)
        _ui.plotly(
            make_comparison_figure(comp.functions, comp.r2, comp.latents, index=j), key="jsf.compare_fig"
        )
        st.caption(
            f"Feature #{j + 1} of each method (the near-constant first feature of the uncentred kernels "
            f"dropped, so #{j + 1} of jointly smooth is f{j + 1}). Fit times: "
            + ", ".join(f"{m} {s:.2f} s" for m, s in comp.seconds.items())
            + "."
        )
        if comp.accuracy:
            acc = pd.DataFrame(comp.accuracy).T.rename_axis("features").reset_index()
            st.markdown(
                f"**5-fold cross-validated accuracy on the first {comp.functions['kernel CCA'].shape[1]} "
                "features of each method**"
            )
            st.dataframe(acc, hide_index=True)

_ui.math_expander(
    [
        r"K_k(i,j)=\exp\!\big(-\|x^{(k)}_i-x^{(k)}_j\|^2/\varepsilon_k^2\big),\quad "
        r"\varepsilon_k = s\cdot\operatorname{median}\|x^{(k)}_i-x^{(k)}_j\|",
        r"K_k W_k = W_k\Lambda_k,\quad W_k\in\mathbb{R}^{N\times d}\ \text{(top } d\text{ eigenvectors)}",
        r"[W_1,\dots,W_K] = U\Sigma V^\top,\qquad f_i = u_i,\qquad \sigma_i^2=\textstyle\sum_k\|W_k^\top f_i\|^2\in[0,K]",
        r"K=2:\ W_1^\top W_2 = Q\Gamma R^\top,\quad f_i=\frac{W_1q_i+W_2r_i}{\sqrt{2(1+\gamma_i)}},\quad "
        r"E_0\approx\tfrac12+\frac{\sqrt{(d-\frac12)(N-d-\frac12)}}{N-1}",
        r"\tilde f(x)=\kappa_k(x,X_k)\,W_k\Lambda_k^{-1}W_k^\top f\quad\text{(Nyström, one view)}",
    ],
    "σ² = K exactly when f lies in every view's smooth subspace, so the top singular vectors are the "
    "functions smooth on all views at once; they can only depend on what the views share. E0 is the "
    "energy two unrelated views would already give (analytic, or by shuffling one view's rows).",
)
with st.expander("How this is computed"):
    st.markdown(
        "`dlsa_core.jointly_smooth.analysis.analyse` fits `JointlySmoothFunctions`, scores every "
        "function with `metrics.curve_r2` (out-of-fold 1-D k-NN regression) and extends to held-out "
        "samples with `transform_views`."
    )
    st.code(inspect.getsource(jsa.analyse), language="python")
with st.expander("Reproduce in Python"):
    st.code(jsa.reproduce_snippet(res.params), language="python")

frame = pd.DataFrame(res.functions, columns=[f"f{k}" for k in range(N_FUNCTIONS)])
for k, v in res.train.shared.items():
    frame.insert(0, k, v)
c1, c2 = st.columns(2)
with c1:
    _ui.download_csv("Download the functions (CSV)", frame, f"jointly_smooth_{dataset}.csv", key="jsf.csv")
with c2:
    state = {
        k: st.session_state.get(k)
        for k in ["jsf.preset", *PRESETS[preset], "jsf.threshold", "jsf.ntest", "jsf.seed", "jsf.fn"]
    }
    _ui.download_json(
        "Download the state (JSON)",
        {**state, "E0": res.threshold, "energy": res.energy.tolist()},
        "jointly_smooth_state.json",
        key="jsf.json",
    )

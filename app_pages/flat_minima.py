"""Flat minima of deep linear nets (Mulayoff & Michaeli, ICML 2020): widgets -> dlsa_core.flat_minima -> figures."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import streamlit as st

from app_pages import _ui
from dlsa_core.flat_minima import report as fm
from dlsa_core.flat_minima.training import INITS
from dlsa_core.viz import flat_minima as viz

ETAS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4]
CS = [float(f"{c:.3g}") for c in np.geomspace(0.125, 8, 25)]
STEPS = [1000, 2000, 5000, 10000, 20000]
URL = {"bind": "query-params"}
_FIELDS = (
    "flat.sv",
    "flat.depth",
    "flat.width",
    "flat.eta",
    "flat.steps",
    "flat.nonwhite",
    "flat.layer",
    "flat.c",
)
PRESETS, NOTICE = {}, {}
for _name, _values, _notice in [
    ("Depth 3: three inits", ("2, 1, 0.5", 3, 3, 0.02, 5000, False, 1, 1.0),
     "The ResNet lands on N·σ₁^(2(N−1)/N); the large random init ends sharper, unbalanced and uncoupled."),
    ("Rebalance: same function, sharper", ("2, 1, 0.5", 3, 3, 0.1, 5000, False, 1, 4.0),
     "c = 4 keeps W₃W₂W₁ = T, but the minimum is 5.7× sharper: above 2/η, GD cannot stay there."),
    ("Large steps select flat minima", ("2, 1, 0.5", 3, 3, 0.2, 5000, False, 1, 1.0),
     "At η = 0.2 only minima with λmax ≤ 10 are stable: the large random init is pushed to a flatter one."),
    ("Deep and wide (N = 5, width 6)", ("3, 1, 0.5", 5, 6, 0.02, 10000, False, 2, 1.0),
     "Width 6 > d = 3: the ResNet's extra units stay at zero; the small init lingers ~5,000 steps near the saddle at 0."),
    ("Non-whitened inputs (caveat)", ("2, 1", 2, 2, 0.02, 5000, True, 1, 1.0),
     "Without whitening the closed form is only a bound, and the balanced factorisation is not the flattest."),
]:  # fmt: skip
    PRESETS[_name], NOTICE[_name] = dict(zip(_FIELDS, _values, strict=True)), _notice
DEFAULT = PRESETS["Depth 3: three inits"]


def progress_bar(label: str):
    """A progress bar and its callback. Created inside the cached functions (elements made outside them cannot be
    updated from inside), and emptied at the end, so a cache hit replays nothing visible."""
    bar = st.progress(0.0, text=label)
    return bar, lambda f: bar.progress(min(f, 1.0), text=f"{label} {f:.0%}")


@st.cache_data(max_entries=32, show_spinner=False)
def training(sv, depth, width, eta, steps, seed, rho, small, large):
    bar, tell = progress_bar(f"Training the three inits ({steps} steps at most)…")
    try:
        return fm.training_report(sv, depth, width, eta, steps, seed=seed, rho=rho, small_scale=small,
                                  large_scale=large, progress=tell)  # fmt: skip
    finally:
        bar.empty()


@st.cache_data(max_entries=32, show_spinner=False)
def sweep(sv, depth, width, init, steps, seed, rho, scale):
    bar, tell = progress_bar("Sweeping 12 step sizes…")
    try:
        return fm.sweep_report(sv, depth, width, init, steps, seed=seed, rho=rho, scale=scale, progress=tell)
    finally:
        bar.empty()


_ui.sanitize_url(
    {
        "flat.preset": _ui.one_of(PRESETS), "flat.depth": _ui.number_in(2, 8, integer=True),
        "flat.width": _ui.number_in(1, 16, integer=True), "flat.eta": _ui.one_of(ETAS),
        "flat.steps": _ui.one_of(STEPS), "flat.nonwhite": _ui.is_bool, "flat.rho": _ui.number_in(0.1, 0.9),
        "flat.layer": _ui.number_in(1, 7, integer=True), "flat.c": _ui.one_of(CS),
        "flat.seed": _ui.number_in(0, 10_000, integer=True), "flat.large": _ui.one_of([1.0, 1.5, 2.0]),
        "flat.small": _ui.one_of([0.1, 0.3]), "flat.sweep_init": _ui.one_of(INITS), "flat.sv": lambda s: len(s) < 80,
    }
)  # fmt: skip
_ui.intro("flat_minima", "Train a deep linear net from three inits and compare the minima it ends in.")
with st.sidebar:
    preset = _ui.preset_selector(
        "flat.preset", PRESETS, help="Curated starting points; each sets every control."
    )
    st.caption(f"What to notice: {NOTICE[preset]}")
    sv_text = st.text_input(
        "Target singular values σ₁, σ₂, … (T is d × d)", DEFAULT["flat.sv"], key="flat.sv", **URL
    )
    depth = st.slider("Depth N", 2, 8, DEFAULT["flat.depth"], key="flat.depth", **URL)
    width = st.slider("Hidden width", 1, 16, DEFAULT["flat.width"], key="flat.width", **URL)
    eta = st.select_slider("Step size η", ETAS, DEFAULT["flat.eta"], key="flat.eta", **URL)
    with st.expander("Advanced"):
        steps = st.select_slider("Max GD steps", STEPS, DEFAULT["flat.steps"], key="flat.steps", **URL)
        seed = int(st.number_input("Seed (target and random inits)", 0, 10_000, 0, key="flat.seed", **URL))
        small = st.select_slider("Small init scale", [0.1, 0.3], 0.3, key="flat.small", **URL)
        large = st.select_slider("Large init scale", [1.0, 1.5, 2.0], 1.5, key="flat.large", **URL)
        nonwhite = st.toggle("Non-whitened inputs", DEFAULT["flat.nonwhite"], key="flat.nonwhite", **URL)
        rho = (
            st.slider("Input correlation ρ (Σₓ = ρ^|i−j|)", 0.1, 0.9, 0.6, 0.1, key="flat.rho", **URL)
            if nonwhite
            else 0.0
        )

sv = _ui.guarded(fm.parse_singular_values, sv_text)
with _ui.timed("Training") as tim:
    rep = (
        None
        if sv is None
        else _ui.guarded(training, tuple(sv), depth, width, eta, steps, seed, rho, small, large)
    )
if rep is None:
    st.info(
        "Change the controls in the sidebar, e.g. a hidden width of at least the number of singular values."
    )
    st.stop()

runs, m = rep["runs"], rep["minimal"]
ref, ref_name = fm.reference(rep, depth)
if nonwhite:
    st.warning(
        f"Non-whitened inputs (ρ = {rho:g}): the closed form N·σ₁^(2(N−1)/N) = {m:.4g} no longer applies. The bound "
        f"λmax ≥ N s^(2−2/N) a₀^(2/N) = {ref:.4g} still holds but is not tight, and the balanced factorisation of T "
        f"(λmax = {rep['balanced']:.4g}) is not the flattest minimum: compare it with what GD found."
    )
cols = st.columns(4)
cols[0].metric("Theory: " + ("minimal λmax" if not nonwhite else "bound on λmax"), f"{ref:.5g}")
for col, (key, r) in zip(cols[1:], runs.items(), strict=True):
    delta = None if r.diverged else f"{(r.final_sharpness - ref) / ref:+.2%} vs theory"
    value = "diverged" if r.diverged else f"{r.final_sharpness:.5g}"
    col.metric(f"Measured: {viz.INIT_NAMES[key]}", value, delta, "inverse")
_ui.plotly(
    viz.make_training_figure(runs, ref, eta, minimal_label=f"{ref_name} = {ref:.4g}"), key="flat.train"
)
res, lg, status = runs["resnet"], runs["large"], {k: fm.run_status(r) for k, r in runs.items()}
gap = (
    f", {abs(res.final_sharpness - ref) / ref:.1e} relative from the {ref_name} {ref:.6g}"
    if res.converged
    else ""
)
ratio = f" ({lg.final_sharpness / ref:.2f}× theory)" if lg.converged else ""
st.markdown(
    f"**N = {depth}, σ(T) = ({', '.join(f'{s:g}' for s in sv)}), η = {eta:g}: GD can only settle where λmax ≤ "
    f"2/η = {2 / eta:.4g}.** The zero-init ResNet {status['resnet']}{gap}; the large random init {status['large']}"
    f"{ratio}; the small random init {status['small']}."
)

if rep["gains"]:
    left, right = st.columns([1, 1])
    with left:
        _ui.plotly(viz.make_gains_figure(rep["gains"]), key="flat.gains")
    with right:
        st.markdown("**λmax ≥ s² Σₖ (aₖ₋₁/aₖ)² ≥ N s^(2−2/N) a₀^(2/N) at every global minimum**")
        table = pd.DataFrame(fm.bounds_rows(rep)).replace({"init": viz.INIT_NAMES})
        fmt = {c: st.column_config.NumberColumn(format="%.5g") for c in table.columns[1:4]}
        st.dataframe(table, hide_index=True, width="stretch", column_config=fmt)
        worst = max(rep["gains"], key=lambda k: rep["gains"][k].imbalance)
        g = rep["gains"][worst]
        st.caption(
            f"Per-layer gains aₖ/aₖ₋₁ along the top singular path of T{'Σₓ^½' if nonwhite else ''} (converged runs). "
            f"At the flattest minima all equal (s/a₀)^(1/N) = {g.balanced:.4g}. Most unbalanced here: "
            f"{viz.INIT_NAMES[worst]} ({g.imbalance:.1%} off), λmax {runs[worst].final_sharpness / g.path_bound:.3f}× "
            "its path bound."
        )
if rep["coupling"]:
    _ui.plotly(viz.make_coupling_figure(rep["coupling"]), key="flat.coupling")
    tops = ", ".join(f"{viz.INIT_NAMES[k]} {float(c.top.min()):.4f}" for k, c in rep["coupling"].items())
    st.caption(
        "Singular-vector overlaps |⟨uᵢ(Wₖ), vⱼ(Wₖ₊₁)⟩| of consecutive layers: coupled layers put all weight on the "
        f"diagonal, starting at (1, 1). Smallest top overlap |⟨u₁(Wₖ), v₁(Wₖ₊₁)⟩| per init: {tops}."
    )
if not rep["gains"]:
    st.info("No run converged to a global minimum with these settings: try a smaller η or more steps.")

st.subheader("Rebalance: same function, other minimum")
c1, c2 = st.columns([1, 3])
with c1:
    st.session_state["flat.layer"] = min(int(st.session_state.get("flat.layer", 1)), depth - 1)
    layer = st.slider(
        "Layer k (× c; layer k+1 × 1/c)", 1, max(depth - 1, 2), key="flat.layer", disabled=depth < 3, **URL
    )
    c = st.select_slider("Rescaling factor c", CS, DEFAULT["flat.c"], key="flat.c", **URL)
base, base_name = fm.rebalance_base(rep, width, depth)
curve = fm.rebalance_curve(base, layer, CS, sigma_x=rep["sigma_x"])
value, unscaled = float(curve[CS.index(c)]), float(curve[CS.index(1.0)])
with c2:
    _ui.plotly(viz.make_rebalance_figure(CS, curve, c, value, ref, eta, layer), key="flat.rebalance")
ok = value <= 2 / eta
st.caption(
    f"From {base_name}, W{layer} ← {c:g}·W{layer} and W{layer + 1} ← W{layer + 1}/{c:g}: the product, hence the "
    f"loss, is unchanged, but λmax = {value:.5g} ({value / unscaled:.3f}× the unscaled {unscaled:.5g}) "
    f"{'stays below' if ok else 'exceeds'} 2/η = {2 / eta:.4g}: GD with this η "
    + ("could rest here." if ok else "is thrown out of this minimum.")
)

st.subheader("Step-size sweep: which minimum does GD settle in?")
help_init = "resnet: zero-init ResNet (W = I + A, A = 0); small / large: Gaussian init of that scale."
sweep_init = st.radio("Init", list(INITS), 2, horizontal=True, key="flat.sweep_init", help=help_init, **URL)
with _ui.timed("Sweeping 12 step sizes"):
    scale = {"small": small, "large": large}.get(sweep_init)
    sw = _ui.guarded(sweep, tuple(sv), depth, width, sweep_init, steps, seed, rho, scale)
if sw is not None and not sw["converged"].any():
    st.info(
        f"No step size of the sweep let GD from the {viz.INIT_NAMES[sweep_init]} init settle (too sharp a start)."
    )
elif sw is not None:
    _ui.plotly(viz.make_sweep_figure(sw, eta), key="flat.sweep")
    ok, bad = sw["converged"], sw["eta"][~sw["converged"]]
    top = float(np.max(sw["sharpness"][ok] * sw["eta"][ok] / 2))
    st.caption(
        f"GD from the same {viz.INIT_NAMES[sweep_init]} init at 12 step sizes; {ok.sum()} settled. Largest "
        f"λmax·η/2 among them = {top:.3f} ({'≤ 1: all below' if top <= 1 + 1e-6 else '> 1: one above'} 2/η). From the "
        f"smallest to the largest settled η the final λmax goes from {sw['sharpness'][ok][0]:.4g} to "
        f"{sw['sharpness'][ok][-1]:.4g}. "
        + (
            f"From η = {bad.min():.3g} on GD does not settle (2/minimal = {2 / sw['minimal']:.3g})."
            if bad.size
            else ""
        )
    )

_ui.math_expander(fm.MATH, fm.MATH_NOTE, key="flat.math")
with _ui.lazy_expander("How this is computed", "flat.how") as exp:
    if exp.open:
        st.markdown(
            "`dlsa_core.flat_minima.report.training_report` trains the three inits as one batch of full-batch GD "
            "runs on the exact population loss, then measures each end point."
        )
        st.code(inspect.getsource(fm.training_report), language="python")
params = dict(singular_values=sv, depth=depth, width=width, eta=eta, steps=steps, seed=seed, rho=rho)
params.update(small_scale=small, large_scale=large)
with _ui.lazy_expander("Reproduce in Python", "flat.code") as exp:
    if exp.open:
        st.code(fm.reproduce_snippet(params), language="python")
d1, d2 = st.columns(2)
with d1:
    frame = pd.DataFrame(fm.history_columns(runs))
    _ui.download_csv("Download the training curves (CSV)", frame, "flat_minima_training.csv", key="flat.csv")
with d2:
    state = {**params, "preset": preset, "minimal": m}
    state["final_sharpness"] = {k: r.final_sharpness for k, r in runs.items()}
    _ui.download_json("Download the state (JSON)", state, "flat_minima_state.json", key="flat.json")
st.caption(
    f"Training and measuring took {rep['seconds']:.2f} s on cpu (cached afterwards; this run {tim.get('seconds', 0):.2f} s)."
)

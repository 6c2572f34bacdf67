"""Langevin dynamics reveal the Hessian rank (Bar et al., AAAI 2024): widgets -> dlsa_core.langevin -> figures."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pandas as pd
import streamlit as st

from app_pages import _ui
from app_pages._catalog import ROOT
from dlsa_core import langevin as lg
from dlsa_core.langevin import texts
from dlsa_core.langevin.report import rank_row, reproduce_snippet
from dlsa_core.langevin.shipped import load_run
from dlsa_core.viz import langevin as vz

URL = {"bind": "query-params"}
HELP_PRESET = "Curated starting points; each sets the controls it names."
TIPS = {
    "level": "Exact for this step size (with midpoint reads: the continuous-time level).",
    "measured": "Monte Carlo mean over runs and the second half of the steps.",
    "window": "Transient-corrected: the exact mean of this finite run's time average, in rank units.",
}
NOISES = [float(f"{x:.3g}") for x in np.logspace(-4, 1, 21)]
STEPS = [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 1.5, 1.9]
WIDTHS = [4, 8, 16, 32, 64]
PAGE_VECTORS = 60  # Ubaru & Saad probe vectors on the page (the benchmark uses the official 300)
PRECONDS = {"kron": "layer-wise Kronecker P, D = cP (ours)", "identity": "P = I (the paper's protocol)"}
_PRESETS = json.loads((ROOT / "assets/presets/langevin_rank.json").read_text(encoding="utf-8"))
PRESETS = {name: p["values"] for name, p in _PRESETS.items()}
CHECKS = {
    "lgv.preset": _ui.one_of(PRESETS),
    "lgv.kind": _ui.one_of(lg.PRECONDITIONERS),
    "lgv.dim": _ui.number_in(2, 60, integer=True),
    "lgv.rank": _ui.number_in(1, 60, integer=True),
    "lgv.spread": _ui.number_in(0, 8),
    "lgv.noise": _ui.one_of(NOISES),
    "lgv.step": _ui.one_of(STEPS),
    "lgv.steps": _ui.number_in(100, 5000, integer=True),
    "lgv.runs": _ui.number_in(20, 1000, integer=True),
    "lgv.seed": _ui.number_in(0, 10_000, integer=True),
    "lgv.width": _ui.one_of(WIDTHS),
    "lgv.precond": _ui.one_of(PRECONDS),
    "lgv.druns": _ui.number_in(2, 16, integer=True),
} | dict.fromkeys(["lgv.matched", "lgv.mid", "lgv.baseline", "lgv.compare"], _ui.is_bool)


@st.cache_data(max_entries=32, show_spinner=False)
def playground(dim, rank, spread, kind, noise, **kw):
    return lg.playground_report(dim, rank, spread, kind, noise, **kw)


@st.cache_data(max_entries=16, show_spinner=False)
def spread_levels(dim, rank, noise, seed):
    return lg.spread_report(dim, rank, noise, seed=seed)


@st.cache_data(max_entries=16, show_spinner=False)
def regime(dim, rank, spread, seed, noise):
    return lg.regime_report(dim, rank, spread, seed=seed, noise=noise)


@st.cache_resource(max_entries=1)
def store() -> dict:
    """Deep-linear results shared by sessions; a plain dict (not st.cache_data) so a progress bar can show."""
    return {}


def cached(key: tuple, fn, label: str):
    if key not in store():
        bar = st.progress(0.0, text=label)
        store()[key] = fn(lambda f: bar.progress(min(float(f), 1.0), text=label))
        bar.empty()
    return store()[key]


def rank_run(width, precond, runs, seed):
    if precond == "identity" and (run := load_run(width, runs, seed)) is not None:
        return run  # the paper's 15,000 sequential steps, precomputed by the same code (see shipped.py)
    return cached(
        ("ld", width, precond, runs, seed),
        lambda cb: lg.rank_experiment(width, preconditioner=precond, runs=runs, seed=seed, progress=cb),
        f"Langevin dynamics on a depth-5, width-{width} linear net ({PRECONDS[precond]})…",
    )


def baseline(width, seed):
    return cached(
        ("kpm", width, seed),
        lambda cb: lg.baseline_rank(width, seed=seed, n_vectors=PAGE_VECTORS, progress=cb),
        f"Ubaru & Saad (degree 50, {PAGE_VECTORS} vectors) at d = {width}…",
    )


def reset_controls() -> None:
    """Choosing a preset sets every control it names (the value then also equals the control's default)."""
    for key, value in PRESETS[st.session_state["lgv.preset"]].items():
        st.session_state[key] = value


def idx(options, value) -> int:
    return list(options).index(value)


def metrics(items) -> None:
    """A row of metrics from (label, value, delta or None, help or None) tuples."""
    for col, (label, value, delta, tip) in zip(st.columns(len(items)), items, strict=True):
        col.metric(label, value, delta, help=tip, delta_color="off", delta_arrow="off")


_ui.intro(
    "langevin",
    "Start at a minimum, add noise matched to the preconditioner, average the loss: 4·ΔL/c is the rank.",
)
_ui.sanitize_url(CHECKS)
with st.sidebar:
    # preset values are also the controls' defaults: a link drops exactly them and a reload rebuilds them
    preset = st.selectbox(
        "Preset", list(PRESETS), key="lgv.preset", on_change=reset_controls, help=HELP_PRESET, **URL
    )
    V = PRESETS[preset]
    st.caption(f"What to notice: {_PRESETS[preset]['notice']}")

st.header("1 · Quadratic playground")
left, right = st.columns([1, 2.6], gap="medium")
with left:
    kind = st.selectbox(
        "Preconditioner",
        list(lg.PRECONDITIONERS),
        index=idx(lg.PRECONDITIONERS, V["lgv.kind"]),
        format_func=lg.PRECONDITIONERS.get,
        key="lgv.kind",
        **URL,
    )
    dim = st.slider("Dimension n", 2, 60, V["lgv.dim"], key="lgv.dim", **URL)
    rank = min(st.slider("Rank of H (at most n)", 1, 60, V["lgv.rank"], key="lgv.rank", **URL), dim)
    spread = st.slider(
        "Spectrum spread (decades)", 0.0, 8.0, float(V["lgv.spread"]), 0.5, key="lgv.spread", **URL
    )
    noise = st.select_slider("Noise scale c", NOISES, V["lgv.noise"], key="lgv.noise", **URL)
    help_m = "Off: each preconditioner sees gradient noise Σ = cH, preconditioned (D = PΣP)."
    matched = st.toggle("Matched noise D = cP", V["lgv.matched"], key="lgv.matched", help=help_m, **URL)
    with st.expander("Advanced"):
        step = st.select_slider("Step η·λmax(P½HP½)", STEPS, V["lgv.step"], key="lgv.step", **URL)
        mid = st.toggle("Read the loss at midpoints (no 2/(2−ηλ) bias)", V["lgv.mid"], key="lgv.mid", **URL)
        steps = st.slider("Steps", 100, 5000, 2000, step=100, key="lgv.steps", **URL)
        runs = st.slider("Monte Carlo runs", 20, 1000, 200, step=20, key="lgv.runs", **URL)
        seed = int(st.number_input("Seed", 0, 10_000, 0, key="lgv.seed", **URL))
with right:
    with _ui.timed("Simulating Langevin runs…"):
        kw = dict(matched=matched, step=step, steps=steps, runs=runs, seed=seed, midpoint=mid)
        rep = _ui.guarded(playground, dim, rank, spread, kind, noise, **kw)
    if rep is not None:
        title = f"{lg.PRECONDITIONERS[kind]}, rank {rank} of n = {dim}"
        _ui.plotly(vz.make_playground_figure(rep, title=title), key="lgv.play")
        se = f"± {2 * rep['measured_se']:.2g} (2 SE)"
        metrics(
            [
                ("Closed-form level", f"{rep['level_discrete']:.4g}", None, TIPS["level"]),
                ("c·rank/4", f"{rep['rank_level']:.4g}", None, None),
                ("Measured (2nd half)", f"{rep['measured']:.4g}", se, TIPS["measured"]),
                ("Rank read off 4⟨ΔL⟩/c", f"{rep['rank_estimate']:.2f}", f"true {rank}", None),
            ]
        )
        st.markdown(texts.playground_summary(rep, runs))
        frame = pd.DataFrame({k: rep[k] for k in ("t", "theory", "mc_mean", "mc_se")})
        _ui.download_csv("Download the curves (CSV)", frame, f"langevin_quadratic_{kind}.csv", key="lgv.csv1")
sp = spread_levels(dim, rank, noise, seed)
_ui.plotly(
    vz.make_spread_figure(sp, matched=matched, current=spread, labels=lg.PRECONDITIONERS), key="lgv.spr"
)
st.caption(texts.spread_caption(sp, matched=matched, noise=noise, dim=dim, rank=rank))

st.header("2 · Rank of deep linear networks")
left, right = st.columns([1, 2.6], gap="medium")
with left:
    width = st.select_slider(
        "Width d (depth 5, true rank d²)", WIDTHS, V["lgv.width"], key="lgv.width", **URL
    )
    precond = st.radio(
        "Langevin preconditioner",
        list(PRECONDS),
        index=idx(PRECONDS, V["lgv.precond"]),
        format_func=PRECONDS.get,
        key="lgv.precond",
        **URL,
    )
    druns = st.slider("Runs", 2, 16, 4, key="lgv.druns", **URL)
    use_base = st.toggle("Run the Ubaru & Saad baseline", V["lgv.baseline"], key="lgv.baseline", **URL)
    compare = st.toggle("Compare widths 4–32 (Fig. 2)", False, key="lgv.compare", **URL)
with right:
    run = _ui.guarded(rank_run, width, precond, druns, seed)
    if run is not None:
        _ui.plotly(vz.make_rank_trace_figure(run), key="lgv.trace")
        base = baseline(width, seed) if use_base else (None, None)
        row = rank_row(run, *base)
        est = f"± {2 * run.estimate.stderr:.1f} (2 SE) · {run.error_pct:+.2f} %"
        items = [
            ("True rank d²", f"{run.true_rank:,}", f"{run.n_params:,} parameters", None),
            ("Langevin estimate", f"{run.estimate.rank:,.1f}", est, None),
            ("Closed form (window)", f"{run.expected:,.1f}", None, TIPS["window"]),
        ]
        if base[0] is not None:
            items.append(("Ubaru & Saad", f"{base[0].rank:,.1f}", f"{row['baseline_err_pct']:+.1f} %", None))
        metrics(items)
        if base[0] is not None:
            with st.expander("Why the baseline reads low: its density of states and threshold"):
                net = lg.balanced_minimum(width, seed=seed)
                lam = lg.preconditioned_spectrum(net)
                kpm = base[0]
                _ui.plotly(vz.make_density_figure(kpm.grid, kpm.density, kpm.threshold, lam), key="lgv.dos")
                st.caption(texts.baseline_caption(kpm, lam, net.n_params))
        st.markdown(
            texts.rank_summary(run, row, shipped=precond == "identity" and load_run(width, druns, seed))
        )
        trace = dict(iteration=run.iterations, run1=run.excess_first, mean=run.excess_mean, theory=run.theory)
        name = f"langevin_rank_d{width}_{precond}.csv"
        _ui.download_csv("Download the trace (CSV)", pd.DataFrame(trace), name, key="lgv.csv2")
    if compare:
        rows = [rank_row(rank_run(w, "kron", druns, seed), *baseline(w, seed)) for w in (4, 8, 16, 32)]
        _ui.plotly(vz.make_rank_comparison_figure(rows), key="lgv.cmp")
        st.dataframe(pd.DataFrame(rows).round(2), hide_index=True)

st.header("3 · SGD-like vs Adam-like")
reg = regime(dim, rank, spread, seed, noise)
_ui.plotly(vz.make_regime_figure(reg, current=noise), key="lgv.regime")
st.caption(texts.regime_caption(reg, noise=noise, dim=dim, rank=rank, spread=spread))

_ui.math_expander(texts.MATH, texts.MATH_NOTES, key="lgv.math")
with _ui.lazy_expander("How this is computed", "lgv.how") as exp:
    if exp.open:
        st.markdown("`dlsa_core.langevin.rank_experiment` runs Langevin on the weights (batched over runs):")
        st.code(inspect.getsource(lg.rank_experiment), language="python")
state = dict(dim=dim, rank=rank, spread=spread, kind=kind, noise=noise, matched=matched, seed=seed)
state |= dict(width=width, precond=precond, runs=druns)
with _ui.lazy_expander("Reproduce in Python", "lgv.code") as exp:
    if exp.open:
        st.code(reproduce_snippet(state), language="python")
full = {**state, "step": step, "midpoint": mid, "steps": steps, "mc_runs": runs}
_ui.download_json("Download the state (JSON)", full, "langevin_state.json", key="lgv.json")

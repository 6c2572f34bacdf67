"""SGD vs GD stability (Mulayoff & Michaeli, COLT 2024): widgets -> dlsa_core.stability -> figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app_pages import _ui
from dlsa_core import stability as stab
from dlsa_core.stability import presets as pre
from dlsa_core.stability import views
from dlsa_core.stability.eos import load_results
from dlsa_core.viz.stability import make_moment_figure, make_paths_figure, make_region_figure
from dlsa_core.viz.stability_views import make_eos_figure, make_floor_figure, make_mu_figure, make_rho_figure

RATIO = (0.01, 3.0)  # the eta slider, in units of GD's threshold 2/lambda_max(H)
RUNS = [200, 500, 1000, 2000, 5000]
P0 = pre.PRESETS["dominant"]
TABS = [
    "Second moment",
    "ρ(Q) vs η",
    "p axis",
    "Regular minimum",
    "Edge of stability",
]  # the widgets' defaults are the first preset


@st.cache_resource(max_entries=6, show_spinner=False)
def problem(key: str) -> stab.StabilityProblem:
    with pre.blas_limits():
        prob = pre.load_problem(key)
        prob.spectral()  # the eigenbasis reduction is cached on the problem
    return prob


@st.cache_data(max_entries=12, show_spinner=False)
def region(key: str, repl: bool) -> dict:
    return pre.region_for(problem(key), key, repl)


@st.cache_data(max_entries=256, show_spinner=False)
def threshold(key: str, b: int, repl: bool) -> float:
    return pre.threshold_for(problem(key), key, b, repl)


@st.cache_data(max_entries=64, show_spinner=False)
def exact(key: str, eta: float, b: int, steps: int, repl: bool) -> dict:
    with pre.blas_limits():
        return stab.exact_report(problem(key), eta, b, steps=steps, replacement=repl)


@st.cache_data(max_entries=64, show_spinner=False)
def monte_carlo(key: str, eta: float, b: int, steps: int, runs: int, seed: int, repl: bool) -> dict:
    torch_threads()
    n_paths = 4 if problem(key).d == 2 else 0
    with pre.blas_limits():
        return stab.mc_report(
            problem(key), eta, b, steps=steps, runs=runs, seed=seed, replacement=repl, n_paths=n_paths
        )


@st.cache_data(max_entries=64, show_spinner=False)
def rho_curve(key: str, b: int, repl: bool, star: float) -> dict:
    return pre.rho_for(problem(key), key, b, repl, star)


@st.cache_data(max_entries=8, show_spinner=False)
def mu_curve(key: str) -> dict:
    return pre.mu_for(problem(key), key)


@st.cache_resource(show_spinner=False)
def torch_threads() -> int:
    from dlsa_core.device import configure_threads

    return configure_threads()  # torch's threads too, before the first simulation imports torch


def apply_preset() -> None:
    """A preset sets every widget it names, every time; the picker then returns to its placeholder."""
    chosen = st.session_state.get("stab.preset")
    if chosen in pre.PRESETS:
        p = pre.PRESETS[chosen]
        st.session_state.update({"stab.problem": p["problem"], "stab.B": p["B"], "stab.ratio": p["ratio"]})
        st.session_state["stab.repl"] = False
    st.session_state["stab.preset"] = None


def snap(factor: float, star: float, eta_gd: float) -> None:
    st.session_state["stab.ratio"] = float(np.clip(factor * star / eta_gd, *RATIO))


_ui.intro("sgd_stability", "SGD's batch noise makes a minimum harder to stay at: here is exactly how much.")
_ui.sanitize_url(
    {
        "stab.problem": _ui.one_of(pre.PROBLEMS),
        "stab.B": _ui.number_in(1, 100_000, integer=True),
        "stab.ratio": _ui.number_in(*RATIO),
        "stab.repl": _ui.is_bool,
        "stab.steps": _ui.number_in(20, 400, integer=True),
        "stab.runs": _ui.one_of(RUNS),
        "stab.seed": _ui.number_in(0, 10_000, integer=True),
    }
)
# Problem and B are synced with the URL by hand: the problem as a plain key (?stab.problem=digits), not
# its label; B because its slider's range follows n, and a re-created bound slider re-reads the link.
if "stab.problem" not in st.session_state:
    st.session_state["stab.problem"] = st.query_params.get("stab.problem", P0["problem"])
if "stab.B" not in st.session_state:
    st.session_state["stab.B"] = int(float(st.query_params.get("stab.B", P0["B"])))  # "4.0" is valid too
st.selectbox(
    "Preset",
    list(pre.PRESETS),
    index=None,
    format_func=lambda k: pre.PRESETS[k]["label"],
    placeholder="Apply a preset… (sets problem, B and η)",
    key="stab.preset",
    on_change=apply_preset,
)


def moment_tab(key: str, prob, ex: dict, eta: float, b: int, sim: tuple[int, int, int], repl: bool) -> None:
    """The exact second moment at once; the Monte Carlo fills in when it is done (progressive)."""
    stable = ex["stable"]
    title = f"‖θ_t − θ*‖² at B={b}, η={eta:.4g} ({'stable' if stable else 'unstable'})"
    moment, lyap, paths_slot = st.empty(), st.empty(), st.empty()
    seen = st.session_state.setdefault("stab._simulated", set())  # cached runs: draw once, no flicker
    if (key, eta, b, *sim, repl) not in seen:
        fig = make_moment_figure(ex["t"], ex["exact"], None, title=title, exact_enum=ex["exact_enum"])
        moment.plotly_chart(fig, key="stab.moment0", config=_ui.PLOTLY_CONFIG)
    with st.spinner("Simulating…", show_time=True):
        mc = _ui.guarded(monte_carlo, key, eta, b, *sim, repl)
    if mc is None:
        return
    seen.add((key, eta, b, *sim, repl))
    fig = make_moment_figure(ex["t"], ex["exact"], mc["mc"], title=title, exact_enum=ex["exact_enum"])
    moment.plotly_chart(fig, key="stab.moment", config=_ui.PLOTLY_CONFIG)
    lyap.caption(views.mc_caption(mc, stable=stable))
    if "paths" in mc:
        with paths_slot.container():
            fig = make_paths_figure(mc["paths"], pre.mean_hessian(prob), stable=stable)
            _ui.plotly(fig, key="stab.paths")


@st.fragment
def explorer() -> None:
    left, right = st.columns([1, 2.6], gap="medium")
    with left:
        key = st.selectbox(
            "Problem", list(pre.PROBLEMS), format_func=lambda k: pre.PROBLEMS[k].label, key="stab.problem"
        )
        st.query_params["stab.problem"] = key
        st.caption(pre.PROBLEMS[key].notice)
        with st.spinner("Loading the problem…", show_time=True):
            prob = _ui.guarded(problem, key)
        if prob is None:
            return
        n = prob.n
        st.session_state["stab.B"] = min(st.session_state["stab.B"], n)
        b = st.slider("Batch size B", 1, n, key="stab.B")
        st.query_params["stab.B"] = str(b)
        ratio = st.slider(
            "Step size η, in units of GD's 2/λmax(H)",
            *RATIO,
            P0["ratio"],
            step=0.001,
            format="%.4f",
            key="stab.ratio",
            bind="query-params",
        )
        with st.expander("Advanced"):
            repl = st.toggle(
                "Batches with replacement (p = 1/B)", False, key="stab.repl", bind="query-params"
            )
            steps = st.slider("Steps", 20, 400, 100, step=20, key="stab.steps", bind="query-params")
            runs = st.select_slider("Monte Carlo runs", RUNS, 1000, key="stab.runs", bind="query-params")
            seed = int(st.number_input("Seed", 0, 10_000, 0, key="stab.seed", bind="query-params"))
        rep = _ui.guarded(region, key, repl)
        star = _ui.guarded(threshold, key, b, repl)
        if rep is None or star is None:
            return
        eta_gd = float(rep["eta_gd"][0])
        eta = ratio * eta_gd
        st.caption(f"η = {eta:.6g}   ·   η*(B) = {star:.6g}   ·   η/η* = {eta / star:.4f}")
        cols = st.columns(3)
        for col, (label, f) in zip(
            cols, (("0.98 η*", 0.98), ("η = η*", 1.0), ("1.02 η*", 1.02)), strict=True
        ):
            col.button(label, key=f"stab.snap{f}", on_click=snap, args=(f, star, eta_gd), width="stretch")
    with right:
        same = views.hidden_curves(rep)
        stable = bool(eta <= star * (1 + 1e-12))
        _ui.plotly(make_region_figure(rep, b, eta, stable=stable, same_as=same), key="stab.region")
        st.caption(views.region_caption(rep, stab.batch_p(n, b, replacement=repl), repl, same))
        ex = _ui.guarded(exact, key, eta, b, steps, repl)
        if ex is None:
            return
        m = st.columns(4)
        m[0].metric("Exact η*(B)", f"{star:.4g}")
        m[1].metric("Your η / η*", f"{eta / star:.4f}")
        m[2].metric("Mean square", "stable" if stable else "unstable")
        m[3].metric(
            "ρ(Q) per step", views.format_rate(ex["rho"]), help="Asymptotic growth factor of E‖θ−θ*‖²."
        )
        st.markdown(views.headline(b, eta, star, ex["rho"], eta_gd))
        # lazy tabs: only the open one runs and is sent (the browser draws one figure, not five)
        t_moment, t_rho, t_p, t_floor, t_eos = st.tabs(TABS, key="stab.tab", on_change="rerun")
        if t_moment.open:
            with t_moment:
                moment_tab(key, prob, ex, eta, b, (steps, runs, seed), repl)
        elif t_rho.open:
            with t_rho, st.spinner("ρ(Q) along η…", show_time=True):
                rc = _ui.guarded(rho_curve, key, b, repl, star)
            if rc is not None:
                with t_rho:
                    _ui.plotly(make_rho_figure(rc, eta=eta, eta_star=star, batch_size=b), key="stab.rho")
        elif t_p.open:
            with t_p:
                fig = make_mu_figure(mu_curve(key), p_without=stab.batch_p(n, b), p_with=1.0 / b)
                _ui.plotly(fig, key="stab.mu")
                st.caption(views.MU_CAPTION)
        elif t_floor.open and (floor := pre.shipped_extras("digits").get("floor")):
            with t_floor:
                _ui.plotly(
                    make_floor_figure(floor, highlight_b=b if key == "digits" else None), key="stab.floor"
                )
                st.caption(views.floor_caption(floor["loss_at_min"]))
        elif t_eos.open and (eos := load_results()):
            with t_eos:
                _ui.plotly(make_eos_figure(eos["runs"]), key="stab.eos")
                st.caption(views.eos_caption(eos))
        frame = pd.DataFrame({k: rep[k] for k in pre.CURVE_COLUMNS})
        state = dict(
            problem=key, B=b, eta=eta, eta_star=star, replacement=repl, steps=steps, runs=runs, seed=seed
        )
        c1, c2 = st.columns(2)
        with c1:
            _ui.download_csv("Download the curve (CSV)", frame, f"sgd_stability_{key}.csv", key="stab.csv")
        with c2:
            _ui.download_json("Download the state (JSON)", state, "sgd_stability_state.json", key="stab.json")
        with _ui.lazy_expander("Reproduce in Python", "stab.code") as exp:
            if exp.open:
                st.code(pre.reproduce_snippet(key, b, eta, replacement=repl, steps=steps), language="python")
    _ui.math_expander(*pre.math_lines(repl), key="stab.math")


explorer()

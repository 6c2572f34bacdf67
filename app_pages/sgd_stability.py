"""SGD vs GD stability (Mulayoff & Michaeli, COLT 2024): widgets -> dlsa_core.stability -> figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from threadpoolctl import threadpool_limits

from app_pages import _ui
from dlsa_core import stability as stab
from dlsa_core.device import recommended_threads
from dlsa_core.viz.stability import make_moment_figure, make_paths_figure, make_region_figure

PROBLEMS = {
    "dominant": ("2-D quadratic: one dominant sample", stab.dominant_sample_2d),
    "incoherent": ("2-D quadratic: incoherent samples", stab.incoherent_2d),
    "toy": ("2-D toy with hand-checkable values", stab.toy_rank_one_2d),
    "digits": ("Least squares on digits (d = 64, n = 200)", stab.digits_least_squares),
    "relu": (
        "Trained ReLU net minimum (digits 0-3, n = 40)",
        lambda: stab.relu_net_minimum(40, width=128, classes=(0, 1, 2, 3)),
    ),
}
RATIOS = [float(f"{x:.4g}") for x in np.logspace(-1.5, 0.5, 81)]  # eta / eta_GD on a log grid
PRESETS = {
    "One sample dominates (2-D)": {"stab.problem": "dominant", "stab.B": 1, "stab.ratio": 0.1413},
    "Incoherent samples (2-D)": {"stab.problem": "incoherent", "stab.B": 2, "stab.ratio": 0.7943},
    "Digits least squares": {"stab.problem": "digits", "stab.B": 4, "stab.ratio": 0.7079},
    "Trained ReLU net minimum": {"stab.problem": "relu", "stab.B": 2, "stab.ratio": 0.7943},
}
NOTICE = {
    "dominant": "One sample carries H's top direction: at B = 1 SGD tolerates only an eighth of GD's step.",
    "incoherent": "H looks isotropic but each sample is sharp in its own direction: the trace bound (16) is tight.",
    "toy": "Check by hand: eta*(1) = 0.5760, eta*(2) = 0.9382, eta*(3) = GD's 1.1315.",
    "digits": "Real data: correlated pixels make SGD's threshold approach GD's quickly as B grows.",
    "relu": "A real network minimum, computed exactly in the n·k = 160-dimensional Gram (NTK) space.",
}


def blas_threads():
    """NumPy's BLAS follows the app's torch thread policy (1 thread on a small shared CPU): the
    matrices here are small, and oversubscribed BLAS threads were measured 10-20x slower under load."""
    return threadpool_limits(limits=recommended_threads(), user_api="blas")


@st.cache_resource(max_entries=6, show_spinner=False)
def problem(key: str) -> stab.StabilityProblem:
    with blas_threads():
        prob = PROBLEMS[key][1]()
        prob.spectral()  # the eigenbasis reduction is cached on the problem
    return prob


@st.cache_data(max_entries=12, show_spinner=False)
def region(key: str, replacement: bool) -> dict:
    with blas_threads():
        return stab.stability_report(problem(key), replacement=replacement)


@st.cache_data(max_entries=256, show_spinner=False)
def threshold(key: str, b: int, replacement: bool) -> float:
    with blas_threads():
        return stab.sgd_threshold(problem(key), b, replacement=replacement)


@st.cache_data(max_entries=64, show_spinner=False)
def dynamics(key: str, eta: float, b: int, steps: int, runs: int, seed: int, replacement: bool) -> dict:
    paths = 4 if problem(key).d == 2 else 0
    with blas_threads():
        return stab.dynamics_report(
            problem(key), eta, b, steps=steps, runs=runs, seed=seed, replacement=replacement, n_paths=paths
        )


_ui.intro("sgd_stability", "SGD's batch noise makes a minimum harder to stay at: here is exactly how much.")
preset = _ui.preset_selector("stab.preset", PRESETS, help="Curated starting points; each sets the sliders.")
for k, v in PRESETS[preset].items():
    st.session_state.setdefault(k, v)


@st.fragment
def explorer() -> None:
    left, right = st.columns([1, 2.6], gap="medium")
    with left:
        key = st.selectbox(
            "Problem",
            list(PROBLEMS),
            format_func=lambda k: PROBLEMS[k][0],
            key="stab.problem",
            bind="query-params",
        )
        st.caption(NOTICE[key])
        with _ui.timed("Computing the stability region…") as tim:
            prob = _ui.guarded(problem, key)
            rep = _ui.guarded(region, key, st.session_state.get("stab.repl", False)) if prob else None
        if rep is None:
            return
        n, eta_gd = prob.n, float(rep["eta_gd"][0])
        st.session_state["stab.B"] = int(min(max(int(st.session_state.get("stab.B", 1)), 1), n))
        b = st.slider("Batch size B", 1, n, key="stab.B", bind="query-params")
        ratio = st.select_slider(
            "Step size η (log scale)",
            RATIOS,
            key="stab.ratio",
            bind="query-params",
            format_func=lambda r: f"{r * eta_gd:.4g}  ({r:.3g} × GD's 2/λmax)",
        )
        eta = ratio * eta_gd
        with st.expander("Advanced"):
            repl = st.toggle("Batches with replacement (p = 1/B)", key="stab.repl", bind="query-params")
            steps = st.slider("Steps", 20, 400, 100, step=20, key="stab.steps", bind="query-params")
            runs = st.select_slider(
                "Monte Carlo runs", [200, 500, 1000, 2000, 5000], 1000, key="stab.runs", bind="query-params"
            )
            seed = st.number_input("Seed", 0, 10_000, 0, key="stab.seed", bind="query-params")
    with right:
        star_b = _ui.guarded(threshold, key, b, repl)
        if star_b is None:
            return
        # the region figure needs only eta*(B): draw it before the (slower) simulation
        _ui.plotly(make_region_figure(rep, b, eta, stable=bool(eta <= star_b)), key="stab.region")
        with _ui.timed("Simulating…"):
            dyn = _ui.guarded(dynamics, key, eta, b, steps, runs, int(seed), repl)
        if dyn is None:
            return
        star, stable, rho = dyn["eta_star"], dyn["stable"], dyn["rho"]
        st.session_state["stab.verdict"] = "stable" if stable else "unstable"
        where = "below" if stable else "beyond"
        trend = "decays" if rho < 1 else "grows"
        st.markdown(
            f"**At B={b}, η\\*={star:.4g}; your η={eta:.4g} is {eta / star:.2f}× η\\* ({where} it): the second "
            f"moment {trend} like {rho:.4g}^t** (GD's threshold is {eta_gd:.4g}, {eta_gd / star:.2f}× larger; "
            f"p = {dyn['p']:.3g})."
        )
        cols = st.columns(4)
        cols[0].metric("Predicted η*(B)", f"{star:.4g}")
        cols[1].metric("Verdict", "stable" if stable else "unstable")
        cols[2].metric("Predicted growth ρ(Q) per step", f"{rho:.4f}")
        cols[3].metric(
            "Measured MC growth per step",
            f"{dyn['rho_mc']:.4f}",
            help="Average per-step factor of the Monte Carlo mean of ‖θ_t − θ*‖² (SGD).",
        )
        mc = {"SGD": dyn["mc"]["sgd"], "ALG(p): GD step w.p. 1−p, one sample w.p. p": dyn["mc"]["mixture"]}
        title = f"Second moment at B={b}, η={eta:.4g} ({'stable' if stable else 'unstable'})"
        _ui.plotly(make_moment_figure(dyn["t"], dyn["exact"], mc, title=title), key="stab.moment")
        st.caption(
            f"Exact recursion (line) vs the mean of {runs} simulated runs (markers, ±2 SE band), each drawing a "
            "fresh batch every step. The products are heavy-tailed: near or above η* the Monte Carlo mean "
            "typically *under*-estimates the exact second moment, which is driven by rare runs."
        )
        if "paths" in dyn:
            _ui.plotly(
                make_paths_figure(
                    dyn["paths"],
                    prob.hessians.mean(0)
                    if prob.hessians is not None
                    else np.einsum("nki,nkj->ij", prob.jacobians, prob.jacobians) / n,
                    stable=stable,
                ),
                key="stab.paths",
            )
            st.caption(
                "A single path is **not** evidence of mean-square stability: slightly above η*, most "
                "paths still converge (almost surely) while E‖θ_t − θ*‖² blows up."
            )
        frame = pd.DataFrame(
            {
                k: rep[k]
                for k in (
                    "batch_size",
                    "p",
                    "eta_star",
                    "eta_gd",
                    "bound_15",
                    "bound_16",
                    "bound_rank_one",
                    "sufficient",
                )
            }
        )
        c1, c2 = st.columns(2)
        with c1:
            _ui.download_csv("Download the curve (CSV)", frame, f"sgd_stability_{key}.csv", key="stab.csv")
        with c2:
            _ui.download_json(
                "Download the state (JSON)",
                {
                    "problem": key,
                    "B": b,
                    "eta": eta,
                    "eta_star": star,
                    "replacement": repl,
                    "steps": steps,
                    "runs": runs,
                    "seed": int(seed),
                },
                "sgd_stability_state.json",
                key="stab.json",
            )
        st.caption(
            f"Region for n = {n}, d = {prob.d} ({rep['space']} space) in {tim.get('seconds', 0):.2f} s "
            "(cached afterwards)."
        )


explorer()

_ui.math_expander(
    [
        r"\theta_{t+1}=\theta_t-\tfrac{\eta}{B}\textstyle\sum_{i\in\mathcal B_t}H_i(\theta_t-\theta^*),\quad"
        r"p=\frac{n-B}{B(n-1)}",
        r"C=\tfrac12(H\otimes I+I\otimes H),\quad D=(1-p)\,H\otimes H+\tfrac pn\textstyle\sum_i H_i\otimes H_i",
        r"\mathbb E\|\theta_t-\theta^*\|^2\ \text{bounded}\iff \eta\le\eta^*(B)=\frac{2}{\lambda_{\max}(C^{+}D)}"
        r"\le\frac{2}{\lambda_{\max}(H)}",
        r"\Sigma_{t+1}=(1-p)\,A\Sigma_tA+\tfrac pn\textstyle\sum_i A_i\Sigma_tA_i,\quad A=I-\eta H,\ A_i=I-\eta H_i",
        r"\frac{2}{\eta^*}\ \ge\ \max_{\|v\|=1}\Big[v^\top Hv+p\,\frac{\mathrm{Var}_i(v^\top H_iv)}{v^\top Hv}\Big]"
        r"\ \ge\ \lambda_{\max}(H)",
    ],
    "SGD (fresh uniform batch each step) has the same second moment as ALG(p), which takes a full GD step "
    "with probability 1−p and a single-sample step with probability p. η* is non-decreasing in B and equals "
    "GD's at B = n. λmax(C⁺D) is computed exactly on symmetric matrices over range(H): densely for tiny d, "
    "otherwise by Rayleigh–Ritz on one subspace shared by every B (each value certified by its residual), "
    "and for the ReLU net through the Gram (NTK) reduction A_i = K^½E_iK^½.",
)
with st.expander("Reproduce in Python"):
    st.code(
        "from dlsa_core import stability as stab\n"
        f"prob = stab.{PROBLEMS[st.session_state.get('stab.problem', 'dominant')][1].__name__}()\n"
        "print(stab.threshold_curve(prob, stab.batch_grid(prob.n)))\n"
        f"print(stab.sgd_threshold(prob, {st.session_state.get('stab.B', 1)}))",
        language="python",
    )

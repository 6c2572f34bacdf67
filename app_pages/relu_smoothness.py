"""Stable shallow ReLU nets are smooth (Nacson et al., ICLR 2023): widgets -> dlsa_core.relu_smoothness -> figures."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _ui
from dlsa_core import relu_smoothness as rs
from dlsa_core.relu_smoothness import report
from dlsa_core.relu_smoothness.datasets import ALL, LABELS, ONE_D, TWO_D, dataset_for
from dlsa_core.viz.relu_smoothness import (
    make_bound_figure,
    make_fits_figure,
    make_loss_figure,
    make_surface_figure,
)

ETA_GRID = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4, 1.6, 1.8]
WIDTHS = [8, 16, 32, 64, 128]
STEPS = [2000, 4000, 8000, 16000]
DATA = [*ALL, "table"]
_F = ("relu.data", "relu.n", "relu.width", "relu.etas", "relu.seeds", "relu.eta")
PRESETS = {
    name: dict(zip(_F, vals, strict=True))
    for name, vals in {
        "Smooth wave: larger η, smoother fit": (
            "wave",
            8,
            32,
            [0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2],
            3,
            0.8,
        ),
        "The digest's points x = 0, 1, 2, 3": ("paper4", 4, 16, [0.1, 0.2, 0.3, 0.5, 0.8], 3, 0.5),
        "A step: curvature where the data jumps": ("steps", 8, 32, [0.2, 0.4, 0.6, 0.8, 1.0], 3, 0.6),
        "2-D bump: knot lines": ("bump", 12, 32, [0.2, 0.5, 0.8, 1.0], 2, 0.8),
        "MNIST 0 vs 1 (d = 784)": ("digits", 30, 32, [0.2, 0.5, 0.8, 1.0, 1.2], 2, 0.8),
    }.items()
}
NOTICE = {
    "wave": "Past η ≈ 0.5 (2/λmax at the start) GD can no longer stay where it began: λmax drops to 2/η and the fit flattens.",
    "paper4": "g is small near the ends: a knot at 0.5 costs 9× less than one at 1.5 (g = 0.03125 vs 0.2795).",
    "steps": "A jump needs curvature between the middle points, where g is largest: the bound limits how sharp it can be.",
    "bump": "Knot lines through the middle of the disc carry the norm; lines near the rim are almost free.",
    "digits": "High-dimensional data: only the norm against the bound and λmax against 2/η are shown.",
    "noisy_line": "Noise forces kinks; larger steps spread them out.",
    "saddle": "A saddle needs crossing knot lines.",
    "table": "Your points (edit the table; not part of the link).",
}
URL = {"bind": "query-params"}


@st.cache_resource(show_spinner=False)
def _cache() -> report.SweepCache:
    """Sweeps by settings for all sessions (LRU). Not st.cache_data: the progress bar inside is an element."""
    return report.SweepCache(32)


def sweep(data, n, dseed, width, etas, seeds, steps, init, points, progress=None) -> tuple[rs.Sweep, str]:
    def run() -> tuple[rs.Sweep, str]:
        ds = dataset_for(data, n, dseed, points)
        kw = {"max_steps": steps, "init_scale": init, "progress": progress}
        return rs.sweep_step_sizes(ds.x, ds.y, width, etas, range(seeds), **kw), ds.note

    return _cache().get_or_compute((data, n, dseed, width, etas, seeds, steps, init, points), run)


_ui.intro(
    "relu_smoothness", "Train the same net with several step sizes and watch the learned function flatten."
)
_ui.sanitize_url(
    {
        "relu.preset": _ui.one_of(PRESETS),
        "relu.data": _ui.one_of(DATA),
        "relu.n": _ui.number_in(3, 40, integer=True),
        "relu.width": _ui.one_of(WIDTHS),
        "relu.etas": _ui.one_of(ETA_GRID),
        "relu.seeds": _ui.number_in(1, 5, integer=True),
        "relu.eta": _ui.one_of(ETA_GRID),
        "relu.seed": _ui.number_in(0, 4, integer=True),
        "relu.steps": _ui.one_of(STEPS),
        "relu.init": _ui.number_in(0.5, 4.0),
        "relu.dseed": _ui.number_in(0, 10_000, integer=True),
    }
)
with st.sidebar:
    preset = _ui.preset_selector(
        "relu.preset", PRESETS, help="Curated starting points; each sets the controls."
    )
    # Each widget's default is the preset's value: a value equal to it is dropped from the link by
    # Streamlit, and a reload of the link then restores it from the preset (never a stale default).
    pv = PRESETS[preset]
    data = st.selectbox(
        "Data",
        DATA,
        DATA.index(pv["relu.data"]),
        key="relu.data",
        help="; ".join(f"{k}: {v}" for k, v in LABELS.items()),
        **URL,
    )
    st.caption(f"**{LABELS.get(data, 'your points (edit the table)')}.** What to notice: {NOTICE[data]}")
    n = st.slider("Points n", 3, 40, pv["relu.n"], key="relu.n", disabled=data in ("paper4", "table"), **URL)
    width = st.select_slider("Width K (hidden units)", WIDTHS, pv["relu.width"], key="relu.width", **URL)
    etas = sorted(
        st.multiselect("Step sizes η to sweep", ETA_GRID, pv["relu.etas"], key="relu.etas", **URL)
    ) or [0.5]
    seeds = st.slider("Seeds per step size", 1, 5, pv["relu.seeds"], key="relu.seeds", **URL)
    with st.expander("Advanced"):
        steps = st.select_slider("GD step budget", STEPS, 8000, key="relu.steps", **URL)
        init = st.slider("Output-layer init scale", 0.5, 4.0, 2.0, step=0.5, key="relu.init", **URL)
        dseed = st.number_input("Data seed", 0, 10_000, 0, key="relu.dseed", **URL)

points = None
if data == "table":
    default = rs.make_dataset("wave", 6)
    table = st.data_editor(
        pd.DataFrame({"x": default.x[:, 0].round(3), "y": default.y.round(3)}),
        num_rows="dynamic", key="relu.table", width=360,
    )  # fmt: skip
    parsed = _ui.guarded(rs.parse_points, table)
    if parsed is None:
        st.stop()
    points = (tuple(parsed.x[:, 0]), tuple(parsed.y))

bar = st.empty()
with _ui.timed(f"Training {len(etas) * seeds} networks by full-batch GD…"):
    prog = bar.progress(0.0, text="Starting…")
    res = _ui.guarded(sweep, data, int(n), int(dseed), int(width), tuple(etas), int(seeds), int(steps), float(init), points,
                      progress=lambda f, msg: prog.progress(min(f, 1.0), text=msg))  # fmt: skip
bar.empty()
if res is None:
    st.stop()
sw, note = res
# keep the inspected eta valid for this sweep; a value from the link (not yet in the state) counts
want_eta = float(st.session_state.get("relu.eta", st.query_params.get("relu.eta", pv["relu.eta"])))
if want_eta not in etas or "relu.eta" in st.session_state and st.session_state["relu.eta"] not in etas:
    st.session_state["relu.eta"] = min(etas, key=lambda e: abs(e - want_eta))
eta_default = pv["relu.eta"] if pv["relu.eta"] in etas else etas[0]
eta = st.select_slider("Step size η to inspect", etas, eta_default, key="relu.eta", **URL)
want_seed = int(st.session_state.get("relu.seed", st.query_params.get("relu.seed", 0)))
if want_seed >= seeds:
    st.session_state["relu.seed"] = seeds - 1
seed = st.slider("Seed to inspect", 0, seeds - 1, key="relu.seed", **URL) if seeds > 1 else 0
run = report.find_run(sw, eta, seed)
st.session_state["relu.status"] = run.status

worst, tr = sw.worst_ratio(), report.trend(sw)
verdict = {
    "interpolated": f"interpolated and stayed (λmax = {run.lambda_max:.3f} "
    f"{'≤' if run.lambda_max <= 2 / eta else '>'} 2/η = {2 / eta:.3f})",
    "unstable": f"**reached zero loss at a minimum it cannot stay at** (λmax = {run.lambda_max:.3f} > 2/η)",
    "diverged": "**diverged** (the loss blew up: no minimum is stable at this step size from this start)",
    "dead": "**collapsed to a dead network**: no kink left inside the data, so it cannot interpolate",
    "not converged": f"**had not interpolated** after {run.steps:,} steps (loss {run.loss:.2e}"
    + (", stalled: < 2 % progress in 1,500 steps)" if run.steps < steps else ", step budget used up)"),
}[run.status]
st.markdown(f"**At η = {eta:g} (seed {seed}) GD {verdict}.** {report.status_sentence(sw)}")
c = st.columns(4)
c[0].metric("Norm Σ|v|‖w‖g (measured)", f"{run.norm:.4f}" if run.params else "—")
c[1].metric("Bound 1/η − 1/2 (theory)", f"{run.bound:.4f}")
c[2].metric("norm / bound", f"{run.norm / run.bound:.3f}" if run.params and run.bound > 0 else "—")
c[3].metric("Worst ratio, all stable runs", f"{worst:.3f}" if worst == worst else "—",
            help="Largest norm / (1/η − 1/2) over every run that interpolated; the theorem says ≤ 1.")  # fmt: skip

x, y = sw.x, sw.y
if data in ONE_D or data == "table":
    k, title = report.knots(run, x), f"{note}; width {width}, seed {seed}"
    _ui.plotly(make_fits_figure(x, y, report.curves_1d(sw, seed), k, eta, title=title), key="relu.fits")
    top = k["t"][k["height"].argmax()] if k["height"].size and k["height"].max() > 0 else float("nan")
    st.caption(
        f"At η = {eta:g} the fit has {int((k['height'] > 0).sum())} weighted knots inside the data (largest "
        f"|v|‖w‖·g at x = {top:.2f}); their spike heights sum to the norm {run.norm:.4f}. g vanishes outside the data "
        "and is small near its ends, where kinks are almost free."
    )
elif data in TWO_D and run.params is not None:
    surf = report.surface_2d(run.params, x)
    box = (surf["gx"][0], surf["gx"][-1], surf["gy"][0], surf["gy"][-1])
    segs = report.knot_segments_2d(run, x, box)
    _ui.plotly(
        make_surface_figure(x, y, surf, segs, title=f"Fitted surface at η = {eta:g}, seed {seed} ({note})"),
        key="relu.surface",
    )
    st.caption(
        f"{len(segs)} knot lines cross the view; the widest carries |v|‖w‖·g = {max([s['height'] for s in segs], default=0):.4f}."
    )

_ui.plotly(
    make_bound_figure(sw.table(), eta, title=f"{len(sw.runs)} runs: {len(etas)} step sizes × {seeds} seeds"),
    key="relu.bound",
)
ok = [r for r in sw.runs if r.stable_interpolating]
under = sum(r.norm <= r.bound for r in ok)
st.caption(
    (
        f"{under} of the {len(ok)} stable interpolating runs lie under the bound (worst norm/bound = {worst:.3f}). "
        f"Median norm {tr['first']:.4f} at η = {tr['eta_first']:g} → {tr['last']:.4f} at η = {tr['eta_last']:g} "
        f"(Spearman ρ(η, norm) = {tr['spearman']:.2f}). "
        if ok
        else "No run reached a stable interpolating minimum, so the bound has nothing to check here. "
    )
    + "The theorem's chain: λmax ≥ 1 + 2·norm, so λmax ≤ 2/η forces norm ≤ 1/η − 1/2."
)
with st.expander("Training loss per step size"):
    hist = {r.eta: (r.losses, r.status) for r in report.runs_for_seed(sw, seed)}
    _ui.plotly(make_loss_figure(hist, 10, title=f"Full-batch GD, seed {seed}"), key="relu.loss")
st.caption(
    f"{len(sw.runs)} trainings batched as one tensor computation in {sw.seconds:.2f} s on {sw.device} (cached afterwards)."
)

_ui.math_expander(
    [
        r"f_\theta(x)=\textstyle\sum_{k=1}^K v_k\,\sigma(w_k^\top x+b_k)+c,\qquad L=\frac1{2n}\sum_i (f_\theta(x_i)-y_i)^2",
        r"\tilde g(u,t)=P(u^\top X>t)^2\;\mathbb E[u^\top X-t\mid u^\top X>t]\;\sqrt{1+\|\mathbb E[X\mid u^\top X>t]\|^2},"
        r"\quad g(u,t)=\min\{\tilde g(u,t),\tilde g(-u,-t)\}",
        r"\lambda_{\max}(\nabla^2L)\ \ge\ \Big\|\tfrac1n\textstyle\sum_i\nabla_\theta f(x_i)\Big\|^2\ \ge\ 1+2\sum_k|v_k|\,\|w_k\|\,\tilde g(\hat u_k,\hat t_k)",
        r"\lambda_{\max}\le\frac2\eta\ \Longrightarrow\ \sum_k |v_k|\,\|w_k\|\,g\Big(\frac{w_k}{\|w_k\|},-\frac{b_k}{\|w_k\|}\Big)\le\frac1\eta-\frac12",
        r"d=1:\quad \int |f''(x)|\,g(x)\,dx\ \le\ \frac1\eta-\frac12",
    ],
    "X is uniform over the training inputs; the sum runs over the reduced form (neurons sharing a hyperplane "
    "merged; hyperplanes missing the data hull get g = 0). The output bias c contributes the 1, hence the −1/2. "
    "A run counts as a stable interpolating minimum when its loss fell below 1e-7 and stayed there for 200 more "
    "GD steps; λmax is the Gauss–Newton matrix's (the Hessian at interpolation), exact via the n × n Gram matrix.",
    key="relu.math",
)
with _ui.lazy_expander("Reproduce in Python", "relu.code") as exp:
    if exp.open:
        st.code(report.reproduce_snippet(data, int(n), int(width), etas, range(seeds), max_steps=int(steps),
                                         init_scale=float(init), data_seed=int(dseed), points=points), language="python")  # fmt: skip
d1, d2 = st.columns(2)
with d1:
    _ui.download_csv(
        "Download the sweep (CSV)", pd.DataFrame(sw.table()), f"relu_smoothness_{data}.csv", key="relu.csv"
    )
with d2:
    state = {
        k: st.session_state.get(k)
        for k in ("relu.preset", *_F, "relu.seed", "relu.steps", "relu.init", "relu.dseed")
    }
    _ui.download_json(
        "Download the state (JSON)",
        {**state, "worst_ratio": worst},
        "relu_smoothness_state.json",
        key="relu.json",
    )

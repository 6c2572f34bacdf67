"""Figures for the flat-minima page: pure builders, state in, ``go.Figure`` out.

Colours (Okabe-Ito): one colour per init (blue ResNet, sky small random, orange large random); theory as
black/grey lines; the GD threshold ``2/eta`` in vermillion with the unreachable region shaded; converged vs
unsettled runs in the house stable/unstable colours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlsa_core.viz.stability import BLUE, GREY, ORANGE, SKY, STABLE, UNSTABLE, _log_ticks
from dlsa_core.viz.theme import plotly_white

INIT_COLOURS = {"resnet": BLUE, "small": SKY, "large": ORANGE}
INIT_NAMES = {"resnet": "zero-init ResNet", "small": "small random", "large": "large random"}
THEORY = "#000000"

_LAYOUT = dict(
    margin=dict(l=70, r=20, t=70, b=60),
    legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0, font=dict(size=12)),
    font=dict(size=13),
)


def _hline(fig, y, text, colour, dash="dash", row=None, col=None, position="top left"):
    kw = {} if row is None else dict(row=row, col=col)
    fig.add_hline(
        y=y, line=dict(color=colour, dash=dash, width=2), annotation_text=text,
        annotation_position=position, annotation_font=dict(color=colour, size=12), **kw,
    )  # fmt: skip


def _line(fig, x, y, name, colour, dash="dash", **kw):
    """A theory line as a named trace (legend entry, hover): shapes' annotations misplace on log axes."""
    fig.add_trace(
        go.Scatter(x=x, y=y, mode="lines", name=name, line=dict(color=colour, dash=dash, width=2), **kw)
    )


def _log_axis(values, *, pad: float = 1.15) -> dict:
    """Range and readable 1-2-5 ticks for a log axis covering ``values``."""
    v = np.asarray([x for x in np.ravel(values) if np.isfinite(x) and x > 0], float)
    lo, hi = float(v.min()) / pad, float(v.max()) * pad
    ticks = _log_ticks(lo, hi)
    if len(ticks) < 3 or (hi / lo < 4 and ticks[-1] < hi / 1.4):  # short range: round linear steps
        step = 10 ** np.floor(np.log10((hi - lo) / 5))
        step *= next(m for m in (1, 2, 2.5, 5, 10) if (hi - lo) / (m * step) <= 6)
        ticks = [float(f"{t:.6g}") for t in np.arange(np.ceil(lo / step) * step, hi, step)]
    return dict(
        type="log", range=[np.log10(lo), np.log10(hi)], tickvals=ticks, ticktext=[f"{t:g}" for t in ticks]
    )


def make_training_figure(
    runs: Mapping, minimal: float, eta: float, *, minimal_label: str | None = None
) -> go.Figure:
    """Three panels over GD steps (log axis): sharpness, loss, balancedness residual, one line per init.

    Parameters
    ----------
    runs : mapping init -> TrainResult (``steps``, ``sharpness``, ``loss``, ``balance``).
    minimal : float
        The reference sharpness drawn as a line (whitened closed form, or the non-whitened bound).
    eta : float
        Step size; ``2/eta`` is drawn when it lies within twice the largest plotted sharpness.
    """
    fig = make_subplots(
        rows=1, cols=3, horizontal_spacing=0.08,
        subplot_titles=("Sharpness λmax(∇²L)", "Loss L (log)", "Imbalance ‖WₖWₖᵀ − Wₖ₊₁ᵀWₖ₊₁‖"),
    )  # fmt: skip
    top = 0.0
    for key, r in runs.items():
        x = np.maximum(np.asarray(r.steps, float), 0.5)  # step 0 at 0.5 on the log axis
        c, name = INIT_COLOURS.get(key, GREY), INIT_NAMES.get(key, key)
        common = dict(mode="lines+markers", marker=dict(size=5), line=dict(color=c, width=2), legendgroup=key)
        fig.add_trace(go.Scatter(x=x, y=r.sharpness, name=name, **common), 1, 1)
        fig.add_trace(
            go.Scatter(x=x, y=np.maximum(r.loss, 1e-32), name=name, showlegend=False, **common), 1, 2
        )
        fig.add_trace(
            go.Scatter(x=x, y=np.maximum(r.balance, 1e-16), name=name, showlegend=False, **common), 1, 3
        )
        finite = np.asarray(r.sharpness)[np.isfinite(r.sharpness)]
        top = max(top, float(finite.max()) if finite.size else 0.0)
    span = [0.5, max(float(np.max(r.steps)) for r in runs.values())]
    fig.add_trace(
        go.Scatter(x=span, y=[minimal] * 2, mode="lines", line=dict(color=THEORY, dash="dash", width=2),
                   name=minimal_label or f"minimal N·σ₁^(2(N−1)/N) = {minimal:.4g}"), 1, 1,
    )  # fmt: skip
    if 2 / eta <= 2 * max(top, minimal):
        fig.add_trace(
            go.Scatter(x=span, y=[2 / eta] * 2, mode="lines", line=dict(color=UNSTABLE, dash="dot", width=2),
                       name=f"2/η = {2 / eta:.4g}"), 1, 1,
        )  # fmt: skip
    fig.update_xaxes(type="log", title_text="GD step")
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=2)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=3)
    plotly_white(fig).update_layout(**_LAYOUT, height=400, uirevision="flat.train")
    return fig


def make_gains_figure(gains: Mapping, *, title: str = "Per-layer gain along the top path") -> go.Figure:
    """Grouped bars of ``a_k / a_(k-1)`` per layer and init; the balanced value as a line."""
    fig = go.Figure()
    balanced = None
    for key, g in gains.items():
        n = len(g.ratios)
        fig.add_trace(
            go.Bar(
                x=[f"layer {k + 1}" for k in range(n)], y=g.ratios, name=INIT_NAMES.get(key, key),
                marker_color=INIT_COLOURS.get(key, GREY),
                hovertemplate="%{x}: a_k/a_(k−1) = %{y:.4f}<extra>" + INIT_NAMES.get(key, key) + "</extra>",
            )
        )  # fmt: skip
        balanced = g.balanced
    if balanced is not None:
        _hline(fig, balanced, f"balanced (s/a₀)^(1/N) = {balanced:.4g}", THEORY, position="top right")
    plotly_white(fig).update_layout(
        **_LAYOUT, barmode="group", height=380, title=title, yaxis_title="a_k / a_(k−1)"
    )
    return fig


def make_coupling_figure(couplings: Mapping) -> go.Figure:
    """Heatmaps ``|<u_i(W_k), v_j(W_(k+1))>|``: one row per init, one column per pair of consecutive layers."""
    keys = list(couplings)
    pairs = len(couplings[keys[0]].overlaps)
    fig = make_subplots(
        rows=len(keys), cols=pairs, horizontal_spacing=0.06, vertical_spacing=0.12,
        subplot_titles=[
            f"{INIT_NAMES.get(k, k)}: W{j + 1} → W{j + 2} (top {couplings[k].top[j]:.4f})"
            for k in keys for j in range(pairs)
        ],
    )  # fmt: skip
    for r, key in enumerate(keys):
        for j, o in enumerate(couplings[key].overlaps):
            idx = np.arange(1, o.shape[0] + 1)
            fig.add_trace(
                go.Heatmap(
                    z=o, x=idx, y=idx, zmin=0, zmax=1, colorscale="Viridis", showscale=(r == 0 and j == 0),
                    colorbar=dict(title="|⟨u,v⟩|", len=0.8), xgap=1, ygap=1,
                    hovertemplate="u_%{y}(W_k) · v_%{x}(W_k+1): %{z:.4f}<extra></extra>",
                ),
                r + 1, j + 1,
            )  # fmt: skip
    fig.update_yaxes(autorange="reversed", title_text="i (left sv of Wₖ)", col=1, dtick=1)
    fig.update_yaxes(autorange="reversed", dtick=1)
    fig.update_xaxes(dtick=1)
    fig.update_xaxes(title_text="j (right sv of Wₖ₊₁)", row=len(keys))
    fig.update_annotations(font_size=12)
    plotly_white(fig).update_layout(
        **{**_LAYOUT, "margin": dict(l=70, r=20, t=50, b=50)}, height=220 * len(keys) + 60
    )
    return fig


def make_rebalance_figure(
    cs: Sequence[float],
    values: Sequence[float],
    c: float,
    value: float,
    minimal: float,
    eta: float,
    layer: int,
) -> go.Figure:
    """``lambda_max`` along the rescaling ``W_layer * c``, ``W_(layer+1) / c`` (same function), log-log."""
    cs, values = np.asarray(cs, float), np.asarray(values, float)
    gd = 2 / eta
    yaxis = _log_axis([minimal * 0.9, values.max(), min(gd, values.max() * 3)])
    top = 10 ** yaxis["range"][1]
    fig = go.Figure()
    ends = [cs[0], cs[-1]]
    if gd < top:
        fig.add_trace(
            go.Scatter(
                x=[cs[0], cs[-1], cs[-1], cs[0]], y=[gd, gd, top, top], fill="toself", mode="none",
                fillcolor="rgba(213,94,0,0.10)", name="λmax > 2/η: GD cannot stay", hoverinfo="skip",
            )
        )  # fmt: skip
        _line(fig, ends, [gd, gd], f"2/η = {gd:.4g}", UNSTABLE, dash="dot")
    _line(fig, ends, [minimal, minimal], f"theory: minimal λmax = {minimal:.4g}", THEORY)
    fig.add_trace(
        go.Scatter(
            x=cs, y=values, mode="lines", line=dict(color=BLUE, width=3), name="λmax of the rescaled minimum"
        )
    )
    stable = value <= gd
    fig.add_trace(
        go.Scatter(
            x=[c], y=[value], mode="markers", name=f"c = {c:.3g}: λmax = {value:.4g}",
            marker=dict(size=14, color=STABLE if stable else UNSTABLE, symbol="circle" if stable else "x",
                        line=dict(width=1, color="white")),
        )
    )  # fmt: skip
    ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8) if cs[0] <= t <= cs[-1]]
    labels = [f"1/{round(1 / t)}" if t < 1 else f"{t:g}" for t in ticks]
    fig.update_xaxes(
        type="log", tickvals=ticks, ticktext=labels,
        title_text=f"c  (W{layer} ← c·W{layer},  W{layer + 1} ← W{layer + 1}/c: same product, same loss)",
    )  # fmt: skip
    fig.update_yaxes(title_text="λmax", **yaxis)
    plotly_white(fig).update_layout(
        **{**_LAYOUT, "margin": dict(l=70, r=20, t=20, b=60)}, height=400, uirevision="flat.rebalance"
    )
    return fig


def make_sweep_figure(sweep: Mapping, eta: float | None = None) -> go.Figure:
    """Final sharpness of GD vs step size (log-log) against the ceiling ``2/eta`` and the minimum."""
    etas = np.asarray(sweep["eta"], float)
    sharp = np.asarray(sweep["sharpness"], float)
    ok = np.asarray(sweep["converged"], bool) & np.isfinite(sharp)
    m = float(sweep["minimal"])
    lo, hi = etas[0] / 1.15, etas[-1] * 1.15
    if eta is not None:
        lo, hi = min(lo, eta / 1.15), max(hi, eta * 1.15)
    fine = np.geomspace(lo, hi, 200)
    yaxis = _log_axis([m * 0.85, *(sharp[ok] if ok.any() else [m]), m * 1.2], pad=1.2)
    top = 10 ** yaxis["range"][1]
    fig = go.Figure()
    ceiling = np.minimum(2 / fine, top)
    fig.add_trace(
        go.Scatter(
            x=np.concatenate([fine, fine[::-1]]), y=np.concatenate([ceiling, np.full_like(fine, top)]),
            fill="toself", mode="none", fillcolor="rgba(213,94,0,0.10)", hoverinfo="skip",
            name="λmax > 2/η: unreachable for GD",
        )
    )  # fmt: skip
    _line(fig, fine, 2 / fine, "2/η (GD's ceiling)", UNSTABLE, dash="dot")
    _line(fig, [lo, hi], [m, m], f"theory: minimal λmax = {m:.4g}", THEORY)
    _line(
        fig, [2 / m, 2 / m], [10 ** yaxis["range"][0], top], f"η = 2/minimal = {2 / m:.3g}", GREY, dash="dash"
    )
    init = INIT_NAMES.get(sweep["init"], sweep["init"])
    fig.add_trace(
        go.Scatter(x=etas[ok], y=sharp[ok], mode="markers+lines", name=f"GD from {init}: λmax at the end",
                   marker=dict(size=10, color=STABLE), line=dict(color=STABLE, width=1))
    )  # fmt: skip
    if (~ok).any():
        fig.add_trace(
            go.Scatter(x=etas[~ok], y=np.full((~ok).sum(), top / 1.1), mode="markers",
                       name="did not settle (diverged or oscillating)", marker=dict(size=12, color=UNSTABLE, symbol="x"))
        )  # fmt: skip
    if eta is not None:
        _line(fig, [eta, eta], [10 ** yaxis["range"][0], top], f"your η = {eta:g}", BLUE, dash="solid")
    xt = _log_ticks(lo, hi)
    fig.update_xaxes(type="log", title_text="step size η", tickvals=xt, ticktext=[f"{t:g}" for t in xt],
                     range=[np.log10(lo), np.log10(hi)])  # fmt: skip
    fig.update_yaxes(title_text="λmax at the end", **yaxis)
    plotly_white(fig).update_layout(
        **_LAYOUT, height=440, title="Which minimum GD settles in", uirevision="flat.sweep"
    )
    return fig

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

from dlsa_core.viz.stability import BLUE, GREY, ORANGE, SKY, STABLE, UNSTABLE

INIT_COLOURS = {"resnet": BLUE, "small": SKY, "large": ORANGE}
INIT_NAMES = {"resnet": "zero-init ResNet", "small": "small random", "large": "large random"}
THEORY = "#000000"

_LAYOUT = dict(
    template="plotly_white",
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
        subplot_titles=("Sharpness λmax(∇²L)", "Loss L (log)", "Imbalance max‖WₖWₖᵀ − Wₖ₊₁ᵀWₖ₊₁‖"),
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
    _hline(fig, minimal, minimal_label or f"minimal N·σ₁^(2(N−1)/N) = {minimal:.4g}", THEORY, row=1, col=1,
           position="bottom right")  # fmt: skip
    if 2 / eta <= 2 * max(top, minimal):
        _hline(fig, 2 / eta, f"2/η = {2 / eta:.4g}", UNSTABLE, dash="dot", row=1, col=1)
    fig.update_xaxes(type="log", title_text="GD step")
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=2)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=3)
    fig.update_layout(**_LAYOUT, height=400, uirevision="flat.train")
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
    fig.update_layout(**_LAYOUT, barmode="group", height=380, title=title, yaxis_title="a_k / a_(k−1)")
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
    fig.update_layout(**{**_LAYOUT, "margin": dict(l=70, r=20, t=50, b=50)}, height=220 * len(keys) + 60)
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
    fig = go.Figure()
    gd = 2 / eta
    ymax = max(float(values.max()), gd) * 1.3
    if gd < ymax:
        fig.add_trace(
            go.Scatter(
                x=[cs[0], cs[-1], cs[-1], cs[0]], y=[gd, gd, ymax, ymax], fill="toself", mode="none",
                fillcolor="rgba(213,94,0,0.10)", name="λmax > 2/η: GD cannot stay", hoverinfo="skip",
            )
        )  # fmt: skip
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
    _hline(fig, minimal, f"minimal = {minimal:.4g}", THEORY, position="bottom right")
    _hline(fig, gd, f"2/η = {gd:.4g}", UNSTABLE, dash="dot", position="top left")
    fig.update_xaxes(type="log", title_text=f"c  (W{layer} ← c·W{layer},  W{layer + 1} ← W{layer + 1}/c)")
    fig.update_yaxes(type="log", title_text="λmax", range=[np.log10(minimal * 0.8), np.log10(ymax)])
    fig.update_layout(
        **_LAYOUT, height=400, title="Same function, other minimum", uirevision="flat.rebalance"
    )
    return fig


def make_sweep_figure(sweep: Mapping, eta: float | None = None) -> go.Figure:
    """Final sharpness of GD vs step size (log-log) against the ceiling ``2/eta`` and the minimum."""
    etas = np.asarray(sweep["eta"], float)
    sharp = np.asarray(sweep["sharpness"], float)
    ok = np.asarray(sweep["converged"], bool) & np.isfinite(sharp)
    m = float(sweep["minimal"])
    fine = np.geomspace(etas[0], etas[-1], 200)
    top = max(float(np.nanmax(sharp)) if ok.any() else m, m) * 1.5
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=np.concatenate([fine, fine[::-1]]), y=np.concatenate([2 / fine, np.full_like(fine, 1e6)]),
            fill="toself", mode="none", fillcolor="rgba(213,94,0,0.10)", hoverinfo="skip",
            name="λmax > 2/η: unreachable for GD",
        )
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=fine, y=2 / fine, mode="lines", line=dict(color=UNSTABLE, dash="dot", width=2), name="2/η"
        )
    )
    fig.add_trace(
        go.Scatter(x=etas[ok], y=sharp[ok], mode="markers+lines", name=f"GD from {INIT_NAMES.get(sweep['init'], sweep['init'])}: λmax at the end",
                   marker=dict(size=10, color=STABLE), line=dict(color=STABLE, width=1))
    )  # fmt: skip
    if (~ok).any():
        fig.add_trace(
            go.Scatter(x=etas[~ok], y=np.full((~ok).sum(), top / 1.15), mode="markers", name="did not settle (diverged or oscillating)",
                       marker=dict(size=12, color=UNSTABLE, symbol="x"))
        )  # fmt: skip
    _hline(fig, m, f"minimal = {m:.4g}", THEORY, position="bottom left")
    fig.add_vline(x=2 / m, line=dict(color=GREY, dash="dash"), annotation_text=f"2/minimal = {2 / m:.3g}",
                  annotation_position="top left")  # fmt: skip
    if eta is not None:
        fig.add_vline(
            x=eta,
            line=dict(color=BLUE, width=1),
            annotation_text="your η",
            annotation_position="bottom right",
        )
    fig.update_xaxes(type="log", title_text="step size η")
    fig.update_yaxes(type="log", title_text="λmax at the end", range=[np.log10(m * 0.7), np.log10(top)])
    fig.update_layout(**_LAYOUT, height=420, title="Which minimum GD settles in", uirevision="flat.sweep")
    return fig

"""Figures for the Langevin / Hessian-rank page: pure builders, state in, ``go.Figure`` out.

Theory as lines, measurements as markers and bands (Okabe-Ito colours, shared with the stability page).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from dlsa_core.viz.stability import BLUE, GREY, ORANGE, PURPLE, SKY, STABLE, UNSTABLE
from dlsa_core.viz.theme import plotly_white

_LAYOUT = dict(
    margin=dict(l=70, r=20, t=60, b=60),
    legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0, font=dict(size=12)),
    font=dict(size=13),
    height=430,
)
KIND_COLOURS = {"identity": UNSTABLE, "adam": ORANGE, "riemannian": STABLE, "custom": PURPLE}


def _thin(n: int, keep: int = 400) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, keep)).round().astype(int))


def make_playground_figure(rep: Mapping, *, title: str) -> go.Figure:
    """Closed-form ``E[L_t] - L*`` (line) vs the Monte Carlo mean (markers, ±2 SE band), with the levels."""
    t, idx = np.asarray(rep["t"]), _thin(len(rep["t"]))
    mean, se = np.asarray(rep["mc_mean"])[idx], np.asarray(rep["mc_se"])[idx]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=np.concatenate([t[idx], t[idx][::-1]]),
            y=np.concatenate([mean + 2 * se, (mean - 2 * se)[::-1]]),
            fill="toself",
            fillcolor="rgba(86,180,233,0.25)",
            line=dict(width=0),
            name="Monte Carlo ±2 SE",
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(x=t[idx], y=mean, mode="markers", marker=dict(size=4, color=SKY), name="Monte Carlo mean")
    )
    fig.add_trace(
        go.Scatter(x=t, y=rep["theory"], mode="lines", line=dict(color=BLUE, width=2.5), name="closed form")
    )
    same = abs(rep["level_discrete"] / rep["rank_level"] - 1) < 1e-6
    fig.add_hline(
        y=rep["level_discrete"],
        line=dict(color=GREY, dash="dot"),
        annotation_text="" if same else "closed-form stationary level",
        annotation_position="bottom right",
    )
    fig.add_hline(
        y=rep["rank_level"],
        line=dict(color=STABLE, dash="dash", width=2),
        annotation_text="c·rank/4" + (" = stationary level" if same else ""),
        annotation_position="bottom right" if same else "top right",
    )
    plotly_white(fig).update_layout(
        **_LAYOUT, title=title, xaxis_title="iteration t", yaxis_title="E[L(θ_t)] − L*"
    )
    return fig


def make_spread_figure(
    rep: Mapping, *, matched: bool, current: float, labels: Mapping[str, str]
) -> go.Figure:
    """Stationary level vs the spread of the Hessian's spectrum, one line per preconditioner (log y)."""
    fig = go.Figure()
    for family in ("own", "matched"):
        on = (family == "matched") == matched
        for kind, label in labels.items():
            fig.add_trace(
                go.Scatter(
                    x=rep["spread"],
                    y=rep[family][kind],
                    mode="lines+markers" if on else "lines",
                    marker=dict(size=6),
                    line=dict(
                        color=KIND_COLOURS[kind], width=2.5 if on else 1.2, dash="solid" if on else "dot"
                    ),
                    opacity=1.0 if on else 0.45,
                    name=label if on else f"{label} ({'own noise' if matched else 'D = cP'})",
                    showlegend=on,
                )
            )
    fig.add_hline(y=rep["rank_level"], line=dict(color=GREY, dash="dash"))
    # annotations on a log axis take log10 coordinates (add_hline's annotation would not)
    fig.add_annotation(
        x=0.01,
        xref="paper",
        y=np.log10(rep["rank_level"]),
        text="c·rank/4",
        showarrow=False,
        yshift=10,
        xanchor="left",
    )
    fig.add_vline(
        x=current, line=dict(color=GREY, width=1), annotation_text="current", annotation_position="top"
    )
    noise = (
        "matched noise D = cP (faint: own noise)" if matched else "own gradient noise Σ = cH (faint: D = cP)"
    )
    plotly_white(fig).update_layout(
        **_LAYOUT,
        title=f"Stationary excess loss vs spectrum spread — {noise}",
        xaxis_title="decades between the largest and smallest non-zero eigenvalue of H",
        yaxis=dict(title="E[L∞] − L*", type="log", dtick=1, exponentformat="power"),
    )
    return fig


def make_regime_figure(rep: Mapping, *, current: float | None = None) -> go.Figure:
    """SGD-like vs Adam-like stationary level over the noise scale, with the closed-form crossing ``c*``."""
    c, star = np.asarray(rep["noise"]), float(rep["boundary"])
    fig = go.Figure()
    fig.add_vrect(x0=star, x1=c.max(), fillcolor="rgba(230,159,0,0.10)", line_width=0)
    fig.add_trace(
        go.Scatter(
            x=c, y=rep["sgd"], mode="lines", line=dict(color=UNSTABLE, width=2.5), name="SGD-like: c·tr(H)/4"
        )
    )
    fig.add_trace(
        go.Scatter(
            x=c,
            y=rep["adam"],
            mode="lines",
            line=dict(color=ORANGE, width=2.5),
            name="Adam-like: √c·Σ√H_jj/4",
        )
    )
    fig.add_vline(x=star, line=dict(color=GREY, dash="dash"))
    marks = [(star, f"c* = {star:.3g}", GREY)] + (
        [(current, "current c", BLUE)] if current is not None else []
    )
    for x, text, colour in marks:  # log axis: annotation x in log10 units
        fig.add_annotation(
            x=np.log10(x), y=1.0, yref="paper", text=text, showarrow=False, font=dict(color=colour), yshift=8
        )
    if current is not None:
        fig.add_vline(x=current, line=dict(color=BLUE, width=1))
    plotly_white(fig).update_layout(
        **_LAYOUT,
        title="Which preconditioner sits lower? (shaded: Adam-like)",
        xaxis=dict(
            title="gradient-noise scale c  (Σ = cH)",
            type="log",
            dtick=1,
            exponentformat="power",
            range=np.log10([c.min(), c.max()]).tolist(),
        ),
        yaxis=dict(title="E[L∞] − L*", type="log", dtick=1, exponentformat="power"),
    )
    return fig


def make_rank_trace_figure(run, *, title: str | None = None) -> go.Figure:
    """Loss increase over iterations (run 1, mean of runs) with the transient closed form and ``c·rank/4``.

    A second y axis reads the same quantity in rank units, ``4 (L - L_0) / c``.
    """
    it, c, true = np.asarray(run.iterations), run.noise, run.true_rank
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=it, y=run.excess_first, mode="lines", line=dict(color=SKY, width=1), name="run 1")
    )
    fig.add_trace(
        go.Scatter(
            x=it,
            y=run.excess_mean,
            mode="lines",
            line=dict(color=BLUE, width=2),
            name=f"mean of {run.runs} runs",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=it,
            y=run.theory,
            mode="lines",
            line=dict(color="black", width=2, dash="dash"),
            name="closed form (transient)",
        )
    )
    fig.add_hline(
        y=c * true / 4,
        line=dict(color=STABLE, width=2),
        annotation_text=f"c·rank/4 (rank {true})",
        annotation_position="top right",
    )
    if run.burn_in > 0:
        fig.add_vrect(
            x0=0,
            x1=run.burn_in,
            fillcolor="rgba(0,0,0,0.06)",
            line_width=0,
            annotation_text="burn-in",
            annotation_position="top left",
        )
    top = max(float(np.max(run.excess_first)), c * true / 4) * 1.08
    plotly_white(fig).update_layout(
        **_LAYOUT,
        title=title or f"Loss increase of Langevin dynamics from a minimum (d = {run.width})",
        xaxis_title="iteration",
        yaxis=dict(title="L(θ_t) − L(θ_0)", range=[0, top], exponentformat="power"),
        yaxis2=dict(
            title="rank units 4(L − L₀)/c",
            overlaying="y",
            side="right",
            range=[0, 4 * top / c],
            showgrid=False,
        ),
    )
    fig.update_layout(margin=dict(l=70, r=80, t=60, b=60))
    fig.add_trace(
        go.Scatter(
            x=[it[0]],
            y=[0],
            yaxis="y2",
            showlegend=False,
            hoverinfo="skip",
            mode="markers",
            marker=dict(opacity=0),
        )
    )
    return fig


def make_rank_comparison_figure(rows: Sequence[Mapping]) -> go.Figure:
    """Estimated vs true rank over widths (log-log), Langevin with ±2 SE, the baseline, and the diagonal."""
    true = np.array([r["true"] for r in rows], float)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=true, y=true, mode="lines", line=dict(color=GREY, dash="dash"), name="exact rank d²")
    )
    fig.add_trace(
        go.Scatter(
            x=true,
            y=[r["langevin"] for r in rows],
            error_y=dict(type="data", array=[2 * r["langevin_se"] for r in rows]),
            mode="markers",
            marker=dict(size=10, color=BLUE),
            name="Langevin (ours)",
        )
    )
    if any(r.get("baseline") is not None for r in rows):
        fig.add_trace(
            go.Scatter(
                x=true,
                y=[r.get("baseline") for r in rows],
                mode="markers",
                marker=dict(size=10, color=ORANGE, symbol="diamond"),
                name="Ubaru & Saad (KPM)",
            )
        )
    plotly_white(fig).update_layout(
        **_LAYOUT,
        title="Estimated vs true Hessian rank",
        xaxis=dict(title="true rank", type="log"),
        yaxis=dict(title="estimated rank", type="log"),
    )
    return fig


def make_density_figure(
    grid: np.ndarray, density: np.ndarray, threshold: float, lam: np.ndarray | None = None
) -> go.Figure:
    """The baseline's KPM density of states with its threshold (and the exact eigenvalues' histogram)."""
    fig = go.Figure()
    if lam is not None:
        fig.add_trace(
            go.Histogram(
                x=lam,
                histnorm="probability density",
                marker_color="rgba(0,114,178,0.35)",
                name="exact non-zero eigenvalues",
                nbinsx=60,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=grid, y=density, mode="lines", line=dict(color=ORANGE, width=2), name="KPM density (degree 50)"
        )
    )
    fig.add_vline(
        x=threshold, line=dict(color=UNSTABLE, dash="dash"), annotation_text=f"threshold ε = {threshold:.3g}"
    )
    plotly_white(fig).update_layout(
        **_LAYOUT,
        title="Baseline: density of states and its rank threshold",
        xaxis_title="eigenvalue of H",
        yaxis_title="density",
        yaxis_type="log",
    )
    return fig

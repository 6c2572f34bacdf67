"""Secondary figures of the SGD-vs-GD stability page: rho(Q) vs eta, the p axis, the loss floor of a
regular minimum, and the small edge-of-stability experiment. Pure builders: data in, ``go.Figure`` out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from dlsa_core.viz.stability import (
    _LAYOUT,
    BLUE,
    GREY,
    ORANGE,
    PURPLE,
    SKY,
    STABLE,
    UNSTABLE,
    _log_ticks,
    positive_range,
)
from dlsa_core.viz.theme import plotly_white

_PALETTE = (BLUE, ORANGE, STABLE, PURPLE, SKY, UNSTABLE, GREY)


def make_rho_figure(curve: Mapping, *, eta: float, eta_star: float, batch_size: int) -> go.Figure:
    """Spectral radius of the second-moment operator vs the step size, SGD at ``batch_size`` and GD.

    ``curve``: :func:`dlsa_core.stability.views.rho_curve` output. Both axes logarithmic; the
    horizontal line ``rho = 1`` is crossed by SGD's curve exactly at ``eta*`` (vertical line).
    """
    etas, sgd, gd = (np.asarray(curve[k], float) for k in ("eta", "sgd", "gd"))
    fig = go.Figure()
    fig.add_hline(
        y=1.0, line=dict(color=GREY, width=1), annotation_text="ρ = 1", annotation_position="top left"
    )
    fig.add_vline(x=eta_star, line=dict(color="black", dash="dot", width=1.5))
    fig.add_trace(
        go.Scatter(x=etas, y=gd, mode="lines", name="GD: max (1 − ηλ)²", line=dict(color=GREY, dash="dash"))
    )
    fig.add_trace(
        go.Scatter(
            x=etas,
            y=sgd,
            mode="lines+markers",
            name=f"SGD, B = {batch_size}: ρ(Q)",
            line=dict(color="black", width=2.5),
            marker=dict(size=4),
        )
    )
    above = eta > eta_star
    fig.add_trace(
        go.Scatter(
            x=[eta],
            y=[float(np.interp(np.log(eta), np.log(etas), sgd))],
            mode="markers",
            name=f"your η: {'unstable' if above else 'stable'}",
            marker=dict(size=14, color=UNSTABLE if above else STABLE, symbol="x" if above else "circle"),
        )
    )
    lo, hi = positive_range(sgd, gd, pad=1.2)
    plotly_white(fig).update_layout(
        **_LAYOUT,
        height=420,
        title=dict(text=f"Growth factor per step ρ(Q) vs η (crosses 1 at η* = {eta_star:.4g})", x=0),
        xaxis=dict(
            title="step size η (log)",
            type="log",
            tickvals=_log_ticks(etas.min(), etas.max()),
            tickformat=".3~g",
        ),
        yaxis=dict(
            title="ρ(Q) (log)",
            type="log",
            range=[lo, hi],
            tickvals=_log_ticks(10**lo, 10**hi),
            tickformat=".3~g",
        ),
    )
    return fig


def make_mu_figure(curve: Mapping, *, p_without: float, p_with: float | None = None) -> go.Figure:
    """``mu(p) = lambda_max(C^+ D)`` over ``p`` with both sandwich bounds; the current p marked for
    both sampling schemes (without replacement: ``(n-B)/(B(n-1))``; with: ``1/B``)."""
    p, mu = np.asarray(curve["p"], float), np.asarray(curve["mu"], float)
    lam, mu1 = float(curve["lambda_max"]), float(curve["mu_1"])
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=p,
            y=(1 - p) * lam + p * mu1,
            mode="lines",
            name="upper: (1 − p)λmax(H) + p μ(1)",
            line=dict(color=ORANGE, dash="dash"),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=p,
            y=np.maximum(lam, p * mu1),
            mode="lines",
            name="lower: max(λmax(H), p μ(1))",
            line=dict(color=SKY, dash="longdash"),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=p,
            y=mu,
            mode="lines+markers",
            name="exact μ(p) = λmax(C⁺D) = 2/η*",
            line=dict(color="black", width=2.5),
            marker=dict(size=4),
        )
    )
    marks = [("batches without replacement", p_without, BLUE, "circle")]
    if p_with is not None:
        marks.append(("batches with replacement (p = 1/B)", p_with, PURPLE, "diamond"))
    for name, pv, colour, symbol in marks:
        fig.add_trace(
            go.Scatter(
                x=[pv],
                y=[float(np.interp(pv, p, mu))],
                mode="markers",
                name=f"your B, {name}: p = {pv:.3g}",
                marker=dict(size=13, color=colour, symbol=symbol),
            )
        )
    plotly_white(fig).update_layout(
        **_LAYOUT,
        height=420,
        title=dict(text="Generalised sharpness on the p axis: convex, non-decreasing, sandwiched", x=0),
        xaxis=dict(title="batch parameter p (1 at B = 1, 0 at B = n)", range=[-0.02, 1.02]),
        yaxis=dict(title="μ(p) = 2/η*"),
    )
    return fig


def make_floor_figure(floor: Mapping, *, highlight_b: int | None = None) -> go.Figure:
    """Stationary excess loss of SGD at a regular minimum vs eta, one line per batch size (log-log).

    ``floor``: ``B`` (m,), ``eta`` (m, k), ``excess_loss`` (m, k) (``nan`` at or beyond ``eta*``).
    """
    fig = go.Figure()
    bs = [int(b) for b in floor["B"]]
    for j, b in enumerate(bs):
        width = 3.5 if b == highlight_b else 2
        fig.add_trace(
            go.Scatter(
                x=floor["eta"][j],
                y=floor["excess_loss"][j],
                mode="lines+markers",
                name=f"B = {b}" + (" (yours)" if b == highlight_b else ""),
                line=dict(color=_PALETTE[j % len(_PALETTE)], width=width),
                marker=dict(size=5),
            )
        )
    lo, hi = positive_range(np.asarray(floor["excess_loss"]))
    eta = np.asarray(floor["eta"], float)
    plotly_white(fig).update_layout(
        **_LAYOUT,
        height=420,
        title=dict(text="Regular minimum: stationary excess loss E[L] − L(θ*) vs step size", x=0),
        xaxis=dict(
            title="step size η (log; each curve ends just below its η*(B))",
            type="log",
            tickvals=_log_ticks(np.nanmin(eta), np.nanmax(eta)),
            tickformat=".3~g",
        ),
        yaxis=dict(
            title="excess loss (log)",
            type="log",
            range=[lo, hi],
            tickvals=_log_ticks(10**lo, 10**hi),
            tickformat=".3~g",
        ),
    )
    return fig


def make_eos_figure(runs: Sequence[Mapping]) -> go.Figure:
    """Where SGD settled: sharpness measures at the minima reached, vs batch size, one colour per eta.

    Filled markers: ``lambda_max(C^+ D)`` at the run's own B (= 2/eta*(B)); open: ``lambda_max(H)``;
    dashed lines: ``2/eta``. Mean-square stability requires ``lambda_max(C^+ D) <= 2/eta``.
    """
    fig = go.Figure()
    done = [r for r in runs if r.get("converged")]
    etas = sorted({r["eta"] for r in done})
    bmax = max((r["batch_size"] for r in done), default=1)
    vals = [v for r in done for v in (r["lambda_max_h"], r["lambda_max_cd"], 2 / r["eta"])] or [1.0, 10.0]
    yrange = (min(vals) / 1.2, max(vals) * 1.2)
    for j, eta in enumerate(etas):
        colour = _PALETTE[j % len(_PALETTE)]
        rs = sorted((r for r in done if r["eta"] == eta), key=lambda r: r["batch_size"])
        b = [r["batch_size"] for r in rs]
        fig.add_trace(
            go.Scatter(
                x=[1, bmax],
                y=[2 / eta] * 2,
                mode="lines",
                name=f"2/η, η = {eta:g}",
                line=dict(color=colour, dash="dash", width=1.5),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=b,
                y=[r["lambda_max_cd"] for r in rs],
                mode="lines+markers",
                name=f"λmax(C⁺D), η = {eta:g}",
                line=dict(color=colour, width=2),
                marker=dict(size=9),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=b,
                y=[r["lambda_max_h"] for r in rs],
                mode="markers",
                name=f"λmax(H), η = {eta:g}",
                marker=dict(size=9, color=colour, symbol="circle-open", line=dict(width=2)),
            )
        )
    plotly_white(fig).update_layout(
        **_LAYOUT,
        height=460,
        title=dict(text="Edge of stability, small: sharpness of the minima SGD reached vs batch size", x=0),
        xaxis=dict(
            title="batch size B (log; the largest is full-batch GD)",
            type="log",
            tickvals=sorted({r["batch_size"] for r in done}),
        ),
        yaxis=dict(title="sharpness (log)", type="log", tickvals=_log_ticks(*yrange), tickformat=".3~g"),
    )
    return fig

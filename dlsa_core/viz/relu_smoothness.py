"""Figures for the stable-ReLU-smoothness page: pure builders, state in, ``go.Figure`` out.

Okabe-Ito colours as on the other stability page: interpolated (stable) = bluish green, diverged =
vermillion, dead = grey, not converged = orange. Theory (the bound, ``2/eta``) is drawn as lines,
measurements as markers; step sizes are coloured along one sequential scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from dlsa_core.viz.theme import plotly_white

STATUS_COLOURS = {
    "interpolated": "#009E73",
    "unstable": "#CC79A7",
    "diverged": "#D55E00",
    "dead": "#555555",
    "not converged": "#E69F00",
}
BLUE, SKY, PURPLE, GREY = "#0072B2", "#56B4E9", "#CC79A7", "#555555"
_LAYOUT = dict(
    margin=dict(l=70, r=20, t=60, b=50),
    legend=dict(orientation="h", yanchor="top", y=-0.12, xanchor="left", x=0, font=dict(size=12)),
    font=dict(size=13),
    uirevision="relu",
)


def eta_colours(etas: Sequence[float]) -> dict[float, str]:
    """One colour per step size along Viridis (small eta dark, large eta light)."""
    etas = sorted(etas)
    pos = [0.0] if len(etas) == 1 else list(np.linspace(0.05, 0.9, len(etas)))
    return dict(zip(etas, sample_colorscale("Viridis", pos), strict=True))


def make_fits_figure(
    x: np.ndarray,
    y: np.ndarray,
    curves: Mapping,
    knots: Mapping[str, np.ndarray],
    eta: float,
    *,
    title: str = "",
) -> go.Figure:
    """1-D: fitted functions per step size over the data (top); weight curves g+, g-, g and the
    selected run's knots as spikes of height |a_k| g(t_k) (bottom, shared x axis).

    Parameters
    ----------
    x, y : (n, 1), (n,) training data.
    curves : output of :func:`dlsa_core.relu_smoothness.report.curves_1d`.
    knots : output of :func:`dlsa_core.relu_smoothness.report.knots` for the selected run.
    eta : the selected step size (drawn thicker).
    """
    grid, fits, wts = curves["grid"], curves["fits"], curves["weights"]
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.62, 0.38],
        vertical_spacing=0.08,
        subplot_titles=("Fitted functions f for each step size η", "Weight g(x) and knot spikes |v|‖w‖·g"),
    )
    cols = eta_colours(list(curves["status"]))
    for e, f in fits.items():
        sel = np.isclose(e, eta)
        status = curves["status"][e]
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=f,
                mode="lines",
                name=f"η = {e:g}" + ("" if status == "interpolated" else f" ({status})"),
                line=dict(
                    color=cols[e],
                    width=4 if sel else 1.8,
                    dash="solid" if status == "interpolated" else "dot",
                ),
                legendgroup="fits",
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=x[:, 0], y=y, mode="markers", name="training data",
            marker=dict(color="black", size=9, symbol="circle-open", line=dict(width=2)),
        ),
        row=1, col=1,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=grid, y=wts["g_plus"], name="g+ (active to the right)", line=dict(color=SKY, dash="dash")
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=grid, y=wts["g_minus"], name="g− (active to the left)", line=dict(color=PURPLE, dash="dash")
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(x=grid, y=wts["g"], name="g = min(g+, g−)", line=dict(color=BLUE, width=3)), row=2, col=1
    )
    t, h = knots["t"], knots["height"]
    inside = (t >= grid[0]) & (t <= grid[-1])
    if inside.any():
        sx = np.repeat(t[inside], 3)
        sy = np.column_stack([np.zeros(inside.sum()), h[inside], np.full(inside.sum(), np.nan)]).ravel()
        fig.add_trace(
            go.Scatter(x=sx, y=sy, mode="lines", name=f"knots of η = {eta:g}: |v|‖w‖·g", line=dict(color="#D55E00", width=3)),
            row=2, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=t[inside], y=h[inside], mode="markers", showlegend=False, marker=dict(color="#D55E00", size=7),
                customdata=np.column_stack([knots["a"][inside], knots["g"][inside]]),
                hovertemplate="knot at x=%{x:.3f}<br>|a|=%{customdata[0]:.3g}, g=%{customdata[1]:.3g}<br>|a|·g=%{y:.3g}<extra></extra>",
            ),
            row=2, col=1,
        )  # fmt: skip
    top = max(float(np.max(wts["g"], initial=0.0)), float(np.max(h, initial=0.0)), 1e-6) * 1.35
    plotly_white(fig).update_layout(**_LAYOUT, height=620, title=title)
    fig.update_layout(
        legend=dict(orientation="v", yanchor="top", y=1.0, xanchor="left", x=1.02),
        margin=dict(l=70, r=230, t=70, b=50),
    )
    fig.update_yaxes(title_text="f(x)", row=1, col=1)
    fig.update_yaxes(title_text="weight (g± clipped)", range=[0, top], row=2, col=1)
    fig.update_xaxes(title_text="x", row=2, col=1)
    return fig


def make_bound_figure(table: Sequence[Mapping], eta: float | None = None, *, title: str = "") -> go.Figure:
    """Norm against the bound 1/η − 1/2 (left) and λmax against 2/η (right), over a sweep.

    ``table`` is :meth:`Sweep.table` (one dict per run); markers are coloured by how the run ended.
    """
    etas = np.array(sorted({r["eta"] for r in table}))
    fine = np.geomspace(etas.min() * 0.9, min(etas.max() * 1.1, 1.99), 200)
    fig = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.1,
        subplot_titles=("Weighted norm Σ|v|‖w‖g vs the bound 1/η − 1/2", "Sharpness λmax vs stability limit 2/η"),
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=fine, y=1 / fine - 0.5, name="theory: bound 1/η − 1/2", line=dict(color=BLUE, width=3)),
        1,
        1,
    )
    fig.add_trace(
        go.Scatter(x=fine, y=2 / fine, name="theory: 2/η", line=dict(color=BLUE, width=3, dash="dash")), 1, 2
    )
    fig.add_trace(
        go.Scatter(
            x=fine,
            y=np.ones_like(fine),
            name="λmax ≥ 1 (output bias)",
            line=dict(color=GREY, width=1, dash="dot"),
        ),
        1,
        2,
    )
    positive = [r["norm"] for r in table if np.isfinite(r["norm"]) and r["norm"] > 0]
    floor = min(positive, default=0.01) / 3  # a zero norm (dead network) is drawn on this floor
    for status, colour in STATUS_COLOURS.items():
        rows = [r for r in table if r["status"] == status and np.isfinite(r["norm"])]
        if not rows:
            continue
        ex = [r["eta"] for r in rows]
        hover = [f"η={r['eta']:g}, seed {r['seed']}: {status}" for r in rows]
        kw = dict(
            mode="markers", name=f"measured: {status}", legendgroup=status, text=hover, hoverinfo="text+y"
        )
        mk = dict(
            color=colour,
            size=9,
            symbol="circle" if status == "interpolated" else "x",
            line=dict(width=1, color="white"),
        )
        fig.add_trace(go.Scatter(x=ex, y=[max(r["norm"], floor) for r in rows], marker=mk, **kw), 1, 1)
        fig.add_trace(
            go.Scatter(
                x=ex,
                y=[r["lambda_max"] for r in rows],
                marker=mk,
                showlegend=False,
                **{k: v for k, v in kw.items() if k != "name"},
            ),
            1,
            2,
        )
    med = []
    for e in etas:
        vals = [r["norm"] for r in table if r["eta"] == e and r["status"] == "interpolated"]
        med.append(np.median(vals) if vals else np.nan)
    fig.add_trace(
        go.Scatter(
            x=etas,
            y=med,
            mode="lines",
            name="median over seeds (interpolated)",
            line=dict(color="#009E73", width=2),
        ),
        1,
        1,
    )
    if eta is not None:
        for c in (1, 2):
            fig.add_vline(x=eta, line=dict(color=GREY, width=1, dash="dot"), row=1, col=c)
    plotly_white(fig).update_layout(**_LAYOUT, height=470, title=title)
    fig.update_layout(legend=dict(y=-0.2), margin=dict(l=70, r=20, t=70, b=40))
    xt = [e for e in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0) if fine[0] <= e <= fine[-1]]
    fig.update_xaxes(title_text="step size η (log)", type="log", tickvals=xt, ticktext=[f"{e:g}" for e in xt])
    ymax = max(float(1 / fine[0] - 0.5), max(positive, default=1.0))
    mant = (1, 2, 5) if ymax / floor < 1e3 else (1,)  # 1-2-5 ticks over a few decades, else powers of 10
    yt = [m * 10.0**k for k in range(-8, 3) for m in mant if floor <= m * 10.0**k <= ymax * 1.5]
    fig.update_yaxes(
        title_text="norm (log; 0 drawn at the floor)",
        type="log",
        tickvals=yt,
        ticktext=[f"{v:g}" for v in yt],
        row=1,
        col=1,
    )
    fig.update_yaxes(title_text="λmax of the Gauss–Newton matrix", row=1, col=2)
    return fig


def make_surface_figure(
    x: np.ndarray, y: np.ndarray, surface: Mapping, segments: Sequence[Mapping], *, title: str = ""
) -> go.Figure:
    """2-D: heatmap of the fitted surface, knot lines with width ∝ their share |a|g of the norm, data."""
    fig = go.Figure(
        go.Heatmap(
            x=surface["gx"], y=surface["gy"], z=surface["z"], colorscale="RdBu", zmid=0,
            colorbar=dict(title="f(x)", len=0.8), name="f",
        )
    )  # fmt: skip
    hmax = max([s["height"] for s in segments], default=0.0)
    for i, s in enumerate(segments):
        width = 1 + 6 * (s["height"] / hmax if hmax > 0 else 0)
        fig.add_trace(
            go.Scatter(
                x=s["x"], y=s["y"], mode="lines", line=dict(color="black", width=width),
                opacity=0.35 if s["height"] == 0 else 0.9, showlegend=i == 0, legendgroup="knots",
                name="knot lines (width ∝ |v|‖w‖·g; faint: g = 0)",
                hovertext=f"|a|={s['a']:.3g}, |a|·g={s['height']:.3g}", hoverinfo="text",
            )
        )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=x[:, 0], y=x[:, 1], mode="markers", name="training data (colour = y)",
            marker=dict(color=y, colorscale="RdBu", cmid=0, size=11, line=dict(color="black", width=1.5)),
        )
    )  # fmt: skip
    plotly_white(fig).update_layout(**_LAYOUT, height=520, title=title)
    fig.update_xaxes(title_text="x₁", range=[surface["gx"][0], surface["gx"][-1]])
    fig.update_yaxes(title_text="x₂", range=[surface["gy"][0], surface["gy"][-1]], scaleanchor="x")
    return fig


def make_loss_figure(
    histories: Mapping[float, tuple[np.ndarray, str]], record_every: int, *, title: str = ""
) -> go.Figure:
    """Training loss against GD step per step size (log scale); line style by outcome."""
    fig = go.Figure()
    cols = eta_colours(list(histories))
    for e, (h, status) in histories.items():
        h = np.where(np.isfinite(h) & (h > 0), h, np.nan)
        fig.add_trace(
            go.Scatter(
                x=np.arange(h.size) * record_every, y=h, mode="lines", name=f"η = {e:g} ({status})",
                line=dict(color=cols[e], dash="solid" if status == "interpolated" else "dot"),
            )
        )  # fmt: skip
    plotly_white(fig).update_layout(**_LAYOUT, height=360, title=title)
    fig.update_xaxes(title_text="GD step")
    fig.update_yaxes(title_text="training loss (log)", type="log", exponentformat="power")
    return fig

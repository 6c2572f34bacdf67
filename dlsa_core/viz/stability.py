"""Figures for the SGD-vs-GD stability page: pure builders, state in, ``go.Figure`` out.

Colours (Okabe-Ito, colour-blind safe): stable = bluish green, unstable = vermillion, theory as lines,
measurements as markers/bands.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from dlsa_core.viz.theme import plotly_white

STABLE = "#009E73"
UNSTABLE = "#D55E00"
BLUE = "#0072B2"
ORANGE = "#E69F00"
SKY = "#56B4E9"
PURPLE = "#CC79A7"
GREY = "#555555"

_LAYOUT = dict(
    margin=dict(l=70, r=20, t=60, b=60),
    legend=dict(orientation="h", yanchor="top", y=-0.16, xanchor="left", x=0, font=dict(size=12)),
    font=dict(size=13),
    uirevision="stab",
)


def _log_ticks(lo: float, hi: float, *, integer: bool = False) -> list[float]:
    """Tick values for a log axis on [lo, hi]: the 1-2-5 sequence, denser (1..9) over short ranges.

    Plotly's default log ticks label every minor digit ("9 1 2 3 ... 8 9"), which reads as noise.
    """
    lo, hi = float(lo), float(hi)
    steps = (1, 2, 5) if hi / lo > 30 else (1, 2, 3, 4, 5, 6, 7, 8, 9) if hi / lo < 4 else (1, 2, 3, 5)
    ticks = []
    for e in range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1):
        ticks += [m * 10.0**e for m in steps if lo <= m * 10.0**e <= hi]
    if integer:
        ticks = sorted({round(t) for t in ticks if t >= 1})
    return ticks


def make_region_figure(
    report: Mapping, batch_size: int, eta: float, *, stable: bool, same_as: Mapping[str, str] | None = None
) -> go.Figure:
    """Stability region in the (batch size, step size) plane, both axes logarithmic.

    Parameters
    ----------
    report : mapping
        Output of :func:`dlsa_core.stability.stability_report` (arrays over ``batch_size``).
    batch_size, eta : the current point.
    stable : bool
        Verdict at the current point (``eta <= eta*(B)``), used for its colour.
    same_as : mapping, optional
        Curve key -> name of the curve it coincides with (``views.coinciding_curves``); the legend says
        "(hidden: = η*)" so that a curve drawn under another is not mistaken for missing.
    """
    same_as = dict(same_as or {})
    b = np.asarray(report["batch_size"], dtype=float)
    star = np.asarray(report["eta_star"])
    gd = float(np.asarray(report["eta_gd"])[0])
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=b, y=star, mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip")
    )
    fig.add_trace(
        go.Scatter(
            x=b,
            y=np.full_like(star, star.min() * 1e-3),
            mode="lines",
            line=dict(width=0),
            fill="tonexty",
            fillcolor="rgba(0,158,115,0.13)",
            name="mean-square stable region",
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=b,
            y=np.full_like(b, gd),
            mode="lines",
            name="GD threshold 2/λmax(H)",
            line=dict(color=GREY, dash="dash", width=2),
        )
    )
    bounds = (
        ("bound_rank_one", "necessary: rank-one bound", PURPLE, "dot"),
        ("bound_15", "necessary: top-eigenvector bound", BLUE, "dashdot"),
        ("bound_16", "necessary: trace bound", ORANGE, "dot"),
        ("sufficient", "sufficient: convexity lower bound", SKY, "longdash"),
    )
    for key, name, colour, dash in bounds:
        if key in same_as:
            name += f" (= {same_as[key]} here)"
        fig.add_trace(
            go.Scatter(
                x=b, y=report[key], mode="lines", name=name, line=dict(color=colour, dash=dash, width=1.6)
            )
        )
    fig.add_trace(
        go.Scatter(
            x=b,
            y=star,
            mode="lines+markers",
            name="exact SGD threshold η*(B) = 2/λmax(C⁺D)",
            line=dict(color="black", width=3),
            marker=dict(size=5),
        )
    )
    colour = STABLE if stable else UNSTABLE
    fig.add_trace(
        go.Scatter(
            x=[batch_size],
            y=[eta],
            mode="markers",
            name=f"your (B, η): {'stable' if stable else 'unstable'}",
            marker=dict(
                size=16, color=colour, symbol="circle" if stable else "x", line=dict(color="white", width=1.5)
            ),
        )
    )
    lo = min(float(np.min(report["sufficient"])), eta) / 1.6
    hi = max(gd, eta, float(np.max(report["bound_16"]))) * 1.6
    plotly_white(fig).update_layout(
        **_LAYOUT,
        height=520,
        title=dict(text="Where SGD is mean-square stable: step size vs batch size", x=0),
        xaxis=dict(
            title="batch size B (log)",
            type="log",
            tickvals=sorted(set(_log_ticks(b.min(), b.max(), integer=True)) | {int(b.max())}),
        ),
        yaxis=dict(
            title="step size η (log)",
            type="log",
            range=[np.log10(lo), np.log10(hi)],
            tickvals=_log_ticks(lo, hi),
            tickformat=".3~g",
        ),
    )
    return fig


def positive_range(*arrays: np.ndarray, pad: float = 1.5) -> tuple[float, float]:
    """``(log10 lo, log10 hi)`` covering every finite positive value of ``arrays`` (for a log axis)."""
    vals = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays if a is not None])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    if vals.size == 0:
        return -1.0, 1.0
    return float(np.log10(vals.min() / pad)), float(np.log10(vals.max() * pad))


def make_moment_figure(
    t: np.ndarray,
    exact: np.ndarray,
    mc: Mapping[str, Mapping[str, np.ndarray]] | None,
    *,
    title: str,
    exact_enum: np.ndarray | None = None,
) -> go.Figure:
    """``E||theta_t - theta*||^2`` over t: the exact claim, and what a finite Monte Carlo sample sees.

    Parameters
    ----------
    t : (T,) int steps
    exact : (T,) float64
        ALG(p) recursion (``inf`` where it overflowed): by the paper, also SGD's exact second moment.
    mc : ``{"sgd": summary, "mixture": summary}`` (:func:`dlsa_core.stability.mc_summary`) or ``None``
        (simulation still running). SGD is drawn as its mean with a 2-SE band (where the band's lower
        edge is positive) and its median with the 10-90 % quantile band; ALG(p) as its mean.
    exact_enum : (T,) float64, optional
        SGD's exact second moment by averaging over every batch, drawn as markers on the line.

    The y axis is set explicitly to cover every plotted finite positive value.
    """
    fig = go.Figure()
    shown = [exact]
    if mc is not None:
        sgd, mix = mc["sgd"], mc["mixture"]
        fig.add_trace(
            go.Scatter(
                x=t, y=sgd["q90"], mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip"
            )
        )
        fig.add_trace(
            go.Scatter(
                x=t,
                y=sgd["q10"],
                mode="lines",
                line=dict(width=0),
                fill="tonexty",
                fillcolor="rgba(86,180,233,0.22)",
                name="SGD runs: 10-90 % quantiles",
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=t, y=sgd["median"], mode="lines", name="SGD runs: median", line=dict(color=SKY, width=2)
            )
        )
        fig.add_trace(
            go.Scatter(
                x=t,
                y=sgd["mean"],
                mode="lines",
                name=f"SGD: Monte Carlo mean of {sgd['runs']} runs",
                line=dict(color=BLUE, width=1.5),
            )
        )
        fig.add_trace(
            go.Scatter(x=t, y=sgd["hi"], mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip")
        )
        fig.add_trace(
            go.Scatter(
                x=t,
                y=sgd["lo"],
                mode="lines",
                line=dict(width=0),
                fill="tonexty",
                fillcolor="rgba(0,114,178,0.15)",
                name="SGD mean ± 2 SE (lower edge cut where ≤ 0)",
                hoverinfo="skip",
                connectgaps=False,
            )
        )
        stride = max(1, len(t) // 40)
        fig.add_trace(
            go.Scatter(
                x=t[::stride],
                y=mix["mean"][::stride],
                mode="markers",
                name="ALG(p): Monte Carlo mean",
                marker=dict(color=ORANGE, symbol="diamond", size=6),
            )
        )
        shown += [sgd["q10"], sgd["q90"], sgd["median"], sgd["mean"], sgd["lo"], sgd["hi"], mix["mean"]]
    finite = np.isfinite(exact)
    fig.add_trace(
        go.Scatter(
            x=t[finite],
            y=exact[finite],
            mode="lines",
            name="exact second moment (ALG(p) recursion = SGD's)",
            line=dict(color="black", width=2.5),
        )
    )
    if exact_enum is not None:
        ok = np.isfinite(exact_enum)
        stride = max(1, len(t) // 25)
        fig.add_trace(
            go.Scatter(
                x=t[ok][::stride],
                y=exact_enum[ok][::stride],
                mode="markers",
                name="exact SGD, averaged over every batch",
                marker=dict(color="black", symbol="circle-open", size=9),
            )
        )
        shown.append(exact_enum)
    lo, hi = positive_range(*shown)
    plotly_white(fig).update_layout(
        **_LAYOUT,
        height=460,
        title=dict(text=title, x=0),
        xaxis=dict(title="step t"),
        yaxis=dict(title="‖θ_t − θ*‖² (log)", type="log", exponentformat="power", range=[lo, hi]),
    )
    return fig


def loss_level_sets(
    hessian: np.ndarray, ext: float, *, n_levels: int = 12, n_points: int = 73
) -> tuple[np.ndarray, np.ndarray]:
    """Level sets of ``theta^T H theta / 2`` inside the box ``[-ext, ext]^2`` as ellipses, one polyline.

    Why not a Plotly contour: the browser recomputes a contour (marching squares over the grid) on every
    redraw, and this figure is redrawn on every slider move; the level sets of a quadratic are ellipses,
    drawn here exactly. Levels are evenly spaced in ``sqrt(loss)`` up to its value at the box's corners,
    like the contour they replace. A (near-)zero curvature direction gives long thin ellipses that the
    axis range clips.

    Returns
    -------
    x, y : (n_levels * (n_points + 1),) float64, ellipses separated by NaN (a break in the line).
    """
    H = 0.5 * (np.asarray(hessian, dtype=float) + np.asarray(hessian, dtype=float).T)
    w, V = np.linalg.eigh(H)
    w = np.maximum(w, max(float(w.max()), 1e-300) * 1e-8)
    corners = np.array([[ext, ext], [ext, -ext]])
    zmax = float(np.sqrt(0.5 * np.einsum("ki,ij,kj->k", corners, H, corners).max()))
    phi = np.linspace(0.0, 2.0 * np.pi, n_points)
    circle = np.stack([np.cos(phi), np.sin(phi)])  # (2, n_points)
    unit = V @ (circle / np.sqrt(w)[:, None]) * np.sqrt(2.0)  # loss = 1 on this ellipse
    xs, ys = [], []
    for k in range(1, n_levels + 1):
        c = zmax * k / (n_levels + 1)
        xs += [c * unit[0], [np.nan]]
        ys += [c * unit[1], [np.nan]]
    return np.concatenate(xs), np.concatenate(ys)


def make_paths_figure(paths: np.ndarray, hessian: np.ndarray, *, stable: bool) -> go.Figure:
    """A few single SGD paths on contours of the mean loss ``theta^T H theta / 2`` (2-D problems).

    Parameters
    ----------
    paths : (m, T, 2) float64; hessian : (2, 2) mean Hessian.
    """
    ext = float(np.nanmax(np.abs(paths[:, : max(2, paths.shape[1] // 4)]))) if paths.size else 1.0
    ext = min(max(ext, 1e-3), 1e6) * 1.2
    x, y = loss_level_sets(hessian, ext)
    fig = go.Figure(
        go.Scatter(
            x=x,
            y=y,
            mode="lines",
            line=dict(color="#c8c8c8", width=1),
            hoverinfo="skip",
            name="mean loss levels",
        )
    )
    colours = [BLUE, ORANGE, PURPLE, SKY, GREY]
    for j, path in enumerate(paths):
        ok = np.all(np.isfinite(path), axis=1) & (np.abs(path).max(axis=1) < 10 * ext)
        fig.add_trace(
            go.Scatter(
                x=path[ok, 0],
                y=path[ok, 1],
                mode="lines+markers",
                name=f"path {j + 1}",
                line=dict(color=colours[j % 5], width=1.2),
                marker=dict(size=3),
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[0],
            y=[0],
            mode="markers",
            name="minimum θ*",
            marker=dict(color=STABLE if stable else UNSTABLE, size=12, symbol="star"),
        )
    )
    plotly_white(fig).update_layout(
        **_LAYOUT,
        height=440,
        title=dict(text="Single SGD paths (not evidence of stability)", x=0),
        xaxis=dict(title="θ₁ − θ₁*", range=[-ext, ext]),
        yaxis=dict(title="θ₂ − θ₂*", range=[-ext, ext], scaleanchor="x"),
    )
    return fig

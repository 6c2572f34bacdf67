"""More figures for the jointly smooth functions page: the d / s sweep and the digits views (no Streamlit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlsa_core.viz.jointly_smooth import OKABE_ITO, _layout

# Ten distinguishable colours for the digit classes (Okabe-Ito plus four).
DIGIT_COLOURS = OKABE_ITO[:7] + ["#999999", "#882255", "#44AA99"]


def make_sweep_figure(rows: Sequence[Mapping], d: int, s: float) -> go.Figure:
    """Counts against d (at the current s) and against s (at the current d), and the extension error vs d.

    ``rows``: dicts from :func:`dlsa_core.jointly_smooth.validation.sweep_point` (keys d, s, above,
    depends, extension_error). "above": functions clearing E0 + margin; "depends": R^2(shared) > 0.9.
    """
    by_d = sorted((r for r in rows if r["s"] == s), key=lambda r: r["d"])
    by_s = sorted((r for r in rows if r["d"] == d), key=lambda r: r["s"])
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=[f"functions vs d (s = {s:g})", f"functions vs s (d = {d})", "Nyström error vs d"],
        horizontal_spacing=0.08,
    )
    for col, data, key in ((1, by_d, "d"), (2, by_s, "s")):
        x = [r[key] for r in data]
        for name, field, colour, dash in (
            ("clear E0 + margin", "above", OKABE_ITO[0], "solid"),
            ("depend on the shared variable (R² > 0.9)", "depends", OKABE_ITO[2], "dash"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[r[field] for r in data],
                    mode="lines+markers",
                    name=name,
                    line=dict(color=colour, dash=dash),
                    legendgroup=field,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text=key, type="log" if key == "s" else "linear", row=1, col=col)
    fig.add_trace(
        go.Scatter(
            x=[r["d"] for r in by_d],
            y=[r["extension_error"] for r in by_d],
            mode="lines+markers",
            name="held-out extension vs refit (median)",
            line=dict(color=OKABE_ITO[5]),
        ),
        row=1,
        col=3,
    )
    fig.update_xaxes(title_text="d", row=1, col=3)
    fig.update_yaxes(title_text="count (f0 included)", row=1, col=1)
    fig.update_yaxes(title_text="relative RMS error", rangemode="tozero", row=1, col=3)
    n = rows[0]["N"] if rows else 0
    return _layout(fig, f"How many functions pass E0, and how many are real (N = {n:,})", 380, top=90,
                   legend_below=True)  # fmt: skip


def make_digit_samples_figure(
    views: Sequence[np.ndarray], view_names: Sequence[str], labels: np.ndarray, *, n_show: int = 10
) -> go.Figure:
    """One mosaic: a row of sample images per view (the same events), one per digit class when possible."""
    order = [int(np.flatnonzero(labels == c)[0]) for c in range(10) if np.any(labels == c)][:n_show]
    gap = 1
    rows = []
    for V in views:
        tiles = [np.pad(V[i].reshape(8, 8), ((0, gap), (0, gap)), constant_values=np.nan) for i in order]
        rows.append(np.hstack(tiles))
    mosaic = np.vstack(rows)
    fig = go.Figure(
        go.Heatmap(z=mosaic[::-1], colorscale="Greys", reversescale=True, showscale=False, hoverinfo="skip")
    )
    fig.update_xaxes(
        tickvals=[(8 + gap) * j + 3.5 for j in range(len(order))],
        ticktext=[f"digit {labels[i]}" for i in order],
        showgrid=False,
    )
    fig.update_yaxes(
        tickvals=[(8 + gap) * (len(views) - 1 - k) + 4 for k in range(len(views))],
        ticktext=[f"view {k}" for k in range(len(views))],
        showgrid=False,
        scaleanchor="x",
    )
    names = "; ".join(f"view {k}: {n}" for k, n in enumerate(view_names))
    return _layout(fig, f"The same events through the two corrupted sensors ({names})", 300)


def make_feature_scatter(
    F: np.ndarray, labels: np.ndarray, *, title: str, max_points: int = 2000
) -> go.Figure:
    """``(f1, f2, f3)`` (columns 0-2 of ``F``) coloured by class, one trace per class (the paper's figure)."""
    idx = np.arange(F.shape[0])[:: max(1, F.shape[0] // max_points)]
    fig = go.Figure()
    for c in np.unique(labels):
        m = idx[labels[idx] == c]
        fig.add_trace(
            go.Scatter3d(
                x=F[m, 0], y=F[m, 1], z=F[m, 2], mode="markers", name=f"digit {c}",
                marker=dict(size=2.5, color=DIGIT_COLOURS[int(c) % 10]),
            )
        )  # fmt: skip
    fig.update_scenes(xaxis_title="f1", yaxis_title="f2", zaxis_title="f3")
    return _layout(fig, title, 460)


#: Points per panel in the two live figures. Plotly redraws every SVG marker on a slider move: with
#: all 1,000 samples per panel (six panels over the two figures) the browser spent about 0.4 s on the
#: first figure and 1 s on the second per move on this 2-core CPU; an even subsample of 500 keeps each
#: cloud's shape and colouring readable (the captions and metrics use every sample).
LIVE_POINTS = 500


def function_figures(res, i: int, *, max_points: int = LIVE_POINTS) -> tuple[go.Figure, go.Figure]:
    """The two live figures of function ``i`` of an :class:`~dlsa_core.jointly_smooth.analysis.Analysis`:
    the views coloured by f_i (2-D; a 64-D view by its first two principal components) and f_i against
    every known variable with the held-out extensions, each panel subsampled to ``max_points``."""
    from dlsa_core.jointly_smooth import analysis as jsa
    from dlsa_core.viz.jointly_smooth import make_curves_figure, make_views_figure

    views, names = res.train.views, res.train.view_names
    coords = [jsa.view_coordinates(X, 2) for X in views]
    # 2-D only: a 3-D scatter re-renders for seconds in software WebGL on every slider move.
    extra = {1: "", 2: "", 3: ", seen from 35° above"}
    titles = [v + extra.get(X.shape[1], ", PCs 1-2") for v, X in zip(names, views, strict=True)]
    views_fig = make_views_figure(coords, titles, res.functions[:, i], f"f{i}", max_points=max_points)
    shared = res.shared_name()
    held = {
        f"held out, extended from view {k} only": (res.test.shared[shared.split(": ", 1)[-1]], e[:, i])
        for k, e in res.extended.items()
    }
    curves = make_curves_figure(
        res.functions[:, i],
        jsa.latents_of(res.train),
        {k: v[i] for k, v in res.r2.items()},
        f"f{i}",
        held_out=held,
        joint=jsa.circular_latents(res.train),
        max_points=max_points,
    )
    return views_fig, curves

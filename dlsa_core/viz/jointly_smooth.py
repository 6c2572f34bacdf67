"""Plotly figures for the jointly smooth functions page: state in, ``go.Figure`` out (no Streamlit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlsa_core.viz.theme import plotly_white

# Okabe-Ito, colour-blind safe: training cloud, held-out from view 0, view 1, view 2 ...
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
ABOVE, BELOW = "#009E73", "#D55E00"  # significant (above E0) / below the noise floor
COLORSCALE = "Viridis"


_GRID = dict(gridcolor="#EBF0F8", zerolinecolor="#EBF0F8", linecolor="#EBF0F8")  # plotly_white's axes


def subsample(n: int, max_points: int) -> np.ndarray:
    """At most ``max_points`` indices spread evenly over ``range(n)`` (all of them when ``n`` is smaller).

    A regular stride ``n // max_points`` kept every point for any ``n < 2 * max_points`` (N = 1,000 drew
    all 1,000); this keeps exactly ``min(n, max_points)``.
    """
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def _kind(n_points: int) -> str:
    """SVG below ~2,500 points per trace: in software WebGL (no GPU) each ``scattergl`` panel costs a
    WebGL context and seconds per redraw; SVG draws a thousand markers in well under that."""
    return "scatter" if n_points <= 2500 else "scattergl"


def _fast_figure(data: list, layout: dict) -> go.Figure:
    """A figure from plain trace/layout dicts, without ``make_subplots`` (0.15 s) and without Plotly's
    property validation (30-40 ms per figure here; the live function slider redraws two figures per
    move). The dicts are built by this module only; tests rebuild each live figure with validation on
    (``go.Figure(fig.to_dict())``) so that a misspelt property still fails there."""
    return go.Figure(data=data, layout=layout, _validate=False)


def _layout(
    fig: go.Figure, title: str, height: int, *, top: int = 70, legend_below: bool = False
) -> go.Figure:
    legend = (
        dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0.0)
        if legend_below
        else dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1.0)
    )
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left"),
        height=height,
        margin=dict(l=50, r=20, t=top, b=45),
        legend=legend,
    )
    return plotly_white(fig)  # cheap now (dlsa_core.viz.theme), so the live figures get it too


def make_views_figure(
    coords: Sequence[np.ndarray],
    view_names: Sequence[str],
    color: np.ndarray,
    color_name: str,
    *,
    max_points: int = 2000,
) -> go.Figure:
    """Each view in its own coordinates (2-D or 3-D scatter), all coloured by the same function.

    Parameters
    ----------
    coords : list of (N, 2) or (N, 3) arrays, one per view.
    view_names : list of str, subplot titles.
    color : (N,) values of the selected function.
    color_name : str, colour-bar title.
    """
    K = len(coords)
    idx = subsample(len(color), max_points)  # light JSON, and fewer SVG markers to redraw
    lim = float(np.max(np.abs(color[idx]))) or 1.0
    marker = dict(
        color=color[idx],
        colorscale=COLORSCALE,
        cmin=-lim,
        cmax=lim,
        size=4,
        colorbar=dict(title=dict(text=color_name, side="right"), len=0.85, thickness=14),
    )
    layout, cells = _grid(1, K, list(view_names), hspace=0.06, scenes=[C.shape[1] == 3 for C in coords])
    data = []
    for k, C in enumerate(coords):
        m = dict(marker, showscale=(k == K - 1))
        hover = f"{color_name} = %{{marker.color:.3f}}<extra>view {k}</extra>"
        if C.shape[1] == 3:
            data.append(
                dict(type="scatter3d", x=C[idx, 0], y=C[idx, 1], z=C[idx, 2], mode="markers",
                     marker=dict(m, size=2.5), hovertemplate=hover, showlegend=False, scene=cells[k])
            )  # fmt: skip
        else:
            y = C[idx, 1] if C.shape[1] > 1 else np.zeros(len(idx))
            xa, ya = cells[k]
            data.append(
                dict(type=_kind(len(idx)), x=C[idx, 0], y=y, mode="markers", marker=m, hovertemplate=hover,
                     showlegend=False, xaxis=xa, yaxis=ya)
            )  # fmt: skip
            layout["yaxis" + ya[1:]].update(scaleanchor=xa, scaleratio=1)
    for k, C in enumerate(coords):
        if C.shape[1] == 3:
            layout["scene" + cells[k][5:]].update(
                aspectmode="data", xaxis=dict(title="x"), yaxis=dict(title="y"), zaxis=dict(title="z")
            )
    fig = _fast_figure(data, layout)
    shown = "" if len(idx) == len(color) else f" ({len(idx):,} of {len(color):,} samples drawn)"
    return _layout(fig, f"The views, coloured by {color_name}{shown}", 430)


def _grid(
    rows: int, cols: int, titles: Sequence[str], *, hspace: float = 0.07, vspace: float = 0.1, scenes=None
) -> tuple[dict, list]:
    """A subplot grid as a plain layout dict (``make_subplots`` costs ~0.15 s per figure, too slow for a
    live slider). Returns ``(layout, cells)``; a cell is ``("x2", "y2")`` or ``"scene2"`` (3-D)."""
    scenes = scenes or [False] * (rows * cols)
    w = (1 - hspace * (cols - 1)) / cols
    h = (1 - vspace * (rows - 1)) / rows
    layout: dict = {"annotations": []}
    cells = []
    n_axes = n_scenes = 0
    for j in range(rows * cols):
        r, c = divmod(j, cols)
        x0, y1 = c * (w + hspace), 1 - r * (h + vspace)
        dom_x, dom_y = [x0, x0 + w], [y1 - h, y1]
        if j < len(scenes) and scenes[j]:
            n_scenes += 1
            name = "scene" + (str(n_scenes) if n_scenes > 1 else "")
            layout[name] = dict(domain=dict(x=dom_x, y=dom_y))
            cells.append(name)
        else:
            n_axes += 1
            sfx = str(n_axes) if n_axes > 1 else ""
            layout["xaxis" + sfx] = dict(domain=dom_x, anchor="y" + sfx, **_GRID)
            layout["yaxis" + sfx] = dict(domain=dom_y, anchor="x" + sfx, **_GRID)
            cells.append(("x" + sfx, "y" + sfx))
        if j < len(titles):
            layout["annotations"].append(
                dict(text=titles[j], x=x0 + w / 2, y=y1, xref="paper", yref="paper", xanchor="center",
                     yanchor="bottom", showarrow=False, font=dict(size=13))
            )  # fmt: skip
    return layout, cells


def make_curves_figure(
    f: np.ndarray,
    latents: Mapping[str, np.ndarray],
    r2: Mapping[str, float],
    function_name: str,
    *,
    held_out: Mapping[str, tuple] | None = None,
    max_points: int = 2000,
    cols: int = 3,
    joint: Sequence[str] = (),
) -> go.Figure:
    """The function against each known variable: a clean curve (shared) or a cloud (nuisance).

    Parameters
    ----------
    f : (N,) function values on the training samples.
    latents : name -> (N,) ground-truth variable; the first is the shared one.
    r2 : name -> R^2 of ``f`` against that variable (shown in the panel title).
    held_out : optional label -> (t_new (n,), f_new (n,)): extended values at fresh samples, drawn on the
        first (shared) panel.
    joint : names of angles (drawn against the angle; their R^2 is the joint one on (cos, sin)).
    """
    names = list(latents)
    cols = min(cols, len(names))
    rows = int(np.ceil(len(names) / cols))
    titles = [f"{n}<br>R²{' (cos, sin)' if n in joint else ''} = {r2[n]:.2f}" for n in names]
    layout, cells = _grid(rows, cols, titles, hspace=0.07, vspace=0.22 if rows > 1 else 0.1)
    idx = subsample(len(f), max_points)
    data = []
    for j, name in enumerate(names):
        xa, ya = cells[j]
        data.append(
            dict(type=_kind(len(idx)), x=latents[name][idx], y=f[idx], mode="markers", name="training samples",
                 marker=dict(size=3, color=OKABE_ITO[0], opacity=0.5), showlegend=(j == 0),
                 legendgroup="train", xaxis=xa, yaxis=ya)
        )  # fmt: skip
        layout["xaxis" + xa[1:]]["title"] = dict(text=name.split(": ", 1)[-1], standoff=4)
        if j % cols == 0:
            layout["yaxis" + ya[1:]]["title"] = dict(text=function_name)
        if j == 0 and held_out:
            for h, (label, (t_new, f_new)) in enumerate(held_out.items()):
                data.append(
                    dict(type="scatter", x=t_new, y=f_new, mode="markers", name=label, xaxis=xa, yaxis=ya,
                         marker=dict(size=7, color=OKABE_ITO[1 + h], symbol=["x", "cross", "diamond"][h % 3]))
                )  # fmt: skip
    for a in layout["annotations"]:
        a["font"] = dict(size=12)
    fig = _fast_figure(data, layout)
    shown = "" if len(idx) == len(f) else f" ({len(idx):,} of {len(f):,} training samples drawn)"
    return _layout(
        fig,
        f"{function_name} against the known variables{shown}",
        330 * rows + 100,
        top=90,
        legend_below=True,
    )


def make_energy_figure(
    energy: np.ndarray,
    e0: float | None,
    *,
    n_views: int = 2,
    band: tuple[float, float] | None = None,
    cut: float | None = None,
    method: str = "analytic",
    max_shown: int = 40,
) -> go.Figure:
    """Stem plot of the smooth energies ``sigma_i^2 / K`` with E0, its permutation null band and E0 + margin.

    Parameters
    ----------
    energy : (M,) energies, descending (the whole spectrum; the first ``max_shown`` are drawn).
    e0 : float, the noise floor of ``method``; band : (lo, hi) null quantiles; cut : E0 + margin (a function
        is counted when its energy exceeds it; green above, red below).
    """
    energy = np.asarray(energy)[:max_shown]
    i = np.arange(len(energy))
    cut = e0 if cut is None else cut
    above = energy > cut if cut is not None else np.ones(len(energy), bool)
    fig = go.Figure()
    if band is not None:
        fig.add_hrect(
            y0=band[0], y1=band[1], fillcolor="#999999", opacity=0.25, line_width=0,
            annotation_text="permutation null, 5-95 %", annotation_position="top left",
        )  # fmt: skip
    xs = np.repeat(i, 3).astype(float)
    ys = np.column_stack([np.zeros(len(i)), energy, np.full(len(i), np.nan)]).ravel()
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            line=dict(color="#999999", width=1.5),
            hoverinfo="skip",
            showlegend=False,
        )
    )
    for mask, colour, label in ((above, ABOVE, "clears E0 + margin"), (~above, BELOW, "noise (below it)")):
        fig.add_trace(
            go.Scatter(
                x=i[mask],
                y=energy[mask],
                mode="markers",
                name=label,
                marker=dict(size=9, color=colour),
                hovertemplate="f%{x}: σ²/K = %{y:.4f}<extra></extra>",
            )
        )
    if e0 is not None:
        fig.add_hline(
            y=e0,
            line=dict(color="#444444", dash="dash"),
            annotation_text=f"E0 = {e0:.4f} ({method})",
            annotation_position="bottom right",
        )
    if cut is not None and e0 is not None and cut > e0:
        fig.add_hline(
            y=cut,
            line=dict(color="#000000", width=1),
            annotation_text=f"E0 + margin = {cut:.4f}",
            annotation_position="top right",
        )
    fig.update_xaxes(title_text="function index i", dtick=1 if len(energy) <= 20 else 5)
    lo = min(0.45, float(energy.min()) - 0.05, (band[0] if band else 1) - 0.02)
    fig.update_yaxes(title_text=f"energy σ²/K (K = {n_views})", range=[lo, 1.02])
    return _layout(fig, "Smooth energy of each function and the noise floor", 340)


def make_spectrum_figure(
    eigenvalues: Sequence[np.ndarray], view_names: Sequence[str], *, cutoff: float = 1e-5
) -> go.Figure:
    """Each view's kernel spectrum ``lambda_j / lambda_1`` (log scale) up to d, with the extension cut-off.

    Eigenvectors below the cut-off (dashed line) are round-off: they enter the energies but not the
    Nystrom extension. The count kept per view is in the legend.
    """
    fig = go.Figure()
    d = max(len(lam) for lam in eigenvalues)
    for k, (lam, name) in enumerate(zip(eigenvalues, view_names, strict=True)):
        rel = np.abs(np.asarray(lam)) / abs(lam[0])
        kept = int((np.asarray(lam) >= cutoff * lam[0]).sum())
        fig.add_trace(
            go.Scatter(
                x=np.arange(1, len(rel) + 1),
                y=np.maximum(rel, 1e-18),
                mode="lines+markers",
                marker=dict(size=3),
                line=dict(color=OKABE_ITO[k + 1]),
                name=f"view {k}: {name} ({kept} of {len(rel)} above the cut-off)",
                hovertemplate="λ_%{x}/λ_1 = %{y:.2e}<extra></extra>",
            )
        )
    fig.add_hline(
        y=cutoff, line=dict(color="#444444", dash="dash"),
        annotation_text=f"cut-off {cutoff:g} λ_1", annotation_position="bottom left",
    )  # fmt: skip
    fig.add_vline(
        x=d, line=dict(color="#000000", width=1), annotation_text=f"d = {d}", annotation_position="top left"
    )
    fig.update_xaxes(title_text="eigenvalue index j")
    fig.update_yaxes(title_text="λ_j / λ_1", type="log", exponentformat="power")
    return _layout(fig, "Kernel spectrum of each view, up to d", 340, legend_below=True)


def make_comparison_figure(
    features: Mapping[str, np.ndarray],
    r2: Mapping[str, Mapping[str, np.ndarray]],
    latents: Mapping[str, np.ndarray],
    *,
    index: int = 0,
    max_points: int = 2000,
) -> go.Figure:
    """Rows = methods, columns = known variables: each method's feature ``index`` against each variable.

    The method names label the rows (y axes), the variables the columns (x axes); panel titles hold R^2.
    """
    methods, names = list(features), list(latents)
    js = {m: min(index, len(r2[m][names[0]]) - 1) for m in methods}
    titles = [f"R² = {r2[m][n][js[m]]:.2f}" for m in methods for n in names]
    fig = make_subplots(
        rows=len(methods),
        cols=len(names),
        subplot_titles=titles,
        horizontal_spacing=0.25 / len(names),
        vertical_spacing=0.45 / len(methods),
    )
    for a, m in enumerate(methods):
        F = features[m]
        idx = np.arange(F.shape[0])[:: max(1, F.shape[0] // max_points)]
        for b, n in enumerate(names):
            fig.add_trace(
                go.Scattergl(
                    x=latents[n][idx],
                    y=F[idx, js[m]],
                    mode="markers",
                    showlegend=False,
                    marker=dict(size=3, color=OKABE_ITO[a % len(OKABE_ITO)], opacity=0.5),
                    hovertemplate=f"{m} #{js[m] + 1}<extra>{n}</extra>",
                ),
                row=a + 1,
                col=b + 1,
            )
            fig.update_xaxes(title_text=n.split(": ", 1)[-1], title_standoff=2, row=a + 1, col=b + 1)
        fig.update_yaxes(title_text=f"{m} #{js[m] + 1}", row=a + 1, col=1)
        fig.update_yaxes(showticklabels=False, row=a + 1, col=None)
    fig.update_yaxes(showticklabels=True, col=1)
    fig.update_xaxes(nticks=4, tickangle=0)
    fig.update_annotations(font_size=11)
    return _layout(
        fig,
        f"Feature #{index + 1} of each method against the known variables",
        250 * len(methods) + 80,
        top=90,
    )

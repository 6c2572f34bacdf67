"""Figures for the h-space directions page: image strips and grids, client-side scrubbers,
dose-response with a random control, the effect matrix (Table I analogue), per-step edit norms."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlsa_core.viz.theme import plotly_white

BLUE = "#0072B2"
ORANGE = "#E69F00"
GREY = "#888888"
VERMILLION = "#D55E00"
GAP = 2  # pixels between tiles of a mosaic

_LAYOUT = dict(margin=dict(l=10, r=10, t=50, b=10), font=dict(size=13))


def mosaic(images: np.ndarray, gap: int = GAP, fill: float = 1.0) -> np.ndarray:
    """``(rows, cols, h, w)`` tiles -> one ``(rows*(h+gap)-gap, cols*(w+gap)-gap)`` image with white gaps."""
    imgs = np.asarray(images, dtype=np.float32)
    if imgs.ndim == 3:
        imgs = imgs[None]
    r, c, h, w = imgs.shape
    out = np.full((r * (h + gap) - gap, c * (w + gap) - gap), fill, np.float32)
    for i in range(r):
        for j in range(c):
            out[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = imgs[i, j]
    return out


def _gray(z, **kw) -> go.Heatmap:
    return go.Heatmap(
        z=z, colorscale="gray", zmin=0, zmax=1, showscale=False, hovertemplate="%{z:.2f}<extra></extra>", **kw
    )


def _image_axes(fig, **kw) -> None:
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showgrid=False, zeroline=False, **kw)
    fig.update_xaxes(showgrid=False, zeroline=False, constrain="domain")


def make_pair_figure(original: np.ndarray, edited: np.ndarray, *, title: str = "") -> go.Figure:
    """Original, edited and their difference (edited - original, red = ink added, blue = removed)."""
    fig = make_subplots(1, 3, subplot_titles=("Original", "Edited", "Difference"), horizontal_spacing=0.04)
    fig.add_trace(_gray(original), 1, 1)
    fig.add_trace(_gray(edited), 1, 2)
    diff = np.asarray(edited, float) - np.asarray(original, float)
    fig.add_trace(
        go.Heatmap(z=diff, colorscale="RdBu_r", zmid=0, zmin=-1, zmax=1, showscale=False,
                   hovertemplate="Δ %{z:.2f}<extra></extra>"), 1, 3)  # fmt: skip
    _image_axes(fig, showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    for i in (2, 3):
        fig.update_yaxes(scaleanchor=f"x{i}", row=1, col=i)
    plotly_white(fig).update_layout(**_LAYOUT, title=title, height=320)
    return fig


def make_strip_figure(images: np.ndarray, strengths: Sequence[float], *, current: float | None = None,
                      title: str = "", row_labels: Sequence[str] | None = None) -> go.Figure:  # fmt: skip
    """Edits over strengths as one mosaic: ``images (m, 28, 28)`` or ``(rows, m, 28, 28)``."""
    imgs = np.asarray(images)
    imgs = imgs[None] if imgs.ndim == 3 else imgs
    rows, m = imgs.shape[:2]
    z = mosaic(imgs)
    step = 28 + GAP
    fig = go.Figure(_gray(z))
    ticks = [
        f"γ = {s:+.2f}" + (" ◀" if current is not None and np.isclose(s, current) else "") for s in strengths
    ]
    fig.update_xaxes(tickvals=[j * step + 13.5 for j in range(m)], ticktext=ticks, side="top")
    ylab = list(row_labels) if row_labels is not None else [""] * rows
    fig.update_yaxes(tickvals=[i * step + 13.5 for i in range(rows)], ticktext=ylab)
    _image_axes(fig)
    plotly_white(fig).update_layout(**_LAYOUT, title=title, height=110 + 150 * rows)
    return fig


def make_grid_figure(images: np.ndarray, strengths_a, strengths_b, name_a: str, name_b: str) -> go.Figure:
    """2-D grid of edits: ``images (len(b), len(a), 28, 28)``; columns move along a, rows along b."""
    imgs = np.asarray(images)
    step = 28 + GAP
    fig = go.Figure(_gray(mosaic(imgs)))
    fig.update_xaxes(tickvals=[j * step + 13.5 for j in range(imgs.shape[1])],
                     ticktext=[f"{s:+.2f}" for s in strengths_a], title=f"{name_a} strength", side="top")  # fmt: skip
    fig.update_yaxes(tickvals=[i * step + 13.5 for i in range(imgs.shape[0])],
                     ticktext=[f"{s:+.2f}" for s in strengths_b], title=f"{name_b} strength")  # fmt: skip
    _image_axes(fig)
    plotly_white(fig).update_layout(**_LAYOUT, height=140 + 70 * imgs.shape[0], title=f"{name_a} × {name_b}")
    return fig


def make_scrub_figure(images: np.ndarray, labels: Sequence[str], *, start: int = 0, title: str = "",
                      prefix: str = "") -> go.Figure:  # fmt: skip
    """Precomputed frames scrubbed in the browser (no server round trip): ``images (m, h, w)``."""
    imgs = np.asarray(images)
    fig = go.Figure(
        _gray(imgs[start]), frames=[go.Frame(data=[_gray(im)], name=str(i)) for i, im in enumerate(imgs)]
    )
    steps = [dict(method="animate", label=lab, args=[[str(i)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
              transition=dict(duration=0))]) for i, lab in enumerate(labels)]  # fmt: skip
    plotly_white(fig).update_layout(**_LAYOUT, title=title, height=380,
                      sliders=[dict(active=start, steps=steps, currentvalue=dict(prefix=prefix), pad=dict(t=30))])  # fmt: skip
    _image_axes(fig, showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    return fig


def _band(x, mean, se, color, name) -> list[go.Scatter]:
    x = np.asarray(x)
    return [
        go.Scatter(x=np.r_[x, x[::-1]], y=np.r_[mean + 2 * se, (mean - 2 * se)[::-1]], fill="toself",
                   fillcolor=color, opacity=0.18, line=dict(width=0), hoverinfo="skip", showlegend=False),
        go.Scatter(x=x, y=mean, mode="lines+markers", line=dict(color=color, width=2), name=name),
    ]  # fmt: skip


def make_dose_figure(dose: dict, attribute: str, unit: str, name: str) -> go.Figure:
    """Mean attribute change (±2 SE over seeds) vs strength, beside a random direction of the same norm;
    right: fraction of seeds whose digit the classifier still reads the same."""
    s = dose["strengths"]
    fig = make_subplots(1, 2, column_widths=[0.62, 0.38], horizontal_spacing=0.12,
                        subplot_titles=(f"Δ {attribute} ({unit})", "Digit kept (%)"))  # fmt: skip
    for label, color, nm in (("direction", BLUE, name), ("random", GREY, "random, same norm")):
        ch = dose[label][attribute]
        n = ch.shape[1]
        se = ch.std(1, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(len(s))
        for tr in _band(s, ch.mean(1), se, color, nm):
            fig.add_trace(tr, 1, 1)
        fig.add_trace(go.Scatter(x=s, y=100 * dose[label]["digit_kept"].mean(1), mode="lines+markers",
                                 line=dict(color=color, dash="dot"), showlegend=False, name=nm), 1, 2)  # fmt: skip
    fig.update_xaxes(title="strength γ")
    fig.update_yaxes(range=[-2, 102], row=1, col=2)
    plotly_white(fig).update_layout(**_LAYOUT, height=360, legend=dict(orientation="h", y=-0.25))
    return fig


def make_effect_figure(original: dict, disentangled: dict | None = None) -> go.Figure:
    """Heatmaps of normalised mean effects (rows = directions, columns = attributes), raw values as text."""
    mats = [("Original directions", original)] + ([("Disentangled", disentangled)] if disentangled else [])
    fig = make_subplots(1, len(mats), subplot_titles=[t for t, _ in mats], horizontal_spacing=0.16)
    vmax = max(float(np.abs(m["normalised"]).max()) for _, m in mats) or 1.0
    for k, (_, m) in enumerate(mats, start=1):
        z = np.asarray(m["normalised"])
        text = [[f"{v:+.2f}" for v in row] for row in z]
        cols = [f"{c}" for c in m["columns"]]
        rows = [r.replace("_disentangled", " ⊥") for r in m["rows"]]
        fig.add_trace(go.Heatmap(z=z, x=cols, y=rows, text=text, texttemplate="%{text}", colorscale="RdBu_r",
                                 zmid=0, zmin=-vmax, zmax=vmax, showscale=k == len(mats),
                                 colorbar=dict(title="Δ / std"),
                                 hovertemplate="%{y} → %{x}: %{z:+.2f} std<extra></extra>"), 1, k)  # fmt: skip
        fig.update_yaxes(autorange="reversed", row=1, col=k)
    plotly_white(fig).update_layout(**_LAYOUT, height=120 + 45 * len(original["rows"]))
    return fig


def make_step_figure(norms: np.ndarray, timesteps: Sequence[int], window: tuple[int, int]) -> go.Figure:
    """‖Δh_t‖ per sampling step; steps inside the edit window in colour, outside grey."""
    idx = np.arange(len(norms))
    inside = (idx >= window[0]) & (idx < window[1])
    fig = go.Figure(go.Bar(x=[f"{i} (t={t})" for i, t in zip(idx, timesteps, strict=True)], y=norms,
                           marker_color=[ORANGE if w else "#cccccc" for w in inside],
                           hovertemplate="step %{x}: ‖Δh‖ = %{y:.2f}<extra></extra>"))  # fmt: skip
    plotly_white(fig).update_layout(**_LAYOUT, height=260, title="Edit norm per sampling step (coloured: applied)",
                      xaxis_title="sampling step (t = timestep; noisiest first)", yaxis_title="‖γ Δh_t‖")  # fmt: skip
    return fig


def make_trajectory_figure(xs: np.ndarray, x0s: np.ndarray, timesteps: Sequence[int]) -> go.Figure:
    """Scrub through sampling: x_t (left) and the predicted x0 (right) at each step, client-side."""
    frames = [mosaic(np.stack([xs[i], x0s[i]])[None]) for i in range(len(x0s))]
    labels = [f"{i} (t={int(t)})" for i, t in enumerate(timesteps)]
    fig = make_scrub_figure(np.stack(frames), labels, start=len(frames) - 1, prefix="step ",
                            title="x_t (left) and predicted x₀ (right)")  # fmt: skip
    fig.update_layout(height=330)
    return fig

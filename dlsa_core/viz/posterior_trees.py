"""Figures for the posterior-trees page: pure builders, state in, ``go.Figure`` (or PNG bytes) out.

The tree is a Plotly node-link diagram: one scatter marker per node (``customdata`` = the node's
path string, e.g. ``"2-0"``; ``"root"`` for the root) so that ``st.plotly_chart(on_select=...)`` can
report clicks, edges as a line trace, and each node's image as a layout image beneath its marker.
Children are laid out left to right by decreasing probability; rare branches stay visible.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlsa_core.viz.theme import plotly_white

BLUE, ORANGE, GREEN, VERMILLION, GREY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#888888"
ROOT_ID = "root"
LABEL_GAP = 0.27  # room under a thumbnail for its label, in leaf-slot units


def path_id(path) -> str:
    """``()`` -> ``"root"``, ``(2, 0)`` -> ``"2-0"``."""
    return "-".join(str(int(k)) for k in path) if len(path) else ROOT_ID


def parse_path_id(s: str, branching: int, depth: int) -> tuple[int, ...]:
    """Inverse of :func:`path_id`; raises ``ValueError`` for anything that is not a node of the tree."""
    if s in ("", ROOT_ID):
        return ()
    try:
        path = tuple(int(k) for k in str(s).split("-"))
    except ValueError as exc:
        raise ValueError(f"{s!r} is not a node path") from exc
    if len(path) > depth or any(not 0 <= k < branching for k in path):
        raise ValueError(f"{s!r} is not a node of a K={branching}, d={depth} tree")
    return path


def png_data_uri(img: np.ndarray, scale: int = 2) -> str:
    """A grey image ``(H, W)`` in [0, 1] as a PNG data URI (nearest-neighbour upscaled)."""
    from PIL import Image

    a = (np.clip(np.asarray(img, float), 0, 1) * 255).round().astype(np.uint8)
    im = Image.fromarray(a).resize((a.shape[1] * scale, a.shape[0] * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def tree_layout(tree) -> dict[tuple[int, ...], tuple[float, float]]:
    """``{path: (x, y)}`` for a one-input tree: leaves on evenly spaced slots ordered by probability
    within each parent, inner nodes centred over their children, depth j at ``y = -j``."""
    d = tree.depth
    pos: dict[tuple[int, ...], tuple[float, float]] = {}
    slot = [0]

    def place(path):
        if len(path) == d:
            pos[path] = (float(slot[0]), -float(d))
            slot[0] += 1
            return pos[path][0]
        _, p = tree.children(path)
        order = np.argsort(-p[0].numpy(), kind="stable")
        xs = [place(path + (int(c),)) for c in order]
        pos[path] = (float(np.mean(xs)), -float(len(path)))
        return pos[path][0]

    place(())
    return pos


def make_tree_figure(
    tree, *, focus=(), gt_path=None, title: str | None = None, height: int = 520
) -> go.Figure:
    """Node-link diagram of a one-input tree with thumbnails and probabilities.

    Parameters
    ----------
    tree : PosteriorTree with batch size 1
    focus : tuple of int
        The focused node: outlined, its ancestors' edges drawn bold, nodes outside its subtree dimmed.
    gt_path : sequence of int, optional
        The nearest-child path of the ground truth, drawn in green.
    """
    focus = tuple(focus)
    pos = tree_layout(tree)
    n_leaves = tree.n_leaves
    size = 0.8  # thumbnail side in x units (leaf slots are 1 apart)
    yscale = max(1.6, n_leaves / 6)  # vertical room per level, in the same units
    fig = go.Figure()
    gt = tuple(gt_path) if gt_path is not None else None
    for style in ("plain", "gt", "focus"):
        ex, ey = [], []
        for path, (x, y) in pos.items():
            if not path:
                continue
            px_, py_ = pos[path[:-1]]
            on_gt = gt is not None and path == gt[: len(path)]
            on_focus = path == focus[: len(path)]
            kind = "focus" if on_focus else "gt" if on_gt else "plain"
            if kind != style:
                continue
            ex += [px_, x, None]
            # start below the parent's probability label, so the edges never cross it
            ey += [py_ * yscale - size / 2 - LABEL_GAP, y * yscale + size / 2, None]
        colour, width = {"plain": (GREY, 1), "gt": (GREEN, 4), "focus": (BLUE, 3)}[style]
        fig.add_trace(
            go.Scatter(x=ex, y=ey, mode="lines", line=dict(color=colour, width=width), hoverinfo="skip",
                       name={"plain": "edge", "gt": "ground-truth path", "focus": "path to focus"}[style],
                       showlegend=style != "plain" and (style != "gt" or gt is not None))
        )  # fmt: skip
    ids, xs, ys, texts, hovers, colours = [], [], [], [], [], []
    for path, (x, y) in pos.items():
        img, p = tree.node(path)
        cond = float(tree.conditional(path)[0]) if path else 1.0
        in_focus = path[: len(focus)] == focus or focus[: len(path)] == path
        ids.append(path_id(path))
        xs.append(x)
        ys.append(y * yscale)
        lab = "root (MMSE)" if not path else f"{float(p[0]):.0%}"
        texts.append(lab if not path else f"{lab} | {cond:.0%}")
        cnt = tree.leaf_counts(path)
        hovers.append(
            f"node {path_id(path)}<br>P(node) = {float(p[0]):.3f}<br>P(node | parent) = {cond:.3f}"
            + (f"<br>samples: {int(cnt[0])}" if cnt is not None else "")
        )
        colours.append(
            BLUE if path == focus else GREEN if gt is not None and path == gt[: len(path)] else GREY
        )
        fig.add_layout_image(
            source=png_data_uri(img[0, 0].numpy()), xref="x", yref="y", x=x, y=y * yscale,
            sizex=size, sizey=size, xanchor="center", yanchor="middle", layer="below",
            opacity=1.0 if in_focus else 0.35, sizing="stretch",
        )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=xs, y=ys, mode="markers+text", customdata=ids, text=texts, textposition="bottom center",
            textfont=dict(size=11), hovertext=hovers, hoverinfo="text", name="nodes", showlegend=False,
            marker=dict(symbol="square-open", size=max(30, 620 // (n_leaves + 1)), color=colours,
                        line=dict(width=[4 if i == path_id(focus) else 1.5 for i in ids])),
        )
    )  # fmt: skip
    plotly_white(fig).update_layout(
        height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        title=title, xaxis=dict(visible=False, range=[-0.6, n_leaves - 0.4]),
        yaxis=dict(visible=False, range=[-tree.depth * yscale - 0.9, 0.6], scaleanchor="x"),
        legend=dict(orientation="h", y=1.0, x=0, yanchor="bottom"), uirevision="tree", clickmode="event+select",
        dragmode=False,
    )  # fmt: skip
    return fig


def _gray(fig, img, row, col, name, zmin=0.0, zmax=1.0, colorscale="gray"):
    fig.add_trace(
        go.Heatmap(z=np.asarray(img)[::-1], zmin=zmin, zmax=zmax, colorscale=colorscale, showscale=False,
                   name=name, hovertemplate=name + " (%{x}, %{y}): %{z:.2f}<extra></extra>"),
        row=row, col=col,
    )  # fmt: skip


def _square_axes(fig, rows, cols, height):
    fig.update_xaxes(visible=False, constrain="domain")
    for r in range(1, rows + 1):
        for c in range(1, cols + 1):
            fig.update_yaxes(visible=False, scaleanchor=f"x{'' if (r - 1) * cols + c == 1 else (r - 1) * cols + c}",
                             row=r, col=c)  # fmt: skip
    plotly_white(fig).update_layout(height=height, margin=dict(l=5, r=5, t=40, b=5))


def make_measurement_figure(
    y, root, x_true=None, *, masked_rows: int = 20, vertical: bool = False
) -> go.Figure:
    """Measurement (hidden rows outlined), the root (MMSE) and, when known, the ground truth.

    ``vertical`` stacks the panels in one column (for a narrow column beside the tree).
    """
    panels = [("measurement y", y), ("root = MMSE", root)] + (
        [("ground truth x", x_true)] if x_true is not None else []
    )
    n = len(panels)
    rows, cols = (n, 1) if vertical else (1, n)
    fig = make_subplots(
        rows, cols, subplot_titles=[p[0] for p in panels], horizontal_spacing=0.03, vertical_spacing=0.06
    )
    for i, (name, img) in enumerate(panels, 1):
        _gray(fig, img, i if vertical else 1, 1 if vertical else i, name)
    fig.add_shape(type="rect", x0=-0.5, x1=27.5, y0=27.5 - masked_rows, y1=27.5, row=1, col=1,
                  line=dict(color=ORANGE, width=2, dash="dash"), fillcolor="rgba(230,159,0,0.12)")  # fmt: skip
    _square_axes(fig, rows, cols, 200 * n + 20 if vertical else 260)
    return fig


def make_node_figure(tree, path, *, x_true=None) -> go.Figure:
    """The focused node, its children, and each child's difference from the node (child - node)."""
    path = tuple(path)
    img, p = tree.node(path)
    if len(path) < tree.depth:
        ch, cp = tree.children(path)
        order = np.argsort(-cp[0].numpy(), kind="stable")
        kids = [(path + (int(c),), ch[0, c, 0].numpy(), float(cp[0, c])) for c in order]
    else:
        kids = []
    cols = max(2, len(kids) + 1)
    titles = [f"node {path_id(path)} (P = {float(p[0]):.2f})"] + [
        f"{path_id(q)}: P = {pp:.2f} | {pp / max(float(p[0]), 1e-12):.0%}" for q, _, pp in kids
    ]
    titles = (
        titles
        + [""] * (cols - len(titles))
        + (
            ["|node - ground truth|" if x_true is not None else ""]
            + [f"{path_id(q)} - node" for q, _, _ in kids]
        )
    )
    rows = 2 if (kids or x_true is not None) else 1
    fig = make_subplots(
        rows, cols, subplot_titles=titles[: rows * cols], horizontal_spacing=0.02, vertical_spacing=0.1
    )
    base = img[0, 0].numpy()
    _gray(fig, base, 1, 1, "node")
    for i, (q, im, _) in enumerate(kids, 2):
        _gray(fig, im, 1, i, path_id(q))
        if rows > 1:
            _gray(fig, im - base, 2, i, "difference", -0.6, 0.6, "RdBu")
    if x_true is not None and rows > 1:
        _gray(fig, np.abs(base - np.asarray(x_true)), 2, 1, "|error|", 0, 1, "Reds")
    _square_axes(fig, rows, cols, 190 * rows + 40)
    fig.update_annotations(font_size=11)
    return fig


def make_path_figure(depths, curves: dict, *, reference_nll=None) -> go.Figure:
    """Path PSNR (left) and NLL (right) against depth; ``curves = {name: (psnr, psnr_sem, nll, nll_sem)}``.

    ``reference_nll`` (one value per depth >= 1) is drawn as a dashed line: the uniform guess ln K^j.
    """
    fig = make_subplots(
        1, 2, subplot_titles=["PSNR along the nearest-child path", "NLL of the ground truth's cell"]
    )
    colours = [BLUE, VERMILLION, GREEN, ORANGE]
    depths = list(depths)
    for (name, (ps, pse, nl, nle)), c in zip(curves.items(), colours, strict=False):
        fig.add_trace(go.Scatter(x=depths, y=ps, error_y=dict(array=pse), name=name, mode="lines+markers",
                                 line=dict(color=c), legendgroup=name), 1, 1)  # fmt: skip
        fig.add_trace(go.Scatter(x=depths[1:], y=nl, error_y=dict(array=nle), name=name, mode="lines+markers",
                                 line=dict(color=c), legendgroup=name, showlegend=False), 1, 2)  # fmt: skip
    if reference_nll is not None:
        fig.add_trace(go.Scatter(x=depths[1:], y=reference_nll, name="uniform guess ln K^j", mode="lines",
                                 line=dict(color=GREY, dash="dash")), 1, 2)  # fmt: skip
    fig.update_xaxes(title="depth", dtick=1)
    fig.update_yaxes(title="PSNR (dB)", row=1, col=1)
    fig.update_yaxes(title="nats", row=1, col=2)
    plotly_white(fig).update_layout(height=330, margin=dict(l=60, r=20, t=40, b=40),
                      legend=dict(orientation="h", y=-0.25))  # fmt: skip
    return fig


def make_calibration_figure(cal: dict, *, label: str = "") -> go.Figure:
    """Reliability diagram: observed frequency of the ground truth's cell vs predicted probability.

    ``cal = {name: calibration dict}`` (from :func:`dlsa_core.posterior_trees.calibration`).
    """
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                               line=dict(color=GREY, dash="dash")))  # fmt: skip
    for (name, c), colour in zip(cal.items(), [BLUE, VERMILLION, GREEN, ORANGE], strict=False):
        ok = np.asarray(c["count"]) > 0
        fig.add_trace(go.Scatter(
            x=np.asarray(c["pred"])[ok], y=np.asarray(c["obs"])[ok], mode="lines+markers", name=f"{name} (ECE {c['ece']:.3f})",
            marker=dict(size=4 + 14 * np.sqrt(np.asarray(c["count"])[ok] / max(np.asarray(c["count"]).max(), 1)), color=colour),
            customdata=np.asarray(c["count"])[ok], hovertemplate="predicted %{x:.2f}<br>observed %{y:.2f}<br>%{customdata:.0f} cells<extra></extra>",
        ))  # fmt: skip
    plotly_white(fig).update_layout(height=360, title=label or None, margin=dict(l=60, r=20, t=40, b=40),
                      xaxis=dict(title="predicted probability of a cell", range=[0, 1]),
                      yaxis=dict(title="observed frequency of the ground truth in it", range=[0, 1]),
                      legend=dict(orientation="h", y=-0.25))  # fmt: skip
    return fig


def tree_png(tree, *, scale: int = 3) -> bytes:
    """The whole one-input tree as a PNG grid: one row per depth (root, then K, K^2, ... nodes)."""
    from PIL import Image

    n = tree.n_leaves
    rows = []
    for j in range(tree.depth + 1):
        imgs, _ = tree.level(j)
        row = np.ones((28, n * 30)) * 1.0
        per = n // imgs.shape[1]
        for i in range(imgs.shape[1]):
            c = int((i + 0.5) * per * 30 - 14)
            row[:, c : c + 28] = imgs[0, i, 0].clamp(0, 1).numpy()
        rows.append(np.pad(row, ((1, 1), (0, 0)), constant_values=1.0))
    a = (np.concatenate(rows) * 255).astype(np.uint8)
    im = Image.fromarray(a).resize((a.shape[1] * scale, a.shape[0] * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()

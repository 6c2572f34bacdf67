"""Views of the h-space page (Streamlit side): strip, grid, dose-response, effects, per-step, export.

Kept next to the page so the page file stays a readable outline; the maths is in ``dlsa_core.hspace``.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

from app_pages import _ui
from dlsa_core import hspace
from dlsa_core.hspace import annotators as ann
from dlsa_core.viz import hspace as viz

METHODS = {"edit-friendly": "Edit-friendly (exact, η = 1)", "ddim": "DDIM (η = 0, approximate)"}
DOSE_STRENGTHS = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]
EFFECTS_FILE = Path(__file__).resolve().parents[1] / "assets" / "hspace" / "effects.json"
UNIT_HELP = ("Units differ per family: PCA = one standard deviation of h along that component per step; "
             "supervised and digit directions = the full mean difference (γ = 1).")  # fmt: skip
MATH = [
    r"x_{t-1}=\sqrt{\bar\alpha_{t-1}}\,P_t(\epsilon)+D_t(\epsilon)+\sigma_t z_t,\qquad "
    r"\epsilon=\epsilon_\theta\big(x_t,\;h_t+\gamma\,\Delta h_t\big)",
    r"\text{PCA: }\Delta h_t=s_{t,j}\,v_{t,j},\ \ \langle v_{t,j},v_{0,j}\rangle\ge0,\ \ s_{t,j}=\tfrac{\sigma_j}{\sqrt{n-1}}",
    r"\text{supervised: }\Delta h_t=\tfrac1{|\mathcal P|}\textstyle\sum_{i\in\mathcal P}h_t^{(i)}-"
    r"\tfrac1{|\mathcal N|}\sum_{i\in\mathcal N}h_t^{(i)}\ \ \text{(upper/lower half within each digit; }t<800)",
    r"\text{disentangled: }v\leftarrow\big[I-V(V^\top V)^{-1}V^\top\big]\,v",
    r"\text{identity-safe: }\Delta h_t\perp u_{t,1},\dots,u_{t,8},\ \ u_{t,j}=\text{top right singular vectors of }"
    r"\big[\partial\,m(x_0^{(i)})/\partial\Delta h_t\big]_{i\le600},\ \ m=\text{top logit}-\text{runner-up}",
    r"\text{Jacobian: }J_t=\partial\epsilon_\theta(x_t,h)/\partial h\big|_{h_t},\ \ J_t=U\Sigma W^\top,\ \ "
    r"\Delta h=w_k",
]
MATH_NOTE = ("The edited ε is used in both terms of the update (Haas et al.), at every step unless a window is "
             "set. The style directions (thickness, slant, height, width) act at t < 800 only: edits at the two "
             "noisiest steps of 10 moved slant by under 0.2° (vs 3° over all steps), and an edit that starts later "
             "replays the first steps from the unedited run. The style directions are also made orthogonal, at every step, to the 8 "
             "directions along which 600 samples' classifier margins are most sensitive: this cut the slant "
             "direction's digit flips from 21 % to 15 % of 100 seeds. Strength 0 is the unedited sample bit for bit; the "
             "same x_T (and noise maps) are reused.")  # fmt: skip


def family_of(bank, name: str) -> str:
    for fam, members in bank.families().items():
        if name in members:
            return fam.split(" (")[0]
    return "Digit to digit" if name.startswith("digit_") else "Custom"


@st.cache_data(show_spinner=False)
def _test_set():
    from dlsa_core.data import load_mnist

    d = load_mnist("test")
    return d.images, d.labels


def test_digit(idx: int) -> tuple[np.ndarray, int]:
    images, labels = _test_set()
    return images[idx].astype(np.float32) / 255.0, int(labels[idx])


def read_upload(data: bytes) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if len(data) > 5_000_000:
        raise ValueError("the image is larger than 5 MB; upload a small digit image")
    try:
        img = Image.open(io.BytesIO(data)).convert("L")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"not a readable image: {exc}") from exc
    return hspace.source.prepare_digit(np.asarray(img))


def canvas_digit(*, key: str) -> np.ndarray | None:
    from streamlit_drawable_canvas import st_canvas

    res = st_canvas(stroke_width=16, stroke_color="#FFFFFF", background_color="#000000", height=196, width=196,
                    drawing_mode="freedraw", return_image_data=True, key=key)  # fmt: skip
    if res.image_data is None or res.image_data[..., :3].max() < 10:
        return None
    try:
        return hspace.source.prepare_digit(res.image_data[..., :3].mean(-1))
    except ValueError:
        return None


def image_key(img) -> str:
    return "none" if img is None else hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest()[:16]


def strip_view(traj, skey, direction, smax, gamma, model, bank, win) -> None:
    fine = np.round(np.linspace(-smax, smax, 13), 3)  # the 7-image strip is every other frame
    with _ui.timed("Editing 13 strengths in one batch…"):
        imgs = _ui.guarded(hspace.edit_trajectory, traj, direction, fine, source_key=skey, model=model, bank=bank,
                           window=win)  # fmt: skip
    if imgs is None:
        return
    _ui.plotly(viz.make_strip_figure(imgs[::2], fine[::2], current=gamma, title=f"{direction}: strength strip"),
               key="hs.strip")  # fmt: skip
    th, sl = ann.thickness(imgs[::12]), ann.slant(imgs[::12])
    st.caption(f"From γ = {fine[0]:+.2f} to {fine[-1]:+.2f} thickness goes {th[0]:.2f} → {th[-1]:.2f} px and slant "
               f"{sl[0]:+.1f}° → {sl[-1]:+.1f}°.")  # fmt: skip
    _ui.plotly(viz.make_scrub_figure(imgs, [f"{v:+.2f}" for v in fine], start=6, prefix="γ = ",
                                     title="Scrub γ in the browser (13 precomputed frames)"), key="hs.scrub")  # fmt: skip


def grid_view(traj, skey, direction, smax, model, bank, win, names) -> None:
    other = st.selectbox("Second direction (rows)", names, index=names.index("slant") if "slant" in names else 0,
                         key="hs.dir2", bind="query-params")  # fmt: skip
    s = np.round(np.linspace(-smax, smax, 5), 3)
    rows = []
    with _ui.timed("Editing the 5 × 5 grid…"):
        for sb in s:
            r = _ui.guarded(hspace.edit_trajectory, traj, direction, s, source_key=skey, model=model, bank=bank,
                            window=win, extra=(other, float(sb)))  # fmt: skip
            if r is None:
                return
            rows.append(r)
    _ui.plotly(viz.make_grid_figure(np.stack(rows), s, s, direction, other), key="hs.grid")
    st.caption(f"Columns move along {direction}, rows along {other}; the centre is the unedited image.")


def dose_view(d: dict, direction: str) -> None:
    attr = st.radio("Attribute", list(ann.ATTRIBUTES), key="hs.attr", horizontal=True,
                    index=1 if direction.startswith("thick") else 0)  # fmt: skip
    _ui.plotly(viz.make_dose_figure(d, attr, ann.UNITS[attr], direction), key="hs.dose")
    i = int(np.argmax(d["strengths"]))
    a, r = d["direction"][attr][i], d["random"][attr][i]
    n = a.shape[0]
    st.caption(f"At γ = {d['strengths'][i]:+.1f}: Δ{attr} = {a.mean():+.2f} ± {a.std(ddof=1) / np.sqrt(n):.2f} "
               f"{ann.UNITS[attr]} for {direction} vs {r.mean():+.2f} ± {r.std(ddof=1) / np.sqrt(n):.2f} for a random "
               f"direction of the same norm (mean ± SE over {n} seeds); digit kept on "
               f"{d['direction']['digit_kept'][i].mean():.0%} of seeds.")  # fmt: skip


def effects_view(bank) -> None:
    if not EFFECTS_FILE.is_file():
        st.warning(
            "The precomputed effect matrix is missing; run `python benchmarks/bench_hspace.py --targets --write`."
        )
        return
    eff = json.loads(EFFECTS_FILE.read_text())
    for k in ("original", "disentangled"):
        eff[k]["normalised"] = np.array(eff[k]["normalised"])
    _ui.plotly(viz.make_effect_figure(eff["original"], eff["disentangled"]), key="hs.effects")

    def own_largest(m) -> tuple[int, int]:  # own attribute largest in |effect| and moved the right way
        rows = [(i, r.removesuffix("_disentangled")) for i, r in enumerate(m["rows"]) if r != "random"]
        z = m["normalised"]
        hits = sum(
            m["columns"][int(np.argmax(np.abs(z[i])))] == r and z[i][m["columns"].index(r)] > 0
            for i, r in rows
        )
        return hits, len(rows)

    (o, n), (d, _) = own_largest(eff["original"]), own_largest(eff["disentangled"])
    st.caption(f"Mean change at γ = +1 over {eff['n_seeds']} seeds ({eff['steps']} steps), divided by each attribute's "
               f"within-class std. The own attribute is the largest effect (and moves the right way) in {o} of {n} rows "
               f"before and {d} of {n} after disentangling (⊥ = the other style directions projected out). Paper's Table I (CelebA, CLIP "
               "scores): 2 of 5 before, 5 of 5 after. Precomputed by benchmarks/bench_hspace.py.")  # fmt: skip


def steps_view(traj, direction, gamma, bank, model, win) -> None:
    d = bank.on_grid(direction, traj.timesteps) * gamma
    norms = d.flatten(1).norm(dim=1).numpy()
    _ui.plotly(viz.make_step_figure(norms, traj.timesteps.tolist(), win), key="hs.stepnorm")
    delta = d * hspace.edit.window_mask(len(norms), win)[:, None, None, None]
    xs, x0s = hspace.trace(model, traj, delta)
    _ui.plotly(viz.make_trajectory_figure(xs, x0s, traj.timesteps.tolist()), key="hs.traj")
    k = int(np.argmax(norms))
    change = float(np.abs(xs[-1] - hspace.trace(model, traj, None)[0][-1]).max())
    st.caption(f"‖γΔh_t‖ is largest at step {k} (t = {int(traj.timesteps[k])}); with the window {win[0]}–{win[1] - 1} "
               f"the final image differs from the unedited one by up to {change:.2f} (pixel range 0–1). Drag the "
               "step slider under the images to watch x_t and the predicted x₀ form.")  # fmt: skip


@st.cache_resource(max_entries=16, show_spinner=False)
def _jacobian(skey: str, _traj, step: int, mask: str, _model):
    from dlsa_core.hspace import jacobian as jac

    x_t, t = jac.state_at(_model, _traj, step)
    final = torch.from_numpy(hspace.edit.unedited(_model, _traj)) * 2 - 1  # the stroke of the finished image
    m = None if mask == "all" else jac.output_mask(mask, final)
    return jac.subspace_iteration(_model, x_t, t, k=3, iters=12, mask=m), t


def jacobian_view(traj, skey, model, bank, win) -> None:
    c1, c2 = st.columns(2)
    step = c1.slider("Jacobian at sampling step", 0, traj.steps - 1, traj.steps // 2, key="hs.jstep")
    mask = c2.selectbox("Output region", list(hspace.jacobian.MASKS), key="hs.jmask")
    if not st.button(
        "Compute the top 3 singular vectors (matrix-free, ~10-40 s on CPU)", key="hs.jgo"
    ) and not (st.session_state.get("hs.jdone") == (skey, step, mask)):
        st.caption(
            "Image-specific directions: right singular vectors of ∂ε/∂h_t at this image and step (Algorithm 1)."
        )
        return
    with _ui.timed("Subspace iteration (JVPs/VJPs)…"):
        res, t = _jacobian(skey, traj, step, mask, model)
    st.session_state["hs.jdone"] = (skey, step, mask)
    scale = torch.tensor(bank.meta["pc_std"])[:, 0]
    s = np.round(np.linspace(-2, 2, 5), 3)
    rows = [hspace.edit_trajectory(traj, hspace.jacobian.as_bank_direction(v, scale), s, source_key=skey, model=model,
                                   bank=bank, window=win) for v in res.directions]  # fmt: skip
    labels = [f"σ{i + 1} = {v:.3f}" for i, v in enumerate(res.singular_values.tolist())]
    _ui.plotly(viz.make_strip_figure(np.stack(rows), s, row_labels=labels, title=f"Jacobian directions at t = {t} ({mask})"),
               key="hs.jstrip")  # fmt: skip
    st.caption("Each unit singular vector is applied at every step, scaled by PC1's standard deviation of that step "
               f"(γ = 1 ≈ one typical h-variation); singular values {', '.join(labels)}.")  # fmt: skip


def export_row(pair, direction, gamma, bank, label) -> None:
    from PIL import Image

    c1, c2, c3 = st.columns(3)
    buf = io.BytesIO()
    Image.fromarray((np.concatenate(pair, 1) * 255).astype(np.uint8)).resize((224, 112), Image.NEAREST).save(
        buf, "PNG"
    )
    c1.download_button(
        "Original | edited (PNG)", buf.getvalue(), "hspace_edit.png", "image/png", key="hs.png"
    )
    from safetensors.torch import save as st_save

    blob = st_save({"delta_h": bank.get(direction).contiguous(), "timesteps": bank.timesteps},
                   metadata={"direction": direction})  # fmt: skip
    c2.download_button("Direction (safetensors)", blob, f"{direction}.safetensors", key="hs.dirdl")
    frame = pd.DataFrame({"source": [label], "direction": [direction], "gamma": [gamma]})
    with c3:
        _ui.download_csv("State (CSV)", frame, "hspace_state.csv", key="hs.csv")


def snippet(direction: str, gamma: float, seed: int, steps: int) -> str:
    return (
        "from dlsa_core.hspace import edit_images, list_directions\n"
        "print(list_directions())\n"
        f"imgs = edit_images([{int(seed)}], {direction!r}, [0.0, {float(gamma)}], steps={int(steps)})\n"
        "print(imgs.shape, float(abs(imgs[0, 1] - imgs[0, 0]).max()))"
    )

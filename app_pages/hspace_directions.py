"""h-space directions (Haas et al., FG 2024): widgets -> dlsa_core.hspace -> figures."""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from app_pages import _hspace_views as ps
from app_pages import _ui
from dlsa_core import hspace
from dlsa_core.hspace import evaluate
from dlsa_core.viz import hspace as viz

SOURCES = ["generated", "held-out", "draw", "upload"]  # plain values: bound widgets write them into the URL
QUALITY = {5: "Preview · 5 steps", 10: "Balanced · 10 steps", 20: "Full · 20 steps"}
VIEWS = ["strip", "grid", "dose-response", "effects", "per-step", "jacobian"]
GAMMAS = [round(x, 2) for x in np.arange(-3, 3.001, 0.25)]
PRESETS = {
    "Thicker strokes": {"hs.source": "generated", "hs.seed": 1, "hs.dir": "thickness", "hs.gamma": 2.0, "hs.view": "strip"},
    "Slant, with a random control": {"hs.source": "generated", "hs.seed": 12, "hs.dir": "slant", "hs.gamma": 1.5, "hs.view": "dose-response"},
    "Turn a 1 into a 7": {"hs.source": "generated", "hs.seed": 7, "hs.dir": "digit_1_to_7", "hs.gamma": 1.0, "hs.view": "strip"},
    "First principal component": {"hs.source": "generated", "hs.seed": 0, "hs.dir": "pc1", "hs.gamma": 2.0, "hs.view": "strip"},
    "Disentangling (Table I)": {"hs.source": "generated", "hs.seed": 1, "hs.dir": "width_disentangled", "hs.gamma": 1.0, "hs.view": "effects"},
    "Edit a real digit": {"hs.source": "held-out", "hs.test": 7, "hs.dir": "thickness", "hs.gamma": -1.0, "hs.view": "strip"},
}  # fmt: skip
NOTICE = {
    "Thicker strokes": "The supervised thickness direction: mean h of the thicker minus the thinner half within each digit class, applied at t < 800 (class-mean span and 8 identity-sensitive dimensions per step projected out).",
    "Slant, with a random control": "The slant changes steadily with γ; a random direction of the same norm barely moves it.",
    "Turn a 1 into a 7": "A class-mean difference: at γ≈1 the classifier reads a 7, and the stroke keeps its style.",
    "First principal component": "Unsupervised: PC1 of h at every step, one standard deviation per unit; it mixes identity and style.",
    "Disentangling (Table I)": "Width also widens strokes; projecting the other directions out makes it change width most.",
    "Edit a real digit": "A held-out test digit, inverted exactly (edit-friendly), then thinned.",
}  # fmt: skip


@st.cache_resource(show_spinner="Loading the DDPM and the direction bank…")
def resources():
    return hspace.default_model(), hspace.default_bank()


@st.cache_resource(max_entries=32, show_spinner=False)
def inverted(key: str, _image: np.ndarray, steps: int, method: str):
    return hspace.invert_digit(_image, steps=steps, method=method)


@st.cache_data(max_entries=64, show_spinner=False)
def dose(direction: str, steps: int, n_seeds: int) -> dict:
    return evaluate.dose_response(range(100, 100 + n_seeds), direction, ps.DOSE_STRENGTHS, steps=steps)


_ui.intro(
    "hspace", "Pick a digit and a direction; the strength slider re-runs the sampler with γ·Δh_t added to h."
)
model, bank = resources()
names = bank.names()
_ui.sanitize_url({"hs.source": _ui.one_of(SOURCES), "hs.seed": _ui.number_in(0, 2**31 - 1, integer=True),
                  "hs.test": _ui.number_in(0, 499, integer=True), "hs.dir": _ui.one_of(names),
                  "hs.dir2": _ui.one_of(names), "hs.gamma": _ui.one_of(GAMMAS), "hs.q": _ui.one_of(QUALITY),
                  "hs.view": _ui.one_of(VIEWS), "hs.smax": _ui.one_of([1.0, 2.0, 3.0]),
                  "hs.method": _ui.one_of(list(ps.METHODS)), "hs.preset": _ui.one_of(PRESETS)})  # fmt: skip
choice = _ui.preset_selector(
    "hs.preset", PRESETS, help="Curated starting points; each sets the source, direction and strength."
)
for k, v in PRESETS[choice].items():
    if k not in st.query_params:  # a shared link's own values win over the preset's
        st.session_state.setdefault(k, v)
st.caption(NOTICE[choice])


def source_panel(steps: int, method: str):
    """Widgets for the image source; returns (trajectory, source key, label, psnr or None) or None."""
    src = st.radio("Source", SOURCES, key="hs.source", bind="query-params", horizontal=True)
    if src == "generated":
        seed = int(st.number_input("Seed", 0, 2**31 - 1, key="hs.seed", bind="query-params"))
        return hspace.edit.seed_trajectory(model, seed, steps=steps), f"seed:{seed}", f"seed {seed}", None
    if src == "held-out":
        idx = int(st.number_input("Test digit #", 0, 499, key="hs.test", bind="query-params"))
        img, label = ps.test_digit(idx)
        key, caption = f"test:{idx}", f"test digit #{idx} (label {label})"
    elif src == "draw":
        img = ps.canvas_digit(key="hs.canvas")
        key, caption = ps.image_key(img), "your drawing"
    else:
        up = st.file_uploader("Image (PNG/JPEG, a digit)", type=["png", "jpg", "jpeg"], key="hs.upload")
        img = _ui.guarded(ps.read_upload, up.getvalue()) if up is not None else None
        key, caption = ps.image_key(img), "your upload"
    if img is None:
        st.info("Draw a digit (white on black) or upload one to edit it.")
        return None
    inv = _ui.guarded(inverted, f"{key}:{method}:{steps}", img, steps, method)
    return None if inv is None else (inv.trajectory, inv.key, caption, inv.psnr_db)


@st.fragment
def explorer() -> None:
    left, right = st.columns([1, 2.4], gap="medium")
    with left:
        steps = st.segmented_control("DDIM steps (5 = preview, 20 = full)", list(QUALITY), key="hs.q",
                                     bind="query-params", default=5) or 5  # fmt: skip
        with st.expander("Advanced"):
            method = st.selectbox("Inversion of real digits", list(ps.METHODS), key="hs.method",
                                  bind="query-params", help=" · ".join(f"{k}: {v}" for k, v in ps.METHODS.items()))  # fmt: skip
            smax = st.select_slider("Strip range ±", [1.0, 2.0, 3.0], 2.0, key="hs.smax", bind="query-params")
            window = st.slider("Edit only at steps", 0, steps, (0, steps), key=f"hs.win{steps}",
                               help="Sampling-step indices [start, stop); 0 is the noisiest.")  # fmt: skip
        src = source_panel(steps, method)
        direction = st.selectbox("Direction", names, key="hs.dir", bind="query-params")
        st.caption(f"Family: {ps.family_of(bank, direction)}")
        gamma = st.select_slider("Strength γ", GAMMAS, key="hs.gamma", bind="query-params",
                                 help=ps.UNIT_HELP)  # fmt: skip
        view = st.radio("View", VIEWS, key="hs.view", bind="query-params")
    if src is None:
        return
    traj, skey, label, psnr_db = src
    win = None if tuple(window) == (0, steps) else tuple(window)
    with right:
        t0 = time.perf_counter()
        pair = _ui.guarded(hspace.edit_trajectory, traj, direction, [0.0, gamma], source_key=skey, model=model,
                           bank=bank, window=win)  # fmt: skip
        if pair is None:
            return
        ms = (time.perf_counter() - t0) * 1000
        _ui.plotly(
            viz.make_pair_figure(pair[0], pair[1], title=f"{label}: {direction} at γ = {gamma:+.2f}"),
            key="hs.pair",
        )
        m = hspace.annotate(np.stack(pair))
        cols = st.columns(4)
        cols[0].metric("Slant", f"{m['slant'][1]:+.1f}°", f"{m['slant'][1] - m['slant'][0]:+.1f}°")
        cols[1].metric(
            "Thickness", f"{m['thickness'][1]:.2f} px", f"{m['thickness'][1] - m['thickness'][0]:+.2f} px"
        )
        cols[2].metric(
            "Digit read",
            f"{m['digit'][1]} ({m['proba'][1].max():.0%})",
            None if m["digit"][1] == m["digit"][0] else f"was {m['digit'][0]}",
        )
        cols[3].metric("Reconstruction PSNR", "—" if psnr_db is None else f"{min(psnr_db, 99):.1f} dB")
        st.caption(f"{QUALITY[steps]} · edit computed in {ms:.0f} ms on {model.device} (cached per seed, direction, γ)"
                   + ("" if win is None else f" · edit applied only at steps {win[0]}–{win[1] - 1}"))  # fmt: skip
        if view == "strip":
            ps.strip_view(traj, skey, direction, smax, gamma, model, bank, win)
        elif view == "grid":
            ps.grid_view(traj, skey, direction, smax, model, bank, win, names)
        elif view == "dose-response":
            n_seeds = st.select_slider("Seeds", [4, 8, 16, 32], 8, key="hs.nseeds")
            with _ui.timed("Measuring dose-response…"):
                d = _ui.guarded(dose, direction, steps, n_seeds)
            if d is not None:
                ps.dose_view(d, direction)
        elif view == "effects":
            ps.effects_view(bank)
        elif view == "jacobian":
            ps.jacobian_view(traj, skey, model, bank, win)
        else:
            ps.steps_view(traj, direction, gamma, bank, model, win or (0, steps))
        ps.export_row(pair, direction, gamma, bank, label)


explorer()
_ui.math_expander(ps.MATH, ps.MATH_NOTE, key="hs.math")
with _ui.lazy_expander("Reproduce in Python", "hs.code") as exp:
    if exp.open:
        st.code(ps.snippet(st.session_state.get("hs.dir", "thickness"), st.session_state.get("hs.gamma", 1.0),
                           st.session_state.get("hs.seed", 1), st.session_state.get("hs.q", 10)), language="python")  # fmt: skip

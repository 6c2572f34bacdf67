"""AppTest: the flat-minima page runs, its captions come from the core, presets and links set the controls."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dlsa_core.flat_minima import report as fm

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "app_pages/flat_minima.py"
PRESET_KEYS = (
    "flat.sv",
    "flat.depth",
    "flat.width",
    "flat.eta",
    "flat.steps",
    "flat.nonwhite",
    "flat.layer",
    "flat.c",
)


def _open(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page(PAGE)
    return at.run()


def _summary(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**N = "))


def _caption(at, start: str) -> str:
    return next(c.value for c in at.caption if c.value.startswith(start))


@pytest.fixture(scope="module")
def default():
    at = _open()
    assert not at.exception and not at.error
    return at


def test_default_page_shows_measurement_beside_theory(default):
    at = default
    assert len(at.get("plotly_chart")) == 5  # training, gains, coupling, rebalance, sweep
    rep = fm.training_report([2.0, 1.0, 0.5], 3, 3, 0.02, 5000, seed=0)
    res = rep["runs"]["resnet"]
    text = _summary(at)
    assert f"λmax = {res.final_sharpness:.6g}" in text and f"{rep['minimal']:.6g}" in text
    assert f"2/η = {2 / 0.02:.4g}" in text
    rel = float(re.search(r"converged at λmax = [0-9.]+, ([0-9.e+-]+) relative", text).group(1))
    assert rel < 1e-3  # the zero-init ResNet sits on the closed form
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Theory: minimal λmax"] == f"{rep['minimal']:.5g}"
    assert metrics["Measured: large random"] == f"{rep['runs']['large'].final_sharpness:.5g}"
    coupling = _caption(at, "Singular-vector overlaps")
    assert f"zero-init ResNet {rep['coupling']['resnet'].top.min():.4f}" in coupling
    # the rebalance caption at c = 1 reports the unchanged minimum
    assert "(1.000× the unscaled" in _caption(at, "From the ResNet's minimum")


def test_exports_and_snippet_follow_the_controls(default):
    labels = [b.proto.label for b in default.get("download_button")]
    assert labels == ["Download the training curves (CSV)", "Download the state (JSON)"]
    default.session_state["flat.code"] = True  # the expander is lazy: its body is drawn once opened
    default.run()
    snippet = next(c.value for c in default.code if "train_linear_net(T, 3, 3, init, 0.02, 5000" in c.value)
    assert (
        "target_matrix([2.0, 1.0, 0.5], seed=0)" in snippet
    )  # executed in tests/core (test_report_and_snippet_agree)


def test_rebalance_slider_changes_sharpness_and_verdict(default):
    at = default
    at.select_slider(key="flat.eta").set_value(0.1).run()
    at.select_slider(key="flat.c").set_value(4.0).run()
    assert not at.exception
    cap = _caption(at, "From the ResNet's minimum")
    ratio = float(re.search(r"\(([0-9.]+)× the unscaled", cap).group(1))
    assert ratio == pytest.approx(5.6875, rel=0.02)  # (1 + c^2 + c^-2) / 3 along the top path, N = 3
    assert "exceeds 2/η = 20" in cap and "thrown out" in cap


def test_every_preset_sets_every_control_it_names():
    at = _open()
    for name, values in list(fm_presets().items())[1:]:
        at.selectbox(key="flat.preset").set_value(name).run()
        assert not at.exception and not at.error, name
        for key in PRESET_KEYS:
            assert at.session_state[key] == values[key], (name, key)
        assert f"N = {values['flat.depth']}," in _summary(at)
    assert any("not tight" in w.value for w in at.warning)  # the last preset is the non-whitened caveat


def fm_presets() -> dict:
    import importlib.util

    import streamlit  # noqa: F401 -- the page module imports it at top level

    spec = importlib.util.spec_from_file_location("flat_page_consts", Path(APP).parent / PAGE)
    source = (Path(APP).parent / PAGE).read_text()
    consts = source[: source.index("@st.cache_data")]  # the module's constants only, no widgets
    ns: dict = {}
    exec(compile(consts, spec.origin, "exec"), ns)
    return ns["PRESETS"]


def test_link_restores_state_and_preset_does_not_override_defaults():
    """A shared link of the deep preset with layer 1 (the slider's default, so absent from the URL) keeps 1."""
    query = {"flat.preset": "Deep and wide (N = 5, width 6)", "flat.sv": "3, 1, 0.5", "flat.depth": "5"}
    query.update({"flat.width": "6", "flat.eta": "0.02"})
    at = _open(query)
    assert not at.exception and not at.error
    assert at.slider(key="flat.depth").value == 5 and at.slider(key="flat.layer").value == 1
    assert _summary(at).startswith("**N = 5, σ(T) = (3, 1, 0.5), η = 0.02")


def test_invalid_link_values_are_named_and_ignored():
    at = _open({"flat.depth": "inf", "flat.eta": "0.0123", "flat.width": "4"})
    assert not at.exception
    notice = " ".join(c.value for c in at.caption)
    assert "flat.depth=inf" in notice and "flat.eta=0.0123" in notice and "flat.width" not in notice
    assert at.slider(key="flat.depth").value == 3 and at.slider(key="flat.width").value == 4


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("flat.sv", "2, banana", "numbers separated by commas"),
        ("flat.sv", "1e6", "[0.05, 10]"),
        ("flat.width", 1, "below d = 3"),
    ],
)
def test_bad_input_shows_a_message_not_a_traceback(default, key, value, message):
    at = default
    widget = at.text_input(key=key) if key == "flat.sv" else at.slider(key=key)
    widget.set_value(value).run()
    assert not at.exception
    assert any(message in e.value for e in at.error)
    (at.text_input(key=key) if key == "flat.sv" else at.slider(key=key)).set_value(
        "2, 1, 0.5" if key == "flat.sv" else 3
    ).run()
    assert not at.error


def test_a_step_too_large_for_any_minimum_is_explained(default):
    """eta = 0.4: 2/eta = 5 is below the minimal sharpness 7.56, so no run can settle; the page says so."""
    at = default
    at.select_slider(key="flat.eta").set_value(0.4).run()
    assert not at.exception and not at.error
    text = _summary(at)
    assert "2/η = 5." in text and "converged at" not in text
    assert any("No run converged" in i.value for i in at.info)
    assert _caption(at, "From the balanced factorisation of T")  # the rebalance starts from the exact minimum
    at.select_slider(key="flat.eta").set_value(0.02).run()
    assert "converged at" in _summary(at)


def _readme_links() -> list[str]:
    text = (Path(APP).parent / "docs" / "pages" / "flat_minima.md").read_text()
    return [line for line in text.splitlines() if line.startswith("/flat_minima?")]


@pytest.mark.slow
@pytest.mark.parametrize("link", _readme_links())
def test_readme_preset_links_restore_their_preset(link):
    """The preset links given to the page-latency benchmark open exactly their preset, nothing ignored."""
    from urllib.parse import parse_qsl

    query = dict(parse_qsl(link.split("?", 1)[1]))
    at = _open(query)
    assert not at.exception and not at.error
    assert not any("Ignored from the link" in c.value for c in at.caption)
    for key, value in fm_presets()[query["flat.preset"]].items():
        assert at.session_state[key] == value, (link, key)

"""End-to-end: the jointly smooth functions page in Chromium (charts render, slider -> URL, links survive
a reload for every control)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app

FIRST_LOAD_MS = (
    180_000  # a fresh server imports torch, scikit-learn and plotly first (slow on a busy machine)
)


def _slider(page, label: str):
    return page.get_by_test_id("stSlider").filter(has_text=label).get_by_role("slider")


def _caption(page, pattern: str) -> None:
    """Wait until the main caption matches ``pattern`` (the rerun after a change has finished drawing)."""
    page.get_by_text(
        re.compile(r"^f\d+ on .*" + pattern if not pattern.startswith("^") else pattern)
    ).first.wait_for()
    wait_for_app(page)


def _choose(page, label: str, option: str) -> None:
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    wanted = page.get_by_role("option", name=option, exact=True)
    for _ in range(5):  # a rerun that ends while the list opens closes it again: open until it stays
        box.locator("input").first.click()
        try:
            wanted.wait_for(timeout=5_000)
            break
        except Exception:
            wait_for_app(page)
    wanted.click()


def _controls(page) -> dict:
    """Every control's value as the browser shows it."""

    def select(label):  # the selected option is the value of the box's input
        return (
            page.get_by_test_id("stSelectbox")
            .filter(has_text=label)
            .first.locator("input")
            .first.input_value()
        )

    def checked(test_id, label):
        return page.get_by_test_id(test_id).filter(has_text=label).get_by_role("switch").first.is_checked()

    return {
        "preset": select("Preset"),
        "dataset": select("Data set"),
        "kernel": select("Kernel"),
        "n": page.get_by_test_id("stNumberInput")
        .filter(has_text="Training samples")
        .locator("input")
        .input_value(),
        "seed": page.get_by_test_id("stNumberInput").filter(has_text="Seed").locator("input").input_value(),
        **{
            name: page.get_by_test_id("stSlider")
            .filter(has_text=label)
            .get_by_test_id("stSliderThumbValue")
            .inner_text()
            for name, label in (
                ("d", "Kernel eigenvectors"),
                ("s", "Bandwidth scale"),
                ("ntest", "Held-out samples"),
                ("fn", "Function f_i"),
                ("ridge", "Kernel CCA ridge"),
            )
        },
        "permutation": page.get_by_test_id("stRadio").get_by_role("radio", name="permutation").is_checked(),
        "compare": checked("stCheckbox", "Compare with"),
        "sweep": checked("stCheckbox", "Sweep d and s"),
    }


@pytest.mark.slow
def test_page_renders_and_function_slider_syncs_url(server_url, page):
    page.goto(f"{server_url}/jointly_smooth")
    wait_for_app(page, FIRST_LOAD_MS)
    assert_no_exception(page)
    page.get_by_text("Jointly smooth functions").first.wait_for()
    assert page.get_by_test_id("stSidebarNav").get_by_text("Manifold learning").count() == 1  # app.py's nav
    page.locator(".js-plotly-plot").nth(3).wait_for()
    assert page.locator(".js-plotly-plot").count() == 4  # views, curves, energies, spectrum
    assert page.get_by_text(re.compile(r"^f1 on N = 1,000 paired samples")).count() == 1
    page.wait_for_timeout(500)
    screenshot(page, "jointly_smooth")

    _slider(page, "Function f_i").focus()
    page.keyboard.press("ArrowRight")
    page.get_by_text(re.compile(r"^f2 on N = 1,000 paired samples")).wait_for()
    wait_for_app(page)
    assert "jsf.fn=2" in page.url
    assert_no_exception(page)


@pytest.mark.slow
def test_share_link_survives_a_reload_for_every_control(server_url, page, browser):
    """Choose the Large-N preset in the UI, then change every control (several to the values that equal
    the widgets' built-in defaults, which Streamlit drops from the URL); the link must restore them all."""
    # The Large-N preset from the link, at a small N so that every fit below is quick.
    page.goto(f"{server_url}/jointly_smooth?jsf.preset=large_n&jsf.n=300&jsf.d=20")
    wait_for_app(page, FIRST_LOAD_MS)
    _caption(page, r"N = 300 paired samples, d = 20 .*\(Gaussian \(landmarks\)\)")
    _choose(page, "Kernel", "Gaussian (dense)")  # the preset's landmarks -> the built-in default
    _caption(page, r"\(Gaussian \(dense\)\)")
    n_input = page.get_by_test_id("stNumberInput").filter(has_text="Training samples").locator("input")
    n_input.fill("100")
    n_input.press("Enter")
    _caption(page, r"N = 100 paired samples")
    for label, pattern in (
        ("Kernel eigenvectors", r"d = 10 eigenvectors"),
        ("Bandwidth scale", r"s = 0.05 "),
        ("Function f_i", r"^f0 on"),
    ):
        _slider(page, label).focus()
        page.keyboard.press("Home")  # the slider's minimum, also its built-in default for d and s
        _caption(page, pattern)
    _choose(page, "Data set", "Parameter redundancy")
    page.get_by_text("R² vs p1 + p2^3 (shared)").first.wait_for()
    page.get_by_test_id("stExpander").filter(has_text="Advanced").locator("summary").click()
    page.get_by_test_id("stRadio").get_by_text("permutation").click()
    _caption(page, r"\(permutation E0")
    _slider(page, "Held-out samples").focus()
    page.keyboard.press("ArrowLeft")  # 100 -> 80
    page.get_by_text(re.compile(r"Crosses: 80 fresh samples")).wait_for()
    seed = page.get_by_test_id("stNumberInput").filter(has_text="Seed").locator("input")
    seed.fill("3")
    seed.press("Enter")
    wait_for_app(page)
    page.get_by_test_id("stCheckbox").filter(has_text="Compare with").locator("label").click()
    _slider(page, "Kernel CCA ridge").focus()
    page.keyboard.press("End")  # log10 ridge 0
    page.get_by_text(re.compile(r"kernel CCA ridge κ = 1e\+00")).wait_for()
    wait_for_app(page)
    assert_no_exception(page)
    before = _controls(page)
    assert before["preset"] == "Large N (20,000, landmarks)" and before["kernel"] == "Gaussian (dense)"
    assert before["dataset"] == "Parameter redundancy" and before["permutation"] and before["compare"]
    assert (before["n"], before["d"], before["s"], before["fn"]) == ("100", "10", "0.05", "0")
    link = page.url

    fresh = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    fresh.set_default_timeout(90_000)
    fresh.goto(link)
    wait_for_app(fresh, FIRST_LOAD_MS)
    assert_no_exception(fresh)
    fresh.get_by_text(re.compile(r"^f0 on N = 100 paired samples, d = 10 eigenvectors")).wait_for()
    fresh.get_by_test_id("stExpander").filter(has_text="Advanced").locator("summary").click()
    # the backend already ran with N = 100 (caption above), but the sidebar's number input has been seen
    # to show its default for a moment after the first paint: let the widgets settle, up to 10 s
    for _ in range(20):
        after = _controls(fresh)
        if after == before:
            break
        fresh.wait_for_timeout(500)
    assert after == before, (link, before, after)
    fresh.context.close()


@pytest.mark.slow
def test_bad_link_values_are_named_not_raised(server_url, page):
    page.goto(f"{server_url}/jointly_smooth?jsf.n=1e400&jsf.seed=inf&jsf.fn=3")
    wait_for_app(page, FIRST_LOAD_MS)
    assert_no_exception(page)
    page.get_by_text(re.compile(r"Ignored from the link.*jsf\.n=1e400.*jsf\.seed=inf")).wait_for()
    page.get_by_text(re.compile(r"^f3 on N = 1,000 paired samples")).wait_for()  # the valid value is kept

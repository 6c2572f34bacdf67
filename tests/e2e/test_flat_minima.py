"""End-to-end: the flat-minima page in Chromium (five charts, c slider -> caption + URL, the link reloads)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import SHOTS, assert_no_exception, screenshot, wait_for_app


@pytest.mark.slow
def test_page_renders_and_rebalance_slider_syncs_url(server_url, page):
    page.goto(f"{server_url}/flat_minima")
    wait_for_app(page, 180_000)  # cold: the first page of the server imports torch and trains
    assert_no_exception(page)
    page.get_by_text(re.compile(r"^N = 3, σ\(T\) = \(2, 1, 0.5\)")).wait_for()
    page.locator(".js-plotly-plot").nth(4).wait_for()
    assert page.locator(".js-plotly-plot").count() == 5
    assert page.get_by_text("Theory: minimal λmax", exact=True).count() == 1
    page.wait_for_timeout(500)
    screenshot(page, "flat_minima")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(["training", "gains", "coupling", "rebalance", "sweep"]):  # for review by eye
        page.locator(".js-plotly-plot").nth(i).screenshot(path=str(SHOTS / f"flat_minima_{name}.png"))
    page.set_viewport_size({"width": 1400, "height": 4600})  # the whole page, for review
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "flat_minima_full.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})

    caption = page.get_by_text(re.compile(r"^From the ResNet's minimum"))
    assert "(1.000× the unscaled" in caption.inner_text()
    slider = page.get_by_test_id("stSlider").filter(has_text="Rescaling factor c").get_by_role("slider")
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    wait_for_app(page)
    page.get_by_text(re.compile(r"W1 ← 1\.68·W1")).wait_for()
    assert "flat.c=1.68" in page.url
    assert_no_exception(page)

    # the link survives a reload: same c, same caption
    page.goto(page.url)
    wait_for_app(page)
    page.get_by_text(re.compile(r"W1 ← 1\.68·W1")).wait_for()
    assert_no_exception(page)


@pytest.mark.slow
def test_preset_link_opens_the_shared_view(server_url, page):
    page.goto(
        f"{server_url}/flat_minima?flat.preset=Rebalance%3A+same+function%2C+sharper&flat.eta=0.1&flat.c=4.0"
    )
    wait_for_app(page, 180_000)
    assert_no_exception(page)
    page.get_by_text(
        re.compile(r"^N = 3, σ\(T\) = \(2, 1, 0.5\), η = 0\.1: GD can only settle where λmax ≤ 2/η = 20")
    ).wait_for()
    caption = page.get_by_text(re.compile(r"^From the ResNet's minimum, W1 ← 4·W1"))
    assert "exceeds 2/η = 20" in caption.inner_text()
    assert page.get_by_text("Ignored from the link", exact=False).count() == 0
    page.get_by_test_id("stRadio").get_by_text(
        "small", exact=True
    ).click()  # sweep init: a plain value in the URL
    wait_for_app(page)
    page.get_by_text(re.compile(r"^GD from the same small random init")).wait_for()
    assert "flat.sweep_init=small" in page.url
    assert_no_exception(page)

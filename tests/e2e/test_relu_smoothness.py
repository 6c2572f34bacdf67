"""Playwright: the stable-ReLU-smoothness page trains in Chromium, the η slider moves the view, links survive a reload."""

from __future__ import annotations

import re

from app_pages._catalog import topic
from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app

HEADLINE = "() => Array.from(document.querySelectorAll('p')).some(p => p.innerText.includes({!r}))"


def headline(page) -> str:
    return page.get_by_text("At η =", exact=False).first.inner_text()


def test_page_trains_slider_updates_and_link_survives_reload(server_url, page):
    page.set_viewport_size({"width": 1400, "height": 2300})  # tall: both main figures in the screenshot
    page.goto(f"{server_url}/{topic('relu_smoothness').url_path}")
    wait_for_app(page, timeout_ms=240_000)
    page.wait_for_selector(".js-plotly-plot", timeout=240_000)
    assert_no_exception(page)
    assert "At η = 0.8 (seed 0)" in headline(page)
    caption = page.get_by_text("worst norm/bound =", exact=False).first.inner_text()
    assert float(re.search(r"worst norm/bound = ([0-9]+\.[0-9]+)", caption).group(1)) <= 1
    assert page.locator(".js-plotly-plot").count() >= 2
    page.wait_for_timeout(1500)  # let Plotly finish its transitions before the picture
    screenshot(page, "relu_smoothness")

    # the inspection slider: one step right on the sweep's grid (0.8 -> 0.9), cached sweep, no retraining
    slider = page.get_by_test_id("stSlider").filter(has_text="Step size η to inspect")
    slider.get_by_role("slider").focus()
    page.keyboard.press("ArrowRight")
    wait_for_app(page)
    page.wait_for_function(HEADLINE.format("At η = 0.9"), timeout=60_000)
    assert_no_exception(page)
    assert "relu.eta=0.9" in page.url
    knots = page.evaluate(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(g => g.data)"
        ".filter(t => (t.name || '').startsWith('knots of')).map(t => t.name)"
    )
    assert knots == ["knots of η = 0.9: |v|‖w‖·g"]

    # the link restores the view in a fresh session
    url = page.url
    page.goto(url)
    wait_for_app(page, timeout_ms=240_000)
    page.wait_for_function(HEADLINE.format("At η = 0.9"), timeout=240_000)
    assert_no_exception(page)

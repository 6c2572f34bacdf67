"""Playwright: the stable-ReLU-smoothness page trains in Chromium, the η slider moves the view, links survive a reload."""

from __future__ import annotations

import os
import re
from urllib.parse import quote

import pytest

from app_pages._catalog import topic
from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app

HEADLINE = "() => Array.from(document.querySelectorAll('p')).some(p => p.innerText.includes({!r}))"
PAPER4 = "The digest's points x = 0, 1, 2, 3"  # the cheapest preset (15 small runs): keeps CI fast


def headline(page) -> str:
    return page.get_by_text("At η =", exact=False).first.inner_text()


def open_page(server_url, page, query: str = "") -> None:
    page.goto(f"{server_url}/{topic('relu_smoothness').url_path}{query}")
    wait_for_app(page, timeout_ms=240_000)
    page.wait_for_selector(".js-plotly-plot", timeout=240_000)
    assert_no_exception(page)


def test_page_trains_slider_updates_and_link_survives_reload(server_url, page):
    open_page(server_url, page, f"?relu.preset={quote(PAPER4)}")
    assert "At η = 0.5 (seed 0)" in headline(page)
    caption = page.get_by_text("worst norm/bound =", exact=False).first.inner_text()
    assert float(re.search(r"worst norm/bound = ([0-9]+\.[0-9]+)", caption).group(1)) <= 1
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=120_000)

    # the inspection slider: one step right on the sweep's grid (0.5 -> 0.8), cached sweep, no retraining
    slider = page.get_by_test_id("stSlider").filter(has_text="Step size η to inspect")
    slider.get_by_role("slider").focus()
    page.keyboard.press("ArrowRight")
    wait_for_app(page)
    page.wait_for_function(HEADLINE.format("At η = 0.8"), timeout=60_000)
    assert_no_exception(page)
    assert "relu.eta=0.8" in page.url
    knots = page.evaluate(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(g => g.data)"
        ".filter(t => (t.name || '').startsWith('knots of')).map(t => t.name)"
    )
    assert knots == ["knots of η = 0.8: |v|‖w‖·g"]
    screenshot(page, "relu_smoothness_paper4")

    # the link restores the view in a fresh session (the preset fills what the link leaves out)
    page.goto(page.url)
    wait_for_app(page, timeout_ms=240_000)
    page.wait_for_function(HEADLINE.format("At η = 0.8"), timeout=240_000)
    assert_no_exception(page)
    assert (
        "0.1" in page.get_by_test_id("stMultiSelect").first.inner_text()
    )  # the preset's sweep, not a default


@pytest.mark.skipif(
    os.environ.get("DLSA_UPDATE_SCREENSHOTS") != "1", reason="README screenshot only on request"
)
def test_readme_screenshot_of_the_default_preset(server_url, page):
    page.set_viewport_size({"width": 1400, "height": 2300})  # tall: both main figures in the picture
    open_page(server_url, page)
    assert "At η = 0.8 (seed 0)" in headline(page)
    page.wait_for_timeout(1500)  # let Plotly finish drawing
    screenshot(page, "relu_smoothness")

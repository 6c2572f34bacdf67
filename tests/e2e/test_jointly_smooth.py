"""End-to-end: the jointly smooth functions page in Chromium (charts render, slider -> URL, URL -> state)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app


@pytest.mark.slow
def test_page_renders_and_function_slider_syncs_url(server_url, page):
    page.goto(f"{server_url}/jointly_smooth")
    wait_for_app(page)
    assert_no_exception(page)
    page.get_by_text("Jointly smooth functions").first.wait_for()
    assert page.get_by_test_id("stSidebarNav").get_by_text("Manifold learning").count() == 1  # app.py's nav
    page.locator(".js-plotly-plot").nth(2).wait_for()
    assert page.locator(".js-plotly-plot").count() == 3
    assert page.locator(".js-plotly-plot .gl-container").count() >= 1  # the torus is drawn in 3-D (WebGL)
    assert page.get_by_text(re.compile(r"^f1 on N = 1,000 paired samples")).count() == 1
    page.wait_for_timeout(500)
    screenshot(page, "jointly_smooth")

    slider = page.get_by_test_id("stSlider").filter(has_text="Function f_i to show").get_by_role("slider")
    slider.focus()
    page.keyboard.press("ArrowRight")
    wait_for_app(page)
    page.get_by_text(re.compile(r"^f2 on N = 1,000 paired samples")).wait_for()
    assert "jsf.fn=2" in page.url
    assert_no_exception(page)


@pytest.mark.slow
def test_url_opens_the_shared_view(server_url, page):
    page.goto(f"{server_url}/jointly_smooth?jsf.fn=3&jsf.d=60&jsf.dataset=Parameter+redundancy")
    wait_for_app(page)
    assert_no_exception(page)
    page.get_by_text(re.compile(r"^f3 on N = 1,000 paired samples, d = 60 eigenvectors")).wait_for()
    page.get_by_text("R² vs p1 + p2^3 (shared)").first.wait_for()  # metrics render after the caption

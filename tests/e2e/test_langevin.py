"""Playwright: the Langevin / Hessian-rank page renders in Chromium, a slider updates the caption and the
URL, and a shared link reopens the same view."""

from __future__ import annotations

import re

from app_pages._catalog import topic
from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app

PATH = topic("langevin").url_path


def test_page_renders_and_rank_slider_updates_caption_and_url(server_url, page):
    page.set_viewport_size({"width": 1400, "height": 3300})  # tall: the screenshot shows all three sections
    page.goto(f"{server_url}/{PATH}")
    wait_for_app(page, timeout_ms=300_000)
    page.get_by_text(re.compile(r"runs × .* steps")).first.wait_for(timeout=300_000)
    assert_no_exception(page)
    # Plotly's bundle loads lazily after the script finished: wait for the charts, don't count at once
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4", timeout=120_000)
    assert "rank ≈" in page.get_by_text(re.compile(r"runs × .* steps")).first.inner_text()
    screenshot(page, "langevin_rank")

    caption = page.get_by_text(re.compile(r"^Continuous-time levels")).first
    assert "rank 5," in caption.inner_text()
    rank_slider = page.get_by_test_id("stSlider").nth(1)  # n, then rank
    rank_slider.get_by_role("slider").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    wait_for_app(page, timeout_ms=300_000)
    page.get_by_text(re.compile(r"^Continuous-time levels .* rank 7,")).first.wait_for(timeout=60_000)
    assert "lgv.rank=7" in page.url and "lgv.kind" not in page.url  # the preset's own values stay implicit
    assert_no_exception(page)
    page.goto(page.url)  # a reload keeps the view: the preset rebuilds what the link leaves out
    wait_for_app(page, timeout_ms=300_000)
    page.get_by_text(re.compile(r"^Continuous-time levels .* rank 7,")).first.wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"rates λ\(P½HP½\) from 1 to 1\.")).first.wait_for()  # still Riemannian


def test_shared_link_reopens_the_view(server_url, page):
    page.goto(f"{server_url}/{PATH}?lgv.kind=adam&lgv.dim=12&lgv.rank=3&lgv.width=8&lgv.noise=0.1")
    wait_for_app(page, timeout_ms=300_000)
    assert_no_exception(page)
    page.get_by_text(re.compile(r"^Continuous-time levels .* n = 12, rank 3, c = 0.1\.")).first.wait_for()
    page.get_by_text(re.compile(r"for 64 \(")).first.wait_for(timeout=300_000)  # d = 8: true rank 64

"""Playwright: the SGD stability page loads in Chromium and a slider move updates the figure."""

from __future__ import annotations

from app_pages._catalog import topic
from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app


def test_page_loads_and_slider_updates_figure(server_url, page):
    page.goto(f"{server_url}/{topic('sgd_stability').url_path}")
    wait_for_app(page)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    assert_no_exception(page)
    assert page.get_by_text("η*(B)", exact=False).count() > 0
    caption = page.get_by_text("At B=", exact=False).first
    before = caption.inner_text()
    assert "At B=1" in before
    screenshot(page, "sgd_stability")

    slider = page.get_by_test_id("stSlider").first  # batch size
    slider.get_by_role("slider").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    wait_for_app(page)
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('p')).some(p => p.innerText.includes('At B=3'))",
        timeout=60_000,
    )
    assert_no_exception(page)
    after = page.get_by_text("At B=", exact=False).first.inner_text()
    assert after != before and "At B=3" in after
    assert "stab.B=3" in page.url  # the slider is bound to the URL
    # the marked point in the region figure moved to B = 3
    xs = page.evaluate(
        "() => { const g = document.querySelector('.js-plotly-plot');"
        " return g.data.filter(t => (t.name || '').startsWith('your (B')).map(t => t.x[0]); }"
    )
    assert xs == [3]

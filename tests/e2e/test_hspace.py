"""Playwright: the h-space page edits a digit when the strength slider moves and when a digit is drawn."""

from __future__ import annotations

from app_pages._catalog import topic
from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app

PIXELS_JS = """() => { const g = document.querySelectorAll('.js-plotly-plot')[0];
  return JSON.stringify(g.data[1].z); }"""


def test_strength_slider_and_drawing_change_the_image(server_url, page):
    page.goto(f"{server_url}/{topic('hspace').url_path}")
    wait_for_app(page, 180_000)
    page.wait_for_selector(".js-plotly-plot", timeout=180_000)
    assert_no_exception(page)
    before = page.evaluate(PIXELS_JS)  # the edited panel of the original/edited/difference figure
    screenshot(page, "hspace_directions")

    slider = page.get_by_test_id("stSlider").filter(has_text="Strength").first
    slider.get_by_role("slider").focus()
    for _ in range(8):
        page.keyboard.press("ArrowLeft")  # 2.0 -> 0.0 in steps of 0.25, one commit each
    page.wait_for_function("() => window.location.search.includes('hs.gamma=0.0')", timeout=120_000)
    wait_for_app(page, 180_000)
    page.wait_for_function(f"(b) => ({PIXELS_JS})() !== b", arg=before, timeout=120_000)
    assert_no_exception(page)

    # draw a vertical stroke: the source becomes the drawing, inverted and shown with its PSNR
    page.get_by_text("draw", exact=True).click()
    wait_for_app(page, 180_000)
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(timeout=60_000)
    box = canvas.bounding_box()
    x = box["x"] + box["width"] * 0.5
    page.mouse.move(x, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x + i, box["y"] + box["height"] * (0.2 + 0.06 * i))
    page.mouse.up()
    page.wait_for_selector("text=your drawing", timeout=180_000)
    wait_for_app(page, 180_000)
    assert_no_exception(page)
    assert page.get_by_text("dB", exact=False).count() > 0

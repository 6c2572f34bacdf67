"""Playwright: the SGD stability page in Chromium — slider, preset switching in one session, a shared link."""

from __future__ import annotations

import re

from app_pages._catalog import topic
from dlsa_core.stability import presets
from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app

URL = topic("sgd_stability").url_path


def headline(page) -> str:
    return page.get_by_text("At B=", exact=False).first.inner_text()


def wait_headline(page, text: str) -> None:
    page.wait_for_function(
        "t => Array.from(document.querySelectorAll('p')).some(p => p.innerText.includes(t))",
        arg=text,
        timeout=90_000,
    )


def choose_preset(page, preset: str) -> None:
    box = page.get_by_test_id("stSelectbox").filter(has_text="Preset")
    box.click()
    page.get_by_role("option", name=presets.PRESETS[preset]["label"]).click()
    wait_for_app(page)


def test_page_loads_and_slider_updates_figure(server_url, page):
    page.goto(f"{server_url}/{URL}")
    wait_for_app(page)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    wait_headline(page, "At B=1")
    page.get_by_text("Typical paths", exact=False).first.wait_for(timeout=90_000)  # the simulation followed
    assert_no_exception(page)
    before = headline(page)
    screenshot(page, "sgd_stability")

    slider = page.get_by_test_id("stSlider").first  # batch size
    slider.get_by_role("slider").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    wait_for_app(page)
    wait_headline(page, "At B=3")
    assert_no_exception(page)
    assert headline(page) != before
    assert "stab.B=3" in page.url  # B is in the link as a plain number
    xs = page.evaluate(
        "() => { const g = document.querySelector('.js-plotly-plot');"
        " return g.data.filter(t => (t.name || '').startsWith('your (B')).map(t => t.x[0]); }"
    )
    assert xs == [3]


def test_preset_switching_in_one_session_and_shared_link(server_url, page, browser):
    """Issue 8 items 2-3: Incoherent -> Digits -> ReLU left B = 4; the link must carry plain values."""
    page.goto(f"{server_url}/{URL}")
    wait_for_app(page)
    wait_headline(page, "At B=1")
    for name in ("incoherent", "digits", "relu"):
        choose_preset(page, name)
        want = presets.PRESETS[name]
        wait_headline(page, f"At B={want['B']},")
        assert f"stab.problem={want['problem']}" in page.url and f"stab.B={want['B']}" in page.url
        assert_no_exception(page)
    link = page.url
    assert re.search(r"stab\.ratio=0\.794\b", link) and "Trained" not in link  # plain values, no labels
    text = headline(page)

    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    other.goto(link)  # a fresh session from the shared link, then a reload
    wait_for_app(other)
    wait_headline(other, "At B=2,")
    assert headline(other) == text
    other.reload()
    wait_for_app(other)
    wait_headline(other, "At B=2,")
    assert headline(other) == text
    assert_no_exception(other)
    other.context.close()

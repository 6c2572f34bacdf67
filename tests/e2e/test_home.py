import urllib.request

import pytest

from app_pages._catalog import available_topics
from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app


def test_health_endpoint(server_url):
    with urllib.request.urlopen(server_url + "/_stcore/health", timeout=5) as r:
        assert r.read().decode().strip() == "ok"


def test_home_page_renders_in_chromium(server_url, page):
    page.goto(server_url + "/")
    wait_for_app(page)
    page.get_by_text("dlsa — see and check deep-learning theory").first.wait_for()
    assert_no_exception(page)
    for t in available_topics():
        assert page.get_by_text(t.claim).count() >= 1
    assert "Compute device" in page.locator('[data-testid="stSidebar"]').inner_text()
    screenshot(page, "home")


@pytest.mark.parametrize("topic", available_topics(), ids=lambda t: t.key)
def test_every_page_loads_from_its_url(server_url, page, topic):
    page.goto(f"{server_url}/{topic.url_path}")
    wait_for_app(page, timeout_ms=120_000)
    page.get_by_role("heading", name=topic.title).first.wait_for()
    assert_no_exception(page)


def test_deep_link_on_a_fresh_server_goes_through_app_py(page):
    """The first request a new server sees is a deep link: it must be routed by app.py's st.navigation
    (sections in the sidebar, wide layout), not by Streamlit's legacy folder discovery."""
    from tests.e2e.conftest import run_streamlit

    target = available_topics()[-1]
    with run_streamlit() as url:
        page.goto(f"{url}/{target.url_path}")
        wait_for_app(page, timeout_ms=120_000)
        page.get_by_role("heading", name=target.title).first.wait_for()
        assert_no_exception(page)
        nav = page.get_by_test_id("stSidebarNav").inner_text()
        assert target.section in nav and "Home" in nav
        assert "catalog" not in nav.lower() and "_ui" not in nav

import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from app_pages._catalog import ROOT, SECTIONS, TOPICS, available_topics

APP = str(ROOT / "app.py")


def test_home_renders_a_card_per_existing_topic():
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value.startswith("dlsa")
    text = " ".join(m.value for m in at.markdown)
    present = available_topics()
    for t in present:
        assert t.title in text and t.claim in text
    for t in TOPICS:
        if not t.exists:
            assert t.title not in text  # no "coming soon" stubs


def test_sidebar_shows_the_compute_device():
    at = AppTest.from_file(APP, default_timeout=60).run()
    captions = [c.value for c in at.sidebar.caption]
    assert any("Compute device: **cpu**" in c for c in captions), captions


def test_catalog_is_consistent():
    keys = [t.key for t in TOPICS]
    assert len(keys) == len(set(keys)) == 7
    assert len({t.url_path for t in TOPICS}) == 7
    assert {t.section for t in TOPICS} == set(SECTIONS)
    for t in TOPICS:
        assert t.page_file.startswith("app_pages/") and "/" not in t.url_path


def test_core_does_not_import_streamlit():
    code = (
        "import dlsa_core, dlsa_core.device, dlsa_core.data, dlsa_core.weights, sys; "
        "assert 'streamlit' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("topic", available_topics(), ids=lambda t: t.key)
def test_every_listed_page_runs_without_exception(topic):
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page(topic.page_file).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title and at.title[0].value == topic.title
    # the shell draws the title before the page module imports anything; the page must not repeat it
    assert [t.value for t in at.title].count(topic.title) == 1
    assert sum(topic.claim in m.value for m in at.markdown) == 1


def test_shell_intro_is_forgotten_on_the_home_page():
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("app_pages/sgd_stability.py").run()
    assert at.session_state["_ui.intro_drawn_by_shell"] == "sgd_stability"
    at.switch_page("app_pages/home.py").run()
    assert "_ui.intro_drawn_by_shell" not in at.session_state

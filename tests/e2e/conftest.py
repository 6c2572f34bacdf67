"""End-to-end fixtures: one ``streamlit run app.py`` server for the whole session, Debian's Chromium.

Never runs ``playwright install``: the browser is the system one (``shutil.which("chromium")``).
Screenshots go to ``build/screenshots/``; with ``DLSA_UPDATE_SCREENSHOTS=1`` they are also copied
to ``assets/screenshots/`` for the README.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def run_streamlit(script: str = "app.py"):
    """Start ``streamlit run <script>`` (the app by default) on a free localhost port; yield its URL once healthy."""
    port = _free_port()
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    env = dict(os.environ, HF_HUB_OFFLINE="1", DLSA_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", script,
            "--server.headless", "true",
            "--server.port", str(port),
            "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
        ],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.seek(0)
                pytest.fail(f"streamlit did not become healthy:\n{log.read()}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.seek(0)
        print("---- streamlit server log ----\n" + log.read()[-5000:])


@pytest.fixture(scope="session")
def server_url():
    with run_streamlit() as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail(
            "Debian's chromium is not installed (apt-get install chromium); "
            "the test command installs it when run as root."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def wait_for_app(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit is connected and the script has finished running."""
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=timeout_ms
    )
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms)
    page.wait_for_timeout(500)


def assert_no_exception(page) -> None:
    """No exception element, and no "Page not found" dialog (a deep link that failed to resolve)."""
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]'
    ).first.inner_text()
    dialogs = " ".join(page.locator('[role="dialog"]').all_inner_texts())
    assert "Page not found" not in dialogs, dialogs


def screenshot(page, name: str) -> Path:
    """Save a PNG under build/screenshots (and assets/screenshots when DLSA_UPDATE_SCREENSHOTS=1)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("DLSA_UPDATE_SCREENSHOTS") == "1":
        dest = ROOT / "assets" / "screenshots" / f"{name}.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dest)
    return path

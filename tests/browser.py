"""Headless Chromium for the browser tests: starting it, and reading what it did.

Debian's chromium and chromium-driver (``.ci/run`` installs them). A test that
needs the browser is skipped when they are missing, except under CI, where
that fails: CI must run every browser test.
"""

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Without the networking flags Chromium keeps dialling Google's hosts, which
# this closed network refuses.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


def browser_missing() -> str | None:
    """Why the browser cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    return None


def require_browser() -> None:
    """Skip the test without a browser; under CI, fail it."""
    missing = browser_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {missing}")
        pytest.skip(missing)


@contextmanager
def chromium(downloads: str | None = None) -> Iterator:
    """A headless Chromium that records every request and console message."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    if downloads:
        options.add_experimental_option(
            "prefs",
            {
                "download.default_directory": downloads,
                "download.prompt_for_download": False,
            },
        )
    # Every request the page makes (to prove it never leaves the server) and
    # every console message (a policy violation, an uncaught error).
    options.set_capability(
        "goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"}
    )
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def live_server(app) -> Iterator[str]:
    """Serve ``app`` on a loopback port with one thread per request."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(10)


def wait(driver, seconds: float = 30):
    """Wait for a condition, looking every 50 ms (selenium's default is 500)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.05)


def performance_messages(driver) -> list[dict]:
    """The DevTools network events logged since the last read."""
    return [
        json.loads(entry["message"])["message"]
        for entry in driver.get_log("performance")
    ]


def hosts_requested(messages: list[dict]) -> set[str]:
    """Hosts the page sent requests to; ones the browser blocked don't count."""
    hosts, blocked = {}, set()
    for message in messages:
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if url.startswith("http"):
                hosts[params["requestId"]] = urlsplit(url).netloc
        elif message["method"] == "Network.loadingFailed" and params.get(
            "blockedReason"
        ):
            blocked.add(params["requestId"])
    return {host for request, host in hosts.items() if request not in blocked}

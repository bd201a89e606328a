"""Offline, the app asks nothing of any other host: every request stays on the server's own origin
(favicon, icons and fonts included) and the browser console stays free of errors."""
import os
import time
from urllib.parse import urlparse

import pytest

from tests.e2e.test_train_flow import button, wait_until

SHOT = os.environ.get("AE_ICON_SCREENSHOT")  # where to save a picture of the Pending warning
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
SETTLE_S = 3.0  # late requests (favicon, icon font, fragments' first refresh) happen within this


def streamlits_own_probe(url: str) -> bool:
    """Opened straight at /explore or /runs, Streamlit's frontend first looks for its server under
    that path (/explore/_stcore/health, …/host-config), gets a 404 and then finds it at the root:
    streamlit/streamlit#7074, a same-origin quirk of Streamlit's, not the app's."""
    path = urlparse(url).path
    return path.count("/") > 2 and path.endswith(("/_stcore/health", "/_stcore/host-config"))


def watch(page) -> tuple[list[str], list[str]]:
    """Start recording the page's requests (URLs) and console errors; returns the two lists."""
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(f"{m.text} ({m.location.get('url', '')})")
            if m.type == "error" and not streamlits_own_probe(m.location.get("url", "")) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return requests, errors


def outside(requests: list[str]) -> list[str]:
    return [u for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
            and urlparse(u).hostname not in LOCAL_HOSTS]


@pytest.mark.parametrize("path,heading", [("", "Watch an autoencoder learn"), ("explore", None), ("runs", "Runs")])
def test_each_page_loads_without_any_outside_request_or_console_error(page, server, path, heading):
    requests, errors = watch(page)
    page.goto(server + path)
    page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=60_000)
    if heading:
        page.get_by_role("heading", name=heading).wait_for(timeout=60_000)
    time.sleep(SETTLE_S)
    # The favicon is the app's own PNG, served by the app.
    icon = page.evaluate("() => [...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
    assert icon and all(urlparse(h).hostname in LOCAL_HOSTS for h in icon), icon
    assert page.request.get(icon[-1]).headers["content-type"] == "image/png"
    assert outside(requests) == [], outside(requests)
    assert errors == [], errors


def test_the_pending_warning_icon_is_drawn_from_the_bundled_font(page, server):
    requests, errors = watch(page)
    page.goto(server)
    step = button(page, "Step")
    step.wait_for(timeout=60_000)
    wait_until(lambda: step.is_enabled(), 90, "the network to be ready")
    step.click()  # ten steps, then paused: a network change now waits for Reset
    wait_until(lambda: page.get_by_text("paused").count() > 0, 30, "paused status")
    slider = page.locator('input[type="range"][aria-label="Latent size"]')
    slider.focus()
    slider.press("ArrowRight")
    alert = page.locator('[data-testid="stAlert"]', has_text="Pending")
    alert.wait_for(timeout=30_000)
    icon = alert.locator('[data-testid="stAlertDynamicIcon"]')
    assert icon.count() == 1 and icon.inner_text() == "pan_tool"
    assert "Material Symbols" in icon.evaluate("e => getComputedStyle(e).fontFamily")
    assert page.evaluate("() => document.fonts.check('24px \"Material Symbols Rounded\"', 'pan_tool')")
    # Drawn as one glyph (about a square), not as the word "pan_tool" in a fallback font.
    box = icon.bounding_box()
    assert box["width"] < 1.6 * box["height"], box
    if SHOT:
        alert.screenshot(path=SHOT)
    time.sleep(SETTLE_S)
    assert outside(requests) == [], outside(requests)
    assert errors == [], errors

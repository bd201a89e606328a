"""Which Chromium the browser tests drive: the first found of ``$CHROMIUM``, Debian's
``/usr/bin/chromium``, ``/usr/bin/chromium-browser``, Google Chrome, and playwright's own download."""
from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

MISSING = ("No Chromium or Chrome found for the browser tests: install one (Debian/Ubuntu: "
           "sudo apt-get install chromium; anywhere: python -m playwright install chromium) "
           "or set CHROMIUM to its path.")
PLAYWRIGHT_OWN = "playwright"   # find()'s answer when playwright's own Chromium is the one to launch

_CANDIDATES = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    os.path.expandvars(r"%ProgramFiles%\Google\Chrome\Application\chrome.exe"),
    os.path.expandvars(r"%ProgramFiles(x86)%\Google\Chrome\Application\chrome.exe"),
    os.path.expandvars(r"%LocalAppData%\Google\Chrome\Application\chrome.exe"),
)


def _runnable(path: str | None) -> bool:
    return bool(path) and Path(path).is_file() and os.access(path, os.X_OK)


@functools.cache
def find() -> str | None:
    """The browser's executable, :data:`PLAYWRIGHT_OWN`, or None when there is none."""
    configured = os.environ.get("CHROMIUM", "").strip()
    if configured:
        return configured if _runnable(configured) else shutil.which(configured)
    for path in (*_CANDIDATES, shutil.which("google-chrome"), shutil.which("chromium")):
        if _runnable(path):
            return path
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            return PLAYWRIGHT_OWN if _runnable(p.chromium.executable_path) else None
    except Exception:  # playwright missing or broken: no browser either way
        return None


def launch_options() -> dict:
    """Keyword arguments for playwright's ``chromium.launch`` naming the browser found."""
    found = find()
    if found is None:
        raise RuntimeError(MISSING)
    return {} if found == PLAYWRIGHT_OWN else {"executable_path": found}

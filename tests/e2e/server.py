"""Start `streamlit run app.py` on a free local port, and Chromium for playwright (see browser.py)."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


class Server(str):
    """The server's URL, with its process at hand (``.proc``)."""
    proc: subprocess.Popen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(mnist_path, runs_dir, extra_env: dict | None = None):
    port = free_port()
    runs_dir = Path(runs_dir)
    env = dict(os.environ, AE_MNIST_PATH=str(mnist_path), AE_RUNS_DIR=str(runs_dir / "runs"), **(extra_env or {}))
    log = open(Path(runs_dir) / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = Server(f"http://127.0.0.1:{port}/")
    url.proc = proc
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(url + "_stcore/health", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"streamlit did not start: {Path(log.name).read_text()[-2000:]}")
                time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


TIMEOUT_MS = 120_000  # upper bounds for a busy 2-core machine; a healthy page answers in seconds


@contextlib.contextmanager
def launch_browser():
    from playwright.sync_api import sync_playwright

    from tests.e2e import browser as browsers

    with sync_playwright() as p:
        browser = p.chromium.launch(args=CHROMIUM_ARGS, **browsers.launch_options())
        _new_context = browser.new_context

        def new_context(**kwargs):
            context = _new_context(**kwargs)
            context.set_default_timeout(TIMEOUT_MS)
            context.set_default_navigation_timeout(TIMEOUT_MS)
            return context

        browser.new_context = new_context
        browser.new_page = lambda **kwargs: new_context(**kwargs).new_page()
        try:
            yield browser
        finally:
            browser.close()

"""What the page benchmarks share: a Streamlit server to launch and sample, a browser page that logs
its own state changes (Step metric, status, Start/Pause) with timestamps, and the split of the
cores between the trainer, Streamlit and Chromium."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.common import ROOT, data_path, process_tree
from tests.e2e.server import free_port

VIEWPORT = {"width": 1600, "height": 1000}
# A step budget no run reaches while it is measured (at ~300 steps/s the default 3 000 is gone in 10 s).
NO_BUDGET = "steps=200000"

# Logs page state changes into window.__bench (installed before any page script runs).
OBSERVER_JS = r"""
(() => {
  const log = [];
  window.__bench = {log, clicks: []};
  const STATUS = /^(?:\S+\s+)?(preparing|ready|running|paused|done|diverged|error|stopped)$/;
  function button(label) {
    for (const b of document.querySelectorAll('button')) {
      if (b.textContent.trim() === label) return b;
    }
    return null;
  }
  function state() {
    let step = null, status = null;
    for (const m of document.querySelectorAll('[data-testid="stMetric"]')) {
      const label = m.querySelector('[data-testid="stMetricLabel"]');
      if (label && label.textContent.trim() === 'Step') {
        const v = m.querySelector('[data-testid="stMetricValue"]');
        if (v) {
          const n = parseInt(v.textContent.split('/')[0].replace(/[^0-9]/g, ''), 10);
          if (!isNaN(n)) step = n;
        }
      }
    }
    // The status is a badge (or bold text) whose words are one status; icons are text too: skip them.
    for (const s of document.querySelectorAll('.stMarkdownBadge, [data-testid="stMarkdownContainer"] strong')) {
      const c = s.cloneNode(true);
      c.querySelectorAll('[role="img"], [data-testid="stIconMaterial"]').forEach((i) => i.remove());
      const m = STATUS.exec(c.textContent.trim());
      if (m) { status = m[1]; break; }
    }
    const start = button('Start'), pause = button('Pause');
    return {step, status, start: !!start && !start.disabled, pause: !!pause && !pause.disabled};
  }
  let last = '';
  function record() {
    const s = state();
    const key = JSON.stringify(s);
    if (key !== last) { last = key; s.t = Date.now(); log.push(s); }
  }
  document.addEventListener('click', (e) => {
    const b = e.target.closest && e.target.closest('button');
    window.__bench.clicks.push({t: Date.now(), label: b ? b.textContent.trim() : null});
  }, true);
  new MutationObserver(record).observe(document, {subtree: true, childList: true, characterData: true,
                                                   attributes: true, attributeFilter: ['disabled']});
})();
"""


class MemorySampler(threading.Thread):
    """Peak resident memory of a process and all its children, sampled every ``every`` seconds."""

    def __init__(self, pid: int, every: float = 0.1):
        super().__init__(daemon=True, name="rss-sampler")
        import psutil

        self.psutil = psutil
        self.root = psutil.Process(pid)
        self.every = every
        self.peak = 0
        self.samples = 0
        self._halt = threading.Event()

    def rss(self) -> int:
        total = 0
        for p in process_tree(self.root):
            try:
                total += p.memory_info().rss
            except self.psutil.Error:
                pass
        return total

    def run(self):
        while not self._halt.is_set():
            self.peak = max(self.peak, self.rss())
            self.samples += 1
            self._halt.wait(self.every)

    def stop(self) -> int:
        self._halt.set()
        self.join(5)
        return self.peak


class Server:
    """`streamlit run app.py` on a free port, as tests/e2e/server.py starts it, with its launch time."""

    def __init__(self, runs_dir: Path, extra_env: dict | None = None, launcher: str = "streamlit"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = dict(os.environ, AE_MNIST_PATH=str(data_path()), AE_RUNS_DIR=str(runs_dir), AE_MAX_RUNS="2",
                   TF_CPP_MIN_LOG_LEVEL="3", **(extra_env or {}))
        self.log_path = Path(runs_dir) / "server.log"
        self.log = open(self.log_path, "w")
        self.launched = time.time()
        # "lab" starts it as `make run` and `ae-lab` do (ae_core.lab: the warm-up begins with the process).
        start = ([sys.executable, "-m", "ae_core.lab"] if launcher == "lab"
                 else [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")])
        self.proc = subprocess.Popen(
            start + ["--server.port", str(self.port), "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.memory = MemorySampler(self.proc.pid)
        self.memory.start()

    def wait_healthy(self, timeout: float = 60.0) -> float:
        deadline = time.time() + timeout
        while True:
            try:
                urllib.request.urlopen(self.url + "_stcore/health", timeout=2).read()
                return time.time()
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"streamlit did not start: {self.log_path.read_text()[-2000:]}")
                time.sleep(0.05)

    def close(self) -> int:
        try:
            peak = self.memory.stop()
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
            self.log.close()
        return peak


class Page:
    """A browser tab on the Train page with the observer installed; times are ms since the epoch."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport=VIEWPORT)
        self.context.add_init_script(OBSERVER_JS)
        self.page = self.context.new_page()
        self.page.goto(url)

    def log(self) -> list[dict]:
        return self.page.evaluate("window.__bench.log")

    def clicks(self) -> list[dict]:
        return self.page.evaluate("window.__bench.clicks")

    def state(self) -> dict:
        log = self.log()
        return log[-1] if log else {}

    def wait(self, predicate, timeout: float, what: str, poll: float = 0.05) -> dict:
        """Wait until the latest logged state satisfies ``predicate``; return that state."""
        deadline = time.time() + timeout
        while True:
            s = self.state()
            if s and predicate(s):
                return s
            if time.time() > deadline:
                raise TimeoutError(f"timed out after {timeout:g} s waiting for {what} (last state {s})")
            time.sleep(poll)

    def click(self, label: str) -> float:
        """Click a button; return the time the page saw the click (ms)."""
        before = len(self.clicks())
        self.page.get_by_role("button", name=label, exact=True).click()
        clicks = self.clicks()[before:]
        hit = [c for c in clicks if c["label"] == label]
        return (hit or clicks)[0]["t"]

    def first(self, predicate, after: float) -> dict | None:
        return next((s for s in self.log() if s["t"] >= after and predicate(s)), None)

    def close(self):
        self.context.close()


def step_changes(log: list[dict], t0: float, t1: float) -> list[tuple[float, int]]:
    """(time, value) each time the Step metric showed a new value within [t0, t1]."""
    out, last = [], None
    for s in log:
        if s["step"] is None:
            continue
        if s["step"] != last and t0 <= s["t"] <= t1:
            out.append((s["t"], s["step"]))
        last = s["step"]
    return out


def _tree_cpu(root) -> float:
    """CPU seconds (user + system) of a process and its live children."""
    return _cpu_of(process_tree(root))


def _cpu_of(procs) -> float:
    """User + system CPU seconds of these processes (ones that ended meanwhile count as 0)."""
    import psutil

    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


class CpuShare:
    """Cores used, during a window, by the server (trainer included) and by the browser."""

    def __init__(self, server: "Server"):
        import psutil

        self.server = psutil.Process(server.proc.pid)
        self.me = psutil.Process()

    def _browser(self) -> float:
        # This process's descendants minus the server's tree: playwright's driver and Chromium.
        server_tree = {p.pid for p in process_tree(self.server)}
        return _cpu_of([p for p in process_tree(self.me)[1:] if p.pid not in server_tree])

    def _threads(self) -> dict:
        import psutil

        try:
            return {t.id: t.user_time + t.system_time for t in self.server.threads()}
        except psutil.Error:
            return {}

    def __enter__(self):
        self.t0, self.s0, self.b0 = time.monotonic(), _tree_cpu(self.server), self._browser()
        self.th0 = self._threads()
        return self

    def __exit__(self, *exc):
        wall = time.monotonic() - self.t0
        th1 = self._threads()
        self.server_cores = (_tree_cpu(self.server) - self.s0) / wall
        self.browser_cores = (self._browser() - self.b0) / wall
        # Split the server's CPU: threads that lived through the window other than the main one are
        # the trainer's (its Python thread and TensorFlow's pools); the main thread (Tornado: the
        # websocket) and threads that came and went (Streamlit runs each rerun in a new thread) are
        # the page's work.
        main = self.server.pid
        lasting = sum(th1[t] - self.th0[t] for t in th1 if t in self.th0 and t != main)
        self.trainer_cores = lasting / wall
        self.streamlit_cores = self.server_cores - self.trainer_cores
        return False


def rate_from_changes(changes: list[tuple[float, int]]) -> float | None:
    """Steps per second between the first and last change seen (both aligned to page refreshes)."""
    if len(changes) < 2 or changes[-1][0] <= changes[0][0]:
        return None
    return (changes[-1][1] - changes[0][1]) / ((changes[-1][0] - changes[0][0]) / 1000)

"""Benchmarks 3, 5 and 6: `streamlit run app.py` driven by Debian's Chromium through playwright.

One *launch* = start a fresh server, then two browser sessions against it:

* session A, the default preset (``fast``): launch → interactive page (Start visible and enabled),
  network ready, Start → first step on screen, refresh rate of the live view, Pause latency (×N).
  The run is left paused.
* session B, ``/?preset=seed``: Start, let it train, and read steps/s off the Step metric while the
  page keeps refreshing (compared by run.py with the headless trainer's steps/s).

The server's resident memory (its process and children) is sampled every 0.1 s the whole time.

Timings come from the page itself: an init script installs a MutationObserver that logs, with
``Date.now()``, every change of the Step metric, the status line and the Start/Pause buttons'
enabled state, and a capture listener that logs the time of every click. So nothing depends on how
fast playwright polls (the brief's "sample every 0.1 s" is covered: every change is seen).

    python -m benchmarks.page --launches 3
prints one JSON object on stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.common import ROOT, data_path, median, process_tree
from tests.e2e.server import free_port, launch_browser  # the e2e tests' Chromium, flags and timeouts

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


def session_default(browser, server: Server, healthy: float, *, refresh_s: float, pauses: int) -> dict:
    """Session A (default preset): start-up, Start latency, refresh rate, Pause latency."""
    out: dict = {"health_s": healthy - server.launched}
    page = Page(browser, server.url + "?" + NO_BUDGET)
    try:
        s = page.wait(lambda s: s.get("start"), 90, "an enabled Start button")
        out["interactive_s"] = s["t"] / 1000 - server.launched
        out["status_when_interactive"] = s.get("status")
        s = page.wait(lambda s: s.get("status") == "ready", 300, "the network to be ready")
        out["ready_s"] = s["t"] / 1000 - server.launched

        t_click = page.click("Start")
        page.wait(lambda s: (s.get("step") or 0) > 0, 30, "the first step on screen")
        first = page.first(lambda s: (s.get("step") or 0) > 0, t_click)
        out["start_to_first_step_s"] = (first["t"] - t_click) / 1000

        # Refresh rate: distinct Step values per second while training.
        time.sleep(1.0)
        t0 = time.time() * 1000
        time.sleep(refresh_s)
        t1 = time.time() * 1000
        changes = step_changes(page.log(), t0, t1)
        out["refresh_hz"] = len(changes) / ((t1 - t0) / 1000)
        gaps = [(b[0] - a[0]) / 1000 for a, b in zip(changes, changes[1:])]
        out["refresh_gap_median_s"] = median(gaps)
        out["refresh_gap_max_s"] = max(gaps) if gaps else None
        out["page_steps_per_s_fast"] = rate_from_changes(changes)

        # Pause latency: click → "paused" shown and the Step metric at its final value.
        lat = []
        for i in range(pauses):
            page.wait(lambda s: s.get("pause") and s.get("status") == "running", 30, "an enabled Pause button")
            time.sleep(1.0)
            t_click = page.click("Pause")
            page.wait(lambda s: s.get("status") == "paused", 10, "the paused status")
            time.sleep(1.5)  # the Step metric must stay put from here on
            log = page.log()
            paused = page.first(lambda s: s.get("status") == "paused", t_click)
            final = log[-1]["step"]
            still = [s for s in log if s["t"] >= paused["t"] and s["step"] is not None]
            if any(s["step"] != final for s in still[1:]):
                raise RuntimeError("the Step metric kept changing after the page showed paused")
            reached = next(s["t"] for s in log if s["step"] == final)
            at_click = [s["step"] for s in log if s["t"] <= t_click and s["step"] is not None]
            lat.append({"latency_s": (max(paused["t"], reached) - t_click) / 1000,
                        "paused_text_s": (paused["t"] - t_click) / 1000,
                        "steps_after_click": final - (at_click[-1] if at_click else 0)})
            if i < pauses - 1:
                page.click("Resume")
        out["pause"] = lat
        out["pause_latency_s"] = median(r["latency_s"] for r in lat)
        out["pause_latency_max_s"] = max(r["latency_s"] for r in lat)
    finally:
        page.close()
    return out


def session_seed(browser, server: Server, *, settle_s: float, window_s: float) -> dict:
    """Session B (/?preset=seed): steps/s read off the Step metric while the page refreshes."""
    out: dict = {}
    page = Page(browser, server.url + "?preset=seed&" + NO_BUDGET)
    try:
        page.wait(lambda s: s.get("status") == "ready" and s.get("start"), 300, "the seed network to be ready")
        t_click = page.click("Start")
        page.wait(lambda s: (s.get("step") or 0) > 0, 30, "the first step on screen")
        first = page.first(lambda s: (s.get("step") or 0) > 0, t_click)
        out["start_to_first_step_s"] = (first["t"] - t_click) / 1000
        time.sleep(settle_s)
        t0 = time.time() * 1000
        with CpuShare(server) as cpu:
            time.sleep(window_s)
        t1 = time.time() * 1000
        changes = step_changes(page.log(), t0, t1)
        out["page_steps_per_s"] = rate_from_changes(changes)
        # Where the 2 cores went meanwhile.
        out["server_cores"] = cpu.server_cores
        out["trainer_cores"] = cpu.trainer_cores
        out["streamlit_cores"] = cpu.streamlit_cores
        out["browser_cores"] = cpu.browser_cores
        out["window_s"] = (changes[-1][0] - changes[0][0]) / 1000 if len(changes) > 1 else None
        out["steps_in_window"] = changes[-1][1] - changes[0][1] if len(changes) > 1 else None

        # The same run with no page open, right after, in the same server: a reference that saw
        # the same machine load. Leave the page, come back to the run's URL, and see how far it got.
        url = page.page.url
        last_t, last_step = changes[-1]
        page.page.goto("about:blank")
        with CpuShare(server) as cpu:
            time.sleep(window_s)
        page.page.goto(url)
        page.wait(lambda s: (s.get("step") or 0) > last_step, 60, "the run's Step after coming back")
        back = page.first(lambda s: s.get("step") is not None, 0)
        out["closed_steps_per_s"] = (back["step"] - last_step) / ((back["t"] - last_t) / 1000)
        out["closed_server_cores"] = cpu.server_cores
        out["closed_trainer_cores"] = cpu.trainer_cores
        out["share_of_closed"] = out["page_steps_per_s"] / out["closed_steps_per_s"]
        page.wait(lambda s: s.get("pause"), 30, "an enabled Pause button")
        page.click("Pause")
        page.wait(lambda s: s.get("status") == "paused", 10, "the paused status")
    finally:
        page.close()
    return out


COLD_VARIANTS = {  # how the server is started, and its environment
    "make_run": ("lab", {}),                          # `make run` / `ae-lab`: warm-up with the process
    "streamlit_run": ("streamlit", {}),               # plain `streamlit run app.py`: warm-up on the first page
    "no_prewarm": ("streamlit", {"AE_PREWARM": "0"}),  # as before the warm-up: the first run builds it
}


def cold_launch(browser, runs_dir: Path, server_env: dict | None = None, launcher: str = "lab") -> dict:
    """A new user on a fresh server: the page is opened as soon as the server answers, and Start is
    clicked the moment it is enabled (the network may still be in the making). Times from the
    server's launch and from the click to the first step on screen."""
    server = Server(runs_dir, server_env, launcher)
    out: dict = {}
    try:
        out["health_s"] = server.wait_healthy() - server.launched
        page = Page(browser, server.url + "?" + NO_BUDGET)
        try:
            s = page.wait(lambda s: s.get("start"), 90, "an enabled Start button")
            out["interactive_s"] = s["t"] / 1000 - server.launched
            out["status_when_interactive"] = s.get("status")
            t_click = page.click("Start")
            page.wait(lambda s: (s.get("step") or 0) > 0, 120, "the first step on screen")
            first = page.first(lambda s: (s.get("step") or 0) > 0, t_click)
            out["click_s"] = t_click / 1000 - server.launched
            out["start_to_first_step_s"] = (first["t"] - t_click) / 1000
            out["launch_to_first_step_s"] = first["t"] / 1000 - server.launched
            seen = [s["status"] for s in page.log() if s.get("status")]
            out["statuses"] = [x for i, x in enumerate(seen) if i == 0 or seen[i - 1] != x]
        finally:
            page.close()
    finally:
        server.close()
    return out


WATCHED = {  # what a viewer watches, as a path on the server given the two racing runs' ids
    "train": lambda a, b: f"?run={a}",
    "explore": lambda a, b: f"explore?run={a}",
    "compare": lambda a, b: f"compare?runs={a},{b}",
}


def watch_cost(browser, runs_dir: Path, *, window_s: float, rounds: int, settle_s: float = 4.0,
               server_env: dict | None = None, log=print) -> dict:
    """What watching costs: two `seed` runs train in one server while, in turn, nothing, the Train
    page, the Explore page and the race view (Compare) is open in one tab. Per window: cores of
    Chromium, of Streamlit's page work and of the trainer threads (the training's share: its CPU
    against the windows with nothing open; with the Train page open, also steps/s off its Step metric)."""
    server = Server(runs_dir, server_env)
    out: dict = {name: [] for name in ("closed", *WATCHED)}
    try:
        server.wait_healthy()
        ids = []
        for _ in range(2):
            page = Page(browser, server.url + "?preset=seed&" + NO_BUDGET)
            page.wait(lambda s: s.get("status") == "ready" and s.get("start"), 300, "the seed network to be ready")
            page.click("Start")
            page.wait(lambda s: (s.get("step") or 0) > 0, 60, "the first step")
            ids.append(page.page.url.split("run=")[1].split("&")[0])
            page.close()
        for r in range(rounds):
            for name in ("closed", *WATCHED):
                page = None
                if name != "closed":
                    page = Page(browser, server.url + WATCHED[name](*ids))
                time.sleep(settle_s)
                t0 = time.time() * 1000
                with CpuShare(server) as cpu:
                    time.sleep(window_s)
                t1 = time.time() * 1000
                row = {"browser_cores": cpu.browser_cores, "streamlit_cores": cpu.streamlit_cores,
                       "trainer_cores": cpu.trainer_cores, "server_cores": cpu.server_cores}
                if name == "train":
                    row["page_steps_per_s"] = rate_from_changes(step_changes(page.log(), t0, t1))
                out[name].append(row)
                log(f"    round {r + 1} {name}: Chromium {cpu.browser_cores:.2f}, Streamlit {cpu.streamlit_cores:.2f}, "
                    f"trainers {cpu.trainer_cores:.2f} cores")
                if page is not None:
                    page.close()
    finally:
        server.close()
    summary = {}
    closed = median(r["trainer_cores"] for r in out["closed"])
    for name, rows in out.items():
        summary[name] = {k: median(r.get(k) for r in rows) for k in rows[0]}
        if closed:
            summary[name]["trainer_share_of_closed"] = summary[name]["trainer_cores"] / closed
    return {"views": summary, "windows": out}


def launch(browser, *, refresh_s: float, pauses: int, seed_settle_s: float, seed_window_s: float,
           server_env: dict | None = None, log=print) -> dict:
    with tempfile.TemporaryDirectory(prefix="ae-bench-runs-") as runs_dir:
        server = Server(Path(runs_dir), server_env)
        try:
            healthy = server.wait_healthy()
            a = session_default(browser, server, healthy, refresh_s=refresh_s, pauses=pauses)
            log(f"    interactive {a['interactive_s']:.2f} s, ready {a['ready_s']:.2f} s, "
                f"start→step {a['start_to_first_step_s']:.2f} s, refresh {a['refresh_hz']:.2f} Hz, "
                f"pause {a['pause_latency_s']:.2f} s")
            b = session_seed(browser, server, settle_s=seed_settle_s, window_s=seed_window_s)
            log(f"    seed, page open: {b['page_steps_per_s']:.1f} steps/s, cores: trainer {b['trainer_cores']:.2f}, "
                f"streamlit {b['streamlit_cores']:.2f}, browser {b['browser_cores']:.2f}; page closed: "
                f"{b['closed_steps_per_s']:.1f} steps/s, trainer {b['closed_trainer_cores']:.2f} cores")
        finally:
            peak = server.close()
        return {**a, "seed": b, "peak_rss_mb": peak / 2**20, "rss_samples": server.memory.samples}


def run(launches: int, refresh_s: float, pauses: int, seed_settle_s: float, seed_window_s: float,
        server_env: dict | None = None, log=print, cold_launches: int = 0, cold_compare: bool = False) -> dict:
    rows, cold = [], []
    with launch_browser() as browser:
        # With cold_compare the ways of starting alternate, so that each sees the same machine load.
        variants = list(COLD_VARIANTS) if cold_compare else ["make_run"]
        for i in range(cold_launches):
            for name in variants:
                launcher, env = COLD_VARIANTS[name]
                with tempfile.TemporaryDirectory(prefix="ae-bench-runs-") as runs_dir:
                    c = cold_launch(browser, Path(runs_dir), {**(server_env or {}), **env}, launcher)
                c["variant"] = name
                log(f"  cold launch {i + 1}/{cold_launches} ({name}): interactive {c['interactive_s']:.2f} s, "
                    f"Start → first step {c['start_to_first_step_s']:.2f} s, launch → first step "
                    f"{c['launch_to_first_step_s']:.2f} s")
                cold.append(c)
        for i in range(launches):
            log(f"  launch {i + 1}/{launches}")
            rows.append(launch(browser, refresh_s=refresh_s, pauses=pauses, seed_settle_s=seed_settle_s,
                               seed_window_s=seed_window_s, server_env=server_env, log=log))
    cold_summary = {"cold_launches": cold} if cold else {}
    for name in COLD_VARIANTS:
        mine = [c for c in cold if c["variant"] == name]
        if mine:
            cold_summary[f"cold_{name}"] = {
                "interactive_s": median(c["interactive_s"] for c in mine),
                "start_to_first_step_s": median(c["start_to_first_step_s"] for c in mine),
                "start_to_first_step_max_s": max(c["start_to_first_step_s"] for c in mine),
                "launch_to_first_step_s": median(c["launch_to_first_step_s"] for c in mine),
                "launch_to_first_step_max_s": max(c["launch_to_first_step_s"] for c in mine),
                "launches": len(mine)}
    if not rows:
        return cold_summary
    return {
        "interactive_s": median(r["interactive_s"] for r in rows),
        "health_s": median(r["health_s"] for r in rows),
        "ready_s": median(r["ready_s"] for r in rows),
        "start_to_first_step_s": median(r["start_to_first_step_s"] for r in rows),
        "refresh_hz": median(r["refresh_hz"] for r in rows),
        "pause_latency_s": median(x["latency_s"] for r in rows for x in r["pause"]),
        "pause_latency_max_s": max(x["latency_s"] for r in rows for x in r["pause"]),
        "seed_page_steps_per_s": median(r["seed"]["page_steps_per_s"] for r in rows),
        "seed_start_to_first_step_s": median(r["seed"]["start_to_first_step_s"] for r in rows),
        "seed_closed_steps_per_s": median(r["seed"]["closed_steps_per_s"] for r in rows),
        "seed_share_of_closed": median(r["seed"]["share_of_closed"] for r in rows),
        "seed_closed_server_cores": median(r["seed"]["closed_server_cores"] for r in rows),
        "seed_server_cores": median(r["seed"]["server_cores"] for r in rows),
        "seed_trainer_cores": median(r["seed"]["trainer_cores"] for r in rows),
        "seed_streamlit_cores": median(r["seed"]["streamlit_cores"] for r in rows),
        "seed_closed_trainer_cores": median(r["seed"]["closed_trainer_cores"] for r in rows),
        "seed_browser_cores": median(r["seed"]["browser_cores"] for r in rows),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
        "peak_rss_mb_median": median(r["peak_rss_mb"] for r in rows),
        "launches": rows,
        **cold_summary,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--launches", type=int, default=3)
    p.add_argument("--cold", type=int, default=3, help="fresh servers where Start is clicked as soon as enabled")
    p.add_argument("--watch-rounds", type=int, default=0,
                   help="rounds of the watching-cost windows (nothing / Train / Explore / Compare open)")
    p.add_argument("--watch-window-s", type=float, default=10.0)
    p.add_argument("--cold-compare", action="store_true",
                   help="each cold launch also with plain `streamlit run` and with AE_PREWARM=0, alternated")
    p.add_argument("--refresh-s", type=float, default=10.0, help="window for the refresh rate")
    p.add_argument("--pauses", type=int, default=3, help="Pause/Resume cycles per launch")
    p.add_argument("--seed-settle-s", type=float, default=3.0)
    p.add_argument("--seed-window-s", type=float, default=10.0)
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the server, for experiments (e.g. TF_NUM_INTRAOP_THREADS=1)")
    args = p.parse_args(argv)
    server_env = dict(item.split("=", 1) for item in args.server_env)
    out = run(args.launches, args.refresh_s, args.pauses, args.seed_settle_s, args.seed_window_s,
              server_env=server_env, log=lambda m: print(m, file=sys.stderr, flush=True), cold_launches=args.cold, cold_compare=args.cold_compare)
    if args.watch_rounds:
        with launch_browser() as browser, tempfile.TemporaryDirectory(prefix="ae-bench-runs-") as runs_dir:
            out["watch"] = watch_cost(browser, Path(runs_dir), window_s=args.watch_window_s, rounds=args.watch_rounds,
                                      server_env=server_env, log=lambda m: print(m, file=sys.stderr, flush=True))
    out["server_env"] = server_env
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

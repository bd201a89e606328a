"""Benchmark 7: many watch-only viewers of one training run (a shared server with a presenter key).

A fresh `streamlit run app.py` with ``AE_PRESENTER_KEY``: a presenter tab (``?key=…``) starts the
``fast`` preset with a budget no run reaches and leaves; then, in rounds, 1, 4 and 8 viewers (each its
own browser context, so its own session, on the bare audience link: watch-only, following the
presenter's run) watch it. For each count, over one window: the Streamlit server's cores split into
the trainer's threads and the page work (benchmarks/page_tools.py ``CpuShare``), the page work per viewer
(target <= 0.05 cores each), Chromium's cores, and the run's steps/s read off the first viewer's
Step metric, against one viewer in the same round (the counts alternate, so each round's ratios
see the same machine load).

    python -m benchmarks.viewers [--counts 1,4,8] [--rounds 2] [--window-s 10]
prints one JSON object on stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import median
from benchmarks.page_tools import NO_BUDGET, CpuShare, Page, Server, rate_from_changes, step_changes
from tests.e2e.server import launch_browser

KEY = "benchmark-presenter-key"
VIEWER_VIEWPORT = {"width": 1280, "height": 720}   # a laptop in the audience


def start_presenters_run(browser, server: Server) -> None:
    presenter = Page(browser, f"{server.url}?key={KEY}&{NO_BUDGET}")
    try:
        presenter.wait(lambda s: s.get("status") == "ready" and s.get("start"), 300, "the network to be ready")
        presenter.click("Start")
        presenter.wait(lambda s: (s.get("step") or 0) > 0, 60, "the first step on screen")
        # The PCA baselines (both cores for a second or more) are computed once the warm-up is done:
        # they must not fall into the first viewer's window.
        presenter.page.locator(".js-plotly-plot text", has_text="PCA").first.wait_for(timeout=120_000)
    finally:
        presenter.close()   # the run trains on; the audience link follows it


class ViewerCpu(CpuShare):
    """CpuShare with the trainer's threads known beforehand: the server's threads that were there
    before any viewer came (the training thread and TensorFlow's pools; not the main thread, which
    serves the websockets). Every other thread is the viewers' work: with several viewers a script
    thread can live through a whole window (Streamlit hands a fragment's rerun to a script thread still
    running), which CpuShare's "lasted through the window" rule would count as the trainer's."""

    def __init__(self, server: Server, trainer_threads: set[int]):
        super().__init__(server)
        self.trainer_threads = trainer_threads

    def __exit__(self, *exc):
        super().__exit__(*exc)
        wall = time.monotonic() - self.t0
        th1 = self._threads()
        self.trainer_cores = sum(th1[t] - self.th0.get(t, 0.0) for t in th1 if t in self.trainer_threads) / wall
        self.streamlit_cores = self.server_cores - self.trainer_cores
        return False


def server_threads(server: Server) -> set[int]:
    import psutil

    return {t.id for t in psutil.Process(server.proc.pid).threads()} - {server.proc.pid}


def watch(browser, server: Server, count: int, *, settle_s: float, window_s: float) -> dict:
    """``count`` viewers on the audience link; cores and steps/s over one window."""
    viewers = []
    trainer_threads = server_threads(server)   # before any viewer: the trainer's (see ViewerCpu)
    try:
        for _ in range(count):
            page = Page(browser, server.url)
            page.context.set_default_timeout(120_000)
            viewers.append(page)
        for page in viewers:
            page.wait(lambda s: s.get("status") == "running" and (s.get("step") or 0) > 0, 120,
                      "a viewer to show the run training")
            assert not page.state().get("start") and not page.state().get("pause"), "a viewer has controls"
        time.sleep(settle_s)
        t0 = time.time() * 1000
        with ViewerCpu(server, trainer_threads) as cpu:
            time.sleep(window_s)
        t1 = time.time() * 1000
        changes = step_changes(viewers[0].log(), t0, t1)
        refreshes = [len(step_changes(v.log(), t0, t1)) / ((t1 - t0) / 1000) for v in viewers]
    finally:
        for page in viewers:
            page.close()
    return {"viewers": count, "steps_per_s": rate_from_changes(changes),
            "server_cores": cpu.server_cores, "trainer_cores": cpu.trainer_cores,
            "streamlit_cores": cpu.streamlit_cores, "streamlit_cores_per_viewer": cpu.streamlit_cores / count,
            "browser_cores": cpu.browser_cores, "refresh_hz_median": median(refreshes),
            # CPU of the page work for one refresh of one viewer: robust to how much CPU the machine
            # leaves the server (a starved server serves fewer refreshes, each costs the same)
            "streamlit_cpu_ms_per_refresh": 1000 * cpu.streamlit_cores / max(sum(refreshes), 1e-9),
            "trainer_cpu_ms_per_step": (1000 * cpu.trainer_cores / rate_from_changes(changes)
                                        if rate_from_changes(changes) else None)}


def run(counts: list[int], rounds: int, settle_s: float, window_s: float, log=print) -> dict:
    rows = []
    with tempfile.TemporaryDirectory(prefix="ae-bench-viewers-") as runs_dir:
        server = Server(Path(runs_dir), {"AE_PRESENTER_KEY": KEY, "AE_IDLE_SECONDS": "600"})
        try:
            server.wait_healthy()
            with launch_browser() as browser:
                start_presenters_run(browser, server)
                for r in range(rounds):
                    order = counts if r % 2 == 0 else counts[::-1]
                    for count in order:
                        row = watch(browser, server, count, settle_s=settle_s, window_s=window_s)
                        row["round"] = r
                        rows.append(row)
                        log(f"  round {r + 1}, {count} viewer(s): {row['steps_per_s'] or 0:.0f} steps/s, Streamlit "
                            f"{row['streamlit_cores']:.2f} cores ({row['streamlit_cores_per_viewer']:.3f} a viewer, "
                            f"{row['streamlit_cpu_ms_per_refresh']:.0f} ms CPU a refresh), "
                            f"trainer {row['trainer_cores']:.2f}, Chromium {row['browser_cores']:.2f}")
        finally:
            server.close()
    summary = {}
    for count in counts:
        mine = [x for x in rows if x["viewers"] == count]
        # steps/s against one viewer in the same round (the same machine load, minutes apart at most)
        ratios = []
        for x in mine:
            one = next((y for y in rows if y["viewers"] == counts[0] and y["round"] == x["round"]), None)
            if one and one["steps_per_s"] and x["steps_per_s"]:
                ratios.append(x["steps_per_s"] / one["steps_per_s"])
        summary[str(count)] = {
            "steps_per_s": median(x["steps_per_s"] for x in mine if x["steps_per_s"]),
            "steps_vs_one": median(ratios) if ratios else None,
            "streamlit_cores": median(x["streamlit_cores"] for x in mine),
            "streamlit_cores_per_viewer": median(x["streamlit_cores_per_viewer"] for x in mine),
            "trainer_cores": median(x["trainer_cores"] for x in mine),
            "browser_cores": median(x["browser_cores"] for x in mine),
            "refresh_hz": median(x["refresh_hz_median"] for x in mine),
            "streamlit_cpu_ms_per_refresh": median(x["streamlit_cpu_ms_per_refresh"] for x in mine),
            "trainer_cpu_ms_per_step": median(x["trainer_cpu_ms_per_step"] for x in mine),
        }
    return {"counts": summary, "rows": rows, "window_s": window_s}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--counts", default="1,4,8")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--settle-s", type=float, default=3.0)
    p.add_argument("--window-s", type=float, default=10.0)
    args = p.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    out = run(counts, args.rounds, args.settle_s, args.window_s, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import median
from benchmarks.page_tools import CpuShare, NO_BUDGET, Page, Server, rate_from_changes, step_changes
from tests.e2e.server import launch_browser  # the e2e tests' Chromium, flags and timeouts


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

"""Run the benchmark suite: ``python -m benchmarks.run [--quick] [--only NAME[,NAME]]`` (``make bench``).

Groups (each in its own processes; graph mode never meets the eager benchmarks):

  ratio     (1) the reference notebook's loop through tf.compat.v1, and (2) ae_core's Trainer headless
            on the seed preset, both kept warm and measured in alternation (so both see the same
            load); ms/step and the ratio (2)/(1). Then the fast preset alone.
  converge  (4) fast preset: Start → held-out MSE <= 0.01, and Trainer() → READY
  page      (3, 5, 6) `streamlit run app.py` in Chromium: start-up, Start and Pause latency, refresh
            rate, seed steps/s with the page open (ratio to (2)), the server's peak memory
  viewers   (7) 1, 4 and 8 watch-only viewers of one run (presenter key): the server's CPU per viewer
            and the run's steps/s against one viewer
  cluster   (10) four concurrent `fast` runs as threads of one process against four as actors of a
            local Ray instance, in alternation: steps/s each, CPU per step, snapshot refresh
  live      (8) the longest wait between published steps around live changes of batch size,
            noise and learning rate (headless seed run)
  cost      (9) ms/step against batch size and width, the Trainer's chunks and the notebook's loop
            cell by cell in alternation

Numbers go to benchmarks/results/latest.json; a markdown table (for benchmarks/README.md) goes to
stdout, progress to stderr. The machine is shared: the suite waits (a bounded time) for a quiet
machine, records the load and the CPU other processes used during every group, and says when the
numbers were taken under load.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time

from benchmarks import common

GROUPS = ("ratio", "converge", "page", "viewers", "live", "cost", "cluster")
ALIASES = {"1": "ratio", "2": "ratio", "3": "page", "4": "converge", "5": "page", "6": "page", "7": "viewers",
           "8": "live", "9": "cost", "10": "cluster", "ray": "cluster",
           "baseline": "ratio", "trainer": "ratio", "headless": "ratio", "memory": "page"}

# Targets: (limit, "<=" or ">=").
TARGETS = {
    "ratio": (0.40, "<="),
    "page_share": (0.85, ">="),
    "to_target_s": (10.0, "<="),
    "interactive_s": (5.0, "<="),
    "start_to_first_step_s": (2.0, "<="),
    "pause_latency_s": (0.5, "<="),
    "refresh_hz": (1.0, ">="),
    "peak_rss_mb": (1536.0, "<="),
    "cores_per_viewer": (0.05, "<="),
    "live_gap_s": (0.3, "<="),
    "cold_launch_to_first_step_s": (6.0, "<="),
    "cold_start_to_first_step_s": (2.0, "<="),
}

FULL = dict(baseline_steps=1000, baseline_warmup=50, pairs=5, trainer_window_s=4.0,
            fast_windows=5, fast_window_s=3.0,
            converge_repeats=3,
            page_launches=3, page_refresh_s=8.0, page_pauses=3, page_seed_window_s=10.0, page_cold=3,
            viewers_rounds=2, viewers_window_s=10.0,
            cluster_window_s=8.0, cluster_pairs=2,
            live_settle_s=4.0)
QUICK = dict(baseline_steps=200, baseline_warmup=50, pairs=2, trainer_window_s=2.0,
             fast_windows=2, fast_window_s=2.0,
             converge_repeats=1,
             page_launches=1, page_refresh_s=5.0, page_pauses=1, page_seed_window_s=6.0, page_cold=1,
             viewers_rounds=1, viewers_window_s=6.0,
             cluster_window_s=4.0, cluster_pairs=1,
             live_settle_s=2.0)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- how busy the machine is -----------------------------------------------------------------------
def _busy_seconds() -> float:
    """CPU seconds all processes have spent busy since boot (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """CPU seconds of this process and its finished children (each group runs in a child)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def busy_cores(seconds: float = 2.0) -> float:
    """How many cores other processes keep busy right now (this process is idle meanwhile)."""
    b0, o0, t0 = _busy_seconds(), _own_seconds(), time.monotonic()
    time.sleep(seconds)
    return max(0.0, (_busy_seconds() - b0) - (_own_seconds() - o0)) / (time.monotonic() - t0)


def wait_quiet(max_cores: float, max_wait_s: float) -> dict:
    t0 = time.monotonic()
    cores = busy_cores()
    announced = False
    while cores > max_cores and time.monotonic() - t0 < max_wait_s:
        if not announced:
            log(f"  other processes keep {cores:.2f} cores busy; waiting up to {max_wait_s:.0f} s for a quieter machine")
            announced = True
        time.sleep(3)
        cores = busy_cores()
    return {"busy_cores_before": round(cores, 2), "waited_s": round(time.monotonic() - t0, 1),
            "load1_before": round(os.getloadavg()[0], 2)}


class Foreign:
    """CPU that processes other than this suite used while a group ran (cores, averaged).

    The suite's own CPU is this process plus every descendant (benchmark processes, the streamlit
    server, playwright's driver, Chromium and its helpers), sampled every 0.2 s with psutil: the
    kernel's children times would miss grandchildren that nobody waits for (Chromium's renderers)."""

    def __init__(self, every: float = 0.2):
        self.every = every

    def _sample(self):
        import psutil

        try:
            procs = [self.me, *self.me.children(recursive=True)]
        except psutil.Error:
            return
        for p in procs:
            try:
                t = p.cpu_times()
                cpu = t.user + t.system
            except psutil.Error:
                continue
            key = (p.pid, p.create_time())  # a pid can be reused by a later process
            # This process counts from now; the others are all started by the group, from zero.
            first = self.first.setdefault(key, cpu if p.pid == self.me.pid else 0.0)
            self.last[key] = cpu - first

    def _loop(self):
        while not self.halt.wait(self.every):
            self._sample()

    def __enter__(self):
        import psutil
        import threading

        self.me = psutil.Process()
        self.first, self.last = {}, {}
        self.halt = threading.Event()
        self.b, self.t = _busy_seconds(), time.monotonic()
        self._sample()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.halt.set()
        self.thread.join()
        self._sample()
        wall = time.monotonic() - self.t
        own = sum(self.last.values())
        self.cores = max(0.0, (_busy_seconds() - self.b) - own) / max(wall, 1e-9)
        self.own_cores = own / max(wall, 1e-9)
        self.wall = wall
        return False


# --- groups ----------------------------------------------------------------------------------------
def run_ratio(p: dict) -> dict:
    """(1) and (2) on the seed preset, alternating (ABBA order) between two warm processes."""
    base = common.Worker("benchmarks.baseline_tf1", [
        "--data", str(common.data_path()), "--steps", str(p["baseline_steps"]),
        "--warmup", str(p["baseline_warmup"]), "--serve"])
    seed = common.Worker("benchmarks.headless", ["serve", "--preset", "seed",
                                                 "--window-s", str(p["trainer_window_s"])])
    pairs = []
    try:
        base.ready()
        seed.ready()
        for i in range(p["pairs"]):
            first, second = (base, seed) if i % 2 == 0 else (seed, base)
            answers = {first: first.ask("measure"), second: second.ask("measure")}
            b, t = answers[base], answers[seed]
            pairs.append({"baseline_ms": b["ms_per_step"], "baseline_cpu_ms": b["cpu_ms_per_step"],
                          "trainer_wall_ms": t["wall_ms_per_step"], "trainer_elapsed_ms": t["elapsed_ms_per_step"],
                          "trainer_cpu_ms": t["cpu_ms_per_step"],
                          "ratio_wall": t["wall_ms_per_step"] / b["ms_per_step"],
                          "ratio_elapsed": t["elapsed_ms_per_step"] / b["ms_per_step"],
                          "ratio_cpu": t["cpu_ms_per_step"] / b["cpu_ms_per_step"]})
            log(f"  pair {i + 1}: notebook {b['ms_per_step']:.2f} ms/step, trainer {t['wall_ms_per_step']:.2f} "
                f"ms/step → {pairs[-1]['ratio_wall']:.2f}")
        baseline = base.ask("finish")
        trainer_seed = seed.ask("finish")
    finally:
        base.close()
        seed.close()
    log("  preset fast")
    fast = common.run_module_json("benchmarks.headless", [
        "throughput", "--preset", "fast", "--windows", str(p["fast_windows"]),
        "--window-s", str(p["fast_window_s"])], timeout=600)
    return {"baseline": baseline, "seed": trainer_seed, "fast": fast, "pairs": pairs,
            "ratio_wall": common.median(x["ratio_wall"] for x in pairs),
            "ratio_elapsed": common.median(x["ratio_elapsed"] for x in pairs),
            "ratio_cpu": common.median(x["ratio_cpu"] for x in pairs)}


def run_converge(p: dict) -> dict:
    return common.run_module_json("benchmarks.headless", [
        "converge", "--preset", "fast", "--repeats", str(p["converge_repeats"]), "--target", "0.01",
        "--eval-every", "0.25"], timeout=900)


def run_page(p: dict) -> dict:
    args = ["--launches", str(p["page_launches"]), "--refresh-s", str(p["page_refresh_s"]),
            "--pauses", str(p["page_pauses"]), "--seed-window-s", str(p["page_seed_window_s"]),
            "--cold", str(p.get("page_cold", 0))]
    # Progress of each launch is useful live, so stderr is passed through rather than captured.
    return common.run_module_json("benchmarks.page", args, timeout=1200, capture_stderr=False)


def run_viewers(p: dict) -> dict:
    args = ["--counts", "1,4,8", "--rounds", str(p["viewers_rounds"]), "--window-s", str(p["viewers_window_s"])]
    return common.run_module_json("benchmarks.viewers", args, timeout=1500, capture_stderr=False)


def run_cluster(p: dict) -> dict:
    return common.run_module_json("benchmarks.cluster", [
        "--window-s", str(p["cluster_window_s"]), "--pairs", str(p["cluster_pairs"]), "--json"], timeout=1200)


def run_live(p: dict) -> dict:
    return common.run_module_json("benchmarks.live", ["--settle-s", str(p["live_settle_s"])], timeout=600)


def run_cost(p: dict) -> dict:
    """(9): each cell in the Trainer's process, then in the notebook's, alternating which goes first."""
    from benchmarks.cost import cells

    workers = {kind: common.Worker("benchmarks.cost", ["serve", "--kind", kind]) for kind in ("trainer", "notebook")}
    out = []
    try:
        for w in workers.values():
            w.ready()
        for i, (batch, width) in enumerate(cells()):
            order = ("trainer", "notebook") if i % 2 == 0 else ("notebook", "trainer")
            cell = {kind: workers[kind].ask(f"measure {batch} {width}") for kind in order}
            cell["ratio"] = cell["trainer"]["ms_per_step"] / cell["notebook"]["ms_per_step"]
            out.append(cell)
            log(f"  batch {batch}, width {width}: trainer {cell['trainer']['ms_per_step']:.2f}, notebook "
                f"{cell['notebook']['ms_per_step']:.2f} ms/step ({cell['ratio']:.2f})")
    finally:
        for w in workers.values():
            w.close()
    return {"cells": out}


RUNNERS = {"ratio": run_ratio, "converge": run_converge, "page": run_page, "viewers": run_viewers,
           "live": run_live, "cost": run_cost, "cluster": run_cluster}


# --- report ----------------------------------------------------------------------------------------
def verdict(key: str, value) -> str:
    if value is None:
        return "n/a"
    limit, op = TARGETS[key]
    if op == "<=":
        if value <= limit:
            return "pass"
        return f"**miss**: {value / limit:.2f}× the limit"
    if value >= limit:
        return "pass"
    return f"**miss**: {100 * (1 - value / limit):.0f}% short"


def target_text(key: str, fmt: str) -> str:
    limit, op = TARGETS[key]
    return f"{'≤' if op == '<=' else '≥'} {fmt.format(limit)}"


def derive(results: dict) -> dict:
    """Ratios between groups; (3) uses (2)'s steps/s from this invocation when it ran."""
    g = results["groups"]
    d = {}
    ratio = g.get("ratio", {}).get("result")
    page = g.get("page", {}).get("result")
    if ratio:
        d["ratio_wall"] = ratio["ratio_wall"]
        d["ratio_elapsed"] = ratio["ratio_elapsed"]
        d["ratio_cpu"] = ratio["ratio_cpu"]
        d["ratio_fast_wall"] = ratio["fast"]["wall_ms_per_step"] / ratio["baseline"]["ms_per_step"]
    if ratio and page and page.get("seed_page_steps_per_s"):
        d["page_share"] = page["seed_page_steps_per_s"] / ratio["seed"]["steps_per_s"]
    return d


def _vs(value, fmt: str) -> str:
    """``fmt`` filled with ``value``, or nothing when there is no value (a group did not run)."""
    return "" if value is None else fmt.format(value)


def markdown(results: dict) -> str:
    g, d, m = results["groups"], results["derived"], results["machine"]
    rows = []

    def row(num, what, measured, target="—", result="—"):
        mark = "†" if g.get(ALIASES[str(num)], {}).get("carried_from") else ""
        rows.append(f"| {num}{mark} | {what} | {measured} | {target} | {result} |")

    ratio = g.get("ratio", {}).get("result")
    conv = g.get("converge", {}).get("result")
    page = g.get("page", {}).get("result")
    if ratio:
        base, s, f = ratio["baseline"], ratio["seed"], ratio["fast"]
        row(1, "Notebook loop as written: `tf.compat.v1`, `sess.run` + `feed_dict` per step "
               f"({s.get('network', 'seed net')})",
            f"{base['ms_per_step']:.2f} ms/step (CPU {base['cpu_ms_per_step']:.2f} ms/step; "
            f"numpy batch drawing alone {base['batch_draw_ms_per_step']:.2f} ms/step)", "reference")
        rw, re_ = d.get("ratio_wall"), d.get("ratio_elapsed")
        row(2, "Trainer headless, `seed`: wall clock between snapshots (median of per-pair ratios)",
            f"{s['wall_ms_per_step']:.2f} ms/step ({s['steps_per_s']:.0f} steps/s)" + _vs(rw, " = **{:.2f}×** (1)"),
            target_text("ratio", "{:.2f}× (1)"), verdict("ratio", rw))
        row(2, "Trainer headless, `seed`: snapshot `elapsed`/`step`",
            f"{s['elapsed_ms_per_step']:.2f} ms/step" + _vs(re_, " = {:.2f}× (1)")
            + f"; since Start {s['cumulative_elapsed_ms_per_step']:.2f}",
            target_text("ratio", "{:.2f}× (1)"), verdict("ratio", re_))
        row(2, "Trainer headless, `seed`: process CPU time per step (all threads; robust to load)",
            f"{s['cpu_ms_per_step']:.2f} ms/step" + _vs(d.get("ratio_cpu"), " = {:.2f}× (1)'s CPU"))
        row(2, f"Trainer headless, `fast` ({f.get('network', '')}): wall / `elapsed`",
            f"{f['wall_ms_per_step']:.2f} / {f['elapsed_ms_per_step']:.2f} ms/step"
            + _vs(d.get("ratio_fast_wall"), " ({:.2f}× (1))"))
    if page:
        share = d.get("page_share")
        row(3, "Train page open in Chromium, `seed`: steps/s read off the Step metric",
            f"{page['seed_page_steps_per_s']:.1f} steps/s" + _vs(share, " = **{:.0%}** of (2)"),
            target_text("page_share", "{:.0%} of (2)"), verdict("page_share", share))
        closed = page.get("seed_share_of_closed")
        if closed is not None:
            row(3, "… compared with the same run, same server, right after, with no page open",
                f"{page['seed_closed_steps_per_s']:.1f} steps/s with the page closed: page open = "
                f"**{100 * closed:.0f}%** of it. Cores, page open / closed: trainer "
                f"{page['seed_trainer_cores']:.2f} / {page['seed_closed_trainer_cores']:.2f}, Streamlit "
                f"{page['seed_streamlit_cores']:.2f}, Chromium {page['seed_browser_cores']:.2f}",
                target_text("page_share", "{:.0%}"), verdict("page_share", closed))
    if conv:
        tt = conv["to_target_s"]
        steps = conv["to_target_step"]
        train_s = common.median([r["training_s"] for r in conv["runs"] if r["reached"]])
        row(4, f"`fast` ({conv.get('network', '')}): Start → first held-out MSE ≤ 0.01 (eval every 0.25 s)",
            (f"{tt:.1f} s (step {steps:,.0f}; {train_s:.1f} s of it training)" if tt is not None
             else "not reached"), target_text("to_target_s", "{:g} s"), verdict("to_target_s", tt))
        row(4, "`fast`: `Trainer()` → READY (build + XLA compile + warm-up)",
            f"{conv['ready_s']:.1f} s (first in a process: {conv['ready_cold_s']:.1f} s)")
    if page:
        row(5, "`streamlit run` → page interactive (Start visible and enabled)",
            f"{page['interactive_s']:.2f} s", target_text("interactive_s", "{:g} s"),
            verdict("interactive_s", page["interactive_s"]))
        row(5, "`streamlit run` → network ready (status `ready`)", f"{page['ready_s']:.2f} s")
        row(5, "Start → first step on screen (network ready, `fast`)", f"{page['start_to_first_step_s']:.2f} s",
            target_text("start_to_first_step_s", "{:g} s"),
            verdict("start_to_first_step_s", page["start_to_first_step_s"]))
        cold = page.get("cold_make_run")
        if cold:
            row(5, "`make run` → first step on screen: page opened when the server answers, Start clicked the "
                   "moment it is enabled (median; worst)",
                f"{cold['launch_to_first_step_s']:.2f} s; {cold['launch_to_first_step_max_s']:.2f} s",
                target_text("cold_launch_to_first_step_s", "{:g} s"),
                verdict("cold_launch_to_first_step_s", cold["launch_to_first_step_s"]))
            row(5, "… of which Start → first step (median; worst)",
                f"{cold['start_to_first_step_s']:.2f} s; {cold['start_to_first_step_max_s']:.2f} s",
                target_text("cold_start_to_first_step_s", "{:g} s"),
                verdict("cold_start_to_first_step_s", cold["start_to_first_step_s"]))
        row(5, "Pause → `paused` shown and Step metric final (median; worst)",
            f"{page['pause_latency_s']:.2f} s; {page['pause_latency_max_s']:.2f} s",
            target_text("pause_latency_s", "{:g} s"), verdict("pause_latency_s", page["pause_latency_s"]))
        row(5, "Live view refresh while training (distinct Step values per second)",
            f"{page['refresh_hz']:.2f} Hz", target_text("refresh_hz", "{:g} Hz"),
            verdict("refresh_hz", page["refresh_hz"]))
        row(6, "Peak RSS of the streamlit server (+children), one launch with a `fast` and a `seed` run",
            f"{page['peak_rss_mb']:.0f} MB", "≤ 1.5 GB", verdict("peak_rss_mb", page["peak_rss_mb"]))
    live = g.get("live", {}).get("result")
    if live:
        worst = live["worst_gap_s"]
        detail = "; ".join(f"{c['change']} {c['worst_gap_s']:.2f} s" for c in live["changes"])
        row(8, "Live changes mid-run (`seed`, headless): longest wait between two published steps around "
               "a change (worst case)", f"{worst:.2f} s ({live['worst_change']}); each: {detail}; ordinary "
            f"training {live['quiet_worst_gap_s']:.2f} s", target_text("live_gap_s", "{:g} s"),
            verdict("live_gap_s", worst))
    cost = g.get("cost", {}).get("result")
    if cost:
        def cells_text(cells, key):
            return ", ".join(f"{c['trainer'][key]:,}: {c['trainer']['ms_per_step']:.1f} / "
                             f"{c['notebook']['ms_per_step']:.1f}" for c in cells)
        width = cost["cells"][0]["trainer"]["width"]
        by_batch = [c for c in cost["cells"] if c["trainer"]["width"] == width]
        by_width = [c for c in cost["cells"] if c["trainer"]["batch"] == 256]
        row(9, f"ms/step, Trainer's chunks / notebook's loop, by batch size (width {width})",
            cells_text(by_batch, "batch"))
        row(9, "ms/step, Trainer's chunks / notebook's loop, by width w (784-w-w/2-w-784, batch 256)",
            cells_text(by_width, "width"))

    viewers = g.get("viewers", {}).get("result")
    if viewers:
        for count, v in viewers["counts"].items():
            vs = v.get("steps_vs_one")
            row(7, f"{count} watch-only viewer{'s' if count != '1' else ''} of one `fast` run (presenter key): "
                   "Streamlit's cores a viewer (total); the run's steps/s",
                f"{v['streamlit_cores_per_viewer']:.3f} ({v['streamlit_cores']:.2f}; "
                f"{v['streamlit_cpu_ms_per_refresh']:.0f} ms CPU a refresh at {v['refresh_hz']:.2f} Hz); "
                f"{v['steps_per_s']:.0f} steps/s"
                + ("" if count == "1" else _vs(vs, " = {:.0%} of one viewer's"))
                + f"; trainer {v['trainer_cores']:.2f}, Chromium {v['browser_cores']:.2f} cores",
                target_text("cores_per_viewer", "{:g} cores a viewer"),
                verdict("cores_per_viewer", v["streamlit_cores_per_viewer"]))
    clus = g.get("cluster", {}).get("result")
    if clus:
        for name, what in (("threads", "threads of one process"), ("ray", "actors of a local Ray instance")):
            c = clus[name]
            row(10, f"{clus['runs']} `fast` runs at once as {what}: steps/s each (all together); "
                   f"CPU s per 1 000 steps; snapshot refresh seen by a reader polling every 0.1 s",
                f"{c['steps_per_s_each']:.0f} ({c['total_steps_per_s']:.0f}) steps/s; "
                f"{c['cpu_s_per_1000_steps']:.2f} s; {c['refresh_hz']:.1f} Hz")

    loads = [f"{name} {grp['load']['load1_before']:.2f}/{grp['foreign_cores']:.2f}"
             for name, grp in g.items() if not grp.get("carried_from")]
    old = sorted({grp["carried_from"] for grp in g.values() if grp.get("carried_from")})
    head = [
        f"Measured {results['date']} on {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; "
        f"Python {m['python']}, TensorFlow {m.get('tensorflow-cpu') or m.get('tensorflow')}, "
        f"Keras {m.get('keras')}, Streamlit {m.get('streamlit')}, {m.get('chromium') or 'Chromium ?'}"
        + (" — **quick run**" if results["quick"] else "") + ".",
        "",
        "Load (1-min load average before / cores other processes used during, per group): "
        + "; ".join(loads) + "."
        + (" **Taken under load** — timings are pessimistic." if results["under_load"] else " Quiet machine."),
        "",
        "| # | Benchmark | Measured (median) | Target | Result |",
        "|---|---|---|---|---|",
    ]
    foot = ["", f"† not re-run this time: numbers from the run of {', '.join(old)}."] if old else []
    return "\n".join(head + rows + foot) + "\n"


def _previous(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats and steps: a smoke run")
    p.add_argument("--only", help=f"comma-separated groups: {', '.join(GROUPS)} (or 1..6)")
    p.add_argument("--max-busy", type=float, default=0.3,
                   help="wait before each group until other processes use fewer cores than this")
    p.add_argument("--wait-idle", type=float, default=60.0, help="longest wait for that, seconds per group")
    p.add_argument("--out", default=str(common.RESULTS / "latest.json"))
    args = p.parse_args(argv)

    chosen = list(GROUPS)
    if args.only:
        wanted = set()
        for name in args.only.split(","):
            name = ALIASES.get(name.strip(), name.strip())
            if name not in GROUPS:
                p.error(f"unknown benchmark {name!r}; choose from {', '.join(GROUPS)}")
            wanted.add(name)
        chosen = [g for g in GROUPS if g in wanted]
    params = QUICK if args.quick else FULL
    common.data_path()  # fail early, and never download

    results = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "quick": args.quick,
               "params": params, "machine": common.machine(), "groups": {}}
    log(f"benchmarks: {', '.join(chosen)} ({'quick' if args.quick else 'full'}) on {results['machine']['cpu']}")
    t_suite = time.monotonic()
    failed = []
    for name in chosen:
        load = wait_quiet(args.max_busy, args.wait_idle)
        log(f"[{name}] load {load['load1_before']:.2f}, other processes {load['busy_cores_before']:.2f} cores")
        try:
            with Foreign() as foreign:
                result = RUNNERS[name](params)
            results["groups"][name] = {"result": result, "load": load, "foreign_cores": round(foreign.cores, 2),
                                       "own_cores": round(foreign.own_cores, 2), "seconds": round(foreign.wall, 1)}
            log(f"[{name}] done in {foreign.wall:.0f} s (other processes used {foreign.cores:.2f} cores meanwhile)")
        except Exception as e:  # one broken group must not lose the others' numbers
            log(f"[{name}] FAILED: {type(e).__name__}: {e}")
            results["groups"][name] = {"error": f"{type(e).__name__}: {e}", "load": load}
            failed.append(name)
    ok = {k: v for k, v in results["groups"].items() if "result" in v}
    # Groups not run this time keep their last numbers (marked), so --only refreshes part of the table.
    previous = _previous(args.out)
    for name in GROUPS:
        old = previous.get("groups", {}).get(name)
        if name not in ok and old and "result" in old:
            ok[name] = {**old, "carried_from": old.get("carried_from") or previous.get("date")}
    results["groups"] = {name: ok[name] for name in GROUPS if name in ok}
    results["failed"] = failed
    results["derived"] = derive(results)
    # The 1-minute load average also counts this suite's own previous groups, so the verdict rests on
    # the CPU other processes used during each group (and just before it).
    results["under_load"] = any(v["foreign_cores"] > 0.25 or v["load"]["busy_cores_before"] > 0.3
                                for v in ok.values() if not v.get("carried_from"))
    results["suite_seconds"] = round(time.monotonic() - t_suite, 1)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    log(f"results: {args.out} ({results['suite_seconds']:.0f} s)")
    print(markdown(results))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

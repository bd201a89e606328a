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
from benchmarks.report import ALIASES, GROUPS, derive, markdown


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

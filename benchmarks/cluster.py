"""Four concurrent runs as threads of one server against four runs as actors of a local Ray instance.

    python -m benchmarks.cluster [--runs 4] [--window-s 8] [--pairs 2] [--json]

Both sets of runs are built once and kept warm (paused); then, in alternation (threads, Ray, Ray,
threads, ...), one set trains for a window while the other is paused. Per set: steps/s of each run,
their sum, CPU seconds per 1 000 steps (this process for threads; the actors' worker processes for
Ray), and how often a reader polling ``snapshot()`` every 0.1 s (as the Train page's live view does,
more slowly) sees a new step: the refresh a page gets.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from benchmarks import common

POLL_S = 0.1


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _dataset(n_train: int):
    import numpy as np

    from ae_core.data import Dataset, load

    full = load(common.data_path())
    return Dataset(np.ascontiguousarray(full.x_train[:n_train]), np.ascontiguousarray(full.y_train[:n_train]),
                   np.ascontiguousarray(full.x_test[:1000]), np.ascontiguousarray(full.y_test[:1000]),
                   format=full.format, source=f"first {n_train} digits", path=full.path)


def _cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _window(trainers, seconds: float, pids: list[int]) -> dict:
    """Train all of ``trainers`` for ``seconds``; steps/s each, CPU per 1 000 steps, snapshot refresh."""
    for t in trainers:
        t.resume()
    for t in trainers:
        t.wait(lambda s: s.status == "running", 60)
    time.sleep(0.5)   # past the first chunk after resuming
    first = [t.snapshot().step for t in trainers]
    cpu0, t0 = _cpu_seconds(pids), time.monotonic()
    changes, last = 0, list(first)
    while time.monotonic() - t0 < seconds:
        time.sleep(POLL_S)
        now = [t.snapshot().step for t in trainers]
        changes += sum(a != b for a, b in zip(now, last))
        last = now
    wall, cpu = time.monotonic() - t0, _cpu_seconds(pids) - cpu0
    steps = [b - a for a, b in zip(first, last)]
    for t in trainers:
        t.pause()
    for t in trainers:
        t.wait(lambda s: s.status == "paused", 60)
    return {"steps_per_s": [s / wall for s in steps], "total_steps_per_s": sum(steps) / wall,
            "cpu_s_per_1000_steps": 1000 * cpu / max(1, sum(steps)),
            "refresh_hz": changes / wall / len(trainers)}


def measure(runs: int, window_s: float, pairs: int, n_train: int) -> dict:
    from ae_core import cluster
    from ae_core.config import preset
    from ae_core.registry import Registry

    dataset = _dataset(n_train)
    config = preset("fast").replace(steps=1_000_000)
    os.environ.pop(cluster.ADDRESS_ENV, None)
    local = Registry(max_runs=runs, save=lambda t: None)
    threads = [local.create(config, dataset) for _ in range(runs)]

    import ray
    ray.init(address="local", num_cpus=runs, include_dashboard=False, namespace=cluster.NAMESPACE,
             logging_level="ERROR")
    os.environ[cluster.ADDRESS_ENV] = ray.get_runtime_context().gcs_address
    remote = Registry(save=lambda t: None)
    actors = [remote.create(config, dataset) for _ in range(runs)]
    t0 = time.monotonic()
    for t in threads + actors:
        t.wait_ready(600)
    log(f"  {runs} threads and {runs} actors ready in {time.monotonic() - t0:.0f} s")
    sets = {"threads": (threads, [os.getpid()]), "ray": (actors, [a.where()["pid"] for a in actors])}
    windows = {"threads": [], "ray": []}
    try:
        for i in range(pairs):
            order = ("threads", "ray") if i % 2 == 0 else ("ray", "threads")
            for name in order:
                trainers, pids = sets[name]
                windows[name].append(_window(trainers, window_s, pids))
                w = windows[name][-1]
                log(f"  {name}: {w['total_steps_per_s']:.0f} steps/s in all "
                    f"({', '.join(f'{s:.0f}' for s in w['steps_per_s'])}), "
                    f"{w['cpu_s_per_1000_steps']:.2f} CPU s / 1000 steps, refresh {w['refresh_hz']:.1f} Hz")
    finally:
        local.stop_all()
        for a in actors:
            a.stop(timeout=10)
        ray.shutdown()
    out = {"runs": runs, "window_s": window_s, "pairs": pairs, "n_train": n_train,
           "network": "fast " + "-".join(map(str, config.layer_widths))}
    for name, ws in windows.items():
        out[name] = {
            "steps_per_s_each": common.median(s for w in ws for s in w["steps_per_s"]),
            "total_steps_per_s": common.median(w["total_steps_per_s"] for w in ws),
            "cpu_s_per_1000_steps": common.median(w["cpu_s_per_1000_steps"] for w in ws),
            "refresh_hz": common.median(w["refresh_hz"] for w in ws),
            "windows": ws}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=4)
    p.add_argument("--window-s", type=float, default=8.0)
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--train-digits", type=int, default=10_000)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = measure(args.runs, args.window_s, args.pairs, args.train_digits)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

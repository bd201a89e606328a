"""Benchmarks 2 and 4: the ``ae_core`` Trainer with no page at all (run in its own process by run.py).

    python -m benchmarks.headless throughput --preset seed --windows 5 --window-s 4
    python -m benchmarks.headless serve --preset seed       # run.py's paired mode (see serve())
    python -m benchmarks.headless converge --preset fast --repeats 3 --target 0.01

Each prints one JSON object on stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from benchmarks.common import data_path, median


def describe(config) -> str:
    """e.g. "784-256-128-256-784 sigmoid, rmsprop_tf1 0.01, batch 256"."""
    return (f"{'-'.join(map(str, config.layer_widths))} {config.activation}, {config.optimizer} "
            f"{config.learning_rate:g}, batch {config.batch_size}")


def _dataset():
    from ae_core.data import load

    return load(data_path())


class Run:
    """A Trainer on a preset (budget lifted), measured in windows between published snapshots.

    The Trainer runs with the same settings as the Train page (eval every 1 s, chunks of ~0.1 s), so
    the time it spends evaluating the test set and publishing snapshots is part of the wall clock."""

    def __init__(self, preset: str, **trainer_kwargs):
        from ae_core.config import preset as get_preset
        from ae_core.trainer import Trainer

        dataset = _dataset()
        config = get_preset(preset).replace(steps=1_000_000)  # never reach the budget while measuring
        t0 = time.perf_counter()
        self.trainer = Trainer(config, dataset, **trainer_kwargs)
        self.trainer.wait_ready()
        self.ready_s = time.perf_counter() - t0
        self.preset = preset
        self.config = config

    def _next(self, after):
        """The next published snapshot, with the wall and CPU clocks read the moment it arrives."""
        snap = self.trainer.wait(lambda s: s.version > after.version, timeout=60)
        return snap, time.perf_counter(), time.process_time()

    def run_for(self, seconds: float):
        snap = self._next(self.trainer.snapshot())[0]
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            snap = self._next(snap)[0]
        return snap

    def window(self, seconds: float, start=None) -> tuple[dict, tuple]:
        a, wa, ca = start or self._next(self.trainer.snapshot())
        time.sleep(seconds)
        end = self._next(self.trainer.snapshot())
        b, wb, cb = end
        steps = b.step - a.step
        return {
            "steps": steps,
            "wall_ms_per_step": 1000 * (wb - wa) / steps,
            "elapsed_ms_per_step": 1000 * (b.elapsed - a.elapsed) / steps,
            # CPU seconds of the whole process (all threads) a step: hardly moved by other
            # processes' load, unlike the wall clock.
            "cpu_ms_per_step": 1000 * (cb - ca) / steps,
            "steps_per_chunk": steps / max(1, b.version - a.version),
            "evaluations": int(len(b.history.test_step) - len(a.history.test_step)),
        }, end

    def pause(self):
        self.trainer.pause()
        self.trainer.wait(lambda s: s.status != "running", timeout=60)

    def summary(self, rows: list[dict]) -> dict:
        last = self.trainer.snapshot()
        wall = median(r["wall_ms_per_step"] for r in rows)
        return {
            "preset": self.preset, "network": describe(self.config),
            "wall_ms_per_step": wall,
            "elapsed_ms_per_step": median(r["elapsed_ms_per_step"] for r in rows),
            "cpu_ms_per_step": median(r["cpu_ms_per_step"] for r in rows),
            "cumulative_elapsed_ms_per_step": 1000 * last.elapsed / max(last.step, 1),  # what the CLI prints
            "steps_per_s": 1000 / wall,
            "steps_per_chunk": median(r["steps_per_chunk"] for r in rows),
            "evaluations_per_window": median(r["evaluations"] for r in rows),
            "ready_s": self.ready_s,
            "eval_every_s": self.trainer.eval_every_s, "chunk_seconds": self.trainer.chunk_seconds,
            "windows": rows,
            "loss": last.loss, "test_mse": last.test_loss, "step": last.step, "status": last.status,
        }

    def stop(self):
        self.trainer.stop()


def throughput(preset: str, windows: int, window_s: float, settle_s: float, **trainer_kwargs) -> dict:
    """ms/step over consecutive windows of one uninterrupted run."""
    run = Run(preset, **trainer_kwargs)
    try:
        run.trainer.start()
        run.run_for(settle_s)  # the first chunks are small; let the chunk size settle
        rows, end = [], None
        for _ in range(windows):
            row, end = run.window(window_s, end)
            rows.append(row)
        out = run.summary(rows)
    finally:
        run.stop()
    if out["status"] != "running":
        raise RuntimeError(f"the run ended up {out['status']}")
    return {**out, "window_s": window_s}


def serve(preset: str, window_s: float, settle_s: float) -> None:
    """Line protocol for run.py, which alternates this run with the notebook loop under the same
    load: prints {"ready": ...}, then each ``measure`` line resumes training, lets it settle, times
    one window and pauses again; ``finish`` prints the summary."""
    run = Run(preset)
    print(json.dumps({"ready": True, "ready_s": run.ready_s}), flush=True)
    rows = []
    try:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "measure":
                run.trainer.resume()
                run.run_for(settle_s)
                row, _ = run.window(window_s)
                run.pause()
                rows.append(row)
                print(json.dumps(row), flush=True)
            elif cmd == "finish":
                print(json.dumps({**run.summary(rows), "window_s": window_s}), flush=True)
                return
    finally:
        run.stop()


def converge(preset: str, repeats: int, target: float, eval_every_s: float, timeout_s: float) -> dict:
    """Wall seconds from start() to the first snapshot whose held-out MSE is <= target, and from
    Trainer() to READY (the first repeat in a process is the cold one: Keras and XLA set-up)."""
    from ae_core.config import preset as get_preset
    from ae_core.trainer import ACTIVE, RUNNING, Trainer

    dataset = _dataset()
    config = get_preset(preset)
    rows = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        trainer = Trainer(config, dataset, eval_every_s=eval_every_s)
        try:
            trainer.wait_ready()
            t1 = time.perf_counter()
            trainer.start()
            snap = trainer.wait(lambda s: (s.test_loss is not None and s.test_loss <= target and s.step > 0)
                                or (s.status not in ACTIVE) or (s.status != RUNNING and s.step >= config.steps),
                                timeout=timeout_s)
            t2 = time.perf_counter()
        finally:
            trainer.stop()
        reached = snap.test_loss is not None and snap.test_loss <= target and snap.step > 0
        rows.append({"ready_s": t1 - t0, "to_target_s": (t2 - t1) if reached else None, "reached": reached,
                     "step": snap.step, "training_s": snap.elapsed, "test_mse": snap.test_loss,
                     "status": snap.status})
    return {
        "preset": preset, "network": describe(config), "target_mse": target, "eval_every_s": eval_every_s,
        "to_target_s": median(r["to_target_s"] for r in rows) if all(r["reached"] for r in rows) else None,
        "to_target_step": median(r["step"] for r in rows),
        "ready_s": median(r["ready_s"] for r in rows),
        "ready_cold_s": rows[0]["ready_s"],
        "runs": rows,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--preset", default="seed")
    t.add_argument("--windows", type=int, default=5)
    t.add_argument("--window-s", type=float, default=4.0)
    t.add_argument("--settle-s", type=float, default=2.0)
    t.add_argument("--eval-every", type=float, help="Trainer(eval_every_s=...) (default: the Trainer's)")
    t.add_argument("--chunk-seconds", type=float, help="Trainer(chunk_seconds=...) (default: the Trainer's)")
    v = sub.add_parser("serve", help="answer measure/finish lines on stdin (for run.py)")
    v.add_argument("--preset", default="seed")
    v.add_argument("--window-s", type=float, default=4.0)
    v.add_argument("--settle-s", type=float, default=1.0)
    c = sub.add_parser("converge")
    c.add_argument("--preset", default="fast")
    c.add_argument("--repeats", type=int, default=3)
    c.add_argument("--target", type=float, default=0.01)
    c.add_argument("--eval-every", type=float, default=0.25)
    c.add_argument("--timeout", type=float, default=120.0)
    args = p.parse_args(argv)
    if args.what == "serve":
        serve(args.preset, args.window_s, args.settle_s)
        return 0
    if args.what == "throughput":
        extra = {k: v for k, v in (("eval_every_s", args.eval_every), ("chunk_seconds", args.chunk_seconds))
                 if v is not None}
        out = throughput(args.preset, args.windows, args.window_s, args.settle_s, **extra)
    else:
        out = converge(args.preset, args.repeats, args.target, args.eval_every, args.timeout)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark 8: live changes without stalls (run in its own process by run.py, group ``live``).

    python -m benchmarks.live --preset seed [--settle-s 4]

A headless Trainer (the Train page's settings: chunks of ~0.1 s, held-out evaluation every 2 s)
trains the preset on the full MNIST; a watcher thread notes the moment every snapshot is published.
While it trains, the batch size goes 256 → 1024 → 64 → 256, then the input noise 0 → 0.3 and
the learning rate ×0.1. For each change: the longest gap between two snapshots whose step
increased, from 0.5 s before the change until the change has taken effect plus ``settle`` seconds,
and how long the change took to take effect. A quiet stretch before the first change gives the
gap of ordinary training (chunks plus evaluations) for comparison. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from benchmarks.common import data_path

BATCHES = (1024, 64, 256)


class Watcher:
    """Notes (wall time, step, applied batch size, message) for every published snapshot."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.marks: list[tuple[float, int, int, str]] = []
        self.halt = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        snap = self.trainer.snapshot()
        while not self.halt:
            try:
                snap = self.trainer.wait(lambda s, v=snap.version: s.version > v or self.halt, timeout=5)
            except TimeoutError:
                continue
            self.marks.append((time.perf_counter(), snap.step, snap.config.batch_size, snap.message))

    def worst_gap(self, t0: float, t1: float) -> float:
        """The longest wait between two snapshots with new steps, over waits that overlap [t0, t1]
        (a stall spanning the whole stretch counts in full)."""
        times, last = [], -1
        for t, s, _, _ in list(self.marks):
            if s > last:
                times.append(t)
                last = s
        gaps = [b - a for a, b in zip(times, times[1:]) if b >= t0 and a <= t1]
        if times and times[-1] < t1:
            gaps.append(t1 - max(times[-1], t0))  # no new step since: still waiting at the end
        return max(gaps, default=t1 - t0)

    def first(self, t0: float, until) -> float | None:
        for t, s, bs, msg in self.marks:
            if t >= t0 and until(bs, msg):
                return t
        return None

    def stop(self):
        self.halt = True
        self.thread.join(10)


def measure(preset: str, settle_s: float) -> dict:
    from ae_core.config import preset as get_preset
    from ae_core.data import load
    from ae_core.trainer import Trainer

    config = get_preset(preset).replace(steps=1_000_000)
    trainer = Trainer(config, load(data_path()))
    trainer.wait_ready()
    watcher = Watcher(trainer)
    trainer.start()
    time.sleep(1.0 + settle_s)
    quiet = watcher.worst_gap(time.perf_counter() - settle_s, time.perf_counter())
    changes = []

    def change(label: str, taken, **fields):
        t0 = time.perf_counter()
        trainer.update(**fields)
        deadline = t0 + 60
        while time.perf_counter() < deadline:
            at = watcher.first(t0, taken)
            if at is not None:
                break
            time.sleep(0.05)
        else:
            at = None
        time.sleep(settle_s)
        end = time.perf_counter()
        compiling = watcher.first(t0, lambda bs, msg: "Compiling" in msg) is not None
        changes.append({"change": label, "worst_gap_s": watcher.worst_gap(t0 - 0.5, end),
                        "took_effect_s": None if at is None else at - t0, "said_compiling": compiling})
        print(f"  {label}: worst gap {changes[-1]['worst_gap_s']:.3f} s, in effect after "
              f"{changes[-1]['took_effect_s']}", file=sys.stderr, flush=True)

    previous = config.batch_size
    for bs in BATCHES:
        change(f"batch size {previous} → {bs}", lambda b, m, bs=bs: b == bs, batch_size=bs)
        previous = bs
    change("noise 0 → 0.3", lambda b, m: True, noise=0.3)
    change(f"learning rate {config.learning_rate:g} → {config.learning_rate / 10:g}", lambda b, m: True,
           learning_rate=config.learning_rate / 10)
    watcher.stop()
    trainer.stop()
    worst = max(changes, key=lambda c: c["worst_gap_s"])
    return {"preset": preset, "quiet_worst_gap_s": quiet, "changes": changes,
            "worst_gap_s": worst["worst_gap_s"], "worst_change": worst["change"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="seed")
    p.add_argument("--settle-s", type=float, default=4.0, help="seconds watched after each change took effect")
    args = p.parse_args(argv)
    print(json.dumps(measure(args.preset, args.settle_s)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark 9: how a step's cost grows with the batch size and the network's width (group ``cost``).

    python -m benchmarks.cost serve --kind trainer|notebook     # run.py's paired mode (see serve())
    python -m benchmarks.cost once --kind trainer --batch 1024 --width 256

Two sweeps around the seed network (784-w-w/2-w-784, sigmoid, TF1 RMSProp 0.01): the batch size
from 32 to 4096 at w = 256, and w from 64 to 2048 at batch 256. ``trainer`` is ae_core's Engine
running compiled chunks (the Trainer's hot path: in-graph batch drawing, no evaluation or
snapshots); ``notebook`` is the notebook's loop (``benchmarks.baseline_tf1``) with the same widths.
Each cell is short: a few warm-up steps, then three timed runs of as many steps as fill ~0.4 s
(at least 5, at most 300); the fastest run counts (the least disturbed on a shared machine).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from benchmarks.common import data_path

BATCHES = (32, 64, 128, 256, 512, 1024, 2048, 4096)
WIDTHS = (64, 128, 256, 512, 1024, 2048)
SEED_WIDTH, SEED_BATCH = 256, 256
CELL_S = 0.4
RUNS = 3


def cells() -> list[tuple[int, int]]:
    """(batch, width) of every cell: the batch sweep, then the width sweep (the seed cell once)."""
    out = [(b, SEED_WIDTH) for b in BATCHES]
    return out + [(SEED_BATCH, w) for w in WIDTHS if (SEED_BATCH, w) not in out]


def _steps_for(ms_per_step: float) -> int:
    return int(min(300, max(5, 1000 * CELL_S / max(ms_per_step, 1e-3))))


class TrainerCells:
    """ae_core's Engine on the full MNIST, one network per cell."""

    def __init__(self):
        from ae_core.data import load

        self.dataset = load(data_path())

    def measure(self, batch: int, width: int) -> dict:
        import gc

        from ae_core.config import preset
        from ae_core.engine import Engine

        cfg = preset("seed").replace(hidden=(width,), latent=width // 2, batch_size=batch)
        t0 = time.perf_counter()
        engine = Engine(cfg, self.dataset, 16)
        engine.chunk(3, batch)  # compiles
        setup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        engine.chunk(3, batch)
        steps = _steps_for(1000 * (time.perf_counter() - t0) / 3)
        runs = []
        for _ in range(RUNS):
            t0, c0 = time.perf_counter(), time.process_time()
            engine.chunk(steps, batch)
            runs.append((1000 * (time.perf_counter() - t0) / steps, 1000 * (time.process_time() - c0) / steps))
        del engine
        gc.collect()
        return _cell(batch, width, steps, runs, setup_s)


class NotebookCells:
    """The notebook's graph and loop, one graph and session per cell, the data loaded once."""

    def __init__(self):
        from benchmarks.baseline_tf1 import notebook_data

        self.data = notebook_data(str(data_path()))

    def measure(self, batch: int, width: int) -> dict:
        from benchmarks.baseline_tf1 import NotebookLoop

        t0 = time.perf_counter()
        loop = NotebookLoop(self.data, batch_size=batch, hidden=(width, width // 2))
        loop.train(3)
        setup_s = time.perf_counter() - t0
        steps = _steps_for(loop.timed(3)["ms_per_step"])
        runs = [(r["ms_per_step"], r["cpu_ms_per_step"]) for r in (loop.timed(steps) for _ in range(RUNS))]
        loop.sess.close()
        return _cell(batch, width, steps, runs, setup_s)


def _cell(batch, width, steps, runs, setup_s) -> dict:
    best = min(runs)
    return {"batch": batch, "width": width, "steps": steps, "ms_per_step": best[0], "cpu_ms_per_step": best[1],
            "runs_ms": [r[0] for r in runs], "setup_s": setup_s}


KINDS = {"trainer": TrainerCells, "notebook": NotebookCells}


def serve(kind: str) -> None:
    """Line protocol for run.py, which alternates the two kinds cell by cell under the same load:
    prints {"ready": ...} once the data is loaded, then answers ``measure BATCH WIDTH`` lines."""
    cells_ = KINDS[kind]()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        parts = line.split()
        if parts[:1] == ["measure"]:
            print(json.dumps(cells_.measure(int(parts[1]), int(parts[2]))), flush=True)
        elif parts[:1] == ["finish"]:
            print(json.dumps({"done": True}), flush=True)
            return


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("serve", "once"))
    p.add_argument("--kind", choices=tuple(KINDS), required=True)
    p.add_argument("--batch", type=int, default=SEED_BATCH)
    p.add_argument("--width", type=int, default=SEED_WIDTH)
    args = p.parse_args(argv)
    if args.mode == "serve":
        serve(args.kind)
    else:
        print(json.dumps(KINDS[args.kind]().measure(args.batch, args.width)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

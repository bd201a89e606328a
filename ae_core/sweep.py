"""Sweeps: train every combination of a grid of settings, a few at once, each an ordinary run.

Each run is named by its values (``learning_rate=0.01, batch_size=64``) and its ``config.json``
records the sweep it belongs to (``run.sweep``) and the swept values (``run.swept``), which is how
the Runs page groups a sweep's runs. A combination that cannot be trained (an invalid value, a
diverged or failed run) is reported and the others go on.
"""
from __future__ import annotations

import itertools
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

from .config import FIELDS, Config, ConfigError, format_value, parse_value
from .trainer import DONE, ERROR, PREPARING, READY, RUNNING

SWEEP_KEY, SWEPT_KEY = "sweep", "swept"   # config.json "run" fields of a sweep's runs
INVALID = "invalid"                       # a combination whose values are not a valid Config
MAX_COMBINATIONS = 64


def new_sweep_id() -> str:
    return time.strftime("sweep-%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["learning_rate=0.01,0.001", "hidden=256-64,128"]`` -> {field: [values]}, in order
    (commas separate values; widths are written with dashes). ConfigError for anything unusable."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--grid expects key=v1,v2,..., got {item!r}.")
        key, text = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in FIELDS:
            raise ConfigError(f"Unknown setting {key!r} in --grid; known settings are: {', '.join(FIELDS)}.")
        if key in grid:
            raise ConfigError(f"{key} appears in two --grid options; give all its values in one.")
        values = [parse_value(key, part) for part in text.split(",") if part.strip()]
        if not values:
            raise ConfigError(f"--grid {key}= has no values.")
        grid[key] = list(dict.fromkeys(values))  # a repeated value would train the same run twice
    if not grid:
        raise ConfigError("A sweep needs at least one --grid key=v1,v2.")
    n = 1
    for values in grid.values():
        n *= len(values)
    if n > MAX_COMBINATIONS:
        raise ConfigError(f"The grid has {n} combinations; a sweep trains at most {MAX_COMBINATIONS}.")
    return grid


def combinations(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, first key slowest."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def run_name(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={format_value(k, v)}" for k, v in values.items())


@dataclass
class Outcome:
    """One combination's result: a finished run (``test_mse``) or a failure (``message``)."""
    values: dict[str, Any]
    status: str                 # DONE, or what went wrong: INVALID, or the run's status (diverged, error)
    run_id: str | None = None
    run_dir: str | None = None
    steps: int = 0
    test_mse: float | None = None
    ms_per_step: float | None = None
    message: str = ""

    def line(self) -> dict:
        """The run's JSON line: the train verb's ``done`` line (or its failure) plus run_id, run_dir
        and the swept values (under ``swept``, and at the top where the name is free)."""
        swept = {k: _plain(v) for k, v in self.values.items()}
        if self.status == DONE:
            out = {"event": "done", "steps": self.steps, "test_mse": round(self.test_mse, 6),
                   "ms_per_step": round(self.ms_per_step or 0.0, 3)}
        else:
            out = {"event": self.status, "steps": self.steps, "message": self.message}
        out.update(run_id=self.run_id, run_dir=self.run_dir, swept=swept)
        for k, v in swept.items():
            out.setdefault(k, v)
        return out


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


@dataclass
class Sweep:
    base: Config
    grid: dict[str, list[Any]]
    sweep_id: str = field(default_factory=new_sweep_id)

    def plan(self) -> list[tuple[dict[str, Any], Config | str]]:
        """(values, Config) per combination, or (values, why it is invalid)."""
        out = []
        for values in combinations(self.grid):
            try:
                out.append((values, self.base.replace(**values)))
            except ConfigError as e:
                out.append((values, str(e)))
        return out


def default_parallel() -> int:
    """As many runs at once as the machine has cores (each run's TensorFlow ops use them too), or on
    a Ray cluster (AE_RAY_ADDRESS) as many as it can place."""
    from . import cluster

    if cluster.enabled():
        return cluster.capacity()
    return max(1, os.cpu_count() or 1)


def run_sweep(sweep: Sweep, dataset, *, parallel: int | None = None, root=None,
              on_outcome: Callable[[Outcome], None] | None = None, trainer_kwargs: dict | None = None) -> list[Outcome]:
    """Train every combination (``parallel`` at once, default: the number of cores), saving each
    as a run under ``root`` (default AE_RUNS_DIR); ``on_outcome`` is called as each one ends."""
    from . import runs
    from .trainer import Trainer, new_run_id

    from . import cluster

    lock = threading.Lock()
    on_cluster = cluster.enabled()

    def report(outcome: Outcome) -> Outcome:
        if on_outcome is not None:
            with lock:
                on_outcome(outcome)
        return outcome

    def train(values: dict[str, Any], config: Config) -> Outcome:
        name = run_name(values)
        run_id = new_run_id()
        extra = {SWEEP_KEY: sweep.sweep_id, SWEPT_KEY: {k: _plain(v) for k, v in values.items()}}

        def checkpoint(trainer):
            runs.save(trainer.snapshot(), trainer.model(), root=root, name=name,
                      optimizer_state=trainer.optimizer_state(), film=trainer.film, extra_meta=extra)

        try:
            if on_cluster:  # one Ray actor a run; it saves itself
                trainer = cluster.create(config, dataset, run_id=run_id, **(trainer_kwargs or {}), queue=True,
                                         save_as={"root": root, "name": name, "extra_meta": extra})
            else:
                trainer = Trainer(config, dataset, run_id=run_id, on_checkpoint=checkpoint, **(trainer_kwargs or {}))
            trainer.wait_ready(timeout=600)
            trainer.start()
            snap = trainer.wait(lambda s: s.status not in (PREPARING, READY, RUNNING), timeout=24 * 3600)
            trainer.stop(timeout=None)  # the final save runs in the training thread: let it finish
        except Exception as e:  # this combination failed; the others go on
            return report(Outcome(values, ERROR, run_id, message=f"{type(e).__name__}: {e}"))
        run_dir = str(runs.run_path(run_id, root))
        if snap.status != DONE:
            return report(Outcome(values, snap.status, run_id, run_dir, snap.step, snap.test_loss,
                                  message=snap.message))
        return report(Outcome(values, DONE, run_id, run_dir, snap.step, snap.test_loss,
                              1000 * snap.elapsed / max(snap.step, 1)))

    outcomes: list[Outcome | None] = []
    jobs = []
    plan = sweep.plan()
    with ThreadPoolExecutor(max_workers=max(1, min(parallel or default_parallel(), len(plan)))) as pool:
        for values, config in plan:
            if isinstance(config, str):
                outcomes.append(report(Outcome(values, INVALID, message=config)))
            else:
                outcomes.append(None)
                jobs.append((len(outcomes) - 1, pool.submit(train, values, config)))
        for index, job in jobs:
            outcomes[index] = job.result()
    return outcomes


def best(outcomes: list[Outcome]) -> Outcome | None:
    """The finished run with the lowest test MSE."""
    done = [o for o in outcomes if o.status == DONE and o.test_mse is not None]
    return min(done, key=lambda o: o.test_mse) if done else None


def summary_line(sweep: Sweep, outcomes: list[Outcome]) -> dict:
    top = best(outcomes)
    return {"event": "sweep", "runs": len(outcomes), "best": top.run_id if top else None,
            "best_test_mse": round(top.test_mse, 6) if top else None,
            "best_values": {k: _plain(v) for k, v in top.values.items()} if top else None,
            "failed": sum(o.status != DONE for o in outcomes), "sweep": sweep.sweep_id}


# --- the Runs page's view of sweeps -----------------------------------------------------------------
def groups(all_runs) -> dict[str, list]:
    """Sweep id -> its runs (SavedRun), for runs whose config.json names a sweep; newest sweep first."""
    out: dict[str, list] = {}
    for run in all_runs:
        sweep_id = run.meta.get(SWEEP_KEY)
        if isinstance(sweep_id, str) and sweep_id:
            out.setdefault(sweep_id, []).append(run)
    return dict(sorted(out.items(), reverse=True))


def swept_keys(group) -> list[str]:
    keys: list[str] = []
    for run in group:
        swept = run.meta.get(SWEPT_KEY)
        for k in (swept if isinstance(swept, dict) else {}):
            if k in FIELDS and k not in keys:
                keys.append(k)
    return keys


def sweep_table(group) -> pd.DataFrame:
    """One row a run: run_id, name, each swept setting, steps, test_mse, status; best first."""
    keys = swept_keys(group)
    rows = []
    for run in group:
        swept = run.meta.get(SWEPT_KEY) if isinstance(run.meta.get(SWEPT_KEY), dict) else {}
        row = {"run_id": run.run_id, "name": run.name}
        for k in keys:
            value = swept.get(k, getattr(run.config, k))
            row[k] = format_value(k, tuple(value)) if isinstance(value, list) else value
        test_mse = run.meta.get("test_mse")
        row.update(steps=run.meta.get("steps"), test_mse=float(test_mse) if isinstance(test_mse, (int, float))
                   else None, status=str(run.meta.get("status") or "unknown"))
        rows.append(row)
    table = pd.DataFrame(rows, columns=["run_id", "name", *keys, "steps", "test_mse", "status"])
    table["test_mse"] = pd.to_numeric(table["test_mse"], errors="coerce")
    return table.sort_values("test_mse", na_position="last", kind="stable").reset_index(drop=True)

"""A registry of live trainers keyed by run id, shared by every browser session of one server.

The pages keep one instance in ``st.cache_resource``; it is plain Python so it can be tested
headless. A cap on concurrent runs keeps a shared 2-core server responsive.
"""
from __future__ import annotations

import os
import threading
import time

from .trainer import Trainer


class RegistryFull(RuntimeError):
    """All training slots are taken; the message says so in one sentence."""


def max_runs_from_env() -> int:
    try:
        return max(1, int(os.environ.get("AE_MAX_RUNS", "2")))
    except ValueError:
        return 2


class Registry:
    def __init__(self, max_runs: int | None = None):
        self.max_runs = max_runs or max_runs_from_env()
        self._runs: dict[str, Trainer] = {}
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, run_id: str | None) -> Trainer | None:
        if not run_id:
            return None
        with self._lock:
            trainer = self._runs.get(run_id)
            if trainer is not None:
                self._seen[run_id] = time.monotonic()
            return trainer

    def create(self, config, dataset, run_id: str | None = None, **kwargs) -> Trainer:
        with self._lock:
            if run_id in self._runs:
                return self._runs[run_id]
            if len(self._runs) >= self.max_runs:
                raise RegistryFull(
                    f"All {self.max_runs} training slots of this server are in use; stop a run on the "
                    f"Runs page, or wait for one to be released (AE_MAX_RUNS sets the number).")
            trainer = Trainer(config, dataset, run_id=run_id, **kwargs)
            self._runs[trainer.run_id] = trainer
            self._seen[trainer.run_id] = time.monotonic()
            return trainer

    def release(self, run_id: str) -> None:
        """Stop a run and free its slot (its saved files stay on disk)."""
        with self._lock:
            trainer = self._runs.pop(run_id, None)
            self._seen.pop(run_id, None)
        if trainer is not None:
            trainer.stop()

    def run_ids(self) -> list[str]:
        with self._lock:
            return list(self._runs)

    def trainers(self) -> list[Trainer]:
        with self._lock:
            return list(self._runs.values())

    def stop_all(self) -> None:
        for run_id in self.run_ids():
            self.release(run_id)

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
    def __init__(self, max_runs: int | None = None, watch_grace_s: float = 5.0):
        self.max_runs = max_runs or max_runs_from_env()
        self.watch_grace_s = watch_grace_s  # a run looked at this recently is someone's: keep it
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
                self._evict_one_idle()
            if len(self._runs) >= self.max_runs:
                raise RegistryFull(
                    f"All {self.max_runs} training slots of this server are busy with runs that are training "
                    f"or being watched; pause one or try again in a minute (AE_MAX_RUNS sets the number).")
            trainer = Trainer(config, dataset, run_id=run_id, **kwargs)
            self._runs[trainer.run_id] = trainer
            self._seen[trainer.run_id] = time.monotonic()
            return trainer

    def _evict_one_idle(self) -> None:
        """Free the slot of the least recently watched run that is not training (lock held).
        Its files were saved when it paused or finished; a run that is training is never evicted."""
        now = time.monotonic()
        idle = [(seen, run_id) for run_id, seen in self._seen.items()
                if self._runs[run_id].snapshot().status != "running" and now - seen > self.watch_grace_s]
        if idle:
            _, run_id = min(idle)
            trainer = self._runs.pop(run_id)
            self._seen.pop(run_id)
            trainer.stop(timeout=0)

    def release(self, run_id: str) -> None:
        """Stop a run and free its slot (its saved files stay on disk)."""
        with self._lock:
            trainer = self._runs.pop(run_id, None)
            self._seen.pop(run_id, None)
        if trainer is not None:
            trainer.stop(timeout=1.0)

    def run_ids(self) -> list[str]:
        with self._lock:
            return list(self._runs)

    def trainers(self) -> list[Trainer]:
        with self._lock:
            return list(self._runs.values())

    def stop_all(self) -> None:
        for run_id in self.run_ids():
            self.release(run_id)

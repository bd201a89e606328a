"""The Ray actor that holds one run: today's :class:`~ae_core.trainer.Trainer`, in a worker process.

The actor writes the run store itself (``AE_RUNS_DIR``, a folder all nodes share): every
``checkpoint_every_s`` while it trains, when it pauses or finishes, and when it is stopped, so a run
whose actor dies loses at most the last few seconds. Commands run one at a time in the order they
were sent (Ray's default concurrency group); reads (snapshots, weights) run beside them in their
own group, so a watcher never waits behind a command and a command never waits behind a watcher.
"""
from __future__ import annotations

import copy
import os
import tempfile
import threading
from pathlib import Path

import ray

from ..config import ConfigError
from . import wire

READERS = 4   # snapshot long-polls and weight fetches that may run at once


@ray.remote(concurrency_groups={"reads": READERS})
class RunActor:
    def __init__(self, config, dataset, data_key: str, run_id: str, save_as: dict | None, trainer_kwargs: dict):
        from ..trainer import Trainer

        # The arrays arrive from the object store as read-only views of shared memory owned by the
        # process that put them there (a web server, a CLI); a run outlives that process, so it keeps
        # its own copy (TensorFlow makes its own tensors of them anyway).
        dataset = _own_copy(dataset)
        self.dataset = dataset
        self._data_key = data_key
        self.save_as = save_as          # None: not saved; else runs.save's root, name and extra_meta
        # Arrays arrive read-only (Ray hands them over without copying); a continued run's history
        # grows in place, so the trainer gets its own writable copies.
        kwargs = copy.deepcopy(trainer_kwargs)
        film = kwargs.pop("film_bytes", None)
        if film is not None:
            kwargs["film"] = _film_from_bytes(film)
        self.trainer = Trainer(config, dataset, run_id=run_id,
                               on_checkpoint=self._save if save_as is not None else None, **kwargs)

    def _save(self, trainer) -> None:
        from .. import runs

        root = self.save_as.get("root")
        runs.save(trainer.snapshot(), trainer.model(), root=None if root is None else Path(root),
                  name=self.save_as.get("name"), optimizer_state=trainer.optimizer_state(), dataset=trainer.dataset,
                  film=trainer.film, extra_meta=self.save_as.get("extra_meta"))

    # --- commands, in order ---------------------------------------------------------------------------
    def start(self) -> None:
        self.trainer.start()

    def resume(self) -> None:
        self.trainer.resume()

    def pause(self) -> None:
        self.trainer.pause()

    def step(self, n: int) -> None:
        self.trainer.step(n)

    def update(self, changes: dict):
        """The new target Config, or the one sentence of a ConfigError (a str)."""
        try:
            return self.trainer.update(**changes)
        except ConfigError as e:
            return str(e)

    def reset(self, config, dataset=None, data_key: str | None = None) -> None:
        if dataset is not None:
            dataset = _own_copy(dataset)
            self.dataset, self._data_key = dataset, data_key
        self.trainer.reset(config, dataset=dataset)

    def finish(self, timeout: float | None = None):
        """Stop training (the training thread saves the run as it ends) and give the last snapshot."""
        self.trainer.stop(timeout=timeout)
        if self.save_as is not None and self.trainer.snapshot().step > 0:
            self._save(self.trainer)
        return wire.pack(self.trainer.snapshot()), self.trainer.config

    # --- reads, beside the commands -----------------------------------------------------------------
    @ray.method(concurrency_group="reads")
    def snapshot_after(self, version: int, timeout: float):
        """The first snapshot newer than ``version`` (waiting up to ``timeout`` s for one), with the
        target configuration; None if nothing newer was published in that time."""
        try:
            snap = self.trainer.wait(lambda s: s.version > version, timeout=timeout)
        except (TimeoutError, RuntimeError):  # nothing new; or the thread has ended: whatever is there
            snap = self.trainer.snapshot()
            if snap.version <= version:
                return None
        return wire.pack(snap), self.trainer.config

    @ray.method(concurrency_group="reads")
    def weights(self):
        return self.trainer.weights()

    @ray.method(concurrency_group="reads")
    def optimizer_state(self):
        return self.trainer.optimizer_state()

    @ray.method(concurrency_group="reads")
    def film_bytes(self) -> bytes | None:
        film = getattr(self.trainer, "film", None)
        return None if film is None else film.to_bytes()

    @ray.method(concurrency_group="reads")
    def data_key(self) -> str:
        return self._data_key

    @ray.method(concurrency_group="reads")
    def data(self):
        """(fingerprint, data set) of the run's digits."""
        return self._data_key, self.dataset

    @ray.method(concurrency_group="reads")
    def where(self) -> dict:
        """Where the run lives: node, process, resources (for the README's diagram and the tests)."""
        ctx = ray.get_runtime_context()
        return {"node_id": ctx.get_node_id(), "pid": os.getpid(), "thread": threading.current_thread().name}


def _film_from_bytes(data: bytes):
    from ..frames import FilmStrip

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "frames.npz")
        with open(path, "wb") as f:
            f.write(data)
        return FilmStrip.load(path)


def _own_copy(dataset):
    import dataclasses

    import numpy as np

    return dataclasses.replace(dataset, **{name: np.array(getattr(dataset, name)) for name in wire.KEYS})

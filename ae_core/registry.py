"""A registry of live trainers keyed by run id, shared by every browser session of one server.

The pages keep one instance in ``st.cache_resource``; it is plain Python so it can be tested
headless. A cap on concurrent runs keeps a shared 2-core server responsive; runs nobody watches
are released after a while (their files were saved when they paused or finished); on shutdown
every run is stopped and saved.

With ``AE_RAY_ADDRESS`` set, runs are Ray actors instead (:mod:`ae_core.cluster`): ``create`` starts
one (the cap is what the cluster can place), ``get`` re-attaches to one by name (after a server
restart, or from another server), and a shutdown leaves them training.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref

from .trainer import RUNNING, Trainer, new_run_id  # noqa: F401  (new_run_id: the pages make run ids here)

IDLE_SECONDS = 120.0   # a run nobody watches and that is not training is released after this long
DEAD_SHOWN_S = 5.0     # a run whose Ray actor died shows its error this long before it is let go


def default_slots() -> int:
    """Concurrent runs a server holds by default: one per core (at least two), since each training
    run keeps about one core busy."""
    return max(2, os.cpu_count() or 2)


class RegistryFull(RuntimeError):
    """All training slots are taken; the message says so in one sentence."""


def _env_number(name: str, default: float, cast=float):
    try:
        return max(cast(1), cast(os.environ.get(name, default)))
    except ValueError:
        return cast(default)


class Registry:
    def __init__(self, max_runs: int | None = None, *, idle_seconds: float | None = None,
                 watch_grace_s: float = 5.0, save=None):
        self.max_runs = max_runs or _env_number("AE_MAX_RUNS", default_slots(), int)
        # A run nobody has looked at for this long, and that is not training, is released (its files
        # were saved when it paused or finished, and again when it is released).
        self.idle_seconds = idle_seconds or _env_number("AE_IDLE_SECONDS", IDLE_SECONDS)
        self.watch_grace_s = watch_grace_s  # a run looked at this recently is someone's: keep it
        self.save = save                    # save(trainer): called for each run at shutdown
        self._runs: dict[str, Trainer] = {}
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._exit_hook = False
        self._hook_exit()
        from . import cluster
        self.on_cluster = cluster.enabled()   # runs are Ray actors (AE_RAY_ADDRESS)

    def _hook_exit(self) -> None:
        """Save every run when the server exits. atexit runs its handlers last-registered-first, and
        h5py (which Keras uses to write model.keras) closes itself in one: so the hook is registered
        only once Keras has been imported (by a trainer's thread), to run before h5py's."""
        if self._exit_hook or "keras" not in sys.modules:
            return
        self._exit_hook = True
        ref = weakref.ref(self)
        atexit.register(lambda: ref() is not None and ref().shutdown())

    def get(self, run_id: str | None) -> Trainer | None:
        if not run_id:
            return None
        self._hook_exit()
        self.release_idle()
        with self._lock:
            trainer = self._runs.get(run_id)
            if trainer is not None and _gone_for(trainer) > DEAD_SHOWN_S:
                # Its actor died and the error has been shown: let it go, so that opening the run
                # again continues it from its saved files.
                self._runs.pop(run_id)
                self._seen.pop(run_id, None)
                trainer = None
            if trainer is not None or not self.on_cluster:
                if trainer is not None:
                    self._seen[run_id] = time.monotonic()
                return trainer
        return self._attach(run_id)

    def _attach(self, run_id: str):
        """The run's actor on the cluster, if it lives (a server restart, or another server's run)."""
        from .cluster import attach

        try:
            trainer = attach(run_id)
        except Exception as e:  # no cluster (ClusterError) or a lost connection: saved runs are still served
            print(f"ae-lab: run {run_id} not looked up on the Ray cluster: {type(e).__name__}: {e}",
                  file=sys.stderr)
            return None
        if trainer is None:
            return None
        with self._lock:
            trainer = self._runs.setdefault(run_id, trainer)
            self._seen[run_id] = time.monotonic()
        return trainer

    def create(self, config, dataset, run_id: str | None = None, **kwargs) -> Trainer:
        self.release_idle()
        with self._lock:
            if run_id in self._runs:
                return self._runs[run_id]
        if self.on_cluster:
            return self._create_on_cluster(config, dataset, run_id, **kwargs)
        with self._lock:
            if len(self._runs) >= self.max_runs:
                self._evict_one_unwatched()
            if len(self._runs) >= self.max_runs:
                raise RegistryFull(self._full_message())
            kwargs.pop("save_as", None)   # what a run in a Ray actor saves itself as; here on_checkpoint does it
            trainer = Trainer(config, dataset, run_id=run_id, **kwargs)
            self._runs[trainer.run_id] = trainer
            self._seen[trainer.run_id] = time.monotonic()
            return trainer

    def _create_on_cluster(self, config, dataset, run_id, **kwargs):
        """A run as a Ray actor; the cluster's room is the cap (RegistryFull with its sentence)."""
        from . import cluster
        from .cluster.connect import ClusterError, address, connected

        try:
            trainer = cluster.create(config, dataset, run_id=run_id, **kwargs)
        except ClusterError as e:
            raise RegistryFull(str(e)) from None
        except Exception as e:
            if connected():
                raise
            raise RegistryFull(f"This server has lost its connection to the Ray cluster at {address()!r} "
                               f"({type(e).__name__}); saved runs are still on the Runs page.") from None
        with self._lock:
            trainer = self._runs.setdefault(trainer.run_id, trainer)
            self._seen[trainer.run_id] = time.monotonic()
        return trainer

    def _full_message(self) -> str:
        """Why no slot is free, and what would free one (lock held)."""
        training = sum(t.snapshot().status == RUNNING for t in self._runs.values())
        watched = len(self._runs) - training
        parts = ([f"{training} {'run is' if training == 1 else 'runs are'} training"] if training else []) + \
                ([f"{watched} {'is' if watched == 1 else 'are'} open in another tab"] if watched else [])
        return (f"All {self.max_runs} training slots of this server are taken ({' and '.join(parts)}). "
                f"A slot frees when a run finishes or its tab is closed (within {self.watch_grace_s:g} s), "
                f"and this page then starts your run by itself; AE_MAX_RUNS sets the number of slots.")

    def has_room(self) -> bool:
        """True when :meth:`create` would find a slot now (freeing an unwatched, idle run if need be)."""
        self.release_idle()
        if self.on_cluster:
            from .cluster.connect import room_sentence
            try:
                return room_sentence() is None
            except Exception:  # ClusterError, or a lost connection: no room until it is back
                return False
        with self._lock:
            return len(self._runs) < self.max_runs or bool(self._unwatched(self.watch_grace_s))

    def _evict_one_unwatched(self) -> None:
        """Free the slot of the least recently watched run that is not training (lock held).
        Its files were saved when it paused or finished; a run that is training is never evicted."""
        idle = self._unwatched(self.watch_grace_s)
        if idle:
            self._drop(min(idle)[1])

    def _unwatched(self, seconds: float) -> list[tuple[float, str]]:
        """(last seen, run id) of runs not training and not looked at for ``seconds`` (lock held)."""
        now = time.monotonic()
        return [(seen, run_id) for run_id, seen in self._seen.items()
                if now - seen > seconds and self._runs[run_id].snapshot().status != RUNNING]

    def release_idle(self) -> list[str]:
        """Release runs unwatched for ``idle_seconds`` that are not training."""
        with self._lock:
            stale = [run_id for _, run_id in self._unwatched(self.idle_seconds)]
            for run_id in stale:
                self._drop(run_id)
        return stale

    def _drop(self, run_id: str) -> None:
        """Release a run nobody watches (lock held): its thread ends at its chunk boundary and the run
        is saved once more, off the caller's thread, so nothing it learnt is lost."""
        trainer = self._runs.pop(run_id)
        self._seen.pop(run_id, None)
        trainer.stop(timeout=0)
        if self.save is not None and trainer.snapshot().step > 0 and not _saves_itself(trainer):
            threading.Thread(target=self._save_released, args=(trainer,), daemon=True,
                             name=f"release-{run_id}").start()

    def _save_released(self, trainer) -> None:
        trainer.stop(timeout=5.0)
        try:
            self.save(trainer)
        except Exception as e:  # the last periodic save stands
            print(f"could not save released run {trainer.run_id}: {type(e).__name__}: {e}", file=sys.stderr)

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

    def shutdown(self, timeout: float = 1.5) -> None:
        """Stop every training thread (they end at their next chunk boundary, ~0.1 s) and save
        each run once its thread has ended, so a server stop loses nothing."""
        trainers = []
        for trainer in self.trainers():
            if _saves_itself(trainer):
                trainer.close()   # a run in a Ray actor outlives this server: stop watching, not training
            else:
                trainers.append(trainer)
        for trainer in trainers:
            trainer.stop(timeout=0)
        deadline = time.monotonic() + timeout
        for trainer in trainers:
            trainer.stop(timeout=max(0.0, deadline - time.monotonic()))
            save = self.save or trainer.on_checkpoint
            if save is not None and trainer.snapshot().step > 0:
                try:
                    save(trainer)
                except Exception as e:  # shutting down: say it in the log; the last periodic save stands
                    print(f"could not save run {trainer.run_id} at shutdown: {type(e).__name__}: {e}",
                          file=sys.stderr)
        with self._lock:
            self._runs.clear()
            self._seen.clear()


def _saves_itself(trainer) -> bool:
    """A run in a Ray actor writes the run store itself (and outlives the server)."""
    return bool(getattr(trainer, "saves_itself", False))


def _gone_for(trainer) -> float:
    """Seconds since a run's Ray actor died (0 for a run that lives, or a local one)."""
    gone_for = getattr(trainer, "gone_for", None)
    return gone_for() if gone_for is not None else 0.0

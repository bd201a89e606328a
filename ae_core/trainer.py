"""Trainer: trains an autoencoder in a background thread, in compiled chunks of steps.

One thread owns the network. Callers send commands (start, pause, resume, step, live changes,
reset, stop) that take effect at the next chunk boundary (a chunk lasts ~0.1 s), and read
immutable :class:`Snapshot` objects that the thread publishes after every chunk. Reading a
snapshot never waits for training, and training never waits for a reader.

The parts live in their own modules: statuses (``status``), snapshots (``snapshot``), the
TensorFlow engine (``engine``), the thread's loop (``loop``), strategy choice (``strategy``) and
the shared data tensors (``tensors``). Their names are re-exported here for existing callers.
"""
from __future__ import annotations

import itertools
import threading
from types import MappingProxyType
from typing import TYPE_CHECKING, Callable

import numpy as np

from . import frames as film_lib
from .config import LIVE_FIELDS, Config, ConfigError
from .engine import CHECK_SIZE, MAX_CHUNK, PROBE_SIZE, Engine
from .history import History, _readonly
from .loop import FIRST_CHUNK, HEALTH_EVERY_S, TrainingLoop
from .snapshot import N_DIGITS, Snapshot, new_run_id, wait_for
from .status import ACTIVE, Status
from .strategy import active_strategy, strategy_from_env

if TYPE_CHECKING:
    from .data import Dataset

PREPARING, READY, RUNNING, PAUSED, DONE, DIVERGED, ERROR, STOPPED = (
    Status.PREPARING, Status.READY, Status.RUNNING, Status.PAUSED, Status.DONE, Status.DIVERGED,
    Status.ERROR, Status.STOPPED)

__all__ = ["Trainer", "Snapshot", "Status", "Engine", "TrainingLoop", "new_run_id", "strategy_from_env",
           "active_strategy", "ACTIVE", "PREPARING", "READY", "RUNNING", "PAUSED", "DONE", "DIVERGED", "ERROR",
           "STOPPED", "N_DIGITS", "PROBE_SIZE", "MAX_CHUNK", "CHECK_SIZE", "FIRST_CHUNK", "HEALTH_EVERY_S"]


class Trainer:
    """A run: a network, its history, and the thread that trains it.

    ``start``/``pause``/``resume``/``step``/``update``/``reset``/``stop`` return at once; their
    effect shows in the next snapshot (within one chunk, ~0.1 s, once the network is ready).
    """

    def __init__(self, config: Config, dataset: "Dataset", *, run_id: str | None = None,
                 eval_every_s: float = 2.0, chunk_seconds: float = 0.1,
                 history: History | None = None, weights=None, on_checkpoint: Callable | None = None,
                 checkpoint_every_s: float = 10.0, strategy=None, optimizer_state=None, film=None):
        self.run_id = run_id or new_run_id()
        # The tf.distribute strategy to train under: the one given, else the one whose scope is
        # active where the Trainer is made (scopes belong to a thread; training runs in another).
        self.strategy = strategy if strategy is not None else active_strategy()
        self.dataset = dataset
        self.eval_every_s = eval_every_s
        self.chunk_seconds = chunk_seconds
        self.on_checkpoint = on_checkpoint
        self.checkpoint_every_s = checkpoint_every_s
        self._cond = threading.Condition()
        self._version = itertools.count()
        self._generation = 0
        self._init_state(config, history, weights, optimizer_state)
        if film is not None:
            self.film = film  # a continued run's film strip goes on (ae_core.frames.FilmStrip)
        self._publish_now(PREPARING, "Building the network…")
        self._spawn()

    # --- commands (any thread) ----------------------------------------------------------------------
    def start(self) -> None:
        self._command(want="run")

    def resume(self) -> None:
        self._command(want="run")

    def pause(self) -> None:
        self._command(want="pause")

    def step(self, n: int = 1) -> None:
        """Train exactly ``n`` more steps, then pause."""
        if n < 1:
            raise ConfigError("Step needs a positive number of steps.")
        with self._cond:
            self._step_quota += int(n)
            self._want = "step"
            self._commands += 1
            self._cond.notify_all()

    def update(self, **changes) -> Config:
        """Change live fields (learning rate, batch size, noise, step budget) of the running run.
        Each change is recorded as an event at the step where it takes effect."""
        not_live = sorted(set(changes) - set(LIVE_FIELDS))
        if not_live:
            raise ConfigError(f"{not_live[0]} cannot change while a run trains; Reset to apply it.")
        with self._cond:
            target = self._target.replace(**changes)  # validates
            self._target = target
            self._commands += 1
            self._cond.notify_all()
        return target

    def set_learning_rate(self, lr: float) -> Config:
        return self.update(learning_rate=float(lr))

    def set_batch_size(self, batch_size: int) -> Config:
        return self.update(batch_size=int(batch_size))

    def reset(self, config: Config | None = None, dataset: "Dataset | None" = None) -> None:
        """Throw the network away and start over (with ``config``/``dataset`` if given), keeping the run id."""
        with self._cond:
            self._stop_flag = True
            if dataset is not None:
                self.dataset = dataset
            self._cond.notify_all()
        self._init_state(config or self._target, None, None)
        self._publish_now(PREPARING, "Building the network…")
        self._spawn()

    def stop(self, timeout: float | None = 5.0) -> None:
        """End the training thread (the history stays readable)."""
        with self._cond:
            self._stop_flag = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not threading.current_thread():
            thread.join(timeout)

    # --- reading (any thread) ---------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def config(self) -> Config:
        return self._target

    @property
    def engine(self) -> Engine | None:
        """The run's Engine once built (None while preparing); read-only use from other threads."""
        return self._engine

    def wait(self, until: Callable[[Snapshot], bool], timeout: float = 60.0) -> Snapshot:
        """Block until a published snapshot satisfies ``until`` (for the CLI and tests)."""
        return wait_for(self._cond, lambda: self._snapshot, until, timeout, self.run_id,
                        lambda: "" if self._thread.is_alive() else "the training thread has ended")

    def wait_ready(self, timeout: float = 120.0) -> Snapshot:
        return self.wait(lambda s: s.status != PREPARING, timeout)

    def weights(self):
        """A copy of the current weights (numpy); while training they may be mid-chunk."""
        with self._cond:
            return None if self._engine is None else self._engine.model.get_weights()

    def optimizer_state(self) -> list | None:
        """The optimizer's variables (step count, moments) as numpy arrays, to save beside the weights."""
        with self._cond:
            engine = self._engine
        return None if engine is None else [np.array(v.numpy()) for v in engine.optimizer.variables]

    def model(self):
        """The Keras autoencoder (to save or inspect). Read-only use: training may be updating it."""
        return None if self._engine is None else self._engine.nets

    # --- internals ----------------------------------------------------------------------------------
    def _init_state(self, config: Config, history: History | None, weights, optimizer_state=None) -> None:
        with self._cond:
            self._generation += 1
            self._commands = 0
            self._stop_flag = False
            self._want = "idle"
            self._step_quota = 0
            self._target = config
            self._start_config = config
            self._history = history if history is not None else History()
            self._initial_weights = weights
            self._initial_optimizer_state = optimizer_state
            self._engine: Engine | None = None
            self.film = film_lib.strip_for(self.dataset)  # the film strip (frames.npz) of this generation

    def _spawn(self) -> None:
        gen = self._generation
        self._thread = threading.Thread(target=self._main, args=(gen,), daemon=True,
                                        name=f"trainer-{self.run_id}-{gen}")
        self._thread.start()

    def _command(self, want: str) -> None:
        with self._cond:
            self._want = want
            if want == "run":
                self._step_quota = 0
            self._commands += 1
            self._cond.notify_all()

    def _current(self, gen: int) -> bool:
        return gen == self._generation and not self._stop_flag

    def _make_snapshot(self, config, status, message, history, recon, recon_step, test_loss, elapsed, sps,
                       health=(), first_layer=None, test_measures=None, measurements=None) -> Snapshot:
        return Snapshot(
            run_id=self.run_id, config=config,
            status=status, message=message, step=history.n, elapsed=elapsed, steps_per_sec=sps,
            history=history.view(), originals=_readonly(self.dataset.x_test[:N_DIGITS]),
            reconstructions=_readonly(recon), recon_step=recon_step, test_loss=test_loss,
            data_source=self.dataset.source, version=next(self._version), health=health,
            first_layer=None if first_layer is None else _readonly(first_layer),
            test_measures=MappingProxyType(dict(test_measures or {})),
            measurements=MappingProxyType({k: _readonly(np.asarray(v)) for k, v in (measurements or {}).items()}))

    def _publish_now(self, status: str, message: str) -> None:
        with self._cond:
            self._snapshot = self._make_snapshot(self._target, status, message, self._history,
                                                 np.zeros((0, 784), np.float32), 0, None, 0.0, 0.0)
            self._cond.notify_all()

    def _main(self, gen: int) -> None:
        try:
            loop = TrainingLoop(self, gen)
            loop.run()
        except Exception as e:  # anything the loop did not foresee: shown on the page, not lost in a log
            if gen == self._generation:
                message = f"Training stopped on an error: {type(e).__name__}: {e}"
                try:
                    loop.publish(ERROR, message)
                except Exception:  # the snapshot itself could not be built: publish a bare one
                    self._publish_now(ERROR, message)
            return
        if gen == self._generation and self._stop_flag:
            loop.publish(STOPPED, "The run was stopped.")



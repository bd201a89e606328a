"""The training thread's loop: takes a Trainer's commands, runs chunks, evaluates, publishes.

One loop per generation of a Trainer (a Reset starts a new one); it owns the Engine while it runs.
"""
from __future__ import annotations

import collections
import time
from typing import TYPE_CHECKING

import numpy as np

from . import frames as film_lib
from . import prewarm
from .config import Config
from .engine import MAX_CHUNK, Engine
from .snapshot import N_DIGITS
from .status import Status
from .strategy import strategy_from_env

if TYPE_CHECKING:
    from .trainer import Trainer

FIRST_CHUNK = 8           # small first chunk: the first step shows at once
HEALTH_EVERY_S = 2.0      # seconds between layer-health measurements while training (at most once an evaluation)

PREPARING, READY, RUNNING, PAUSED, DONE, DIVERGED = (
    Status.PREPARING, Status.READY, Status.RUNNING, Status.PAUSED, Status.DONE, Status.DIVERGED)


class TrainingLoop:
    """The training thread's own state and loop (one per generation of a Trainer)."""

    def __init__(self, trainer: Trainer, gen: int):
        self.t = trainer
        self.gen = gen
        self.history = trainer._history
        self.applied = trainer._target       # config in force inside the graph
        self.elapsed = float(self.history.view().elapsed[-1]) if self.history.n else 0.0
        self.recon = np.zeros((0, 784), np.float32)
        self.recon_step = -1
        self.health: tuple = ()
        self.first_layer = None
        self.test_measures: dict = {}
        self.measurements: dict = {}
        self.last_health = 0.0
        self.test_loss = self.history.test_loss[-1] if self.history.test_loss else None
        self.sps = 0.0
        self.marks: collections.deque = collections.deque()  # (time, step) pairs for the rate
        self.chunk_started = time.monotonic()
        self.chunk = FIRST_CHUNK
        self.last_eval = 0.0
        self.last_checkpoint = time.monotonic()
        self.saved_step = self.history.n
        self.diverged = ""                   # the divergence message, until training goes on
        self.status = PREPARING

    def publish(self, status: str, message: str = "") -> None:
        t = self.t
        self.status = status
        with t._cond:
            if self.gen != t._generation:
                return  # a Reset replaced this run: its late news is dropped
            t._snapshot = t._make_snapshot(self.applied, status, message, self.history, self.recon, self.recon_step,
                                           self.test_loss, self.elapsed, self.sps, self.health, self.first_layer,
                                           self.test_measures, self.measurements)
            t._cond.notify_all()

    def evaluate(self, inspect: bool = False) -> None:
        """Held-out MSE and reconstructions; every HEALTH_EVERY_S (or when asked) also the layer
        health and first-layer filters, which cost a little more."""
        self.test_loss, self.recon = self.engine.evaluate()
        now = time.monotonic()
        if inspect:
            # The variant's test objective costs another pass or two over the test set: measured
            # when training stops (pause, step quota, budget), not at every live evaluation.
            self.test_measures = self.engine.test_measures()
        if inspect or now - self.last_health >= HEALTH_EVERY_S:
            self.health = self.engine.health()
            self.first_layer = self.engine.first_layer()
            self.measurements = self.engine.inspect()
            self.last_health = now
        self.recon_step = self.history.n
        self.history.add_test(self.history.n, self.test_loss)
        self.last_eval = time.monotonic()

    def run(self) -> None:
        t = self.t
        self.engine = self._warmed_engine() or Engine(
            self.applied, t.dataset, N_DIGITS, weights=t._initial_weights,
            strategy=t.strategy or strategy_from_env(), optimizer_state=t._initial_optimizer_state)
        if not self.engine.compiled(self.applied.batch_size):
            self.engine.warm_up(self.applied.batch_size)
        with t._cond:
            if not t._current(self.gen):
                return
            t._engine = self.engine
        self._record_frame()
        seen = -1
        while True:
            with t._cond:
                while t._current(self.gen) and t._commands == seen and not self._wants_steps():
                    t._cond.wait()
                if not t._current(self.gen):
                    return
                seen = t._commands
                target = t._target
                n = self._take_chunk()
            self._apply(target)
            if n:
                self._train(n)
            else:
                self._settle()

    def _warmed_engine(self) -> Engine | None:
        """A fresh run of the network the server warmed up at start takes that engine over (see
        ae_core.prewarm), saying meanwhile what the warm-up is doing."""
        t = self.t
        if t._initial_weights is not None or t._initial_optimizer_state is not None:
            return None
        return prewarm.claim(self.applied, t.dataset, strategy=t.strategy,
                             on_wait=lambda message: self.publish(PREPARING, message))

    # --- decisions (called with the lock held) ------------------------------------------------------
    def _wants_steps(self) -> bool:
        t = self.t
        if t._want == "run":
            return self.history.n < t._target.steps
        return t._want == "step" and t._step_quota > 0

    def _take_chunk(self) -> int:
        t = self.t
        if not self._wants_steps():
            return 0
        left = t._target.steps - self.history.n if t._want == "run" else t._step_quota
        n = max(0, min(self.chunk, left, MAX_CHUNK, film_lib.next_scheduled(self.history.n) - self.history.n))
        if t._want == "step":
            t._step_quota -= n
        return n

    # --- actions (lock not held) ----------------------------------------------------------------------
    def _apply(self, target: Config) -> None:
        """Bring live fields in the graph up to date, recording each change as an event."""
        changed = self.applied.diff(target)
        for name, (old, new) in changed.items():
            self.engine.set_live(name, new)
            self.history.add_event(self.history.n, self.elapsed, name, old, new)
        self.applied = target
        if changed:
            self._record_frame(film_lib.change_reason(changed))

    def _train(self, n: int) -> None:
        t = self.t
        cfg = self.applied
        if self.status != RUNNING or not self.marks:
            self.marks.clear()
            self.marks.append((time.monotonic(), self.history.n))
        if not self.engine.compiled(cfg.batch_size):
            # A new batch size needs its own compiled graph: say so rather than stall in silence.
            self.publish(RUNNING, f"Compiling the training step for batch size {cfg.batch_size:,} "
                                  f"(each batch size has its own graph; a few seconds)…")
        elif self.status != RUNNING:
            self.publish(RUNNING)
        self.chunk_started = time.monotonic()
        t0 = time.perf_counter()
        losses, after = self.engine.chunk(n, cfg.batch_size)
        dt = time.perf_counter() - t0
        done = len(losses)
        self.history.extend(losses, cfg.learning_rate, self.engine.effective_batch(cfg.batch_size),
                            self.elapsed, self.elapsed + dt, terms=self.engine.last_terms)
        self.elapsed += dt
        if done:
            self._rate(done)
            # Aim for chunks of ~chunk_seconds: short enough that Pause and live changes act at once.
            self.chunk = int(np.clip(done * t.chunk_seconds / max(dt, 1e-4), 1, MAX_CHUNK))
        if done and not np.isfinite(losses[-1]):
            self._diverge(float(losses[-1]), cfg, done, self.history.n - 1)
            return
        if done and not np.isfinite(after):
            self._diverge(after, cfg, done, self.history.n)  # the chunk's last update broke the network
            return
        self.diverged = ""
        self._record_frame()
        if time.monotonic() - self.last_eval >= t.eval_every_s:
            self.evaluate()
        with t._cond:
            more = self._wants_steps()
        if not more:
            self._settle()
            return
        self.publish(RUNNING)
        if t.on_checkpoint and time.monotonic() - self.last_checkpoint >= t.checkpoint_every_s:
            self._checkpoint()  # after publishing: the save reads the snapshot just published

    def _record_frame(self, reason: str = "") -> None:
        """A film-strip frame at a scheduled step (chunks end there) or at a live change."""
        film = self.t.film
        if film.wants(self.history.n, reason):
            recon, latent = film_lib.capture(self.engine, self.applied)
            film.add(self.history.n, recon, latent, reason)

    def _rate(self, done: int) -> None:
        """Steps per wall-clock second over the last ~2 s (evaluations and saves included)."""
        now = time.monotonic()
        self.marks.append((now, self.history.n))
        while len(self.marks) > 2 and now - self.marks[0][0] > 2.0:
            self.marks.popleft()
        t0, s0 = self.marks[0]
        if now - t0 > 0.2:
            self.sps = (self.history.n - s0) / (now - t0)
        elif not self.sps:
            self.sps = done / max(now - self.chunk_started, 1e-6)

    def _diverge(self, bad_loss: float, cfg: Config, chunk_steps: int, bad_step: int) -> None:
        """Roll the weights back to before the chunk and pause with a plain explanation."""
        t = self.t
        self.engine.rollback()
        self.history.truncate(self.history.n - chunk_steps)
        with t._cond:
            t._want = "pause"
            t._step_quota = 0
        self.diverged = (f"The loss became {'NaN' if np.isnan(bad_loss) else 'infinite'} at step {bad_step:,} "
                         f"(learning rate {cfg.learning_rate:g}), so training paused and the weights from step "
                         f"{self.history.n:,} were kept. Lower the learning rate and Resume, or Reset.")
        self._settle()

    def _settle(self) -> None:
        """Publish the state once training stops (pause, step quota used up, budget reached)."""
        t = self.t
        if self.recon_step != self.history.n:
            self.evaluate(inspect=True)
        with t._cond:
            finished = self.history.n >= t._target.steps
            if finished and t._want == "run":
                t._want = "idle"
        if self.diverged:
            self.publish(DIVERGED, self.diverged)
        elif finished:
            self.publish(DONE, f"Reached the step budget of {t._target.steps:,}. Raise it to train on.")
        elif self.history.n == 0:
            self.publish(READY)
        else:
            self.publish(PAUSED)
        if t.on_checkpoint and self.saved_step != self.history.n:
            self._checkpoint()

    def _checkpoint(self) -> None:
        self.last_checkpoint = time.monotonic()
        self.saved_step = self.history.n
        try:
            self.t.on_checkpoint(self.t)
        except Exception as e:  # a full disk must not kill training; say it on the page instead
            self.publish(self.status, f"Could not save the run: {type(e).__name__}: {e}")

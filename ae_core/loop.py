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
HEALTH_EVERY_S = 2.0      # seconds between layer-health measurements while training (at boundaries without an evaluation)

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
        # How long the last evaluation and layer-health measurement took: the chunk before one is
        # shortened by that much, so the wait between two published steps stays about one chunk.
        self.eval_s = 0.0
        self.health_s = 0.0
        self.test_loss = self.history.test_loss[-1] if self.history.test_loss else None
        self.sps = 0.0
        self.marks: collections.deque = collections.deque()  # (time, step) pairs for the rate
        self.chunk_started = time.monotonic()
        self.chunk = FIRST_CHUNK
        self.last_eval = 0.0
        self.last_checkpoint = time.monotonic()
        self.saved_step = self.history.n
        self.diverged = ""                   # the divergence message, until training goes on
        self.note = ""                       # what happens meanwhile (a batch size compiling), shown while it lasts
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
        """Held-out MSE and reconstructions; when asked (training stops) also the variant's test
        measures and the layer health, which cost a little more."""
        t0 = time.perf_counter()
        self.test_loss, self.recon = self.engine.evaluate()
        if inspect:
            # The variant's test objective costs another pass or two over the test set: measured
            # when training stops (pause, step quota, budget), not at every live evaluation.
            self.test_measures = self.engine.test_measures()
            self.measure_health()
        self.recon_step = self.history.n
        self.history.add_test(self.history.n, self.test_loss)
        self.last_eval = time.monotonic()
        if not inspect:
            self.eval_s = time.perf_counter() - t0

    def measure_health(self) -> None:
        """Layer health, first-layer filters and the variant's live measurements (every
        HEALTH_EVERY_S while training, at a chunk boundary of its own)."""
        t0 = time.perf_counter()
        self.health = self.engine.health()
        self.first_layer = self.engine.first_layer()
        self.measurements = self.engine.inspect()
        self.last_health = time.monotonic()
        self.health_s = time.perf_counter() - t0

    def _eval_due(self, ahead: float = 0.0) -> bool:
        return time.monotonic() + ahead - self.last_eval >= self.t.eval_every_s

    def _health_due(self, ahead: float = 0.0) -> bool:
        return time.monotonic() + ahead - self.last_health >= HEALTH_EVERY_S

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
            # Applied before the chunk is sized: a new batch size's first chunk gets a step count
            # for that size, not the old size's (4x too long after 256 -> 1024).
            self._apply(target)
            with t._cond:
                if not t._current(self.gen):
                    return
                n = self._take_chunk()
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
        n = max(0, min(self._chunk_steps(), left, MAX_CHUNK,
                       film_lib.next_scheduled(self.history.n) - self.history.n))
        if t._want == "step":
            t._step_quota -= n
        return n

    def _chunk_steps(self) -> int:
        """This chunk's length: ~chunk_seconds, less the evaluation or layer-health measurement
        that will follow it (never below a quarter), so steps keep arriving at an even pace."""
        ahead = self.t.chunk_seconds
        extra = self.eval_s if self._eval_due(ahead) else self.health_s if self._health_due(ahead) else 0.0
        if not extra:
            return self.chunk
        return max(1, int(self.chunk * max(0.25, 1.0 - extra / ahead)))

    # --- actions (lock not held) ----------------------------------------------------------------------
    def _apply(self, target: Config) -> None:
        """Bring live fields in the graph up to date, recording each change as an event. A batch
        size without a compiled chunk yet compiles in the background while the chunks go on at the
        current one; it takes effect (and is recorded) at the first chunk boundary after that."""
        old_batch = self.applied.batch_size
        if target.batch_size != old_batch and not self.engine.compiled(target.batch_size):
            self.engine.prepare(target.batch_size, on_ready=self._wake)
            self.note = (f"Compiling the training step for batch size {target.batch_size:,} in the background "
                         f"(each batch size has its own graph; a few seconds); training goes on at batch size "
                         f"{old_batch:,} meanwhile.")
            target = target.replace(batch_size=old_batch)
        else:
            self.note = ""
        changed = self.applied.diff(target)
        for name, (old, new) in changed.items():
            self.engine.set_live(name, new)
            self.history.add_event(self.history.n, self.elapsed, name, old, new)
        self.applied = target
        if "batch_size" in changed:
            # Keep chunks as long in time as before: a step's cost grows with the batch (and the
            # first run at a new size is slower), so start at half that and let the rate adapt it.
            self.chunk = max(1, int(self.chunk * old_batch / target.batch_size / 2))
        if changed:
            self._record_frame(film_lib.change_reason(changed))

    def _wake(self) -> None:
        """From a background compile: run the loop once more, so a finished batch size takes
        effect even while the run is paused."""
        t = self.t
        with t._cond:
            if t._current(self.gen):
                t._commands += 1
                t._cond.notify_all()

    def _train(self, n: int) -> None:
        t = self.t
        cfg = self.applied
        if self.status != RUNNING or not self.marks:
            self.marks.clear()
            self.marks.append((time.monotonic(), self.history.n))
        if self.status != RUNNING:
            self.publish(RUNNING, self.note)
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
            # (A chunk shortened before an evaluation is not a full one: it gives the rate, not the length.)
            self.chunk = int(np.clip(done * t.chunk_seconds / max(dt, 1e-4), 1, MAX_CHUNK))
        if done and not np.isfinite(losses[-1]):
            self._diverge(float(losses[-1]), cfg, done, self.history.n - 1)
            return
        if done and not np.isfinite(after):
            self._diverge(after, cfg, done, self.history.n)  # the chunk's last update broke the network
            return
        self.diverged = ""
        self._record_frame()
        if self._eval_due():
            self.evaluate()
        elif self._health_due():
            self.measure_health()  # not after an evaluation: one of them per chunk boundary
        with t._cond:
            more = self._wants_steps()
        if not more:
            self._settle()
            return
        self.publish(RUNNING, self.note)
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
            self.publish(READY, self.note)
        else:
            self.publish(PAUSED, self.note)
        if t.on_checkpoint and self.saved_step != self.history.n:
            self._checkpoint()

    def _checkpoint(self) -> None:
        self.last_checkpoint = time.monotonic()
        self.saved_step = self.history.n
        try:
            self.t.on_checkpoint(self.t)
        except Exception as e:  # a full disk must not kill training; say it on the page instead
            self.publish(self.status, f"Could not save the run: {type(e).__name__}: {e}")

"""Trainer: trains an autoencoder in a background thread, in compiled chunks of steps.

One thread owns the network. Callers send commands (start, pause, resume, step, live changes,
reset, stop) that take effect at the next chunk boundary (a chunk lasts ~0.1 s), and read
immutable :class:`Snapshot` objects that the thread publishes after every chunk. Reading a
snapshot never waits for training, and training never waits for a reader.

Hot path: ``k`` steps run inside one XLA-compiled ``tf.function``; batches are drawn inside the
graph from the training set held as a tensor, so Python only runs once per chunk.
"""
from __future__ import annotations

import collections
import itertools
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from . import frames as film_lib
from .config import LIVE_FIELDS, Config, ConfigError
from .history import History, HistoryView, _readonly

if TYPE_CHECKING:
    from .data import Dataset

MAX_CHUNK = 1000          # steps in one compiled call at most (the loss buffer's size)
FIRST_CHUNK = 8           # small first chunk: the first step shows at once
N_DIGITS = 64             # fixed test digits whose reconstructions are published (8×8 at most)
CHECK_SIZE = 64           # test digits on which each chunk's final weights are checked for a finite loss
PROBE_SIZE = 512          # fixed test digits on which layer health is measured
HEALTH_EVERY_S = 2.0      # seconds between layer-health measurements while training (at most once an evaluation)

# Statuses a snapshot can carry.
PREPARING, READY, RUNNING, PAUSED, DONE, DIVERGED, ERROR, STOPPED = (
    "preparing", "ready", "running", "paused", "done", "diverged", "error", "stopped")
ACTIVE = (PREPARING, READY, RUNNING, PAUSED, DIVERGED)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


@dataclass(frozen=True)
class Snapshot:
    run_id: str
    config: Config               # the configuration in force, live changes included
    status: str
    message: str                 # a plain sentence for the page ("" when all is well)
    step: int                    # completed training steps
    elapsed: float               # training seconds, pauses excluded
    steps_per_sec: float
    history: HistoryView
    originals: np.ndarray        # (N_DIGITS, 784) fixed test digits
    reconstructions: np.ndarray  # their reconstructions at ``recon_step`` (empty before the network exists)
    recon_step: int
    test_loss: float | None      # latest held-out MSE
    data_source: str
    version: int                 # increases with every publication
    health: tuple = ()           # ae_core.health.LayerHealth per layer, at ``recon_step``
    first_layer: np.ndarray | None = None  # first encoder kernel (784 × units), at ``recon_step``

    @property
    def budget(self) -> int:
        return self.config.steps

    @property
    def loss(self) -> float | None:
        return float(self.history.loss[-1]) if self.history.steps else None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


class _Engine:
    """The TensorFlow side of one run: network, optimizer, in-graph sampler, compiled chunk."""

    def __init__(self, cfg: Config, data: "Dataset", n_digits: int, weights=None, strategy=None,
                 optimizer_state=None):
        import tensorflow as tf

        from . import model as model_lib
        from .optimizers import make_optimizer

        tf.get_logger().setLevel("ERROR")  # one tf.function per run and batch size is by design, not a leak
        self.tf = tf
        self.cfg = cfg
        # Under a tf.distribute strategy (MirroredStrategy over a machine's GPUs) the network, the
        # optimizer and the weight backups are mirrored on every replica and each step's batch is
        # split between them; the sampler's state stays on the host, outside the strategy.
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        self.distributed = tf.distribute.has_strategy() or strategy is not None
        with self.strategy.scope():
            self.nets = model_lib.build(cfg)
            self.model = self.nets.autoencoder
            self.optimizer = make_optimizer(cfg)
            self.optimizer.build(self.model.trainable_variables)
            if callable(weights):
                weights = weights()  # e.g. reading a saved model.keras: done here, off the page's thread
            if weights is not None:
                self.model.set_weights(weights)
            if callable(optimizer_state):
                optimizer_state = optimizer_state()
            self.optimizer_restored = optimizer_state is not None and self._restore_optimizer(optimizer_state)
            # Weights and optimizer state as they were before the current chunk: restored if it diverges.
            self.state = list(self.model.trainable_variables) + list(self.optimizer.variables)
            self.backup = [tf.Variable(v, trainable=False) for v in self.state]
        self.loss_fn = model_lib.reconstruction_loss(cfg)

        # The training set as 8-bit pixels when it is exactly k/255 (MNIST always is): a quarter of
        # the memory and of the gather's traffic; batches become float32 in the graph.
        self.x_train, self.train_bytes = _training_tensor(data.x_train)
        self.x_test = _as_tensor(data.x_test)
        self.digits = tf.constant(data.x_test[:n_digits])
        self.probe = tf.constant(data.x_test[:PROBE_SIZE])  # fixed batch for layer health
        self.check = self.digits[:CHECK_SIZE]  # the end-of-chunk check that the weights still work
        self.n_train = int(data.x_train.shape[0])
        self.rng = tf.random.Generator.from_seed(cfg.seed)
        self.noise = tf.Variable(float(cfg.noise), trainable=False, dtype=tf.float32)
        self.perm = tf.Variable(tf.range(self.n_train, dtype=tf.int32), trainable=False)
        self.cursor = tf.Variable(self.n_train, trainable=False, dtype=tf.int32)  # forces a shuffle first
        self._chunks: dict[int, Callable] = {}
        # XLA compiles single-device graphs; under a strategy the replicas' kernels run uncompiled.
        self._evaluate = tf.function(self._evaluate_graph, jit_compile=not self.distributed)
        self.dense = [layer for net in (self.nets.encoder, self.nets.decoder) for layer in net.layers
                      if hasattr(layer, "kernel")]
        self._health = tf.function(self._health_graph)

    def _restore_optimizer(self, state: list) -> bool:
        """Put a saved optimizer state (moments, step count) back, if it fits this optimizer; the
        learning rate stays the Config's. Returns whether it was restored."""
        variables = list(self.optimizer.variables)
        if len(state) != len(variables) or any(tuple(a.shape) != tuple(v.shape) for a, v in zip(state, variables)):
            return False
        for array, variable in zip(state, variables):
            variable.assign(array.astype(variable.dtype) if hasattr(array, "astype") else array)
        self.optimizer.learning_rate.assign(self.cfg.learning_rate)
        return True

    # --- graphs ---------------------------------------------------------------------------------
    def _indices(self, batch_size: int):
        tf = self.tf
        if self.cfg.sampling == "random":
            # As the notebook: any batch_size training digits, independently each step.
            return self.rng.uniform([batch_size], 0, self.n_train, dtype=tf.int32)

        def reshuffle():
            self.perm.assign(tf.argsort(self.rng.uniform([self.n_train])))
            return tf.constant(0, tf.int32)

        start = tf.cond(self.cursor + batch_size > self.n_train, reshuffle, lambda: self.cursor.read_value())
        self.cursor.assign(start + batch_size)
        return tf.gather(self.perm, start + tf.range(batch_size))  # tf.slice would make XLA recompile per start

    def _corrupt(self, clean):
        """The denoising variant's input: Gaussian noise, clipped back to valid pixel values."""
        tf = self.tf
        return tf.clip_by_value(clean + self.noise * self.rng.normal(tf.shape(clean)), 0.0, 1.0)

    def _batch(self, batch_size: int):
        clean = self.tf.gather(self.x_train, self._indices(batch_size))
        if self.train_bytes:
            # XLA turns the division into a multiplication by 1/255: some pixels differ from the
            # loaded float32 values in the last bit (a 256-entry lookup table would be exact but
            # costs ~1 ms a step; this is 0.4 ms a step faster than gathering float32 rows).
            clean = self.tf.cast(clean, self.tf.float32) / 255.0
        noisy = self.tf.cond(self.noise > 0.0, lambda: self._corrupt(clean), lambda: clean)
        return clean, noisy

    def _chunk_graph(self, n_steps, batch_size: int):
        tf = self.tf
        for b, v in zip(self.backup, self.state):
            b.assign(v)
        losses = tf.TensorArray(tf.float32, size=MAX_CHUNK)
        # A plain while loop, not tf.range(n): a range tensor's shape would make XLA recompile per n.
        i = tf.constant(0, tf.int32)
        step = self._distributed_step if self.distributed else self._local_step
        while i < n_steps:
            loss = step(*self._batch(batch_size))
            losses = losses.write(i, loss)
            i += 1
            if not tf.math.is_finite(loss):
                break  # stop on the first NaN/inf: the weights before this chunk get restored
        # The last update of the chunk is checked too: its loss would only show in the next chunk,
        # after the backup had already taken the broken weights.
        after = self.loss_fn(self.check, self.model(self.check, training=False))
        return losses.stack(), i, after

    def _local_step(self, clean, noisy):
        """One step on one device; returns the batch's loss (the update is applied even when the
        loss is not finite: the chunk then ends and its backup is restored)."""
        tf = self.tf
        with tf.GradientTape() as tape:
            loss = self.loss_fn(clean, self.model(noisy, training=True))
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply(grads, self.model.trainable_variables)
        return loss

    def _distributed_step(self, clean, noisy):
        """One step under the strategy: each replica takes its slice of the batch, computes the loss
        of its slice divided by the number of replicas, and the optimizer sums the replicas'
        gradients (Keras all-reduces them), which gives the gradient of the whole batch's mean."""
        tf = self.tf
        share = tf.shape(clean)[0] // self.replicas

        def replica_step(clean, noisy):
            rid = tf.distribute.get_replica_context().replica_id_in_sync_group
            part = slice(rid * share, (rid + 1) * share)
            with tf.GradientTape() as tape:
                loss = self.loss_fn(clean[part], self.model(noisy[part], training=True))
                scaled = loss / self.replicas
            grads = tape.gradient(scaled, self.model.trainable_variables)
            self.optimizer.apply(grads, self.model.trainable_variables)
            return scaled

        per_replica = self.strategy.run(replica_step, args=(clean, noisy))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def _evaluate_graph(self):
        tf = self.tf
        recon = self.model(self.x_test, training=False)
        test_mse = tf.reduce_mean(tf.square(self.x_test - recon))
        return test_mse, self.model(self.digits, training=False)

    def _health_graph(self):
        """Every layer's outputs on the probe batch, and the gradient norm of each kernel."""
        tf = self.tf
        h, outputs = self.probe, []
        with tf.GradientTape() as tape:
            for layer in self.dense:
                h = layer(h)
                outputs.append(h)
            loss = self.loss_fn(self.probe, h)
        grads = tape.gradient(loss, [layer.kernel for layer in self.dense])
        return outputs, [tf.norm(g) for g in grads]

    # --- calls from the training thread ----------------------------------------------------------
    def chunk(self, n_steps: int, batch_size: int) -> tuple[np.ndarray, float]:
        """Run up to ``n_steps`` steps; return their losses (ending early at a non-finite one) and
        the loss of the weights the chunk ends with, on the CHECK_SIZE check digits."""
        tf = self.tf
        batch_size = self.effective_batch(batch_size)
        fn = self._chunks.get(batch_size)
        if fn is None:
            # One compiled graph per batch size (XLA needs static shapes); the step count is a tensor.
            fn = tf.function(lambda n, bs=batch_size: self._chunk_graph(n, bs), jit_compile=not self.distributed)
            self._chunks[batch_size] = fn
        losses, done, after = fn(tf.constant(n_steps, tf.int32))
        return losses.numpy()[: int(done)], float(after)

    def effective_batch(self, batch_size: int) -> int:
        """The batch a step really draws: at most the training set, and an equal slice per replica."""
        batch_size = min(batch_size, self.n_train)
        return max(self.replicas, batch_size - batch_size % self.replicas)

    def rollback(self) -> None:
        for b, v in zip(self.backup, self.state):
            v.assign(b)

    def warm_up(self, batch_size: int) -> None:
        """Compile and run two real steps, then undo them: the first chunk after Start is then as
        fast as any other (XLA compilation and kernel set-up happen here, before Start)."""
        self.chunk(2, batch_size)
        self.rollback()
        self.rng.reset_from_seed(self.cfg.seed)
        self.cursor.assign(self.n_train)
        self.evaluate()

    def evaluate(self) -> tuple[float, np.ndarray]:
        test_mse, recon = self._evaluate()
        return float(test_mse), recon.numpy()

    def health(self) -> tuple:
        from .health import layer_health

        outputs, norms = self._health()
        return tuple(layer_health(layer.name, self.cfg.activation if layer.name != "reconstruction"
                                  else self.cfg.output_activation, out.numpy(), float(norm))
                     for layer, out, norm in zip(self.dense, outputs, norms))

    def first_layer(self) -> np.ndarray:
        """The first encoder layer's kernel (784 × units): what each unit looks for in a digit."""
        return self.dense[0].kernel.numpy().copy()

    def set_learning_rate(self, lr: float) -> None:
        self.optimizer.learning_rate.assign(lr)

    def set_noise(self, noise: float) -> None:
        self.noise.assign(noise)


def _active_strategy():
    """The strategy of an active ``with strategy.scope():`` in this thread, or None. TensorFlow is
    not imported for this: if nothing imported it yet, no scope can be active; if another thread is
    still importing it (the module is only partly there), no scope can be active here either."""
    distribute = getattr(sys.modules.get("tensorflow"), "distribute", None)
    try:
        return distribute.get_strategy() if distribute.has_strategy() else None
    except AttributeError:  # no TensorFlow yet, or a partly imported one
        return None


_ENV_STRATEGY: list = []


def strategy_from_env():
    """``AE_DISTRIBUTE=mirrored``: one MirroredStrategy over every GPU of the machine (over the CPU
    when there is none), made once per process and shared by its runs. Unset or ``none``: None."""
    import os

    name = os.environ.get("AE_DISTRIBUTE", "none").strip().lower()
    if name in ("", "none", "off", "0"):
        return None
    if name != "mirrored":
        raise ConfigError(f"AE_DISTRIBUTE must be 'mirrored' or 'none', not {name!r}.")
    with _TENSORS_LOCK:
        if not _ENV_STRATEGY:
            import tensorflow as tf

            _ENV_STRATEGY.append(tf.distribute.MirroredStrategy())
        return _ENV_STRATEGY[0]


_TENSORS: dict[tuple, tuple] = {}
_TENSORS_LOCK = threading.Lock()


def _cached(kind: str, array: np.ndarray, make: Callable):
    """``make(array)``, once per data array and kind: shared by every run on the same data set
    (a tensor of the training set is ~190 MB). The array is kept with it so its id stays its own."""
    with _TENSORS_LOCK:
        hit = _TENSORS.get((kind, id(array)))
        if hit is None or hit[0] is not array:
            hit = (array, make(array))
            _TENSORS[(kind, id(array))] = hit
        return hit[1]


def _as_tensor(array: np.ndarray):
    import tensorflow as tf

    return _cached("float", array, tf.constant)


def _byte_pixels(array: np.ndarray) -> np.ndarray | None:
    """``array`` (float32 in [0, 1]) as uint8 0..255 if every value is exactly k/255, else None."""
    out = np.empty(array.shape, np.uint8)
    for start in range(0, len(array), 8192):  # in slices: no full-size temporary
        part = array[start:start + 8192]
        scaled = np.rint(part * np.float32(255))
        if not np.array_equal(scaled / np.float32(255), part):
            return None
        out[start:start + 8192] = scaled
    return out


def _training_tensor(array: np.ndarray):
    """(tensor, is_bytes): the training set as uint8 when it is exactly k/255, else as it is."""
    import tensorflow as tf

    def make(a):
        as_bytes = _byte_pixels(a)
        return tf.constant(a if as_bytes is None else as_bytes), as_bytes is not None

    return _cached("train", array, make)


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
        self.strategy = strategy if strategy is not None else _active_strategy()
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

    def wait(self, until: Callable[[Snapshot], bool], timeout: float = 60.0) -> Snapshot:
        """Block until a published snapshot satisfies ``until`` (for the CLI and tests)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not until(self._snapshot):
                if not self._thread.is_alive():
                    raise RuntimeError(f"run {self.run_id}: the training thread has ended "
                                       f"({self._snapshot.status}: {self._snapshot.message})")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"run {self.run_id}: still {self._snapshot.status} at step "
                                       f"{self._snapshot.step} after {timeout:g} s")
                self._cond.wait(min(left, 0.5))
            return self._snapshot

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
            self._engine: _Engine | None = None
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
                       health=(), first_layer=None) -> Snapshot:
        return Snapshot(
            run_id=self.run_id, config=config,
            status=status, message=message, step=history.n, elapsed=elapsed, steps_per_sec=sps,
            history=history.view(), originals=_readonly(self.dataset.x_test[:N_DIGITS]),
            reconstructions=_readonly(recon), recon_step=recon_step, test_loss=test_loss,
            data_source=self.dataset.source, version=next(self._version), health=health,
            first_layer=None if first_layer is None else _readonly(first_layer))

    def _publish_now(self, status: str, message: str) -> None:
        with self._cond:
            self._snapshot = self._make_snapshot(self._target, status, message, self._history,
                                                 np.zeros((0, 784), np.float32), 0, None, 0.0, 0.0)
            self._cond.notify_all()

    def _main(self, gen: int) -> None:
        try:
            loop = _Loop(self, gen)
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


class _Loop:
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
                                           self.test_loss, self.elapsed, self.sps, self.health, self.first_layer)
            t._cond.notify_all()

    def evaluate(self, inspect: bool = False) -> None:
        """Held-out MSE and reconstructions; every HEALTH_EVERY_S (or when asked) also the layer
        health and first-layer filters, which cost a little more."""
        self.test_loss, self.recon = self.engine.evaluate()
        now = time.monotonic()
        if inspect or now - self.last_health >= HEALTH_EVERY_S:
            self.health = self.engine.health()
            self.first_layer = self.engine.first_layer()
            self.last_health = now
        self.recon_step = self.history.n
        self.history.add_test(self.history.n, self.test_loss)
        self.last_eval = time.monotonic()

    def run(self) -> None:
        t = self.t
        self.engine = _Engine(self.applied, t.dataset, N_DIGITS, weights=t._initial_weights,
                              strategy=t.strategy or strategy_from_env(),
                              optimizer_state=t._initial_optimizer_state)
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
            if name == "learning_rate":
                self.engine.set_learning_rate(new)
            elif name == "noise":
                self.engine.set_noise(new)
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
        if self.status != RUNNING:
            self.publish(RUNNING)
        self.chunk_started = time.monotonic()
        t0 = time.perf_counter()
        losses, after = self.engine.chunk(n, cfg.batch_size)
        dt = time.perf_counter() - t0
        done = len(losses)
        self.history.extend(losses, cfg.learning_rate, self.engine.effective_batch(cfg.batch_size),
                            self.elapsed, self.elapsed + dt)
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

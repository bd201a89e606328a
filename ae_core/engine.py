"""Engine: the TensorFlow side of one run: network, optimizer, in-graph sampler, compiled chunk.

Hot path: ``k`` steps run inside one XLA-compiled ``tf.function``; batches are drawn inside the
graph from the training set held as a tensor, so Python only runs once per chunk. The engine is
not thread-safe: one thread (a Trainer's, or a test's or benchmark's) drives it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from .chunk_graphs import ChunkGraphs
from .config import Config
from .tensors import as_tensor, training_tensor

if TYPE_CHECKING:
    from .data import Dataset

MAX_CHUNK = 1000          # steps in one compiled call at most (the loss buffer's size)
CHECK_SIZE = 64           # test digits on which each chunk's final weights are checked for a finite loss
PROBE_SIZE = 512          # fixed test digits on which layer health is measured


class Engine:
    """The TensorFlow side of one run: network, optimizer, in-graph sampler, compiled chunk."""

    def __init__(self, cfg: Config, data: "Dataset", n_digits: int, weights=None, strategy=None,
                 optimizer_state=None):
        import tensorflow as tf

        from . import model as model_lib
        from .optimizers import make_optimizer
        from .variants import variant_of

        tf.get_logger().setLevel("ERROR")  # one tf.function per run and batch size is by design, not a leak
        self.tf = tf
        self.cfg = cfg
        # What the variant adds: its objective term (None for the plain autoencoder, whose step is
        # then exactly the reconstruction loss) and the live weight of that term, a tf.Variable so
        # that changing it mid-run does not retrace the compiled chunk.
        self.variant = variant_of(cfg)
        self.parts = self.variant.parts
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
            knob = self.variant.knob
            self.weight = None if knob is None else tf.Variable(float(getattr(cfg, knob)), trainable=False,
                                                                 dtype=tf.float32, name=knob)
        self.loss_fn = model_lib.reconstruction_loss(cfg)

        # The training set as 8-bit pixels when it is exactly k/255 (MNIST always is): a quarter of
        # the memory and of the gather's traffic; batches become float32 in the graph.
        self.x_train, self.train_bytes = training_tensor(data.x_train)
        self.x_test = as_tensor(data.x_test)
        self.digits = tf.constant(data.x_test[:n_digits])
        self.probe = tf.constant(data.x_test[:PROBE_SIZE])  # fixed batch for layer health
        self.check = self.digits[:CHECK_SIZE]  # the end-of-chunk check that the weights still work
        self.n_train = int(data.x_train.shape[0])
        self.rng = tf.random.Generator.from_seed(cfg.seed)
        self.noise = tf.Variable(float(cfg.noise), trainable=False, dtype=tf.float32)
        self.perm = tf.Variable(tf.range(self.n_train, dtype=tf.int32), trainable=False)
        self.cursor = tf.Variable(self.n_train, trainable=False, dtype=tf.int32)  # forces a shuffle first
        # XLA compiles single-device graphs of the kinds it runs well (see Variant.xla and
        # model.xla_friendly); under a strategy the replicas' kernels run uncompiled.
        self.jit = not self.distributed and self.variant.xla and model_lib.xla_friendly(cfg)
        self.graphs = ChunkGraphs(tf, self._chunk_graph, self._evaluate_graph, self.jit)
        self._health = tf.function(self._health_graph)
        self._test_measures = tf.function(self._test_measures_graph, jit_compile=self.jit)
        self.last_terms: dict[str, np.ndarray] = {}   # each objective term of the last chunk's steps

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
        if n_steps > 0:
            # A call with no steps only compiles (see prepare): it must not take a backup while
            # another call is training.
            for b, v in zip(self.backup, self.state):
                b.assign(v)
        losses = tf.TensorArray(tf.float32, size=MAX_CHUNK)
        # A plain while loop, not tf.range(n): a range tensor's shape would make XLA recompile per n.
        i = tf.constant(0, tf.int32)
        step = self._distributed_step if self.distributed else self._local_step
        while i < n_steps:
            # A scalar loss, or with several objective terms a vector [total, reconstruction, term].
            values = step(*self._batch(batch_size))
            losses = losses.write(i, values)
            i += 1
            if not tf.math.is_finite(values[0] if self.parts else values):
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
            values = self._objective(clean, noisy)
            total = values[0] if self.parts else values  # on the tape: a slice taken after it has no gradient
        grads = tape.gradient(total, self.model.trainable_variables)
        self.optimizer.apply(grads, self.model.trainable_variables)
        return values

    def _objective(self, clean, noisy):
        return self.variant.objective(self.nets, clean, noisy, self.loss_fn, self.weight, self._normal)

    def _normal(self, shape):
        """Standard normal draws from the run's seeded generator (a VAE's samples, a Jacobian probe)."""
        return self.rng.normal(shape)

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
                scaled = self._objective(clean[part], noisy[part]) / self.replicas
                total = scaled[0] if self.parts else scaled
            grads = tape.gradient(total, self.model.trainable_variables)
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
        """Every weight layer's outputs on the probe batch (a convolution's as rows of channels),
        and the gradient norm of each kernel."""
        tf = self.tf
        h, outputs = self.probe, []
        with tf.GradientTape() as tape:
            for stage in self.nets.stages:
                h = stage.call(h)
                if stage.kernel is not None:
                    outputs.append(tf.reshape(h, [-1, tf.shape(h)[-1]]) if len(h.shape) > 2 else h)
            loss = self.loss_fn(self.probe, h)
        grads = tape.gradient(loss, [stage.kernel for stage in self.weighted_stages])
        return outputs, [tf.norm(g) for g in grads]

    @property
    def weighted_stages(self) -> list:
        return [stage for stage in self.nets.stages if stage.kernel is not None]

    def _test_measures_graph(self):
        return self.variant.test_measures(self.nets, self.x_test, self.loss_fn, self.weight)

    # --- calls from the training thread ----------------------------------------------------------
    def chunk(self, n_steps: int, batch_size: int) -> tuple[np.ndarray, float]:
        """Run up to ``n_steps`` steps; return their losses (ending early at a non-finite one) and
        the loss of the weights the chunk ends with, on the CHECK_SIZE check digits."""
        tf = self.tf
        batch_size = self.effective_batch(batch_size)
        values, done, after = self.graphs.get(batch_size)(tf.constant(n_steps, tf.int32))
        values = values.numpy()[: int(done)]
        self.graphs.ran(batch_size, n_steps)
        if not self.parts:
            return values, float(after)
        self.last_terms = {name: values[:, j + 1] for j, name in enumerate(self.parts)}
        return values[:, 0], float(after)

    def compiled(self, batch_size: int) -> bool:
        """Whether a chunk at this batch size runs at once (see ChunkGraphs.compiled)."""
        return self.graphs.compiled(self.effective_batch(batch_size))

    def uncompiled(self, batch_size: int) -> bool:
        """Whether it runs as a plain graph while XLA's is still to come (a cold start)."""
        return self.graphs.uncompiled(self.effective_batch(batch_size))

    def compiling(self, batch_size: int) -> bool:
        """Whether this batch size's chunk is compiling in the background now."""
        return self.graphs.compiling(self.effective_batch(batch_size))

    def prepare(self, batch_size: int, on_ready: Callable[[], None] | None = None) -> None:
        """Compile the chunk for ``batch_size`` in a background thread, so that chunks at the
        current batch size keep running meanwhile; ``on_ready()`` is called from that thread when
        it is done (or failed)."""
        self.graphs.prepare(self.effective_batch(batch_size), on_ready)

    def effective_batch(self, batch_size: int) -> int:
        """The batch a step really draws: at most the training set, and an equal slice per replica."""
        batch_size = min(batch_size, self.n_train)
        return max(self.replicas, batch_size - batch_size % self.replicas)

    def rollback(self) -> None:
        for b, v in zip(self.backup, self.state):
            v.assign(b)

    def warm_up(self, batch_size: int, xla_later: bool = False) -> None:
        """Compile and run two real steps, then undo them: the first chunk after Start is then as
        fast as any other (XLA compilation and kernel set-up happen here, before Start).

        ``xla_later``: make the chunk a plain graph (traced in a fraction of the time XLA takes to
        compile it, and about as fast for the first steps) and XLA-compile it in the background once
        the first real chunk has run; the compiled chunk takes over at the next chunk boundary. For
        a cold start, where those seconds are the user's wait for the first step."""
        size = self.effective_batch(batch_size)
        plain = xla_later and self.graphs.start_plain(size)
        self.chunk(2, batch_size)
        if plain:
            self.graphs.xla_after_next_chunk(size)
        self.rollback()
        self.rng.reset_from_seed(self.cfg.seed)
        self.cursor.assign(self.n_train)
        self.evaluate()

    def evaluate(self) -> tuple[float, np.ndarray]:
        test_mse, recon = self.graphs.evaluate()
        return float(test_mse), recon.numpy()

    def health(self) -> tuple:
        from .health import layer_health

        outputs, norms = self._health()
        return tuple(layer_health(stage.name, stage.activation, out.numpy(), float(norm))
                     for stage, out, norm in zip(self.weighted_stages, outputs, norms))

    def first_layer(self) -> np.ndarray:
        """The first encoder layer's filters (784 × units): what each unit looks for in a digit."""
        return self.nets.first_layer()

    def test_measures(self) -> dict[str, float]:
        """The variant's numbers on the test digits (``test_objective``, ``test_kl``); {} for the
        plain autoencoder, whose objective is the test MSE itself."""
        if not self.parts:
            return {}
        return {name: float(value) for name, value in self._test_measures().items()}

    def inspect(self) -> dict[str, np.ndarray]:
        """The variant's and the architecture's live measurements on the probe digits."""
        from .variants import conv

        probe = self.probe.numpy()
        out = dict(self.variant.inspect(self.nets, probe))
        if self.cfg.architecture == "conv":
            out.update(conv.inspect(self.nets, probe))
        return out

    def set_live(self, name: str, value) -> None:
        """Apply a live Config field inside the graph (fields read from Python, like the batch
        size and the step budget, need nothing here)."""
        if name == "learning_rate":
            self.optimizer.learning_rate.assign(value)
        elif name == "noise":
            self.noise.assign(value)
        elif name == self.variant.knob:
            self.weight.assign(value)

    def set_learning_rate(self, lr: float) -> None:
        self.set_live("learning_rate", lr)

    def set_noise(self, noise: float) -> None:
        self.set_live("noise", noise)


"""The compiled graphs of one engine's chunks: one per batch size (XLA needs static shapes).

A chunk's graph is made when a chunk at its batch size first asks for it; or in a background thread
while training goes on at the old size (a live batch-size change must not stall the run); or, on a
cold start, first as a plain graph, traced in a fraction of the time XLA takes to compile, with
XLA's graph compiled in the background after the first real chunk and taking over at a chunk
boundary. The held-out evaluation follows the same path as the first chunk's graph.
"""
from __future__ import annotations

import os
import threading
from typing import Callable

COMPILE_NICE = 10         # a background compile's CPU priority (19 starved it: 14 s instead of 2-6 s under load)


def _lower_priority() -> None:
    """Lower the calling thread's CPU priority (Linux: a thread's nice value is its own);
    elsewhere it keeps normal priority."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), COMPILE_NICE)
    except (AttributeError, OSError):
        pass


class ChunkGraphs:
    """``chunk_graph(n_steps, batch_size)`` and ``evaluate_graph()`` as ``tf.function``s, XLA-compiled
    when ``jit``. Batch sizes given here are the ones a step really draws (the engine's
    ``effective_batch``)."""

    def __init__(self, tf, chunk_graph: Callable, evaluate_graph: Callable, jit: bool):
        self.tf = tf
        self.jit = jit
        self._chunk_graph = chunk_graph
        self._evaluate_graph = evaluate_graph
        self.evaluate = tf.function(evaluate_graph, jit_compile=jit)
        self._plain_evaluate = False   # the evaluation runs uncompiled until the first background compile
        self._chunks: dict[int, Callable] = {}
        # Batch sizes compiling in a background thread, and compile failures, which the next chunk
        # at that size raises.
        self._compiling: dict[int, threading.Thread] = {}
        self._errors: dict[int, BaseException] = {}
        self._plain: set[int] = set()       # batch sizes whose chunk runs uncompiled until XLA's is ready
        self._xla_later: set[int] = set()   # ... and whose XLA compile starts after their next chunk
        self._lock = threading.Lock()

    def _new(self, batch_size: int, jit: bool | None = None):
        # The step count is a tensor: one graph serves every chunk length.
        jit = self.jit if jit is None else jit
        return self.tf.function(lambda n, bs=batch_size: self._chunk_graph(n, bs), jit_compile=jit)

    def get(self, batch_size: int) -> Callable:
        """The graph to run a chunk at ``batch_size`` with now: made here if there is none, waited
        for if it is compiling in the background; a background compile's error is raised."""
        with self._lock:
            fn = self._chunks.get(batch_size)
            error = self._errors.pop(batch_size, None)
            compiling = self._compiling.get(batch_size)
        if error is not None:
            raise error
        if fn is None and compiling is not None:
            compiling.join()  # asked for before its background compile ended: wait for it
            return self.get(batch_size)
        if fn is None:
            fn = self._new(batch_size)
            with self._lock:
                self._chunks[batch_size] = fn
        return fn

    def ran(self, batch_size: int, n_steps: int) -> None:
        """A chunk of ``n_steps`` ran at ``batch_size``: after a cold start's first real steps, XLA's
        graph now compiles in the background."""
        if n_steps and batch_size in self._xla_later:
            self._xla_later.discard(batch_size)
            # At normal priority: a starved compile held other runs' compiles back (a fork made
            # meanwhile waited ~20 s for its first graph instead of ~5).
            self._compile_in_background(batch_size, low_priority=False)

    def start_plain(self, batch_size: int) -> bool:
        """A cold start: the chunk (and the evaluation) as plain graphs for now. Returns whether that
        was done (not when XLA is off, or the size has a graph already); then call
        :meth:`xla_after_next_chunk` once the warm-up's own steps have run."""
        if not self.jit:
            return False
        with self._lock:
            if batch_size in self._chunks:
                return False
            self._chunks[batch_size] = self._new(batch_size, jit=False)
            self._plain.add(batch_size)
            self.evaluate = self.tf.function(self._evaluate_graph)   # XLA's comes with the chunk's
            self._plain_evaluate = True
        return True

    def xla_after_next_chunk(self, batch_size: int) -> None:
        self._xla_later.add(batch_size)

    def compiled(self, batch_size: int) -> bool:
        """Whether a chunk at this batch size runs at once (its graph exists) or compiles first
        (a failed background compile counts as ready: the next chunk at that size raises its error)."""
        with self._lock:
            return batch_size in self._chunks or batch_size in self._errors

    def uncompiled(self, batch_size: int) -> bool:
        """Whether the chunk at this batch size runs as a plain graph (a cold start's first steps)
        while its XLA-compiled one is still to come."""
        with self._lock:
            return batch_size in self._plain

    def compiling(self, batch_size: int) -> bool:
        with self._lock:
            return batch_size in self._compiling

    def prepare(self, batch_size: int, on_ready: Callable[[], None] | None = None) -> None:
        """Compile the chunk for ``batch_size`` in a background thread (unless it has a graph);
        ``on_ready()`` is called from that thread when it is done (or failed)."""
        with self._lock:
            if batch_size in self._chunks or batch_size in self._errors:
                return
        self._compile_in_background(batch_size, on_ready)

    def _compile_in_background(self, batch_size: int, on_ready: Callable[[], None] | None = None,
                               low_priority: bool = True) -> None:
        with self._lock:
            if batch_size in self._compiling:
                return
            thread = threading.Thread(target=self._compile, args=(batch_size, on_ready, low_priority),
                                      daemon=True, name=f"compile-batch-{batch_size}")
            self._compiling[batch_size] = thread
        thread.start()

    def _compile(self, batch_size: int, on_ready, low_priority: bool = True) -> None:
        tf = self.tf
        fn = self._new(batch_size)
        plain_evaluate, self._plain_evaluate = self._plain_evaluate, False
        try:
            # Tracing is Python and holds the interpreter's lock: at normal priority, so that it
            # hands the lock back to the training thread promptly (a descheduled low-priority
            # holder stalled the chunks). XLA's compilation, on the call, runs without that lock
            # and, for a live change, at a low priority, mostly on the cores the chunks leave free
            # (a cold start's first compile runs at normal priority: see ran). A call with no
            # steps traces and compiles without touching a variable.
            fn.get_concrete_function(tf.TensorSpec([], tf.int32))
            if low_priority:
                _lower_priority()
            fn(tf.constant(0, tf.int32))
        except Exception as e:  # e.g. out of memory at a huge batch: raised by the chunk that needs it
            with self._lock:
                if batch_size not in self._chunks:   # an uncompiled chunk runs on without XLA
                    self._errors[batch_size] = e
                del self._compiling[batch_size]
        else:
            evaluate = self._compiled_evaluate() if plain_evaluate else None
            with self._lock:
                self._chunks[batch_size] = fn
                self._plain.discard(batch_size)
                if evaluate is not None:
                    self.evaluate = evaluate
                del self._compiling[batch_size]
        if on_ready is not None:
            on_ready()

    def _compiled_evaluate(self):
        """The held-out evaluation XLA-compiled (a call compiles it; it reads the weights and changes
        nothing), or None if that fails: the plain one then stays."""
        evaluate = self.tf.function(self._evaluate_graph, jit_compile=True)
        try:
            evaluate()
        except Exception:
            return None
        return evaluate

    def traced(self) -> list[Callable]:
        """Every chunk graph there is (for tests that count retracings)."""
        with self._lock:
            return list(self._chunks.values())

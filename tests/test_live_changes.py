"""Live changes without stalls: a new batch size compiles in the background while the run goes on.

The background compile is held back (its thread waits for the test) so that "steps keep coming
while it compiles" is checked as behaviour, whatever the machine's speed.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

from ae_core.chunk_graphs import ChunkGraphs
from ae_core.config import Config
from ae_core.engine import Engine
from ae_core.trainer import Trainer

LIGHT = Config(hidden=(64,), latent=16, activation="relu", optimizer="sgd", learning_rate=0.1,
               initializer="glorot_uniform", steps=100_000)
TIMEOUT = 60


@pytest.fixture
def held_compile(monkeypatch):
    """Background compiles wait for ``release`` before they start; ``started`` is set once one waits."""
    started, release = threading.Event(), threading.Event()
    compile_now = ChunkGraphs._compile

    def held(self, batch_size, on_ready, low_priority=True):
        started.set()
        release.wait(TIMEOUT)
        compile_now(self, batch_size, on_ready, low_priority)

    monkeypatch.setattr(ChunkGraphs, "_compile", held)
    yield started, release
    release.set()


@pytest.fixture
def trainer(small_mnist):
    t = Trainer(LIGHT, small_mnist)
    t.wait_ready(TIMEOUT)
    yield t
    t.stop()


def test_steps_keep_coming_while_a_new_batch_size_compiles(trainer, held_compile):
    started, release = held_compile
    trainer.start()
    before = trainer.wait(lambda s: s.status == "running" and s.step >= 20, TIMEOUT)
    trainer.set_batch_size(64)
    assert started.wait(TIMEOUT)
    # While the new size's chunk is (held) compiling, chunks at the old size go on and say so.
    seen = [trainer.wait(lambda s: "in the background" in s.message and s.step > before.step, TIMEOUT)]
    for _ in range(3):
        seen.append(trainer.wait(lambda s, n=seen[-1].step: s.step > n, TIMEOUT))
    assert all("batch size 64" in s.message and s.config.batch_size == 256 for s in seen)
    assert trainer.config.batch_size == 64  # what was asked for, while the graph still runs 256
    assert np.all(seen[-1].history.batch_size == 256)
    assert not [e for e in seen[-1].history.events if e["field"] == "batch_size"]

    release.set()
    s = trainer.wait(lambda s: s.config.batch_size == 64, TIMEOUT)
    s = trainer.wait(lambda s, n=s.step: s.step >= n + 10, TIMEOUT)
    assert "in the background" not in s.message
    # The change is recorded where it took effect: every step before it at 256, every one after at 64.
    (event,) = [e for e in s.history.events if e["field"] == "batch_size"]
    assert (event["old"], event["new"]) == (256, 64) and event["step"] > seen[-1].step - 1
    k = event["step"]
    assert np.all(s.history.batch_size[:k] == 256) and np.all(s.history.batch_size[k:] == 64)
    assert np.isfinite(s.history.loss).all()


def test_a_batch_size_compiled_while_paused_takes_effect_without_a_step(trainer, held_compile):
    started, release = held_compile
    trainer.step(5)
    trainer.wait(lambda s: s.status == "paused" and s.step == 5, TIMEOUT)
    trainer.set_batch_size(128)
    assert started.wait(TIMEOUT)
    s = trainer.wait(lambda s: "in the background" in s.message, TIMEOUT)
    assert s.status == "paused" and s.config.batch_size == 256
    release.set()
    s = trainer.wait(lambda s: s.config.batch_size == 128, TIMEOUT)
    assert s.status == "paused" and s.step == 5 and not s.message
    assert [(e["field"], e["new"], e["step"]) for e in s.history.events] == [("batch_size", 128, 5)]


def test_a_compile_that_fails_in_the_background_stops_the_run_with_its_error(trainer, monkeypatch):
    def broken(n, bs):
        raise RuntimeError("no memory for this batch")

    trainer.start()
    trainer.wait(lambda s: s.status == "running" and s.step >= 5, TIMEOUT)
    monkeypatch.setattr(trainer.engine.graphs, "_chunk_graph", broken)   # graphs made from now on
    trainer.set_batch_size(32)
    s = trainer.wait(lambda s: s.status == "error", TIMEOUT)
    assert "no memory for this batch" in s.message


def test_the_first_chunk_at_a_new_batch_size_is_sized_for_that_size(trainer, monkeypatch):
    """The step count of the first chunk after a batch-size change comes from the new size (the old
    size's count at a 4x larger batch would make that chunk 4x longer: a visible pause)."""
    from ae_core.loop import TrainingLoop

    calls = []
    chunk_now, apply_now = Engine.chunk, TrainingLoop._apply

    def chunk(self, n_steps, batch_size):
        calls.append(("chunk", n_steps, batch_size))
        return chunk_now(self, n_steps, batch_size)

    def apply(self, target):
        before = self.applied.batch_size
        apply_now(self, target)
        if self.applied.batch_size != before:
            calls.append(("sized", self.chunk, self.applied.batch_size))

    monkeypatch.setattr(Engine, "chunk", chunk)
    monkeypatch.setattr(TrainingLoop, "_apply", apply)
    trainer.start()
    trainer.wait(lambda s: s.status == "running" and s.step >= 20, TIMEOUT)
    trainer.set_batch_size(1024)
    s = trainer.wait(lambda s: s.config.batch_size == 1024, TIMEOUT)
    trainer.wait(lambda s, n=s.step: s.step > n, TIMEOUT)
    at = next(i for i, c in enumerate(calls) if c[0] == "sized")
    sized = calls[at][1]
    first = next(c for c in calls[at:] if c[0] == "chunk")
    assert first[2] == 1024 and 1 <= first[1] <= sized

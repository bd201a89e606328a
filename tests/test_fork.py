"""Fork: a new run from another run's weights, optimizer state and history; the parent untouched."""
from __future__ import annotations

import numpy as np
import pytest

from ae_core import run_table, runs
from ae_core.config import PRESETS
from ae_core.fork import FORK_EVENT, ForkError, fork, fork_config, parent_of
from ae_core.trainer import Trainer

SMALL = PRESETS["fast"].replace(hidden=(32,), latent=8, steps=400)


@pytest.fixture()
def parent(small_mnist):
    trainer = Trainer(SMALL, small_mnist, eval_every_s=0.05)
    trainer.wait_ready()
    trainer.step(60)
    trainer.wait(lambda s: s.status == "paused" and s.step == 60, timeout=120)
    yield trainer
    trainer.stop()


def test_fork_carries_weights_optimizer_state_and_history_and_leaves_the_parent_alone(parent, tmp_path):
    made = {}

    def create(config, dataset, **kwargs):
        made.update(kwargs, config=config)
        made["trainer"] = Trainer(config, dataset, eval_every_s=0.05, **kwargs)
        return made["trainer"]

    before = parent.snapshot()
    weights, state = parent.weights(), parent.optimizer_state()
    child = fork(parent, SMALL.replace(learning_rate=0.003), create)
    try:
        # What the new run was built from is the parent's state at step 60, copied.
        assert all(np.array_equal(a, b) for a, b in zip(made["weights"], weights))
        assert len(made["optimizer_state"]) == len(state) > 1
        assert all(np.array_equal(a, b) for a, b in zip(made["optimizer_state"], state))
        assert made["run_id"] == child.run_id != parent.run_id
        assert made["config"].learning_rate == 0.003

        snap = child.wait(lambda s: s.step >= 90, timeout=120)  # it started at once
        assert np.allclose(snap.history.loss[:60], before.history.loss)
        branch = [e for e in snap.history.events if e["field"] == FORK_EVENT]
        assert branch == [dict(step=60, elapsed=pytest.approx(before.elapsed), field=FORK_EVENT,
                               old=parent.run_id, new=child.run_id)]
        lr = [e for e in snap.history.events if e["field"] == "learning_rate"]
        assert lr and lr[0]["step"] == 60 and lr[0]["new"] == 0.003
        # Continuing, not starting over: its first steps' losses are near the parent's last ones.
        assert snap.history.loss[60:70].mean() < 1.5 * before.history.loss[-10:].mean()
        assert snap.history.loss[60:70].mean() < 0.6 * before.history.loss[:10].mean()
        assert parent_of(snap.history.events) == (parent.run_id, 60)
        # The film strip goes back through the parent's frames, then on with the fork's own.
        assert child.film.steps()[:4] == [0, 10, 20, 50]

        # The parent: same history and status; it was paused and stays paused.
        after = parent.snapshot()
        assert after.step == 60 and after.status == "paused"
        assert np.array_equal(after.history.loss, before.history.loss)
        assert not [e for e in after.history.events if e["field"] == FORK_EVENT]

        # The run store records the parent; the Runs table shows it.
        child.pause()
        child.wait(lambda s: s.status == "paused")
        runs.save(child.snapshot(), child.model(), root=tmp_path, optimizer_state=child.optimizer_state())
        saved = runs.load(child.run_id, root=tmp_path)
        assert saved.meta["parent"] == parent.run_id and saved.meta["forked_at"] == 60
        assert run_table.summary_table([saved])["parent"].iloc[0] == parent.run_id
    finally:
        child.stop()


def test_a_running_parent_is_resumed_after_the_copy(parent, small_mnist):
    parent.resume()
    parent.wait(lambda s: s.status == "running")
    child = fork(parent, SMALL, lambda c, d, **kw: Trainer(c, d, **kw))
    try:
        step = parent.snapshot().step
        parent.wait(lambda s: s.step > step + 20, timeout=60)
    finally:
        child.stop()


def test_a_network_that_no_longer_fits_is_refused_in_one_sentence(parent):
    with pytest.raises(ForkError) as e:
        fork(parent, SMALL.replace(latent=16), lambda *a, **k: pytest.fail("must not create a run"))
    assert "784 → 32 → 8 → 32 → 784" in str(e.value) and str(e.value).count(".") <= 2


def test_fork_config_extends_a_budget_already_reached():
    assert fork_config(SMALL, SMALL.replace(steps=100), 400).steps == 500
    assert fork_config(SMALL, SMALL.replace(activation="tanh"), 10).activation == "tanh"  # weights still fit


def test_parent_of_reads_the_last_fork_event():
    assert parent_of([]) is None
    events = [dict(step=5, field=FORK_EVENT, old="a", new="b"), dict(step=9, field="learning_rate", old=1, new=2),
              dict(step=20, field=FORK_EVENT, old="b", new="c")]
    assert parent_of(events) == ("b", 20)
    assert parent_of([dict(field=FORK_EVENT)]) is None

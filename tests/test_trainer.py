"""Trainer: the background training thread, its commands, live changes, divergence and snapshots.

Every test trains a real network on the first 2 000 / 500 real MNIST digits for tens to a few
hundred steps; every Trainer is stopped in the fixture's teardown.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from ae_core import tensors
from ae_core.config import PRESETS, Config, ConfigError
from ae_core.engine import Engine
from ae_core.model import build
from ae_core.trainer import N_DIGITS, Trainer

FAST = PRESETS["fast"].replace(steps=100_000)  # a budget the tests never reach unless they mean to
# Plain SGD compiles fastest; for tests about commands rather than learning.
LIGHT = Config(hidden=(64,), latent=16, activation="relu", optimizer="sgd", learning_rate=0.1,
               initializer="glorot_uniform", steps=100_000)
TIMEOUT = 60


@pytest.fixture
def make_trainer(small_mnist):
    made: list[Trainer] = []

    def make(config: Config, data=None, **kwargs) -> Trainer:
        t = Trainer(config, data if data is not None else small_mnist, **kwargs)
        made.append(t)
        return t

    yield make
    for t in made:
        t.stop()


def ready(t: Trainer):
    return t.wait_ready(timeout=TIMEOUT)


def wait_status(t: Trainer, *statuses, min_step=0):
    return t.wait(lambda s: s.status in statuses and s.step >= min_step, TIMEOUT)


def weights_finite(weights) -> bool:
    return all(np.isfinite(w).all() for w in weights)


# --- lifecycle ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def idle(small_mnist):
    """A trainer that is built but never started (tests on it must not change its state)."""
    t = Trainer(LIGHT, small_mnist)
    try:
        ready(t)
        yield t
    finally:
        t.stop()


def test_reaches_ready_with_an_evaluated_network(idle, small_mnist):
    s = ready(idle)
    assert s.status == "ready" and s.message == ""
    assert s.step == 0 and s.history.steps == 0 and s.loss is None
    assert s.run_id == idle.run_id and s.config == LIGHT and s.budget == LIGHT.steps
    assert s.data_source == small_mnist.source
    np.testing.assert_array_equal(s.originals, small_mnist.x_test[:N_DIGITS])
    assert s.reconstructions.shape == (N_DIGITS, 784) and s.recon_step == 0
    assert s.test_loss is not None and 0 < s.test_loss < 1
    assert s.active
    # Ready means waiting for Start: nothing trains on its own.
    time.sleep(0.3)
    assert idle.snapshot().step == 0 and idle.snapshot().status == "ready"


def test_update_rejects_fields_that_need_a_reset_and_bad_values(idle):
    with pytest.raises(ConfigError, match="hidden"):
        idle.update(hidden=(64,))
    with pytest.raises(ConfigError, match="activation"):
        idle.update(learning_rate=0.1, activation="tanh")
    with pytest.raises(ConfigError, match="Learning rate"):
        idle.update(learning_rate=100.0)
    with pytest.raises(ConfigError, match="Batch size"):
        idle.set_batch_size(0)
    assert idle.config == LIGHT
    time.sleep(0.2)
    assert idle.snapshot().config == LIGHT and idle.snapshot().history.events == ()


def test_start_runs_and_stop_ends_the_thread(make_trainer):
    t = make_trainer(LIGHT)
    ready(t)
    t.start()
    s1 = wait_status(t, "running", min_step=1)
    s2 = t.wait(lambda s: s.step > s1.step + 20, TIMEOUT)
    assert s2.status == "running"
    assert s2.version > s1.version
    assert s2.steps_per_sec > 0 and s2.elapsed > 0
    assert s2.history.steps == s2.step
    assert np.isfinite(s2.history.loss).all()
    assert np.all(np.diff(s2.history.elapsed) >= 0)
    # Stop while running: the thread ends, the history stays readable, nothing trains any more.
    t.stop()
    assert not t._thread.is_alive()
    s = t.snapshot()
    assert s.status == "stopped" and not s.active
    assert s.step >= s2.step and s.history.steps == s.step
    time.sleep(0.3)
    assert t.snapshot().step == s.step


def test_pause_holds_and_resume_advances(make_trainer):
    t = make_trainer(LIGHT)
    ready(t)
    t.start()
    wait_status(t, "running", min_step=20)
    t.pause()
    paused = wait_status(t, "paused")
    time.sleep(0.5)
    still = t.snapshot()
    assert still.status == "paused"
    assert still.step == paused.step
    assert still.history.steps == paused.step
    t.resume()
    s = t.wait(lambda s: s.step >= paused.step + 20, TIMEOUT)
    assert s.status == "running"


def test_step_n_from_paused_makes_exactly_n_steps(make_trainer):
    t = make_trainer(LIGHT)
    ready(t)
    t.step(3)
    s = wait_status(t, "paused", min_step=3)
    assert s.step == 3
    t.step(5)
    s = wait_status(t, "paused", min_step=8)
    time.sleep(0.3)
    s = t.snapshot()
    assert s.status == "paused" and s.step == 8 and s.history.steps == 8
    assert s.recon_step == 8  # the digits shown are those of the paused network
    with pytest.raises(ConfigError):
        t.step(0)
    # Stopping a paused run keeps what it learned.
    t.stop()
    assert not t._thread.is_alive()
    s = t.snapshot()
    assert s.status == "stopped" and s.step == 8 and s.history.steps == 8


# --- the step budget ---------------------------------------------------------------------------------

def test_budget_reached_is_done_and_the_network_learned(make_trainer):
    t = make_trainer(FAST.replace(steps=150))
    first = ready(t).test_loss
    t.start()
    s = wait_status(t, "done")
    assert s.step == 150 and s.history.steps == 150
    assert "150" in s.message
    assert s.test_loss is not None and np.isfinite(s.test_loss)
    assert s.test_loss < 0.6 * first                                      # it learned
    assert s.history.loss[-20:].mean() < 0.6 * s.history.loss[:5].mean()
    assert s.history.test_step[-1] == 150 and s.history.test_loss[-1] == pytest.approx(s.test_loss)
    assert s.recon_step == 150
    assert s.reconstructions.shape == (N_DIGITS, 784)
    assert s.reconstructions.min() >= 0 and s.reconstructions.max() <= 1
    time.sleep(0.3)
    assert t.snapshot().step == 150
    # The budget is live: raising it and resuming trains on to the new one.
    t.update(steps=170)
    t.resume()
    s = t.wait(lambda s: s.status == "done" and s.step == 170, TIMEOUT)
    assert s.config.steps == 170 and s.history.steps == 170
    assert [(e["field"], e["old"], e["new"], e["step"]) for e in s.history.events] == [("steps", 150, 170, 150)]


# --- live changes ------------------------------------------------------------------------------------

def test_learning_rate_change_mid_run(make_trainer):
    t = make_trainer(LIGHT)
    ready(t)
    t.start()
    wait_status(t, "running", min_step=20)
    new = t.set_learning_rate(0.02)
    assert new.learning_rate == 0.02 and t.config.learning_rate == 0.02
    s = t.wait(lambda s: s.config.learning_rate == 0.02, TIMEOUT)
    s = t.wait(lambda s, n=s.step: s.step >= n + 20, TIMEOUT)
    assert s.config.learning_rate == 0.02
    events = [e for e in s.history.events if e["field"] == "learning_rate"]
    assert len(events) == 1
    ev = events[0]
    assert ev["old"] == LIGHT.learning_rate and ev["new"] == 0.02
    assert 20 <= ev["step"] < s.step
    assert {"step", "elapsed", "field", "old", "new"} <= set(ev)
    assert 0 < ev["elapsed"] <= s.elapsed
    lr = s.history.learning_rate
    np.testing.assert_allclose(lr[:ev["step"]], LIGHT.learning_rate, rtol=1e-6)
    np.testing.assert_allclose(lr[ev["step"]:], 0.02, rtol=1e-6)
    # The optimizer inside the compiled graph took it too.
    assert float(t.engine.optimizer.learning_rate.numpy()) == pytest.approx(0.02)


def test_batch_size_change_mid_run(make_trainer):
    t = make_trainer(LIGHT)
    ready(t)
    t.start()
    wait_status(t, "running", min_step=20)
    t.set_batch_size(64)
    # A new batch size compiles its own graph: the run says so instead of stalling in silence.
    seen = t.wait(lambda s: "Compiling the training step for batch size 64" in s.message
                  or s.config.batch_size == 64 and s.step > 0 and s.history.batch_size[-1] == 64, TIMEOUT)
    assert "batch size 64" in seen.message
    s = t.wait(lambda s: s.config.batch_size == 64, TIMEOUT)
    s = t.wait(lambda s, n=s.step: s.step >= n + 20, TIMEOUT)
    ev = [e for e in s.history.events if e["field"] == "batch_size"]
    assert len(ev) == 1 and ev[0]["old"] == 256 and ev[0]["new"] == 64
    k = ev[0]["step"]
    assert np.all(s.history.batch_size[:k] == 256) and np.all(s.history.batch_size[k:] == 64)
    assert s.history.steps > k and np.isfinite(s.history.loss).all()


def test_noise_change_is_recorded(make_trainer):
    t = make_trainer(LIGHT)
    ready(t)
    t.step(5)
    wait_status(t, "paused", min_step=5)
    t.update(noise=0.3)
    t.step(5)
    s = wait_status(t, "paused", min_step=10)
    assert [(e["field"], e["old"], e["new"], e["step"]) for e in s.history.events] == [("noise", 0.0, 0.3, 5)]
    assert s.config.noise == 0.3
    assert float(t.engine.noise.numpy()) == pytest.approx(0.3)


# --- divergence --------------------------------------------------------------------------------------

# A linear network under plain SGD: stable at 0.01, blows up within a few steps at 10.
UNSTABLE = Config(optimizer="sgd", learning_rate=0.01, activation="linear", output_activation="linear",
                  initializer="glorot_uniform", steps=100_000)


def _mse_of(weights, cfg, x):
    """The reconstruction MSE of ``weights`` in float32, as the training step computes it."""
    net = build(cfg).autoencoder
    net.set_weights(weights)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.mean(np.square(net.predict(x, verbose=0) - x), dtype=np.float32))


def test_diverging_run_pauses_itself_and_keeps_finite_weights(make_trainer, small_mnist):
    t = make_trainer(UNSTABLE)
    ready(t)
    t.step(20)
    s20 = wait_status(t, "paused", min_step=20)
    assert np.isfinite(s20.history.loss).all()
    before = t.weights()
    t.set_learning_rate(10.0)
    t.resume()
    s = wait_status(t, "diverged")
    assert "learning rate 10" in s.message
    assert "NaN" in s.message or "infinite" in s.message
    assert s.step == 20 and s.history.steps == 20  # the diverged chunk is rolled back
    assert np.isfinite(s.history.loss).all()
    assert s.test_loss is not None and np.isfinite(s.test_loss)
    after = t.weights()
    assert weights_finite(after)
    for a, b in zip(before, after):  # exactly the weights of step 20
        np.testing.assert_array_equal(a, b)
    time.sleep(0.3)
    assert t.snapshot().status == "diverged" and t.snapshot().step == 20

    # Lowering the learning rate and resuming trains on.
    t.set_learning_rate(0.01)
    t.resume()
    s = t.wait(lambda s: s.step >= 40, TIMEOUT)
    assert s.status in ("running", "paused") and s.message == ""
    assert np.isfinite(s.history.loss).all()


def test_diverging_from_the_first_steps(make_trainer):
    t = make_trainer(Config(optimizer="sgd", learning_rate=10.0, activation="relu", output_activation="linear",
                            initializer="random_normal", steps=300))
    ready(t)
    t.start()
    s = wait_status(t, "diverged")
    assert "learning rate 10" in s.message
    assert np.isfinite(s.history.loss).all()
    assert weights_finite(t.weights())


def _step_one_at_a_time(t: Trainer, max_steps: int = 6):
    """Step(1) until the run diverges; the snapshots seen after each step."""
    seen = []
    for _ in range(max_steps):
        v = t.snapshot().version
        t.step(1)
        t.wait(lambda s, v=v: s.version > v and s.status in ("paused", "diverged"), TIMEOUT)
        time.sleep(0.1)
        seen.append(t.snapshot())
        if seen[-1].status == "diverged":
            break
    return seen


# UNSTABLE at learning rate 10 from the start: minibatch losses 0.19, 0.85, 4.9e5, then inf. Stepping
# one step at a time puts every step in its own chunk, so the update that breaks the network (step 2's)
# belongs to the chunk *before* the one whose loss is non-finite.
BOUNDARY = UNSTABLE.replace(learning_rate=10.0)


def test_divergence_on_a_chunk_boundary_keeps_usable_weights(make_trainer, small_mnist):
    t = make_trainer(BOUNDARY)
    ready(t)
    s = _step_one_at_a_time(t)[-1]
    assert s.status == "diverged", s.message
    assert np.isfinite(_mse_of(t.weights(), BOUNDARY, small_mnist.x_train[:500])), \
        f"the weights kept at step {s.step} give an infinite loss, so no learning rate can resume the run"
    # A lower learning rate must let the run go on from the kept weights.
    _one_more_step_goes_through(t, s, 1e-5)


def test_divergence_while_running_in_one_step_chunks_keeps_usable_weights(make_trainer, small_mnist):
    """The same boundary case while running: with chunk_seconds tiny every chunk after the first is
    one step, and with evaluations far apart only the rollback can save the run."""
    t = make_trainer(UNSTABLE, chunk_seconds=1e-9, eval_every_s=1e9)
    ready(t)
    t.step(20)
    wait_status(t, "paused", min_step=20)
    t.set_learning_rate(10.0)
    t.resume()
    s = wait_status(t, "diverged")
    assert np.isfinite(s.history.loss).all()
    assert np.isfinite(_mse_of(t.weights(), UNSTABLE, small_mnist.x_train[:500])), \
        f"the weights kept at step {s.step} give an infinite loss ({s.message})"
    _one_more_step_goes_through(t, s, 0.01)


def _one_more_step_goes_through(t, s, learning_rate):
    """From the kept weights, a lower learning rate lets the run take one more step."""
    t.set_learning_rate(learning_rate)
    v = t.snapshot().version
    t.step(1)
    t.wait(lambda s, v=v: s.version > v and s.status in ("paused", "diverged"), TIMEOUT)
    time.sleep(0.3)
    after = t.snapshot()
    assert after.status == "paused" and after.step == s.step + 1, after.message


def test_a_paused_network_never_shows_an_infinite_test_loss(make_trainer):
    """A network whose held-out loss is inf/NaN is a divergence, not an ordinary pause."""
    t = make_trainer(BOUNDARY)
    ready(t)
    for s in _step_one_at_a_time(t):
        if s.status == "paused":
            assert s.test_loss is not None and np.isfinite(s.test_loss), \
                f"paused at step {s.step} with test loss {s.test_loss} and message {s.message!r}"


# --- reset, determinism, notebook parity ------------------------------------------------------------

def test_reset_keeps_the_run_id_and_takes_the_new_config(make_trainer):
    t = make_trainer(LIGHT)
    ready(t)
    t.step(10)
    wait_status(t, "paused", min_step=10)
    run_id = t.run_id
    new = LIGHT.replace(hidden=(32,), latent=8)
    t.reset(new)
    s = t.snapshot()
    assert s.step == 0 and s.config == new and s.history.steps == 0
    s = t.wait(lambda s: s.status == "ready", TIMEOUT)
    assert s.run_id == run_id == t.run_id
    assert s.config == new and t.config == new
    assert s.step == 0 and s.history.steps == 0 and s.history.events == ()
    assert t.engine.model.get_layer("encoder").get_layer("latent").units == 8
    t.step(4)
    s = wait_status(t, "paused", min_step=4)
    assert s.step == 4
    # Reset without a config keeps live changes made since.
    t.update(learning_rate=0.05)
    t.reset()
    s = t.wait(lambda s: s.status == "ready", TIMEOUT)
    assert s.config == new.replace(learning_rate=0.05) and s.step == 0 and s.run_id == run_id


@pytest.fixture(scope="module")
def seed_losses(small_mnist):
    """The seed preset's first 20 losses, from two separate trainers."""
    runs = []
    for _ in range(2):
        t = Trainer(PRESETS["seed"], small_mnist)
        try:
            ready(t)
            t.step(20)
            s = wait_status(t, "paused", min_step=20)
            runs.append(np.array(s.history.loss))
        finally:
            t.stop()
    return runs


def test_same_config_and_seed_repeat_exactly(seed_losses):
    a, b = seed_losses
    assert len(a) == len(b) == 20
    np.testing.assert_array_equal(a, b)


def test_different_seed_differs(make_trainer, seed_losses):
    t = make_trainer(PRESETS["seed"].replace(seed=1))
    ready(t)
    t.step(20)
    s = wait_status(t, "paused", min_step=20)
    assert not np.array_equal(np.array(s.history.loss), seed_losses[0])


def test_seed_preset_first_loss_is_near_the_notebook(seed_losses):
    # The notebook printed "Step 1: Minibatch Loss: 0.420..." for its first batch; N(0, 1) weights
    # saturate most sigmoid units, so any first batch lands around 0.45 (0.452 here).
    first = float(seed_losses[0][0])
    assert 0.3 < first < 0.55
    # TF1 RMSProp's accumulator starts at 1, so the first 20 steps change the loss only a little.
    assert abs(float(seed_losses[0][:20].mean()) - first) < 0.05


# --- errors in the thread, snapshots -------------------------------------------------------------------

def test_exception_in_training_thread_becomes_error_status(make_trainer, monkeypatch):
    def broken_chunk(self, n_steps, batch_size):
        raise RuntimeError("the GPU caught fire")

    t = make_trainer(LIGHT)
    ready(t)
    monkeypatch.setattr(Engine, "chunk", broken_chunk)
    t.start()
    s = wait_status(t, "error")
    assert "RuntimeError" in s.message and "the GPU caught fire" in s.message
    assert not s.active
    t._thread.join(5)
    assert not t._thread.is_alive()
    assert t.snapshot().status == "error"  # stop() afterwards does not hide the error
    t.stop()
    assert t.snapshot().status == "error"


def test_exception_while_building_becomes_error_status(make_trainer, monkeypatch):
    def broken_build(cfg):
        raise ValueError("no such layer")

    monkeypatch.setattr("ae_core.model.build", broken_build)
    t = make_trainer(LIGHT)
    s = t.wait(lambda s: s.status != "preparing", TIMEOUT)
    assert s.status == "error" and "no such layer" in s.message


def test_snapshots_are_immutable(make_trainer):
    t = make_trainer(LIGHT)
    ready(t)
    t.step(10)
    s = wait_status(t, "paused", min_step=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.step = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.history.loss = np.zeros(3)  # type: ignore[misc]
    for arr in (s.originals, s.reconstructions, s.history.loss, s.history.learning_rate,
                s.history.batch_size, s.history.elapsed, s.history.test_step, s.history.test_loss):
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[0] = 1
    # A snapshot taken earlier does not change as training goes on.
    loss = s.history.loss.copy()
    recon = s.reconstructions.copy()
    t.step(30)
    wait_status(t, "paused", min_step=40)
    assert s.step == 10 and s.history.steps == 10
    np.testing.assert_array_equal(s.history.loss, loss)
    np.testing.assert_array_equal(s.reconstructions, recon)


# --- batch sampling ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_mnist(small_mnist):
    from ae_core.data import Dataset

    return Dataset(small_mnist.x_train[:1000].copy(), small_mnist.y_train[:1000].copy(),
                   small_mnist.x_test[:100].copy(), small_mnist.y_test[:100].copy(),
                   format="npz", source="1 000 digits", path=None)


@pytest.fixture(scope="module")
def sampled(tiny_mnist):
    """Eight steps of batches of 250 from 1 000 digits (two passes), under each sampling mode.

    Plain SGD at the smallest learning rate barely moves the weights, so each step's loss is the MSE
    of its batch under (almost exactly) the initial network, which we can compute independently."""
    out = {}
    for sampling in ("epoch", "random"):
        cfg = Config(hidden=(64,), latent=16, initializer="glorot_uniform", optimizer="sgd", learning_rate=1e-5,
                     batch_size=250, sampling=sampling, steps=1000, seed=3)
        t = Trainer(cfg, tiny_mnist)
        try:
            ready(t)
            t.step(8)
            s = wait_status(t, "paused", min_step=8)
        finally:
            t.stop()
        losses = np.array(s.history.loss, np.float64)
        recon = build(cfg).autoencoder.predict(tiny_mnist.x_train, verbose=0, batch_size=1000)
        full_mse = float(np.mean((recon.astype(np.float64) - tiny_mnist.x_train) ** 2))
        out[sampling] = dict(passes=(losses[:4].mean(), losses[4:].mean()), full_mse=full_mse,
                             ms_per_step=1000 * s.elapsed / s.step)
    return out


def test_epoch_sampling_visits_every_digit_once_per_pass(sampled):
    # Each run of 4 steps is one pass over the 1 000 digits, so the mean batch loss over a pass equals
    # the loss over the whole training set.
    run = sampled["epoch"]
    for mean in run["passes"]:
        assert mean == pytest.approx(run["full_mse"], rel=2e-5)


def test_random_sampling_is_not_a_permutation(sampled):
    # The control for the test above: independent random batches do not average to the exact set loss.
    run = sampled["random"]
    assert any(mean != pytest.approx(run["full_mse"], rel=2e-5) for mean in run["passes"])


def test_epoch_sampling_is_as_fast_as_random_sampling(sampled):
    """Epoch sampling must not recompile the XLA chunk on every call (it reads the cursor variable
    as a compile-time constant through tf.slice, costing seconds per chunk)."""
    epoch, rnd = sampled["epoch"]["ms_per_step"], sampled["random"]["ms_per_step"]
    assert epoch < 10 * rnd + 20, f"epoch sampling {epoch:.1f} ms/step vs random {rnd:.1f} ms/step"


def test_byte_pixels_only_for_exact_k_over_255():
    k = np.arange(256 * 4, dtype=np.int64).reshape(4, 256) % 256
    exact = (k.astype(np.float32) / np.float32(255)).repeat(3, axis=1)[:, :784]
    got = tensors.byte_pixels(exact)
    assert got is not None and got.dtype == np.uint8
    assert np.array_equal(got.astype(np.float32) / np.float32(255), exact)
    off = exact.copy()
    off[2, 5] = np.float32(0.3333)  # not a multiple of 1/255
    assert tensors.byte_pixels(off) is None


def test_training_on_8bit_pixels_matches_float_pixels(tiny_mnist, monkeypatch):
    """MNIST is held in the graph as uint8 (a quarter of the memory); the batches it yields train
    the network as the float32 pixels would (up to the last bit of a pixel)."""
    cfg = Config(hidden=(64,), latent=16, initializer="glorot_uniform", optimizer="adam", learning_rate=1e-3,
                 batch_size=100, steps=1000, seed=5)
    engine = Engine(cfg, tiny_mnist, N_DIGITS)
    assert engine.train_bytes and engine.x_train.dtype.name == "uint8"
    monkeypatch.setattr(tensors, "byte_pixels", lambda a: None)
    monkeypatch.setattr(tensors, "_TENSORS", {})
    plain = Engine(cfg, tiny_mnist, N_DIGITS)
    assert not plain.train_bytes and plain.x_train.dtype.name == "float32"
    a, _ = engine.chunk(30, 100)
    b, _ = plain.chunk(30, 100)
    assert len(a) == len(b) == 30 and a[-1] < 0.8 * a[0]
    np.testing.assert_allclose(a, b, rtol=1e-4)

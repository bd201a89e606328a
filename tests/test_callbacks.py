"""RunRecorder: a user's own ``model.fit`` recorded as an ordinary run, read back by the run store
and listed (and overlaid with a dashboard-style run) on the Runs page."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ae_core import latent, model_file, runs
from ae_core.config import Config

BATCH, N_TRAIN, EPOCHS = 32, 256, 2


def _digits(n: int, seed: int) -> np.ndarray:
    """MNIST-shaped stand-ins: blobs of ink in [0, 1], 784 pixels a digit (no data file needed)."""
    rng = np.random.default_rng(seed)
    x = np.clip(rng.normal(0.1, 0.2, (n, 784)), 0, 1).astype(np.float32)
    x[:, 300:480] = np.clip(x[:, 300:480] + rng.uniform(0, 1, (n, 1)), 0, 1)
    return x


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A ten-line fit of the lab's own encoder/decoder shape, with a RunRecorder."""
    import keras

    from ae_core.callbacks import RunRecorder
    from ae_core.model import build

    root = tmp_path_factory.mktemp("recorded")
    nets = build(Config(hidden=(32,), latent=8, initializer="glorot_uniform"))
    model = nets.autoencoder
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="mse")
    x, x_test = _digits(N_TRAIN, 1), _digits(64, 2)
    recorder = RunRecorder(name="my own fit", batch_size=BATCH, root=root, save_every_s=0.2)
    fit = model.fit(x, x, batch_size=BATCH, epochs=EPOCHS, validation_data=(x_test, x_test), shuffle=False,
                    verbose=0, callbacks=[recorder])
    return root, recorder, fit.history, model, x_test


def test_a_fit_is_written_as_a_run_that_the_store_reads_back(recorded):
    root, recorder, fit_history, model, x_test = recorded
    run = runs.load(recorder.run_id, root)
    steps = EPOCHS * N_TRAIN // BATCH
    assert run.name == "my own fit" and run.meta["status"] == "done" and run.meta["steps"] == steps
    for name in runs.FILES:
        assert (run.path / name).is_file(), name
    assert not list(run.path.glob(".*tmp*"))  # atomic writes leave no temporary files behind

    h = run.history
    assert list(h["step"]) == list(range(steps)) and set(h["batch_size"]) == {BATCH}
    np.testing.assert_allclose(h["learning_rate"], 0.003, rtol=1e-6)
    assert (np.diff(h["elapsed"]) >= 0).all() and h["elapsed"].iloc[-1] > 0
    # Per-batch losses, recovered from Keras' running means: each epoch's mean is what fit reports.
    per_epoch = h["loss"].to_numpy().reshape(EPOCHS, -1).mean(axis=1)
    np.testing.assert_allclose(per_epoch, fit_history["loss"], rtol=1e-5)
    assert h["loss"].iloc[0] > h["loss"].iloc[-1]
    # The held-out loss sits on each epoch's last batch, as the trainer's evaluations do.
    tests = h.dropna(subset=["test_loss"])
    assert list(tests["step"]) == [steps // EPOCHS - 1, steps - 1]
    np.testing.assert_allclose(tests["test_loss"], fit_history["val_loss"], rtol=1e-6)
    assert run.meta["test_mse"] == pytest.approx(fit_history["val_loss"][-1])

    config = run.config
    assert (config.hidden, config.latent, config.optimizer, config.batch_size, config.steps) == (
        (32,), 8, "adam", BATCH, steps)
    assert config.learning_rate == pytest.approx(0.003) and config.loss == "mse"


def test_the_saved_model_is_the_trained_one_and_opens_in_explore(recorded):
    root, recorder, _, model, x_test = recorded
    run = runs.load(recorder.run_id, root)
    saved = runs.load_keras_model(run.model_path)
    np.testing.assert_allclose(model_file.reconstruct(saved, x_test[:8]), model.predict(x_test[:8], verbose=0), atol=1e-6)
    encoder, decoder = latent.split(saved)
    assert latent.encode(encoder, x_test[:3]).shape == (3, 8)


def test_learning_rate_changes_are_events_and_a_stopped_fit_says_so(tmp_path):
    import keras

    from ae_core.callbacks import RunRecorder

    inputs = keras.Input((784,))
    model = keras.Model(inputs, keras.layers.Dense(784, activation="sigmoid")(keras.layers.Dense(4)(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    x = _digits(64, 3)
    halve = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = epoch == 1

    recorder = RunRecorder(root=tmp_path)  # no name, no batch size: what can be known still is
    model.fit(x, x, batch_size=16, epochs=5, verbose=0, callbacks=[halve, recorder, StopAfterFirstEpoch()])
    run = runs.load(recorder.run_id, tmp_path)
    assert run.meta["status"] == "stopped" and len(run.history) == 8 and run.name == recorder.run_id
    assert run.config.loss == "bce" and run.config.optimizer == "sgd"
    assert set(run.history["batch_size"]) == {0}  # unknown, and said so rather than guessed
    events = json.loads((run.path / "events.json").read_text())
    assert [(e["step"], e["field"], round(e["old"], 6), round(e["new"], 6)) for e in events] == [
        (4, "learning_rate", 0.1, 0.05)]
    assert run.history["test_loss"].isna().all()  # no validation data, no held-out loss


def test_a_recorded_fit_is_listed_and_overlaid_on_the_runs_page(recorded, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    root, recorder, *_ = recorded
    monkeypatch.setenv("AE_RUNS_DIR", str(root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/runs.py")
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value  # the page's one table (no model uploaded)
    row = table.set_index("name").loc["my own fit"]
    assert row["steps"] == EPOCHS * N_TRAIN // BATCH and row["status"] == "done" and not row["live"]
    at.session_state["runs_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    from ae_core.viz import BASELINE_GROUP

    # the run's own curve (the baselines join it once they are computed, in the background)
    assert [t["name"] for t in spec["data"] if t.get("legendgroup") != BASELINE_GROUP] == ["my own fit"]

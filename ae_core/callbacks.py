"""RunRecorder: a Keras callback that records a user's own ``model.fit`` as an ordinary lab run.

    recorder = RunRecorder(name="my dense AE", batch_size=128)
    model.fit(x, x, batch_size=128, epochs=5, validation_data=(x_test, x_test), callbacks=[recorder])

The run lands in the run store (``AE_RUNS_DIR``) like a dashboard run, through
:func:`ae_core.runs.save` (so every file is written atomically): ``config.json`` with the settings
that can be read off the model and the optimizer, ``history.csv`` one row a batch (the held-out loss
at each epoch's end when ``fit`` has validation data), ``events.json`` (learning-rate changes, e.g.
from a schedule) and ``model.keras``, at the end and every ``save_every_s`` seconds while it trains.
A model with nested models named ``encoder`` and ``decoder`` (as ``ae_core.model.build`` makes) also
opens in Explore.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np

from . import runs
from .config import FIELDS, Config, ConfigError
from .history import History, HistoryView
from .trainer import DONE, RUNNING, STOPPED, new_run_id

SAVE_EVERY_S = 10.0   # as the dashboard saves a training run
MSE_NAMES = ("mse", "mean_squared_error", "MeanSquaredError")


@dataclass(frozen=True)
class _Recorded:
    """What :func:`ae_core.runs.save` reads from a trainer's snapshot, for a recorded fit."""
    run_id: str
    config: Config
    status: str
    step: int
    elapsed: float
    history: HistoryView
    test_loss: float | None
    data_source: str

    @property
    def loss(self) -> float | None:
        return float(self.history.loss[-1]) if self.history.steps else None


class RunRecorder(keras.callbacks.Callback):
    """Record ``model.fit`` as a run of the lab (see the module docstring).

    ``name``: the run's name on the Runs page; ``batch_size``: the batch size given to ``fit`` (Keras
    does not tell callbacks; without it the history's batch_size column is 0, meaning unknown);
    ``data_source``: a few words on the data; ``root``: the run store (default ``AE_RUNS_DIR``);
    ``save_every_s``: seconds between saves while training (model.keras included).
    """

    def __init__(self, name: str | None = None, *, batch_size: int | None = None, data_source: str = "model.fit",
                 root: str | Path | None = None, save_every_s: float = SAVE_EVERY_S, run_id: str | None = None):
        super().__init__()
        self.name = name
        self.batch_size = int(batch_size) if batch_size else 0
        self.data_source = data_source
        self.root = Path(root) if root is not None else None
        self.save_every_s = save_every_s
        self.run_id = runs.check_run_id(run_id) if run_id else new_run_id()
        self.history = History()
        self.path: Path | None = None   # the run folder, once saved
        self._config = Config()
        self._epoch_sum = 0.0           # Keras' running mean of the loss times the batches seen this epoch
        self._started = self._last_save = 0.0
        self._elapsed = 0.0             # training seconds at the last recorded batch
        self._lr: float | None = None
        self._test_loss: float | None = None

    # --- Keras hooks ---------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._config = describe(self.model, self.batch_size, self._planned_steps())
        self._started = self._last_save = time.monotonic()
        self._lr = self._learning_rate()
        self._save(RUNNING)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_sum = 0.0

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "loss" not in logs:
            return
        # Keras hands callbacks the epoch's running mean; the batch's own loss is the difference of
        # the running sums (exact when the batches are the same size, as all but an epoch's last are).
        mean = float(logs["loss"])
        total = mean * (batch + 1)
        loss, self._epoch_sum = total - self._epoch_sum, total
        lr = self._learning_rate()
        now = time.monotonic() - self._started
        step = self.history.n
        if lr is not None and self._lr is not None and not np.isclose(lr, self._lr, rtol=1e-6, atol=0):
            self.history.add_event(step, now, "learning_rate", self._lr, lr)
        self._lr = lr
        self.history.extend(np.array([loss], np.float32), lr if lr is not None else np.nan, self.batch_size,
                            self._elapsed, now)
        self._elapsed = now
        if time.monotonic() - self._last_save >= self.save_every_s:
            self._save(RUNNING)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        test = next((logs[k] for k in (f"val_{n}" for n in MSE_NAMES) if k in logs), None)
        if test is None and self._config.loss == "mse":
            test = logs.get("val_loss")
        if test is not None and self.history.n:
            self._test_loss = float(test)
            self.history.add_test(self.history.n, self._test_loss)

    def on_train_end(self, logs=None):
        # Stopped early (EarlyStopping, a user's own callback): fewer steps than fit planned.
        planned = self._planned_steps()
        stopped = getattr(self.model, "stop_training", False) or (planned and self.history.n < planned)
        self._save(STOPPED if stopped else DONE)

    # --- helpers -------------------------------------------------------------------------------------
    def _planned_steps(self) -> int | None:
        params = self.params or {}
        steps, epochs = params.get("steps"), params.get("epochs")
        return int(steps) * int(epochs) if steps and epochs else None

    def _learning_rate(self) -> float | None:
        try:
            return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        except Exception:  # no optimizer yet, or a rate Keras cannot evaluate outside a step
            return None

    def _save(self, status: str) -> None:
        view = self.history.view()
        snapshot = _Recorded(self.run_id, self._config, status, view.steps,
                             float(view.elapsed[-1]) if view.steps else 0.0, view, self._test_loss,
                             self.data_source)
        self.path = runs.save(snapshot, SimpleNamespace(autoencoder=self.model), root=self.root, name=self.name)
        self._last_save = time.monotonic()


def describe(model, batch_size: int = 0, steps: int | None = None) -> Config:
    """The Config closest to a user's model: the settings that can be read off it (layer widths,
    code size, activations, optimizer, learning rate, loss, batch size, planned steps) over the
    defaults; a setting the lab does not offer (a Nadam optimizer, a 3-layer code) keeps its default."""
    found: dict = {}
    dense = [layer for layer in _flat_layers(model) if type(layer).__name__ == "Dense"]
    encoder = _nested(model, "encoder")
    if encoder is not None:
        widths = [layer.units for layer in _flat_layers(encoder) if type(layer).__name__ == "Dense"]
        if widths:
            found["hidden"], found["latent"] = tuple(widths[:-1]), widths[-1]
    if dense:
        found["activation"] = _activation(dense[0])
        found["output_activation"] = _activation(dense[-1])
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        found["optimizer"] = {"RMSprop": "rmsprop", "Adam": "adam", "AdamW": "adamw",
                              "SGD": "momentum" if getattr(optimizer, "momentum", 0) else "sgd"
                              }.get(type(optimizer).__name__)
        try:
            found["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        except Exception:
            pass
    loss = getattr(model, "loss", None)
    loss_name = loss if isinstance(loss, str) else getattr(loss, "name", type(loss).__name__)
    found["loss"] = ("mse" if loss_name in MSE_NAMES else
                     "bce" if loss_name in ("binary_crossentropy", "BinaryCrossentropy") else None)
    found["batch_size"] = batch_size or None
    found["steps"] = steps
    config = Config()
    for name, value in found.items():
        if name in FIELDS and value is not None:
            try:
                config = Config.from_dict({name: value}, base=config)
            except (ConfigError, TypeError, ValueError):
                continue  # a value the lab's settings cannot hold: the default stays
    return config


def _flat_layers(model):
    for layer in getattr(model, "layers", []):
        if getattr(layer, "layers", None):
            yield from _flat_layers(layer)
        else:
            yield layer


def _nested(model, name: str):
    try:
        return model.get_layer(name)
    except ValueError:
        return None


def _activation(layer) -> str | None:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None)

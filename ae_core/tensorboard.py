"""Runs as TensorBoard event files: ``python -m ae_core tensorboard RUN --logdir DIR``.

Each run gets its own folder ``DIR/<run id>`` holding, written with ``tf.summary``:

- scalars a step: ``loss`` (the minibatch loss), ``smoothed_loss``, ``test_mse`` (where the run
  evaluated the held-out digits), ``learning_rate`` and ``batch_size``;
- the run's settings as HParams (TensorBoard's HParams tab; needs the ``tensorboard`` package);
- images: 4×4 grids of test digits, their reconstructions and the two side by side.

With ``AE_TENSORBOARD_DIR`` set, every save of a live run (:func:`ae_core.runs.save`, every few
seconds while it trains) appends the steps since the last save, so TensorBoard follows runs as they
train. TensorFlow is imported only when something is written.
"""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np

from .config import FIELDS, format_value

ENV = "AE_TENSORBOARD_DIR"
SCALARS = {"loss": "loss", "smoothed_loss": "smoothed_loss", "test_mse": "test_loss",
           "learning_rate": "learning_rate", "batch_size": "batch_size"}   # tag -> history.csv column
GRID = 4   # digits a side, as the notebook's grids
HPARAMS_NOTE = "Settings were not written as HParams: pip install tensorboard (which also shows them)."


def hparams(config) -> dict:
    """The run's settings as HParams values (numbers and strings only: layer widths as ``256-128``)."""
    out = {}
    for name in FIELDS:
        value = getattr(config, name)
        out[name] = value if isinstance(value, (bool, int, float, str)) else format_value(name, value)
    return out


def image_grids(originals: np.ndarray, reconstructions: np.ndarray) -> dict[str, np.ndarray]:
    """Tag -> a (1, H, W, 1) float image in [0, 1]: the originals, their reconstructions, and both
    side by side with a 4-pixel gap."""
    from .viz import digit_grid

    left, right = digit_grid(originals, GRID), digit_grid(reconstructions, GRID)
    pair = np.concatenate([left, np.zeros((left.shape[0], 4), np.float32), right], axis=1)
    return {name: image[None, :, :, None].astype(np.float32)
            for name, image in (("original", left), ("reconstruction", right), ("original_vs_reconstruction", pair))}


class _Log:
    """One run's event file, and the steps already in it (so a live run appends only new ones)."""

    def __init__(self, folder: Path):
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(str(folder))
        self.written = 0       # rows of the history already written
        self.hparams = False

    def scalars(self, history) -> None:
        import pandas as pd
        import tensorflow as tf

        new = history.iloc[self.written:]
        columns = {tag: pd.to_numeric(new[col], errors="coerce").to_numpy(np.float64)
                   for tag, col in SCALARS.items() if col in new}
        steps = pd.to_numeric(new["step"], errors="coerce").to_numpy() if "step" in new else \
            np.arange(self.written, len(history))
        with self.writer.as_default():
            for i, step in enumerate(steps):
                if not np.isfinite(step):
                    continue
                for tag, values in columns.items():
                    if np.isfinite(values[i]):
                        tf.summary.scalar(tag, values[i], step=int(step))
        self.written = len(history)

    def settings(self, config, run_id: str) -> bool:
        try:
            from tensorboard.plugins.hparams import api as hp
        except ImportError:
            return False
        with self.writer.as_default():
            hp.hparams(hparams(config), trial_id=run_id)
        self.hparams = True
        return True

    def images(self, originals, reconstructions, step: int) -> None:
        import tensorflow as tf

        with self.writer.as_default():
            for tag, image in image_grids(originals, reconstructions).items():
                tf.summary.image(tag, image, step=step)

    def flush(self) -> None:
        self.writer.flush()


def export(run, logdir: str | os.PathLike, dataset=None) -> Path:
    """Write a saved run (:class:`ae_core.runs.SavedRun`) under ``logdir/<run id>``; reconstructions
    of ``dataset``'s first test digits (default: the lab's default data) when its model.keras is an
    autoencoder of 784-pixel digits. Returns the run's log folder."""
    from . import model_file, runs

    folder = Path(logdir) / run.run_id
    log = _Log(folder)
    log.scalars(run.history)
    if not log.settings(run.config, run.run_id):
        print(HPARAMS_NOTE, file=sys.stderr)
    if run.model_path is not None:
        model = runs.load_keras_model(run.model_path)
        if model_file.is_autoencoder(model):
            if dataset is None:
                from .data import load_default
                dataset = load_default()
            originals = dataset.x_test[: GRID * GRID]
            step = int(run.history["step"].iloc[-1]) + 1 if len(run.history) else 0
            log.images(originals, model_file.reconstruct(model, originals), step)
    log.flush()
    return folder


# --- live runs (AE_TENSORBOARD_DIR) -----------------------------------------------------------------
_live: dict[tuple[str, str], _Log] = {}
_live_lock = threading.Lock()


def follow(snapshot, history) -> None:
    """Append a live run's new steps (and its latest reconstructions) to ``$AE_TENSORBOARD_DIR``.
    Called at every save of the run; does nothing when the variable is unset. A failure to write
    is reported on stderr once a save and never stops the run. ``history``: the run's history.csv
    frame (:func:`ae_core.history.to_frame`)."""
    logdir = os.environ.get(ENV, "").strip()
    if not logdir:
        return
    try:
        with _live_lock:
            key = (logdir, snapshot.run_id)
            log = _live.get(key)
            if log is None or len(history) < log.written:   # a new run, or one started over
                log = _live[key] = _Log(Path(logdir) / snapshot.run_id)
            if not log.hparams:
                log.settings(snapshot.config, snapshot.run_id)
            log.scalars(history)
            reconstructions = getattr(snapshot, "reconstructions", None)
            if reconstructions is not None and len(reconstructions):
                log.images(snapshot.originals, reconstructions, int(getattr(snapshot, "recon_step", snapshot.step)))
            log.flush()
    except Exception as e:  # TensorBoard is a view: it must never break training or saving
        print(f"TensorBoard log of run {snapshot.run_id} not written ({type(e).__name__}: {e}).", file=sys.stderr)


# --- the CLI verb -----------------------------------------------------------------------------------
def resolve(run: str):
    """A run id (in ``AE_RUNS_DIR``) or the path of a run folder -> SavedRun."""
    from . import runs

    path = Path(run)
    if (path / "config.json").is_file():
        return runs.load(path.resolve().name, path.resolve().parent)
    return runs.load(run)


def cmd_tensorboard(args) -> int:
    from . import runs
    from .data import DataError, load

    try:
        run = resolve(args.run)
        dataset = load(args.data) if args.data else None
        folder = export(run, args.logdir, dataset)
    except (runs.RunError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"Wrote {len(run.history):,} steps of run {run.run_id} to {folder}; view with: "
          f"tensorboard --logdir {args.logdir}")
    return 0


def add_parser(sub) -> None:
    """Register ``tensorboard RUN --logdir DIR`` on the CLI's subparsers."""
    t = sub.add_parser("tensorboard", help="write a run as TensorBoard event files")
    t.add_argument("run", help="a run id (in AE_RUNS_DIR) or a run folder")
    t.add_argument("--logdir", required=True, help="TensorBoard log folder (the run gets a subfolder)")
    t.add_argument("--data", help="digits to reconstruct for the images (default: AE_MNIST_PATH, Keras, bundled)")
    t.set_defaults(func=cmd_tensorboard)

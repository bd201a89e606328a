"""On-disk run store: one folder a run under ``AE_RUNS_DIR`` (default ``./runs``).

Each run folder holds ``config.json`` (the Config plus a few facts about the run), ``history.csv``
(one row a step), ``events.json`` (hyperparameter changes) and ``model.keras``. Every file is
written to a temporary name in the same folder and then renamed over the old one, so a crash in
the middle of a save leaves the previous complete file, never half of a new one.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .config import Config, ConfigError, preset_of
from .history import to_frame

FILES = ("config.json", "history.csv", "events.json", "model.keras")
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


class RunError(ValueError):
    """A run that cannot be found, read or written, in one sentence."""


def runs_dir() -> Path:
    return Path(os.environ.get("AE_RUNS_DIR") or "runs")


def check_run_id(run_id: str) -> str:
    """Run ids come from URLs: only plain names, never a path (no ``../x``, no slashes)."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id) or ".." in run_id:
        raise RunError(f"{run_id!r} is not a valid run id (letters, digits, '-', '_' and '.' only).")
    return run_id


def run_path(run_id: str, root: Path | None = None) -> Path:
    return (root or runs_dir()) / check_run_id(run_id)


def _atomic_write(path: Path, write) -> None:
    """Write through ``write(tmp_path)`` then rename: readers see the old file or the new one."""
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_text(path: Path, text: str) -> None:
    def write(tmp: Path):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    _atomic_write(path, write)


def save(snapshot, nets=None, root: Path | None = None, name: str | None = None) -> Path:
    """Save a trainer's snapshot (and its Keras model if given) as a run folder."""
    folder = run_path(snapshot.run_id, root)
    folder.mkdir(parents=True, exist_ok=True)
    old = _read_meta(folder)
    meta = {
        "run_id": snapshot.run_id,
        "name": name or old.get("name") or snapshot.run_id,
        "preset": preset_of(snapshot.config) or old.get("preset"),
        "created": old.get("created") or time.strftime("%Y-%m-%dT%H:%M:%S"),
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "status": snapshot.status,
        "steps": snapshot.step,
        "loss": snapshot.loss,
        "test_mse": snapshot.test_loss,
        "elapsed": round(snapshot.elapsed, 3),
        "data_source": snapshot.data_source,
    }
    # The model first: config.json is written last, so a run with a config.json is complete.
    if nets is not None:
        _atomic_write(folder / "model.keras", lambda tmp: nets.autoencoder.save(tmp))
    _write_text(folder / "history.csv", to_frame(snapshot.history).to_csv(index=False))
    _write_text(folder / "events.json", json.dumps(list(snapshot.history.events), default=_jsonable, indent=1))
    _write_text(folder / "config.json", json.dumps({"config": snapshot.config.to_dict(), "run": meta}, indent=1,
                                                   default=_jsonable))
    return folder


def _jsonable(value: Any):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in JSON")


def _read_meta(folder: Path) -> dict:
    try:
        return json.loads((folder / "config.json").read_text())["run"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


@dataclass(frozen=True)
class SavedRun:
    run_id: str
    path: Path
    config: Config
    meta: dict
    history: pd.DataFrame
    events: list

    @property
    def model_path(self) -> Path | None:
        p = self.path / "model.keras"
        return p if p.is_file() else None

    @property
    def name(self) -> str:
        return self.meta.get("name") or self.run_id


def load(run_id: str, root: Path | None = None) -> SavedRun:
    folder = run_path(run_id, root)
    if not (folder / "config.json").is_file():
        raise RunError(f"Run {run_id} has no config.json in {folder}.")
    try:
        doc = json.loads((folder / "config.json").read_text())
        config = Config.from_dict(doc["config"])
        meta = dict(doc.get("run", {}))
    except (ValueError, KeyError, TypeError, ConfigError) as e:
        raise RunError(f"Run {run_id}: config.json cannot be read ({e}).") from None
    try:
        history = pd.read_csv(folder / "history.csv")
    except (OSError, ValueError):
        history = pd.DataFrame(columns=["step", "loss", "smoothed_loss", "test_loss", "learning_rate",
                                        "batch_size", "elapsed"])
    try:
        events = json.loads((folder / "events.json").read_text())
    except (OSError, ValueError):
        events = []
    return SavedRun(run_id, folder, config, meta, history, events)


def list_runs(root: Path | None = None) -> list[SavedRun]:
    """Complete runs, newest first; folders without a readable config.json are skipped."""
    root = root or runs_dir()
    if not root.is_dir():
        return []
    runs = []
    for folder in root.iterdir():
        if folder.is_dir() and RUN_ID.match(folder.name):
            try:
                runs.append(load(folder.name, root))
            except RunError:
                continue
    return sorted(runs, key=lambda r: r.meta.get("saved", ""), reverse=True)


def resume_kwargs(run: SavedRun) -> dict:
    """Trainer keyword arguments that continue a saved run: its history, and its weights read
    from model.keras in the trainer's own thread (the optimizer's state starts afresh)."""
    from .history import History

    model_path = run.model_path
    weights = (lambda: load_keras_model(model_path).get_weights()) if model_path else None
    return dict(history=History.from_frames(run.history, run.events), weights=weights)


def rename(run_id: str, name: str, root: Path | None = None) -> None:
    run = load(run_id, root)
    doc = json.loads((run.path / "config.json").read_text())
    doc["run"]["name"] = name.strip()[:80] or run_id
    _write_text(run.path / "config.json", json.dumps(doc, indent=1))


def delete(run_id: str, root: Path | None = None) -> None:
    folder = run_path(run_id, root)
    if folder.is_dir():
        shutil.rmtree(folder)


def load_keras_model(path: str | os.PathLike):
    """Load a ``.keras`` file safely: ``safe_mode=True`` refuses to run code stored in it."""
    import keras

    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as e:
        raise RunError(f"{Path(path).name} is not a usable Keras model ({type(e).__name__}: "
                       f"{str(e).splitlines()[0] if str(e) else 'unreadable'}).") from None



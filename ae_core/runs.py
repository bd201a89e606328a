"""On-disk run store: one folder a run under ``AE_RUNS_DIR`` (default ``./runs``).

Each run folder holds ``config.json`` (the Config plus a few facts about the run), ``history.csv``
(one row a step), ``events.json`` (hyperparameter changes) and ``model.keras``, plus
``optimizer.npz`` (the optimizer's moments and step count, so a continued run picks up exactly
where it stopped) when the trainer gave it. Every file is
written to a temporary name in the same folder and then renamed over the old one, so a crash in
the middle of a save leaves the previous complete file, never half of a new one.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import tensorboard
from .config import Config, ConfigError, preset_of
from .history import to_frame

FILES = ("config.json", "history.csv", "events.json", "model.keras")
OPTIMIZER_FILE = "optimizer.npz"
FRAMES_FILE = "frames.npz"   # the film strip (ae_core.frames), when the run recorded one
KEPT_META = ("sweep", "swept", "data")  # config.json "run" fields kept through later saves (ae_core.sweep, run_data)
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


class RunError(ValueError):
    """A run that cannot be found, read or written, in one sentence."""


def runs_dir() -> Path:
    return Path(os.environ.get("AE_RUNS_DIR") or "runs")


def check_run_id(run_id: str) -> str:
    """Run ids come from URLs: only plain names, never a path (no ``../x``, no slashes)."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise RunError(f"{run_id!r} is not a valid run id (letters, digits, '-', '_' and '.' only).")
    return run_id


def run_path(run_id: str, root: Path | None = None) -> Path:
    return (root or runs_dir()) / check_run_id(run_id)


def atomic_write(path: Path, write) -> None:
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
    atomic_write(path, write)


def save(snapshot, nets=None, root: Path | None = None, name: str | None = None,
         optimizer_state: list | None = None, dataset=None, film=None, extra_meta: dict | None = None) -> Path:
    """Save a trainer's snapshot (and its Keras model, optimizer state, data set and film strip
    (``ae_core.frames.FilmStrip``), if given) as a run folder. The data set is described in
    config.json, and kept in the folder when it was an upload (see :mod:`ae_core.run_data`).
    ``extra_meta`` (e.g. the sweep a run belongs to) goes into config.json's ``run`` and stays there
    through later saves."""
    from . import run_data

    folder = run_path(snapshot.run_id, root)
    folder.mkdir(parents=True, exist_ok=True)
    old = _read_meta(folder)
    meta = _meta_of(snapshot, name or old.get("name"))
    meta["preset"] = meta["preset"] or old.get("preset")
    meta["created"] = old.get("created") or time.strftime("%Y-%m-%dT%H:%M:%S")
    meta["saved"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    meta.update({k: old[k] for k in KEPT_META if k in old})
    meta.update(extra_meta or {})
    if dataset is not None:
        meta["data"] = run_data.describe(dataset)
        if run_data.is_upload(dataset):
            run_data.store(folder, dataset)
    # The model first: config.json is written last, so a run with a config.json is complete.
    if nets is not None:
        atomic_write(folder / "model.keras", lambda tmp: nets.autoencoder.save(tmp))
    if optimizer_state is not None:
        arrays = {f"v{i:03d}": np.asarray(a) for i, a in enumerate(optimizer_state)}
        atomic_write(folder / OPTIMIZER_FILE, lambda tmp: np.savez(tmp, **arrays))
    if film is not None and len(film):
        film.save(folder / FRAMES_FILE)
    history = to_frame(snapshot.history)
    _write_text(folder / "history.csv", history.to_csv(index=False))
    _write_text(folder / "events.json", json.dumps(list(snapshot.history.events), default=_jsonable, indent=1))
    _write_text(folder / "config.json", json.dumps({"config": snapshot.config.to_dict(), "run": meta}, indent=1,
                                                   default=_jsonable))
    tensorboard.follow(snapshot, history)  # with AE_TENSORBOARD_DIR set: TensorBoard follows live runs
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
        return str(self.meta.get("name") or self.run_id)  # str(): a hand-edited name may be a number


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
        if folder.is_dir() and RUN_ID.fullmatch(folder.name):
            try:
                runs.append(load(folder.name, root))
            except RunError:
                continue
    # str(): a hand-edited "saved" (null, a number) must not break the whole list.
    return sorted(runs, key=lambda r: str(r.meta.get("saved") or ""), reverse=True)


def resume_kwargs(run: SavedRun) -> dict:
    """Trainer keyword arguments that continue a saved run: its history, its weights read from
    model.keras and its optimizer state from optimizer.npz, both in the trainer's own thread, and its
    film strip from frames.npz. (A run
    saved without optimizer.npz, or with one that does not fit, continues with a fresh optimizer.)"""
    from .history import History

    model_path = run.model_path
    weights = (lambda: load_keras_model(model_path).get_weights()) if model_path else None
    state_path = run.path / OPTIMIZER_FILE
    optimizer_state = (lambda: load_optimizer_state(state_path)) if model_path and state_path.is_file() else None
    kwargs = dict(history=History.from_frames(run.history, run.events), weights=weights,
                  optimizer_state=optimizer_state)
    film = _film_of(run)
    if film is not None:
        kwargs["film"] = film  # its film strip goes on too, instead of a new one replacing frames.npz
    return kwargs


def _film_of(run: SavedRun):
    """The run's film strip from frames.npz, or None (none recorded, or unusable)."""
    from .frames import FilmStrip

    path = run.path / FRAMES_FILE
    if not path.is_file():
        return None
    try:
        return FilmStrip.load(path)
    except ValueError:
        return None


def load_optimizer_state(path: str | os.PathLike) -> list | None:
    """The arrays of an optimizer.npz in saved order, or None if the file cannot be used (never
    unpickles anything)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = sorted(npz.files)
            if names != [f"v{i:03d}" for i in range(len(names))]:
                return None
            arrays = [npz[name] for name in names]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    return arrays if all(a.dtype.kind in "fiu" for a in arrays) else None


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


# --- live runs seen as saved ones, and a run's files to download ---
def _meta_of(snapshot, name: str | None = None) -> dict:
    from .fork import parent_of

    parent = parent_of(snapshot.history.events)  # a fork's history records where it branched
    return {
        "run_id": snapshot.run_id,
        "name": name or snapshot.run_id,
        "preset": preset_of(snapshot.config),
        "status": snapshot.status,
        "steps": snapshot.step,
        "loss": snapshot.loss,
        "test_mse": snapshot.test_loss,
        "elapsed": round(snapshot.elapsed, 3),
        "data_source": snapshot.data_source,
        **({"parent": parent[0], "forked_at": parent[1]} if parent else {}),
    }


def from_snapshot(snapshot, saved: SavedRun | None = None, root: Path | None = None) -> SavedRun:
    """A live trainer's snapshot seen as a run (``meta["live"]`` is True); the name, creation and
    save times come from its folder when it has been saved."""
    meta = _meta_of(snapshot, saved.name if saved else None)
    if saved is not None:
        meta.update(created=saved.meta.get("created"), saved=saved.meta.get("saved"), data=saved.meta.get("data"))
    meta["live"] = True
    return SavedRun(snapshot.run_id, run_path(snapshot.run_id, root), snapshot.config, meta,
                    to_frame(snapshot.history), list(snapshot.history.events))


def with_live(saved: list[SavedRun], snapshots, root: Path | None = None) -> list[SavedRun]:
    """Live runs first (their snapshot replaces their saved copy), then the saved runs, newest first."""
    by_id = {run.run_id: run for run in saved}
    live = [from_snapshot(s, by_id.get(s.run_id), root) for s in snapshots]
    live_ids = {run.run_id for run in live}
    return live + [run for run in saved if run.run_id not in live_ids]


EXPORTS = {"model.keras": "application/octet-stream", "history.csv": "text/csv", "config.json": "application/json"}


def exports(run: SavedRun) -> dict[str, Path]:
    """The run's downloadable files that exist on disk: file name -> path (inside the run folder)."""
    folder = run_path(run.run_id, run.path.parent)  # checks the id again: a SavedRun can be made by hand
    return {name: folder / name for name in EXPORTS if (folder / name).is_file()}


def archive(run: SavedRun) -> bytes:
    """The whole run folder as zip bytes, under a folder named after the run (half-written
    temporary files left by an interrupted save are not part of the run and stay out)."""
    import io

    folder = run_path(run.run_id, run.path.parent)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                zf.write(path, f"{run.run_id}/{path.relative_to(folder).as_posix()}")
    return out.getvalue()


def __getattr__(name: str):
    """``runs.summary_table`` and the other views that moved to :mod:`ae_core.run_table` still resolve."""
    from . import run_table

    if name in run_table.__all__:
        return getattr(run_table, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

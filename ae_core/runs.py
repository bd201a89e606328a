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
from .config import DEFAULT_PRESET, FIELDS, PRESETS, Config, ConfigError, format_value, preset_of
from .history import smooth, to_frame

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




# --- the Runs page's views of the store (pure: no streamlit, no TensorFlow until a model is loaded) ---
UNSHOWN_DIFFS = ("steps",)   # the step budget: the table's Steps column says what was trained


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


def base_preset(run: SavedRun) -> str:
    """The preset a run is best described as a variation of: its recorded one, else the nearest."""
    recorded = run.meta.get("preset")
    if recorded in PRESETS:
        return recorded
    return nearest_preset(run.config)


def nearest_preset(config: Config) -> str:
    """The preset with the fewest differing settings (budget and seed aside); ties go to the default."""
    def distance(name):
        return len(set(PRESETS[name].diff(config)) - {"steps", "seed"}), name != DEFAULT_PRESET
    return min(PRESETS, key=distance)


def differing_settings(runs: list[SavedRun]) -> list[dict[str, Any]]:
    """For each run, the settings worth showing: those that differ from its base preset, plus
    those that vary between the listed runs of the same base preset (so two runs that differ only
    in learning rate both show theirs). Name -> value, in Config field order."""
    presets = [base_preset(r) for r in runs]
    varying: dict[str, set[str]] = {}
    for name in set(presets):
        group = [r.config for r, p in zip(runs, presets) if p == name]
        varying[name] = {f for f in FIELDS if len({format_value(f, getattr(c, f)) for c in group}) > 1}
    out = []
    for run, name in zip(runs, presets):
        keys = (set(PRESETS[name].diff(run.config)) | varying[name]) - set(UNSHOWN_DIFFS)
        out.append({f: getattr(run.config, f) for f in FIELDS if f in keys})
    return out


def settings_text(settings: dict[str, Any]) -> str:
    return " · ".join(f"{name}={format_value(name, value)}" for name, value in settings.items())


def final_loss(run: SavedRun) -> float | None:
    """The smoothed minibatch loss at the last step (less noisy than the last minibatch alone)."""
    h = run.history
    for column in ("smoothed_loss", "loss"):
        if column in h and len(h) and _number(h[column].iloc[-1]) is not None:
            return _number(h[column].iloc[-1])
    return _number(run.meta.get("loss"))


def _number(value) -> float | None:
    """A number from run metadata, or None for anything else (a hand-edited file, a NaN)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def summary_table(runs: list[SavedRun]) -> pd.DataFrame:
    """One row a run for the Runs page: run_id, name, live, preset, settings (the hyperparameters
    that differ from the preset or between the runs), steps, loss, test_mse, elapsed, status, data
    (what it trained on: an MSE on 300 digits is not one on 60 000), parent (the run a fork branched
    from), saved."""
    from . import run_data

    settings = differing_settings(runs)
    rows = []
    for run, differs in zip(runs, settings):
        m = run.meta
        steps = _number(m.get("steps"))
        rows.append({
            "run_id": run.run_id,
            "name": run.name,
            "live": bool(m.get("live", False)),
            "preset": base_preset(run),
            "settings": settings_text(differs),
            "steps": int(steps) if steps is not None else len(run.history),
            "loss": final_loss(run),
            "test_mse": _number(m.get("test_mse")),
            "elapsed": _number(m.get("elapsed")),
            "status": str(m.get("status") or "unknown"),
            "data": run_data.short_label(m.get("data") if isinstance(m.get("data"), dict) else None,
                                         str(m.get("data_source") or "")),
            "parent": str(m["parent"]) if m.get("parent") else None,
            "saved": pd.to_datetime(m.get("saved") if isinstance(m.get("saved"), str) else None, errors="coerce"),
        })
    columns = ["run_id", "name", "live", "preset", "settings", "steps", "loss", "test_mse", "elapsed",
               "status", "data", "parent", "saved"]
    table = pd.DataFrame(rows, columns=columns)
    table["saved"] = pd.to_datetime(table["saved"], errors="coerce")
    for column in ("loss", "test_mse", "elapsed"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("float64")
    return table


def loss_curve(run: SavedRun, x: str = "step") -> tuple[np.ndarray, np.ndarray]:
    """A run's smoothed loss against steps (``x="step"``) or training seconds (``x="elapsed"``)."""
    h = run.history
    if not len(h) or "loss" not in h:
        return np.zeros(0), np.zeros(0)

    def numbers(column):  # a garbled cell becomes NaN instead of breaking the chart
        return pd.to_numeric(h[column], errors="coerce").to_numpy(np.float64)

    ys = numbers("smoothed_loss") if "smoothed_loss" in h else smooth(numbers("loss"))
    column = "elapsed" if x == "elapsed" and "elapsed" in h else "step"
    xs = numbers(column) if column in h else np.arange(len(h), dtype=np.float64)
    ok = np.isfinite(xs) & np.isfinite(ys)
    return xs[ok], ys[ok]


def display_names(runs: list[SavedRun]) -> list[str]:
    """Names for a chart legend: the run's name, with its id added where two runs share a name."""
    names = [r.name for r in runs]
    return [f"{n} ({r.run_id})" if names.count(n) > 1 else n for n, r in zip(names, runs)]


def overlay_curves(runs: list[SavedRun], x: str = "step") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Legend name -> (x, smoothed loss) for :func:`ae_core.viz.overlay_figure`; runs without steps are left out."""
    curves = {}
    for name, run in zip(display_names(runs), runs):
        xs, ys = loss_curve(run, x)
        if len(xs):
            curves[name] = (xs, ys)
    return curves


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

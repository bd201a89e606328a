"""What sets runs apart, for the Runs page and the contrast views: one table row a run with the
settings that differ from its preset or between the runs, and smoothed loss curves to overlay.
Pure: reads :class:`ae_core.runs.SavedRun` objects (saved or live), never the disk or TensorFlow."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .config import DEFAULT_PRESET, FIELDS, PRESETS, Config, format_value
from .history import smooth
from .runs import SavedRun

__all__ = ["UNSHOWN_DIFFS", "base_preset", "nearest_preset", "differing_settings", "settings_text",
           "final_loss", "summary_table", "loss_curve", "display_names", "overlay_curves"]

UNSHOWN_DIFFS = ("steps",)   # the step budget: the table's Steps column says what was trained


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

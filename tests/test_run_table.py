"""What sets runs apart (``ae_core.run_table``, headless): the Runs page's table and overlay curves."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ae_core import run_table, runs
from ae_core.config import PRESETS
from ae_core.runs import SavedRun


def _fake(run_id, config, name=None, steps=10, **meta) -> SavedRun:
    loss = np.linspace(0.2, 0.05, steps)
    history = pd.DataFrame({"step": np.arange(steps), "loss": loss, "smoothed_loss": loss + 0.01,
                            "test_loss": np.nan, "learning_rate": config.learning_rate,
                            "batch_size": config.batch_size, "elapsed": np.arange(1, steps + 1) * 0.5})
    return SavedRun(run_id, Path("/nowhere") / run_id, config, {"name": name or run_id, "steps": steps, **meta},
                    history, [])


def test_summary_table_shows_the_settings_that_differ_from_the_preset_or_between_runs():
    fast, seed = PRESETS["fast"], PRESETS["seed"]
    other_lr = 0.0123
    table = run_table.summary_table([
        _fake("a", fast, preset="fast"),                                    # the preset exactly
        _fake("b", fast.replace(learning_rate=other_lr, steps=60)),        # budget is not a difference
        _fake("c", seed.replace(batch_size=128, hidden=(128, 64), seed=3)),
        _fake("d", seed, status="done", test_mse=0.03, elapsed=12.5, saved="2026-01-02T03:04:05"),
    ]).set_index("run_id")
    assert list(table["preset"]) == ["fast", "fast", "seed", "seed"]
    # a and b differ only in learning rate, so both show theirs.
    assert table.loc["a", "settings"] == f"learning_rate={fast.learning_rate!r}"
    assert table.loc["b", "settings"] == f"learning_rate={other_lr!r}"
    assert table.loc["c", "settings"] == "hidden=128-64 · batch_size=128 · seed=3"
    assert table.loc["d", "settings"] == "hidden=256 · batch_size=256 · seed=0"
    assert table.loc["d", "test_mse"] == 0.03 and table.loc["d", "elapsed"] == 12.5
    assert table.loc["d", "saved"] == pd.Timestamp("2026-01-02T03:04:05") and pd.isna(table.loc["a", "saved"])
    assert table.loc["a", "loss"] == pytest.approx(0.06) and table.loc["a", "steps"] == 10
    assert table.loc["a", "status"] == "unknown" and not table["live"].any()
    assert run_table.summary_table([]).empty


def test_a_run_made_from_no_preset_is_compared_with_the_nearest_one():
    odd = PRESETS["latent2"].replace(activation="tanh", latent=3)
    assert run_table.nearest_preset(odd) == "latent2"
    table = run_table.summary_table([_fake("x", odd, preset=None)])
    assert table["preset"].iloc[0] == "latent2"
    assert table["settings"].iloc[0] == "latent=3 · activation=tanh"


def test_overlay_curves_use_unique_names_and_either_x_axis():
    fast = PRESETS["fast"]
    twins = [_fake("r1", fast, "same"), _fake("r2", fast, "same"), _fake("r3", fast, "other"),
             _fake("r4", fast, "empty", steps=0)]
    curves = run_table.overlay_curves(twins)
    assert list(curves) == ["same (r1)", "same (r2)", "other"]
    xs, ys = curves["other"]
    assert list(xs[:3]) == [0, 1, 2] and ys[0] == pytest.approx(0.21)  # the smoothed column
    xs, _ = run_table.overlay_curves(twins, x="elapsed")["other"]
    assert list(xs[:3]) == [0.5, 1.0, 1.5]
    no_smooth = _fake("r5", fast)
    no_smooth.history.drop(columns="smoothed_loss", inplace=True)
    _, ys = run_table.loss_curve(no_smooth)
    assert len(ys) == 10 and ys[0] == pytest.approx(0.2)


def test_the_views_still_resolve_under_their_old_module():
    assert runs.summary_table is run_table.summary_table and runs.UNSHOWN_DIFFS == ("steps",)
    with pytest.raises(AttributeError):
        runs.no_such_view

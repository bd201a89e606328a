"""Sweeps: the grid, every combination trained as an ordinary run named by its values, a failing
combination reported without stopping the others, the best, the Runs page's grouping, the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ae_core import runs
from ae_core import sweep as sweep_lib
from ae_core.config import PRESETS, Config, ConfigError
from tests.test_cli import cli

SMALL = PRESETS["fast"].replace(hidden=(32,), latent=8, steps=60)


def test_parse_grid_and_combinations():
    grid = sweep_lib.parse_grid(["learning_rate=0.01,0.001", "hidden=256-64,128", "batch-size=64"])
    assert grid == {"learning_rate": [0.01, 0.001], "hidden": [(256, 64), (128,)], "batch_size": [64]}
    combos = sweep_lib.combinations(grid)
    assert len(combos) == 4 and combos[0] == {"learning_rate": 0.01, "hidden": (256, 64), "batch_size": 64}
    assert [c["learning_rate"] for c in combos] == [0.01, 0.01, 0.001, 0.001]  # first key slowest
    assert sweep_lib.run_name(combos[1]) == "learning_rate=0.01, hidden=128, batch_size=64"
    assert sweep_lib.parse_grid(["seed=1,1,2"]) == {"seed": [1, 2]}
    for bad in (["learning_rate"], ["colour=red,blue"], ["seed=1", "seed=2"], ["seed="], [],
                ["seed=" + ",".join(map(str, range(65)))], ["learning_rate=fast"]):
        with pytest.raises(ConfigError):
            sweep_lib.parse_grid(bad)


def test_a_sweep_trains_every_combination_reports_failures_and_names_the_best(small_mnist, tmp_path):
    # A linear network under plain SGD: stable at 0.01, blows up at 10; 30 is not a valid learning rate at all.
    base = Config(optimizer="sgd", activation="linear", output_activation="linear", initializer="glorot_uniform",
                  steps=60)
    sweep = sweep_lib.Sweep(base, {"learning_rate": [0.01, 10.0, 0.003, 30.0]})
    seen = []
    outcomes = sweep_lib.run_sweep(sweep, small_mnist, parallel=2, root=tmp_path, on_outcome=seen.append)
    assert [o.values["learning_rate"] for o in outcomes] == [0.01, 10.0, 0.003, 30.0]
    assert sorted(o.status for o in seen) == ["diverged", "done", "done", "invalid"]
    by_lr = {o.values["learning_rate"]: o for o in outcomes}
    assert by_lr[30.0].status == "invalid" and "Learning rate" in by_lr[30.0].message and by_lr[30.0].run_id is None
    assert by_lr[10.0].status == "diverged" and by_lr[10.0].message
    done = [by_lr[0.01], by_lr[0.003]]
    assert all(o.status == "done" and o.steps == 60 and o.test_mse > 0 for o in done)
    top = sweep_lib.best(outcomes)
    assert top is min(done, key=lambda o: o.test_mse)

    summary = sweep_lib.summary_line(sweep, outcomes)
    assert summary["event"] == "sweep" and summary["runs"] == 4 and summary["best"] == top.run_id
    assert summary["failed"] == 2

    # Ordinary runs in the store, named by their values, grouped by their sweep.
    saved = runs.list_runs(tmp_path)
    ours = [r for r in saved if r.run_id in {o.run_id for o in done}]
    assert sorted(r.name for r in ours) == ["learning_rate=0.003", "learning_rate=0.01"]
    assert all(r.meta["sweep"] == sweep.sweep_id and r.meta["swept"] == {"learning_rate": r.config.learning_rate}
               for r in ours)
    groups = sweep_lib.groups(saved)
    assert list(groups) == [sweep.sweep_id] and len(groups[sweep.sweep_id]) == 2  # diverged at its first step: nothing saved
    table = sweep_lib.sweep_table(groups[sweep.sweep_id])
    assert list(table.columns) == ["run_id", "name", "learning_rate", "steps", "test_mse", "status"]
    assert table["run_id"].iloc[0] == top.run_id and table["test_mse"].iloc[:2].is_monotonic_increasing

    line = by_lr[0.01].line()
    assert line["event"] == "done" and line["swept"] == {"learning_rate": 0.01} and line["learning_rate"] == 0.01
    assert line["run_dir"] == str(tmp_path / line["run_id"]) and {"steps", "test_mse", "ms_per_step"} <= set(line)


def test_a_later_save_keeps_the_sweep(small_mnist, tmp_path):
    from ae_core.trainer import Trainer

    trainer = Trainer(SMALL.replace(steps=20), small_mnist)
    try:
        trainer.wait_ready()
        trainer.start()
        trainer.wait(lambda s: s.status == "done")
        runs.save(trainer.snapshot(), root=tmp_path, extra_meta={"sweep": "sweep-x", "swept": {"seed": 0}})
        runs.save(trainer.snapshot(), root=tmp_path)
        assert runs.load(trainer.run_id, tmp_path).meta["sweep"] == "sweep-x"
    finally:
        trainer.stop()


def test_cli_sweep(tmp_path, mnist_path):
    data = tmp_path / "head.npz"
    with np.load(mnist_path) as full:
        np.savez(data, x_train=full["x_train"][:2000], y_train=full["y_train"][:2000],
                 x_test=full["x_test"][:300], y_test=full["y_test"][:300])
    root = tmp_path / "runs"
    p = cli("sweep", "--preset", "fast", "--grid", "learning_rate=0.01,0.001,0.0001", "--set", "hidden=32",
            "--set", "latent=8", "--steps", "40", "--data", str(data), "--json", runs_dir=root, timeout=600)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    runs_lines, summary = lines[:-1], lines[-1]
    assert sorted(line["learning_rate"] for line in runs_lines) == [0.0001, 0.001, 0.01]
    assert all(line["event"] == "done" and line["steps"] == 40 for line in runs_lines)
    assert summary["event"] == "sweep" and summary["runs"] == 3 and summary["failed"] == 0
    assert summary["best"] == min(runs_lines, key=lambda line: line["test_mse"])["run_id"]
    assert len([d for d in root.iterdir() if d.is_dir()]) == 3  # three runs left in the store

    bad = cli("sweep", "--grid", "colour=red", "--steps", "10", runs_dir=root)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "colour" in bad.stderr


def test_the_runs_page_groups_a_sweep(small_mnist, tmp_path, monkeypatch, mnist_path):
    from streamlit.testing.v1 import AppTest

    from pages import common
    from tests.conftest import ROOT

    root = tmp_path / "runs"
    sweep = sweep_lib.Sweep(SMALL.replace(steps=20), {"learning_rate": [0.01, 0.001], "batch_size": [64]})
    outcomes = sweep_lib.run_sweep(sweep, small_mnist, parallel=2, root=root)
    assert all(o.status == "done" for o in outcomes)
    monkeypatch.setenv("AE_RUNS_DIR", str(root))
    monkeypatch.setenv("AE_MNIST_PATH", str(mnist_path))
    common.registry().stop_all()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    assert any(sweep.sweep_id in e.label and "best: learning_rate=" in e.label for e in at.expander)
    frame = next(d.value for d in at.dataframe if "learning_rate" in d.value.columns)  # the sweep's table
    assert list(frame["run_id"]) == [sweep_lib.best(outcomes).run_id] + [
        o.run_id for o in outcomes if o is not sweep_lib.best(outcomes)]
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    parcoords = [s for s in specs if s["data"] and s["data"][0]["type"] == "parcoords"]
    assert len(parcoords) == 1
    labels = [d["label"] for d in parcoords[0]["data"][0]["dimensions"]]
    assert labels == ["Learning rate (log10)", "Batch size", "test MSE"]
    assert any(link.label == "Compare the best runs" for link in at.get("page_link"))

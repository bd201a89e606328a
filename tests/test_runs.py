"""runs.py: the on-disk run store (atomic saves, loading, listing, ids from URLs, Keras files)."""
from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from ae_core import runs
from ae_core.config import PRESETS
from ae_core.history import History
from ae_core.runs import FILES, RunError, check_run_id, list_runs, load, load_keras_model, save
from ae_core.trainer import Trainer

CONFIG = PRESETS["fast"].replace(hidden=(64,), latent=16, steps=100)
LIVE_LR = CONFIG.learning_rate / 2  # a live change made at step 40


@pytest.fixture(scope="module")
def trained(small_mnist):
    """A finished 100-step run (with one live change) and its trainer, shared by the module."""
    t = Trainer(CONFIG, small_mnist)
    try:
        t.wait_ready(timeout=120)
        t.step(40)
        t.wait(lambda s: s.status == "paused" and s.step >= 40, 60)
        t.update(learning_rate=LIVE_LR)
        t.start()
        snap = t.wait(lambda s: s.status == "done", 60)
        yield t, snap
    finally:
        t.stop()


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_save_writes_the_four_files_and_load_reads_them_back(trained, tmp_path):
    t, snap = trained
    folder = save(snap, t.model(), root=tmp_path, name="my first run")
    assert folder == tmp_path / snap.run_id
    assert _names(folder) == sorted(FILES)  # and no temporary files left behind

    run = load(snap.run_id, root=tmp_path)
    assert run.run_id == snap.run_id and run.path == folder
    assert run.config == snap.config == CONFIG.replace(learning_rate=LIVE_LR)
    assert run.name == "my first run"
    assert run.meta["steps"] == 100 and run.meta["status"] == "done"
    assert run.meta["test_mse"] == pytest.approx(snap.test_loss)
    assert run.meta["loss"] == pytest.approx(snap.loss)
    assert run.meta["preset"] is None  # hidden/latent differ from "fast"
    assert run.model_path == folder / "model.keras"

    assert len(run.history) == snap.step == 100
    assert list(run.history.columns) == ["step", "loss", "smoothed_loss", "test_loss", "learning_rate",
                                         "batch_size", "elapsed"]
    np.testing.assert_allclose(run.history["loss"], snap.history.loss, rtol=1e-6)
    assert run.history["test_loss"].iloc[-1] == pytest.approx(snap.test_loss)
    assert run.events == [dict(e) for e in snap.history.events]
    assert [e["field"] for e in run.events] == ["learning_rate"]
    assert run.events[0]["step"] == 40

    # A saved history can be continued: History.from_frames rebuilds the same arrays.
    h = History.from_frames(run.history, run.events).view()
    np.testing.assert_allclose(h.loss, snap.history.loss, rtol=1e-6)
    np.testing.assert_allclose(h.learning_rate, snap.history.learning_rate, rtol=1e-6)


def test_saving_again_keeps_name_and_created(trained, tmp_path):
    t, snap = trained
    save(snap, None, root=tmp_path, name="kept")
    first = load(snap.run_id, root=tmp_path).meta
    assert not (tmp_path / snap.run_id / "model.keras").exists()  # no model given, none written
    save(snap, t.model(), root=tmp_path)
    again = load(snap.run_id, root=tmp_path).meta
    assert again["name"] == "kept" and again["created"] == first["created"]
    assert _names(tmp_path / snap.run_id) == sorted(FILES)


def test_runs_dir_comes_from_the_environment(trained, tmp_path, monkeypatch):
    t, snap = trained
    monkeypatch.setenv("AE_RUNS_DIR", str(tmp_path / "store"))
    assert runs.runs_dir() == tmp_path / "store"
    folder = save(snap)
    assert folder == tmp_path / "store" / snap.run_id
    assert [r.run_id for r in list_runs()] == [snap.run_id]
    monkeypatch.delenv("AE_RUNS_DIR")
    assert str(runs.runs_dir()) == "runs"


def test_interrupted_rename_leaves_the_previous_files(trained, tmp_path, monkeypatch):
    t, snap = trained
    folder = save(snap, None, root=tmp_path, name="first")
    before = {name: (folder / name).read_bytes() for name in _names(folder)}

    real_replace = os.replace
    calls = []

    def failing_replace(src, dst):
        calls.append(os.path.basename(dst))
        if os.path.basename(dst) == "events.json":
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        save(snap, None, root=tmp_path, name="second")
    monkeypatch.setattr(os, "replace", real_replace)

    assert calls == ["history.csv", "events.json"]  # config.json, written last, was never touched
    assert _names(folder) == sorted(before)          # no temporary file left behind
    for name in ("events.json", "config.json"):
        assert (folder / name).read_bytes() == before[name]
    run = load(snap.run_id, root=tmp_path)
    assert run.name == "first" and len(run.history) == 100


def test_writer_failing_midway_leaves_the_previous_file(trained, tmp_path, monkeypatch):
    t, snap = trained
    folder = save(snap, None, root=tmp_path, name="first")
    before = (folder / "config.json").read_bytes()

    def failing_fsync(fd):
        raise OSError(5, "Input/output error")   # after the text was written to the temporary file

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        runs.rename(snap.run_id, "renamed", root=tmp_path)
    monkeypatch.undo()
    assert (folder / "config.json").read_bytes() == before
    assert _names(folder) == ["config.json", "events.json", "history.csv"]
    assert load(snap.run_id, root=tmp_path).name == "first"


def test_model_save_failing_midway_leaves_the_previous_model(trained, tmp_path, monkeypatch):
    t, snap = trained
    folder = save(snap, t.model(), root=tmp_path)
    before = (folder / "model.keras").read_bytes()
    nets = t.model()

    class Broken:
        class autoencoder:
            @staticmethod
            def save(path):
                with open(path, "wb") as f:
                    f.write(b"PK\x03\x04half a zip")
                raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        save(snap, Broken, root=tmp_path)
    assert (folder / "model.keras").read_bytes() == before
    assert _names(folder) == sorted(FILES)
    assert load_keras_model(folder / "model.keras").count_params() == nets.autoencoder.count_params()


GARBAGE = {
    "not-json": "{this is not json",
    "a-list": "[1, 2, 3]",
    "no-config": json.dumps({"run": {"name": "x"}}),
    "bad-value": json.dumps({"config": {"latent": -1}, "run": {}}),
    "unknown-key": json.dumps({"config": {"bogus": 1}, "run": {}}),
    "run-not-a-dict": json.dumps({"config": {}, "run": 5}),
    "empty": "",
    "binary": b"\xff\xfe\x00garbage",
}


def test_list_runs_skips_unreadable_folders(trained, tmp_path):
    t, snap = trained
    save(snap, None, root=tmp_path)
    for name, content in GARBAGE.items():
        (tmp_path / name).mkdir()
        path = tmp_path / name / "config.json"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "no-config-file").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "a-file.txt").write_text("not a folder")
    assert [r.run_id for r in list_runs(root=tmp_path)] == [snap.run_id]
    for name in GARBAGE:
        with pytest.raises(RunError, match=name):
            load(name, root=tmp_path)


def test_list_runs_skips_a_run_with_odd_metadata(trained, tmp_path):
    """A hand-edited config.json whose "saved" is null (or a number) must not break the whole list."""
    t, snap = trained
    save(snap, None, root=tmp_path)
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "config.json").write_text(json.dumps({"config": {}, "run": {"saved": None}}))
    found = [r.run_id for r in list_runs(root=tmp_path)]
    assert snap.run_id in found


def test_list_runs_newest_first_and_missing_root(trained, tmp_path):
    t, snap = trained
    assert list_runs(root=tmp_path / "nowhere") == []
    for run_id, saved in (("older", "2020-01-01T00:00:00"), ("newer", "2030-01-01T00:00:00")):
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "config.json").write_text(
            json.dumps({"config": CONFIG.to_dict(), "run": {"saved": saved, "name": run_id}}))
    assert [r.run_id for r in list_runs(root=tmp_path)] == ["newer", "older"]


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "..", ".", "a..b", "/etc", "..\\x", "a\\b", ".hidden",
                                 "x" * 81, "run id", None, 5])
def test_check_run_id_rejects_paths(bad):
    with pytest.raises(RunError):
        check_run_id(bad)
    if isinstance(bad, str):
        with pytest.raises(RunError):
            load(bad)
        with pytest.raises(RunError):
            runs.delete(bad)


def test_check_run_id_rejects_a_trailing_newline():
    """RUN_ID uses ``$``, which also matches before a final newline: "run1\\n" passes today."""
    with pytest.raises(RunError):
        check_run_id("run1\n")


@pytest.mark.parametrize("good", ["20261127-131935-713955", "my_run.v2", "A", "x" * 80])
def test_check_run_id_accepts_plain_names(good):
    assert check_run_id(good) == good


def test_rename_and_delete(trained, tmp_path):
    t, snap = trained
    folder = save(snap, None, root=tmp_path, name="before")
    runs.rename(snap.run_id, "  after  ", root=tmp_path)
    run = load(snap.run_id, root=tmp_path)
    assert run.name == "after" and run.config == snap.config
    runs.rename(snap.run_id, "   ", root=tmp_path)
    assert load(snap.run_id, root=tmp_path).name == snap.run_id
    runs.rename(snap.run_id, "n" * 200, root=tmp_path)
    assert len(load(snap.run_id, root=tmp_path).name) == 80
    with pytest.raises(RunError):
        runs.rename("missing", "x", root=tmp_path)

    (tmp_path / "neighbour").mkdir()
    runs.delete(snap.run_id, root=tmp_path)
    assert not folder.exists()
    assert (tmp_path / "neighbour").is_dir()
    with pytest.raises(RunError):
        load(snap.run_id, root=tmp_path)
    runs.delete(snap.run_id, root=tmp_path)  # deleting twice is fine
    assert list_runs(root=tmp_path) == []


def test_saved_model_reproduces_the_test_mse(trained, tmp_path, small_mnist):
    t, snap = trained
    folder = save(snap, t.model(), root=tmp_path)
    net = load_keras_model(folder / "model.keras")
    assert net.count_params() == t.model().autoencoder.count_params()
    recon = net.predict(small_mnist.x_test, verbose=0, batch_size=500)
    mse = float(np.mean((recon.astype(np.float64) - small_mnist.x_test) ** 2))
    assert mse == pytest.approx(snap.test_loss, abs=1e-5)
    # Its sub-models come back under their names too.
    assert {layer.name for layer in net.layers} >= {"encoder", "decoder"}


def test_load_keras_model_uses_safe_mode(tmp_path):
    """A .keras file with a Lambda layer carries Python code: it loads only with safe_mode=False."""
    import keras

    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Lambda(lambda v: v * 2)(x))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(RunError, match="lambda.keras"):
        load_keras_model(path)
    assert keras.models.load_model(path, safe_mode=False, compile=False) is not None  # the control


@pytest.mark.parametrize("content", [b"hello, not a model", b"PK\x03\x04truncated zip", b""])
def test_non_keras_file_is_a_run_error(tmp_path, content):
    path = tmp_path / "model.keras"
    path.write_bytes(content)
    with pytest.raises(RunError, match="model.keras"):
        load_keras_model(path)


def test_missing_keras_file_is_a_run_error(tmp_path):
    with pytest.raises(RunError):
        load_keras_model(tmp_path / "nothing.keras")


def test_load_tolerates_a_missing_history_and_events(trained, tmp_path):
    t, snap = trained
    folder = save(snap, None, root=tmp_path)
    (folder / "history.csv").unlink()
    (folder / "events.json").write_text("{oops")
    run = load(snap.run_id, root=tmp_path)
    assert run.config == snap.config
    assert len(run.history) == 0 and isinstance(run.history, pd.DataFrame) and run.events == []


def test_a_continued_run_takes_up_its_optimizer_state(trained, tmp_path, small_mnist):
    """Adam's moments and step count are saved beside the weights and put back when the run is
    continued, so it picks up exactly where it stopped; the learning rate stays the config's."""
    t, snap = trained
    state = t.optimizer_state()
    folder = save(snap, t.model(), root=tmp_path, optimizer_state=state)
    assert (folder / runs.OPTIMIZER_FILE).is_file()
    assert int(state[0]) == 100  # Adam's step counter: the 100 steps trained

    kwargs = runs.resume_kwargs(load(snap.run_id, root=tmp_path))
    again = Trainer(CONFIG.replace(learning_rate=LIVE_LR), small_mnist, run_id=snap.run_id, **kwargs)
    try:
        again.wait_ready()
        assert again.engine.optimizer_restored
        restored = again.optimizer_state()
        assert len(restored) == len(state)
        for a, b in zip(restored, state):
            np.testing.assert_array_equal(a, b)
        assert float(again.engine.optimizer.learning_rate.numpy()) == pytest.approx(LIVE_LR)
    finally:
        again.stop()


@pytest.mark.parametrize("content", [b"", b"not a zip", "pickled", "renamed", "wrong-shape"])
def test_an_unusable_optimizer_file_means_a_fresh_optimizer_not_a_failure(trained, tmp_path, small_mnist, content):
    t, snap = trained
    state = t.optimizer_state()
    folder = save(snap, t.model(), root=tmp_path, optimizer_state=state)
    path = folder / runs.OPTIMIZER_FILE
    if content == "pickled":
        np.savez(path, v000=np.array([{"x": 1}], dtype=object))
    elif content == "renamed":
        np.savez(path, moments=state[0])
    elif content == "wrong-shape":
        np.savez(path, **{f"v{i:03d}": np.zeros(3, np.float32) for i in range(len(state))})
    else:
        path.write_bytes(content)
    loaded = runs.load_optimizer_state(path)
    assert loaded is None or content == "wrong-shape"
    again = Trainer(CONFIG, small_mnist, run_id=snap.run_id, **runs.resume_kwargs(load(snap.run_id, root=tmp_path)))
    try:
        ready = again.wait_ready()
        assert not again.engine.optimizer_restored
        assert ready.step == 100 and ready.test_loss == pytest.approx(snap.test_loss, rel=1e-4)
    finally:
        again.stop()

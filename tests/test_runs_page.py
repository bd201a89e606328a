"""The Runs page (AppTest) and the run-store views behind it (``ae_core.runs``, headless).

Two real runs are made once a session with the CLI's own entry point (``python -m ae_core train
--preset fast --steps 60 --set learning_rate=…``, called in-process so TensorFlow starts once);
each test works on its own copy of them.
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ae_core import model_file, runs
from ae_core.config import PRESETS
from ae_core.runs import RunError, SavedRun
from tests.conftest import ROOT

LEARNING_RATES = ("0.001", "0.01")
NAMES = tuple(f"lr {lr}" for lr in LEARNING_RATES)

_made: dict[str, Path] = {}
_lock = threading.Lock()


def make_cli_runs(base: Path, mnist_path: Path) -> Path:
    """A runs folder holding two finished 60-step CLI runs of the fast preset, named ``lr 0.001`` and
    ``lr 0.01``, trained on the head of the real MNIST file. Made once a session (the browser test
    reuses it); copy it before changing it."""
    from ae_core.__main__ import main

    with _lock:
        if "template" in _made:
            return _made["template"]
        template = base / "cli-runs"
        # The first 4 000 / 1 000 digits of the real file: the same digits, a quicker start.
        data = base / "mnist-head.npz"
        with np.load(mnist_path) as full:
            np.savez(data, x_train=full["x_train"][:4000], y_train=full["y_train"][:4000],
                     x_test=full["x_test"][:1000], y_test=full["y_test"][:1000])
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AE_RUNS_DIR", str(template))
            for lr, name in zip(LEARNING_RATES, NAMES):
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    code = main(["train", "--preset", "fast", "--steps", "60", "--set", f"learning_rate={lr}",
                                 "--json", "--name", name, "--data", str(data), "--log-every", "1000"])
                done = json.loads(out.getvalue().splitlines()[-1])
                assert code == 0 and done["event"] == "done" and done["steps"] == 60, out.getvalue()
        _made["template"] = template
        _made["data"] = data
        return template


@pytest.fixture(scope="session")
def cli_runs(tmp_path_factory, mnist_path) -> Path:
    return make_cli_runs(tmp_path_factory.getbasetemp(), mnist_path)


@pytest.fixture()
def runs_dir(tmp_path, monkeypatch, mnist_path, cli_runs) -> Path:
    """This test's own copy of the two CLI runs, as AE_RUNS_DIR."""
    folder = tmp_path / "runs"
    shutil.copytree(cli_runs, folder)
    monkeypatch.setenv("AE_RUNS_DIR", str(folder))
    monkeypatch.setenv("AE_MNIST_PATH", str(mnist_path))
    return folder


@pytest.fixture(autouse=True)
def _no_live_runs(monkeypatch):
    from pages import common

    common.registry().stop_all()
    yield
    common.registry().stop_all()


def _ids_by_name(folder: Path) -> dict[str, str]:
    return {r.name: r.run_id for r in runs.list_runs(folder)}


def _page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page("pages/runs.py")
    at.run()
    assert not at.exception, at.exception
    return at


def _table(at) -> pd.DataFrame:
    return next(d for d in at.dataframe if d.key == "runs_table").value


def _select(at, names) -> AppTest:
    """Tick the table rows of these run names (what a click on their row checkboxes does)."""
    table = _table(at)
    rows = [int(np.flatnonzero(table["name"] == n)[0]) for n in names]
    at.session_state["runs_table"] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    return at


def _chart(at) -> dict:
    """The overlay's spec with the runs' curves only (the baseline lines are checked on their own)."""
    from ae_core.viz import BASELINE_GROUP

    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    spec["data"] = [t for t in spec["data"] if t.get("legendgroup") != BASELINE_GROUP]
    return spec


def _array(value) -> np.ndarray:
    """A plotly JSON array: a plain list, or ``{"dtype", "bdata"}`` (base64 typed array)."""
    if isinstance(value, dict):
        import base64

        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value)


def _button(at, label):
    return next(b for b in at.button if b.label == label)


# --- the page --------------------------------------------------------------------------------------
def test_two_cli_runs_are_listed_and_overlay_on_one_chart(runs_dir):
    at = _page()
    table = _table(at)
    assert sorted(table["name"]) == sorted(NAMES)
    row = table.set_index("name")
    for lr, name in zip(LEARNING_RATES, NAMES):
        assert row.loc[name, "preset"] == "fast"
        assert row.loc[name, "settings"] == f"learning_rate={lr}"
        assert row.loc[name, "steps"] == 60 and not row.loc[name, "live"]
        assert 0 < row.loc[name, "test_mse"] < 0.1 and 0 < row.loc[name, "loss"] < 0.1
        assert row.loc[name, "elapsed"] > 0 and "done" in row.loc[name, "status"]
        assert pd.notna(row.loc[name, "saved"])
    assert not at.get("plotly_chart")  # nothing ticked, nothing drawn

    _select(at, NAMES)
    spec = _chart(at)
    assert sorted(t["name"] for t in spec["data"]) == sorted(NAMES)
    assert all(len(_array(t["x"])) == 60 for t in spec["data"])
    assert spec["layout"]["xaxis"]["title"]["text"] == "step" and spec["layout"]["yaxis"]["type"] == "log"
    assert spec["layout"]["template"]["layout"]["paper_bgcolor"]  # plotly_dark

    next(t for t in at.toggle if t.label == "Log scale").set_value(False).run()
    at.button_group[0].set_value("seconds").run()
    spec = _chart(at)
    assert spec["layout"]["yaxis"]["type"] == "linear"
    assert spec["layout"]["xaxis"]["title"]["text"] == "training seconds"
    assert all(_array(t["x"]).max() < 30 for t in spec["data"])  # seconds, not steps
    assert all(_array(t["x"]).dtype.kind == "f" for t in spec["data"])


def test_links_and_downloads_of_a_run(runs_dir):
    ids = _ids_by_name(runs_dir)
    at = _page({"run": ids["lr 0.01"]})  # a link to a run preselects it
    assert at.selectbox[0].value == ids["lr 0.01"]
    assert [t["name"] for t in _chart(at)["data"]] == ["lr 0.01"]
    links = {p.proto.label: p.proto for p in at.get("page_link")}
    # Train is the default page: its path is "" under app.py's navigation ("train" when AppTest runs
    # the page the v1 way); the browser test checks the real links.
    assert links["Open in Train"].page in ("train", "")
    assert links["Open in Train"].query_string == f"run={ids['lr 0.01']}"
    assert links["Open in Explore"].page == "explore"
    assert links["Open in Explore"].query_string == f"run={ids['lr 0.01']}"
    downloads = {b.label: b for b in at.get("download_button")}
    assert set(downloads) == {"Download model.keras", "Download history.csv", "Download config.json",
                              "Download the run (.zip)"}
    assert not any(b.disabled for b in downloads.values())
    assert set(runs.exports(runs.load(ids["lr 0.01"]))) == {"model.keras", "history.csv", "config.json"}
    # The chart's toolbar offers only the PNG download, without plotly's logo.
    config = json.loads(at.get("plotly_chart")[0].proto.config)
    assert config["modeBarButtons"] == [["toImage"]] and config["displaylogo"] is False
    assert config["toImageButtonOptions"]["format"] == "png"
    # Presentation mode: nothing but the chart.
    presenting = _page({"run": ids["lr 0.01"], "present": "1"})
    assert json.loads(presenting.get("plotly_chart")[0].proto.config) == {"displayModeBar": False}


def test_a_run_folder_downloads_as_one_zip(runs_dir):
    import zipfile

    run = runs.load(_ids_by_name(runs_dir)["lr 0.01"])
    (run.path / ".history.tmp123.csv").write_text("half a save")  # an interrupted save's leftover
    with zipfile.ZipFile(io.BytesIO(runs.archive(run))) as zf:
        names = set(zf.namelist())
        assert names == {f"{run.run_id}/{p.name}" for p in run.path.iterdir() if not p.name.startswith(".")}
        assert {f"{run.run_id}/{name}" for name in runs.FILES} <= names
        assert zf.read(f"{run.run_id}/history.csv") == (run.path / "history.csv").read_bytes()


def test_rename_and_delete_with_a_confirmation(runs_dir):
    ids = _ids_by_name(runs_dir)
    at = _page({"run": ids["lr 0.001"]})
    at.text_input[0].set_value("slow learner")
    next(b for b in at.button if b.label == "Rename").click().run()
    assert not at.exception
    assert runs.load(ids["lr 0.001"]).name == "slow learner"
    assert sorted(_table(at)["name"]) == sorted(["slow learner", "lr 0.01"])
    assert [t["name"] for t in _chart(at)["data"]] == ["slow learner"]  # the tick followed the run

    _button(at, "Delete…").click().run()
    assert any("for good" in w.value for w in at.warning)
    _button(at, "Cancel").click().run()
    assert (runs_dir / ids["lr 0.001"]).is_dir() and not at.warning

    at.selectbox[0].set_value(ids["lr 0.001"]).run()
    _button(at, "Delete…").click().run()
    _button(at, "Yes, delete").click().run()
    assert not at.exception
    assert not (runs_dir / ids["lr 0.001"]).exists() and (runs_dir / ids["lr 0.01"]).is_dir()
    assert list(_table(at)["name"]) == ["lr 0.01"]
    assert not at.get("plotly_chart")  # the deleted run's tick went with it


def test_an_empty_store_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("AE_RUNS_DIR", str(tmp_path / "nothing-here"))
    at = _page()
    assert any("No runs yet" in i.value for i in at.info)
    assert not at.dataframe and not at.error
    assert any(u.label.startswith("A .keras model") for u in at.get("file_uploader"))


def test_a_bad_run_id_in_the_url_is_refused_and_touches_nothing(runs_dir):
    outside = runs_dir.parent / "precious"
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    at = _page({"run": "../precious"})
    assert any("not a valid run id" in e.value for e in at.error)
    assert sorted(_table(at)["name"]) == sorted(NAMES)  # the page still works
    assert not at.get("plotly_chart")
    assert (outside / "config.json").read_text() == "{}"


def test_a_run_whose_last_save_was_interrupted_still_lists_and_loads(runs_dir):
    ids = _ids_by_name(runs_dir)
    folder = runs_dir / ids["lr 0.01"]
    # A crash between writes: a half-written temporary history and no model yet.
    (folder / ".history.tmp123.csv").write_text("step,loss,smooth")
    (folder / ".model.tmp123.keras").write_bytes(b"PK\x03\x04 half a zip")
    (folder / "model.keras").unlink()
    # A run whose very first save died before its config.json: skipped, not an error.
    first = runs_dir / "20260101-000000-abcdef"
    first.mkdir()
    (first / ".config.tmp9.json").write_text('{"config": ')

    run = runs.load(ids["lr 0.01"])
    assert len(run.history) == 60 and run.model_path is None
    assert set(runs.exports(run)) == {"history.csv", "config.json"}
    assert sorted(r.name for r in runs.list_runs()) == sorted(NAMES)

    at = _page({"run": ids["lr 0.01"]})
    assert sorted(_table(at)["name"]) == sorted(NAMES)
    assert [t["name"] for t in _chart(at)["data"]] == ["lr 0.01"]
    downloads = {b.label: b.disabled for b in at.get("download_button")}
    assert downloads == {"Download model.keras": True, "Download history.csv": False,
                         "Download config.json": False, "Download the run (.zip)": False}


def test_a_hand_edited_run_does_not_break_the_page(runs_dir):
    ids = _ids_by_name(runs_dir)
    doc = json.loads((runs_dir / ids["lr 0.01"] / "config.json").read_text())
    doc["run"].update(saved=None, steps="many", test_mse="n/a", elapsed=None, name=42)
    (runs_dir / ids["lr 0.01"] / "config.json").write_text(json.dumps(doc))
    history = runs_dir / ids["lr 0.001"] / "history.csv"
    lines = history.read_text().splitlines()
    lines[5] = "5,oops,,,,,"
    history.write_text("\n".join(lines[:-3]) + "\n7,0.1")  # garbled rows, a torn last line
    at = _page()
    table = _table(at).set_index("run_id")
    assert table.loc[ids["lr 0.01"], "name"] == "42" and table.loc[ids["lr 0.01"], "steps"] == 60
    assert pd.isna(table.loc[ids["lr 0.01"], "test_mse"]) and pd.isna(table.loc[ids["lr 0.01"], "saved"])
    _select(at, ["lr 0.001", "42"])
    assert sorted(t["name"] for t in _chart(at)["data"]) == ["42", "lr 0.001"]
    assert at.text_input[0].value == _table(at)["name"].iloc[-1]  # the lowest ticked row is managed
    for run_id, name in ((ids["lr 0.01"], "42"), (ids["lr 0.001"], "lr 0.001")):
        at.selectbox[0].set_value(run_id).run()
        assert at.text_input[0].value == name and not at.exception


def test_a_live_run_is_listed_marked_live_and_overlays_with_saved_runs(runs_dir, small_mnist):
    from pages import common

    trainer = common.registry().create(PRESETS["fast"].replace(hidden=(32,), latent=8), small_mnist)
    trainer.wait_ready()
    trainer.step(20)
    trainer.wait(lambda s: s.status == "paused" and s.step == 20)
    at = _page()
    table = _table(at)
    live = table[table["live"]]
    assert list(live["run_id"]) == [trainer.run_id] and live["steps"].iloc[0] == 20
    assert "paused" in live["status"].iloc[0] and pd.isna(live["saved"].iloc[0])
    assert not table[~table["live"]]["live"].any() and len(table) == 3
    _select(at, [trainer.run_id, "lr 0.01"])
    assert sorted(t["name"] for t in _chart(at)["data"]) == sorted([trainer.run_id, "lr 0.01"])
    # Not saved yet: nothing to download, and a rename says why it cannot.
    at.selectbox[0].set_value(trainer.run_id).run()
    assert all(b.disabled for b in at.get("download_button"))
    next(b for b in at.button if b.label == "Rename").click().run()
    assert any("no config.json" in e.value for e in at.error) and not at.exception


def test_uploading_a_keras_file_shows_its_layers_and_reconstructions(runs_dir, monkeypatch):
    from pages import common

    monkeypatch.setenv("AE_MNIST_PATH", str(_made["data"]))  # the small head of MNIST: a quick load
    model_bytes = next(runs_dir.glob("*/model.keras")).read_bytes()
    at = _page()
    assert common.default_data_job().done.wait(60)
    at.file_uploader[0].set_value(("my model.keras", model_bytes, "application/octet-stream")).run()
    assert not at.exception and not at.error
    layers = next(d for d in at.dataframe if d.key != "runs_table").value
    assert list(layers["layer"])[-1] == "decoder/reconstruction" and layers["parameters"].sum() == 435_536
    assert any("5 layers, 435,536 parameters" in c.value for c in at.caption)
    captions = [c for img in at.get("image") for c in img.captions]
    assert captions == ["Original", "Reconstruction"]
    assert float(next(m for m in at.metric if "16 test digits" in m.label).value) < 0.1
    pngs = {b.proto.help: b for b in at.get("download_button") if b.label == "PNG"}
    assert set(pngs) == {"Download my_model-original.png", "Download my_model-reconstruction.png"}

    at.file_uploader[0].set_value(("broken.keras", b"PK\x03\x04 not really", "application/octet-stream")).run()
    assert not at.exception
    assert len(at.error) == 1 and "broken.keras" in at.error[0].value and "\n" not in at.error[0].value
    assert not at.get("image")
    assert sorted(_table(at)["name"]) == sorted(NAMES)  # the rest of the page still works
    _select(at, NAMES)
    assert len(_chart(at)["data"]) == 2


def test_a_digit_grid_downloads_as_the_png_of_its_pixels():
    import io as io_lib

    from PIL import Image

    from pages.common import png_bytes

    grid = np.linspace(0, 1, 28 * 56, dtype=np.float32).reshape(28, 56)
    pixels = np.asarray(Image.open(io_lib.BytesIO(png_bytes(grid))))
    assert pixels.shape == (28, 56) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, np.round(grid * 255).astype(np.uint8))
    rgb = np.zeros((4, 4, 3), np.float32)
    rgb[..., 0] = 1.0  # an RGB difference map stays RGB
    assert np.asarray(Image.open(io_lib.BytesIO(png_bytes(rgb))))[0, 0].tolist() == [255, 0, 0]


def test_every_path_from_user_input_goes_through_check_run_id(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.mkdir()
    root = tmp_path / "runs"
    root.mkdir()
    for bad in ("../victim", "..", "a/b", "/etc", "x\\..\\y", "", ".hidden", "a" * 81, None, "run1\n", "a\x00b"):
        for call in (lambda: runs.load(bad, root), lambda: runs.rename(bad, "x", root),
                     lambda: runs.delete(bad, root), lambda: runs.run_path(bad, root)):
            with pytest.raises(RunError):
                call()
    assert victim.is_dir()
    fake = SavedRun("../victim", root / ".." / "victim", PRESETS["fast"], {}, pd.DataFrame(), [])
    with pytest.raises(RunError):
        runs.exports(fake)

    # The page calls check_run_id on the URL's id and on the chosen run before anything else.
    seen = []
    real = runs.check_run_id
    monkeypatch.setattr(runs, "check_run_id", lambda rid: seen.append(rid) or real(rid))
    monkeypatch.setenv("AE_RUNS_DIR", str(root))
    at = _page({"run": "../victim"})
    assert "../victim" in seen and any("not a valid run id" in e.value for e in at.error)

    # Uploaded file names never become paths outside the temporary folder.
    assert model_file.safe_filename("../../etc/passwd") == "passwd.keras"
    assert model_file.safe_filename("C:\\x\\..\\my model.KERAS") == "my_model.keras"
    assert model_file.safe_filename("...") == "model.keras"


# --- inspecting a .keras file ----------------------------------------------------------------------
def test_a_saved_model_is_summarised_and_reconstructs_digits(cli_runs, small_mnist):
    folder = next(p for p in cli_runs.iterdir() if p.is_dir())
    model = model_file.load_keras_bytes((folder / "model.keras").read_bytes(), "../../somewhere/upload.keras")
    summary = model_file.model_summary(model)
    assert list(summary["layer"]) == ["image", "encoder/encoder_1", "encoder/latent", "decoder/decoder_1",
                                      "decoder/reconstruction"]
    assert summary["parameters"].sum() == model.count_params() == 784 * 256 + 256 + 256 * 64 + 64 + \
        64 * 256 + 256 + 256 * 784 + 784
    assert summary.set_index("layer").loc["encoder/latent", "output shape"] == "(batch, 64)"
    assert model_file.is_autoencoder(model)
    digits = small_mnist.x_test[:16]
    recon = model_file.reconstruct(model, digits)
    assert recon.shape == (16, 784) and float(((recon - digits) ** 2).mean()) < 0.1


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04 truncated zip"])
def test_a_bad_keras_file_is_one_sentence(content):
    with pytest.raises(RunError) as e:
        model_file.load_keras_bytes(content, "mine.keras")
    message = str(e.value)
    assert "mine.keras" in message and "\n" not in message


def test_a_keras_file_with_code_in_it_is_refused_by_safe_mode(tmp_path):
    import keras

    x = keras.Input((784,))
    model = keras.Model(x, keras.layers.Lambda(lambda t: t * 2)(x))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(RunError) as e:
        model_file.load_keras_bytes((tmp_path / "lambda.keras").read_bytes(), "lambda.keras")
    assert "not a usable Keras model" in str(e.value) and "\n" not in str(e.value)
    small = keras.Sequential([keras.Input((10,)), keras.layers.Dense(3)])
    assert not model_file.is_autoencoder(small)
    assert list(model_file.model_summary(small)["parameters"]) == [33]

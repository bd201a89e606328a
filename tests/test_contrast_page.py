"""The Train page's contrast parts (AppTest): baselines on the Loss chart, the verdict sentence, the
PCA column."""
import json

import pytest

from tests.test_train_page import _app, _env, _trainer, _wait  # noqa: F401  (_env: the same autouse set-up)


def test_train_page_draws_baselines_says_how_the_run_compares_and_shows_pca():
    from ae_core import baselines as bl

    at = _app()
    trainer = _trainer(at)
    trainer.wait_ready()
    _wait(lambda: bl.baselines_soon(trainer.dataset, trainer.config.latent) is not None)
    trainer.step(40)
    _wait(lambda: trainer.snapshot().status == "paused")
    at.run()
    assert not at.exception
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = {t.get("name") for t in chart["data"]}
    assert {"mean digit", "PCA-64"} <= names  # the fast preset's code has 64 numbers
    flat = next(t for t in chart["data"] if t.get("name") == "mean digit")
    assert flat["y"][0] == flat["y"][1] == pytest.approx(0.06747, abs=5e-5)
    sentence = [m.value for m in at.markdown if "This run" in m.value]
    assert len(sentence) == 1 and ("mean digit" in sentence[0] or "PCA-64" in sentence[0])

    next(t for t in at.toggle if t.label == "PCA").set_value(True).run()
    captions = [c for img in at.get("image") for c in img.captions]
    assert {"Original", "Reconstruction", "PCA (PCA-64)"} <= set(captions)


def test_runs_overlay_draws_the_baselines(tmp_path, monkeypatch, small_mnist):
    """The overlay of a live run on the Runs page carries the mean digit and PCA-k of its code size."""
    from streamlit.testing.v1 import AppTest

    from ae_core import baselines as bl
    from ae_core.config import PRESETS
    from pages import common
    from tests.conftest import ROOT

    trainer = common.registry().create(PRESETS["fast"].replace(hidden=(32,), latent=8), small_mnist)
    trainer.wait_ready()
    trainer.step(20)
    trainer.wait(lambda s: s.status == "paused" and s.step == 20)
    assert common.default_data_job().done.wait(60)
    dataset = common.current_dataset()
    _wait(lambda: bl.baselines_soon(dataset, 8) is not None)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/runs.py").run()
    at.session_state["runs_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    lines = {t["name"]: t["y"][0] for t in spec["data"] if t.get("legendgroup") == "baselines"}
    assert set(lines) == {"mean digit", "PCA-8"}
    assert lines["PCA-8"] == pytest.approx(bl.baselines(dataset, 8).pca)


def test_train_page_film_strip_scrubs_back_while_the_run_goes_on():
    at = _app()
    trainer = _trainer(at)
    trainer.wait_ready()
    trainer.step(60)
    _wait(lambda: trainer.snapshot().status == "paused")
    at.run()
    slider = next(s for s in at.select_slider if s.label == "Film strip step")
    assert slider.value == 3  # the newest of steps 0, 10, 20, 50
    captions = [c for img in at.get("image") for c in img.captions]
    assert "Reconstruction at step 50" in captions
    slider.set_value(0).run()
    captions = [c for img in at.get("image") for c in img.captions]
    assert "Reconstruction at step 0" in captions
    trainer.step(50)  # the run goes on: a frame at step 100 appears, the slider stays where it was put
    _wait(lambda: trainer.snapshot().status == "paused" and trainer.snapshot().step == 110)
    at.run()
    slider = next(s for s in at.select_slider if s.label == "Film strip step")
    assert slider.value == 0 and len(trainer.film) == 5
    assert any(b.label == "Download GIF" for b in at.get("download_button"))


def test_train_page_starts_a_sweep_over_one_setting_raced_in_compare(monkeypatch):
    from ae_core import runs
    from pages import common

    monkeypatch.setenv("AE_MAX_RUNS", "4")
    common.registry.clear()
    at = _app()
    at.text_input(key="sweep_values").set_value("0.003, 0.0003")
    next(b for b in at.button if b.label == "Start sweep").click().run()
    assert not at.exception
    trainers = [t for t in common.registry().trainers() if t.run_id != at.session_state["run_id"]]
    assert sorted(t.config.learning_rate for t in trainers) == [0.0003, 0.003]
    assert len({t.config.replace(learning_rate=1.0) for t in trainers}) == 1  # one setting differs, same seed
    for t in trainers:
        t.wait(lambda s: s.step > 0, timeout=120)
        t.pause()
        t.wait(lambda s: s.status == "paused")
        # Saved from its training thread (every 10 s while training, and on a pause after new steps).
        _wait(lambda: (runs.run_path(t.run_id) / "config.json").is_file())
        saved = runs.load(t.run_id)
        assert saved.meta["sweep"].startswith("sweep-") and saved.name == f"learning_rate={t.config.learning_rate:g}"
    common.registry.clear()

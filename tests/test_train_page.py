"""The Train page, driven headless with Streamlit's AppTest."""
import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path, mnist_path):
    monkeypatch.setenv("AE_MNIST_PATH", str(mnist_path))
    monkeypatch.setenv("AE_RUNS_DIR", str(tmp_path / "runs"))
    yield
    from pages import common

    common.registry().stop_all()


def _app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    from pages import common

    assert common.default_data_job().done.wait(60), "default data never loaded"
    at.run()
    return at


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def _metric(at, label):
    return next(m for m in at.metric if m.label == label)


def _trainer(at):
    from pages import common

    return common.registry().get(at.session_state["run_id"])


def _wait(pred, timeout=60):
    deadline = time.time() + timeout
    while not pred():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_page_has_the_contract_labels_and_data_source():
    at = _app()
    assert not at.exception
    labels = {s.label for s in at.slider} | {s.label for s in at.select_slider}
    assert {"Learning rate", "Batch size", "Layer 1 width", "Latent size", "Hidden layers"} <= labels
    assert {"Start", "Pause", "Resume", "Step", "Reset"} <= {b.label for b in at.button}
    assert {"Step", "Loss"} <= {m.label for m in at.metric}
    assert any("mnist.npz" in c.value and "60,000" in c.value for c in at.caption)
    assert at.query_params["preset"] == "fast" and at.query_params["run"]


def test_start_trains_and_the_view_updates_with_a_live_learning_rate_change():
    at = _app()
    trainer = _trainer(at)
    trainer.wait_ready()
    at.run()
    _button(at, "Start").click().run()
    _wait(lambda: trainer.snapshot().step >= 50)
    at.run()
    step_text = _metric(at, "Step").value
    assert int(step_text.split("/")[0].replace(",", "")) >= 50
    assert _metric(at, "Loss").value != "—"
    captions = [c for img in at.get("image") for c in img.captions]
    assert "Original" in captions and "Reconstruction" in captions
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["title"]["text"] == "Loss"

    lr = next(s for s in at.select_slider if s.label == "Learning rate")
    lr.set_value(0.0005).run()
    _wait(lambda: trainer.snapshot().config.learning_rate == 0.0005)
    events = trainer.snapshot().history.events
    assert events and events[-1]["field"] == "learning_rate" and events[-1]["new"] == 0.0005
    assert at.query_params["learning_rate"] == "0.0005"

    _button(at, "Pause").click().run()
    _wait(lambda: trainer.snapshot().status == "paused")
    held = trainer.snapshot().step
    time.sleep(0.5)
    assert trainer.snapshot().step == held
    at.run()
    _button(at, "Resume").click().run()
    _wait(lambda: trainer.snapshot().step > held)


def test_a_network_change_is_pending_until_reset():
    at = _app()
    trainer = _trainer(at)
    trainer.wait_ready()
    trainer.step(20)
    _wait(lambda: trainer.snapshot().status == "paused")
    at.run()
    next(s for s in at.selectbox if s.label == "Activation").set_value("tanh").run()
    assert any("Reset to apply" in w.value for w in at.warning)
    assert trainer.config.activation == "relu"
    _button(at, "Reset").click().run()
    _wait(lambda: trainer.snapshot().status == "ready")
    assert trainer.config.activation == "tanh" and trainer.snapshot().step == 0
    assert not any("Reset to apply" in w.value for w in at.warning)


def test_reloading_with_the_run_in_the_url_reattaches():
    first = _app()
    run_id = first.session_state["run_id"]
    trainer = _trainer(first)
    trainer.wait_ready()
    trainer.step(15)
    _wait(lambda: trainer.snapshot().step == 15)
    second = _app({"run": run_id})
    assert second.session_state["run_id"] == run_id
    assert _trainer(second) is trainer
    assert _metric(second, "Step").value.startswith("15 /")


def test_a_shared_link_restores_the_configuration():
    at = _app({"preset": "seed", "learning_rate": "0.003", "hidden": "128-64"})
    trainer = _trainer(at)
    assert trainer.config.learning_rate == 0.003 and trainer.config.hidden == (128, 64)
    assert trainer.config.activation == "sigmoid"
    assert next(s for s in at.select_slider if s.label == "Learning rate").value == 0.003


def test_a_bad_run_id_in_the_url_is_refused_with_a_message():
    at = _app({"run": "../../etc"})
    assert not at.exception
    assert any("not a valid run id" in w.value for w in at.warning)
    assert ".." not in at.session_state["run_id"]


def test_a_saved_run_in_the_url_continues_with_its_history(tmp_path, mnist_path):
    from ae_core import data, runs
    from ae_core.config import preset
    from ae_core.trainer import Trainer

    saved = Trainer(preset("fast").replace(latent=16), data.load(mnist_path), run_id="saved-run-1")
    try:
        saved.wait_ready()
        saved.step(30)
        snap = saved.wait(lambda s: s.status == "paused" and s.step == 30)
        runs.save(snap, saved.model(), optimizer_state=saved.optimizer_state())
    finally:
        saved.stop()

    at = _app({"run": "saved-run-1"})
    trainer = _trainer(at)
    assert trainer.config.latent == 16
    ready = trainer.wait(lambda s: s.status == "paused", 120)
    assert ready.step == 30 and ready.history.loss[0] == pytest.approx(snap.history.loss[0])
    assert ready.test_loss == pytest.approx(snap.test_loss, rel=1e-4)  # the saved weights were loaded
    assert trainer.engine.optimizer_restored  # and Adam's moments: it continues where it stopped
    trainer.step(5)
    assert trainer.wait(lambda s: s.status == "paused" and s.step == 35, 60).step == 35


def test_presentation_mode_puts_presets_one_click_away():
    at = _app({"present": "1"})
    assert at.toggle(key="present").value is True
    trainer = _trainer(at)
    trainer.wait_ready()
    trainer.step(10)
    _wait(lambda: trainer.snapshot().step == 10)
    at.run()
    presets = at.button_group(key="preset")
    presets.set_value("seed").run()
    _wait(lambda: trainer.snapshot().status == "ready", 120)
    assert trainer.config == __import__("ae_core.config", fromlist=["PRESETS"]).PRESETS["seed"]
    assert trainer.snapshot().step == 0  # one click started the demo over, fixed seed included
    assert at.query_params["present"] == "1"
    labels = {s.label for s in at.main.select_slider}
    assert {"Learning rate", "Batch size"} <= labels


def test_a_bad_data_file_is_named_on_the_page_and_the_page_stays_usable(monkeypatch, tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"this is not a zip file")
    monkeypatch.setenv("AE_MNIST_PATH", str(bad))
    at = _app()
    assert not at.exception
    warning = next(w.value for w in at.warning if "broken.npz" in w.value)
    assert "\n" not in warning and "bundled" in warning
    assert any("bundled" in c.value for c in at.caption)  # the page trains on the bundled digits instead
    assert {"Start", "Reset"} <= {b.label for b in at.button}


def test_streamlit_settings_cap_uploads_and_keep_xsrf_protection():
    import tomllib

    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert settings["server"]["maxUploadSize"] <= 50
    assert settings["server"]["enableXsrfProtection"] is True
    assert settings["browser"]["gatherUsageStats"] is False


def test_visiting_another_page_keeps_the_settings_and_the_run():
    at = _app({"preset": "fast", "learning_rate": "0.003"})
    trainer = _trainer(at)
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert _trainer(at) is trainer
    assert trainer.config.learning_rate == 0.003 and trainer.config.batch_size == 256
    assert next(s for s in at.select_slider if s.label == "Learning rate").value == 0.003


def test_inside_the_network_shows_the_diagram_filters_and_layer_health():
    at = _app({"preset": "seed"})
    trainer = _trainer(at)
    dot = at.get("graphviz_chart")[0].proto.spec
    assert "468,368 parameters" in dot and "dashed" not in dot
    trainer.wait_ready()
    trainer.step(20)
    _wait(lambda: trainer.snapshot().status == "paused")
    at.run()
    assert "First-layer filters" in [c for img in at.get("image") for c in img.captions]
    health = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                  if json.loads(c.proto.spec)["layout"]["title"]["text"] == "Layer health")
    assert health["data"][1]["y"] == ["encoder layer 1", "the latent code", "decoder layer 1", "the reconstruction layer"]
    assert any("units are saturated" in m.value for m in at.markdown)  # the plain reading, seed preset

    # Moving a width slider redraws the diagram at once, dashed as pending (the run has trained).
    next(s for s in at.slider if s.label == "Layer 1 width").set_value(512).run()
    dot = at.get("graphviz_chart")[0].proto.spec
    assert "pending: Reset to apply" in dot and "encoder_1\\n512" in dot

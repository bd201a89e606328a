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
    steps_box = at.number_input(key="step_size")   # the box beside Step says what it is
    assert steps_box.label == "Steps per Step" and steps_box.proto.label_visibility.value == 0  # VISIBLE


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


def test_a_network_change_is_pending_until_reset_which_starts_a_new_run_and_keeps_the_old():
    from ae_core import runs

    at = _app()
    trainer = _trainer(at)
    old_id = trainer.run_id
    trainer.wait_ready()
    trainer.step(20)
    _wait(lambda: trainer.snapshot().status == "paused")
    at.run()
    next(s for s in at.selectbox if s.label == "Activation").set_value("tanh").run()
    assert any("Pending: activation relu → tanh" in w.value for w in at.warning)
    assert trainer.config.activation == "relu"
    header = " ".join(c.value for c in at.caption)
    assert "relu" in header and "tanh" not in header   # the header shows the run's network, not the draft
    _button(at, "Reset").click().run()
    assert not at.exception
    fresh = _trainer(at)
    assert fresh is not trainer and fresh.run_id != old_id
    assert at.query_params["run"] == fresh.run_id
    fresh.wait_ready()
    assert fresh.config.activation == "tanh" and fresh.snapshot().step == 0
    assert not any("Pending" in w.value for w in at.warning)
    kept = runs.load(old_id)   # the run it replaced is saved with its 20 steps, not overwritten
    assert len(kept.history) == 20 and kept.config.activation == "relu"
    assert {old_id, fresh.run_id} <= {r.run_id for r in runs.with_live(runs.list_runs(), [fresh.snapshot()])}


def test_reset_before_any_step_replaces_the_untouched_run():
    at = _app()
    trainer = _trainer(at)
    trainer.wait_ready()
    at.run()
    _button(at, "Reset").click().run()
    assert _trainer(at) is trainer and at.query_params["run"] == trainer.run_id


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
    from ae_core import runs
    from ae_core.config import PRESETS

    at = _app({"present": "1"})
    assert at.toggle(key="present_toggle").value is True
    trainer = _trainer(at)
    trainer.wait_ready()
    trainer.step(10)
    _wait(lambda: trainer.snapshot().step == 10)
    at.run()
    at.button_group(key="preset_buttons").set_value("seed").run()
    assert not at.exception
    demo = _trainer(at)
    demo.wait_ready()
    assert demo.config == PRESETS["seed"] and demo.snapshot().step == 0  # the demo started over, fixed seed
    assert demo.run_id != trainer.run_id and len(runs.load(trainer.run_id).history) == 10
    assert at.query_params["present"] == "1" and at.query_params["preset"] == "seed"
    labels = {s.label for s in at.main.select_slider}
    assert {"Learning rate", "Batch size"} <= labels


def test_presentation_mode_toggled_on_and_off_keeps_the_preset():
    """Item 1 of the newcomer report: the toggle crashed (KeyError: None) and, switched off, showed
    the seed preset while the run was another."""
    from ae_core.config import PRESET_BLURBS

    at = _app({"preset": "latent2"})
    at.toggle(key="present_toggle").set_value(True).run()
    assert not at.exception
    assert at.button_group(key="preset_buttons").value == "latent2"
    assert any(c.value == PRESET_BLURBS["latent2"] for c in at.caption)
    at.toggle(key="present_toggle").set_value(False).run()
    assert not at.exception
    assert at.selectbox(key="preset_menu").value == "latent2"
    assert any(c.value == PRESET_BLURBS["latent2"] for c in at.caption)
    assert at.query_params["preset"] == "latent2" and "present" not in at.query_params
    assert _trainer(at).config.latent == 2


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
    # One name a layer: the chart, the layer picker and the captions say the same.
    names = ["encoder layer 1", "latent code", "decoder layer 1", "reconstruction layer"]
    assert health["data"][1]["y"] == names
    assert next(s for s in at.selectbox if s.label == "Distribution of").options == names
    assert any("encoder layer 1 unit" in c.value for c in at.caption)
    assert any("latent code outputs sit near 0 or 1" in m.value for m in at.markdown)  # seed preset's reading

    # Moving a width slider redraws the diagram at once, dashed as pending (the run has trained).
    next(s for s in at.slider if s.label == "Layer 1 width").set_value(512).run()
    dot = at.get("graphviz_chart")[0].proto.spec
    assert "pending: Reset to apply" in dot and "encoder layer 1\\n512" in dot


def _upload(n_train=300, n_test=60):
    import numpy as np

    from ae_core.data import Dataset

    rng = np.random.default_rng(3)
    x = (rng.integers(0, 256, (n_train + n_test, 784)) / 255).astype(np.float32)
    y = rng.integers(0, 10, n_train + n_test).astype(np.int64)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:], format="npz",
                   source="MNIST from the uploaded file my_digits.npz (NPZ, Keras layout)", path=None)


def test_uploaded_data_belongs_to_the_run_in_every_tab_and_after_a_restart():
    """Item 3 of the newcomer report: a reload or a second tab showed the bundled digits and a
    pending data change; Reset there switched the run's data; a saved run reopened on other data."""
    from ae_core import runs
    from pages import common

    at = _app()
    common.uploads()["my-upload"] = _upload()
    at.session_state["data_choice"] = "my-upload"
    at.run()
    trainer = _trainer(at)
    assert trainer.dataset.n_train == 300           # an untouched run takes the upload at once
    trainer.wait_ready()
    trainer.step(5)
    _wait(lambda: trainer.snapshot().status == "paused")

    other = _app({"run": trainer.run_id})           # a second tab (or a reload)
    assert _trainer(other) is trainer
    assert any("my_digits.npz" in c.value and "300 training" in c.value for c in other.caption)
    assert not any("Pending" in w.value for w in other.warning)
    _button(other, "Reset").click().run()           # Reset there keeps the run's data
    assert _trainer(other).dataset is trainer.dataset and _trainer(other).run_id != trainer.run_id

    common.registry().release(trainer.run_id)      # the server forgets the live run...
    reopened = _app({"run": trainer.run_id})        # ...and a link to it brings it back on its own data
    again = _trainer(reopened)
    again.wait(lambda s: s.status == "paused", 120)
    assert again.dataset.n_train == 300 and again.snapshot().step == 5
    assert not any("continues on" in w.value for w in reopened.warning)
    assert runs.load(trainer.run_id).meta["data"]["n_train"] == 300


def test_an_unexpected_error_on_a_page_is_one_sentence_not_a_traceback(monkeypatch):
    from ae_core import viz

    def broken(*args, **kwargs):
        raise RuntimeError("chart broke")

    monkeypatch.setattr(viz, "loss_figure", broken)
    at = _app()
    assert not at.exception
    sentence = next(e.value for e in at.error if "Something went wrong here" in e.value)
    assert "RuntimeError" in sentence and "chart broke" not in sentence and "\n" not in sentence
    assert {"Start", "Reset"} <= {b.label for b in at.button}   # the rest of the page still works


def test_layer_health_is_redrawn_at_once_for_another_layer_and_held_while_only_steps_arrive():
    """The three-plot health figure is the page's costliest redraw: another layer (or a changed
    verdict) redraws it at once; new steps alone keep it, with the step its caption names."""
    from ae_core.health import loss_falling, verdict

    at = _app({"preset": "seed"})
    trainer = _trainer(at)
    trainer.wait_ready()
    trainer.step(20)
    _wait(lambda: trainer.snapshot().status == "paused")
    at.run()

    def shown():
        spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                    if json.loads(c.proto.spec)["layout"]["title"]["text"] == "Layer health")
        step = next(int(c.value.split(" at step ")[1].rstrip(".").replace(",", ""))
                    for c in at.caption if c.value.startswith("Measured on a fixed batch"))
        return spec["layout"]["annotations"][0]["text"], step

    def verdicts():
        snap = trainer.snapshot()
        return tuple(verdict(h, loss_falling(snap.history.loss)) for h in snap.health)

    assert shown() == ("encoder layer 1 outputs", trainer.snapshot().recon_step)
    next(s for s in at.selectbox if s.label == "Distribution of").set_value("decoder_1").run()
    assert shown()[0] == "decoder layer 1 outputs"   # at once

    before, step_before = verdicts(), shown()[1]
    trainer.step(20)
    _wait(lambda: trainer.snapshot().status == "paused" and trainer.snapshot().recon_step > step_before)
    at.run()
    assert not at.exception
    # Within HEALTH_REFRESH_S: held, unless a layer's verdict changed (then redrawn at once).
    expected = step_before if verdicts() == before else trainer.snapshot().recon_step
    assert shown() == ("decoder layer 1 outputs", expected)


def test_each_setting_drawn_afresh_would_show_its_value_not_its_minimum():
    # A browser that draws a widget without its state shows the widget's default: for the Step budget
    # that was its minimum, 1, and a live budget of 1 ends the run. Each default is the value shown.
    at = _app({"preset": "fast", "steps": "200000", "learning_rate": "0.003", "noise": "0.2"})
    budget = next(n for n in at.number_input if n.label == "Step budget")
    assert budget.value == 200_000 and budget.proto.default == 200_000
    noise = next(s for s in at.slider if s.label == "Input noise")
    assert noise.value == 0.2 and list(noise.proto.default) == [0.2]
    lr = next(s for s in at.select_slider if s.label == "Learning rate")
    assert lr.value == 0.003 and lr.options[int(lr.proto.default[0])] == "0.003"
    for box in at.selectbox:
        if box.key and box.key.startswith("cfg_"):
            assert box.proto.default == box.index, box.label
    layers = next(s for s in at.slider if s.label == "Hidden layers")
    assert list(layers.proto.default) == [layers.value]
    # A value typed later is the default of the next drawing too.
    budget.set_value(123_456).run()
    budget = next(n for n in at.number_input if n.label == "Step budget")
    assert budget.proto.default == 123_456 and not at.exception

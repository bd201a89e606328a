"""A scene on the Train page (?scene=NAME), driven headless with Streamlit's AppTest: the
presenter's Next plays it, and a second session watching the run sees each caption."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

SCENE = '''
title = "A short talk"
[[step]]
preset = "fast"
until_step = 20
caption = "First the default network."
[[step]]
settings = { learning_rate = 0.003 }
until_step = 40
caption = "Now three times the learning rate."
[[step]]
preset = "seed"
until_step = 10
caption = "And the notebook's own."
'''


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path, mnist_path):
    from ae_core import scenes

    monkeypatch.setenv("AE_MNIST_PATH", str(mnist_path))
    monkeypatch.setenv("AE_RUNS_DIR", str(tmp_path / "runs"))
    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "talk.toml").write_text(SCENE, encoding="utf-8")
    (tmp_path / "scenes" / "broken.toml").write_text(SCENE.replace("until_step = 40", "until_step = -4"))
    monkeypatch.setattr(scenes, "SCENES_DIR", tmp_path / "scenes")
    monkeypatch.setattr(scenes.ScenePlay, "REPEAT_S", 0.0)   # these tests press Next as fast as they can
    yield
    from pages import common

    common.registry().stop_all()


def _app(query: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    from pages import common

    assert common.default_data_job().done.wait(60), "default data never loaded"
    at.run()
    return at


def _trainer(at):
    from pages import common

    return common.registry().get(at.session_state["run_id"])


def _texts(at) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def _next(at):
    next(b for b in at.button if b.label == "Next").click().run()
    assert not at.exception


def _settled(trainer, step):
    return trainer.wait(lambda s: s.step == step and s.status in ("paused", "done"), 120)


def test_a_scene_plays_step_by_step_and_a_watcher_sees_its_captions(monkeypatch):
    from pages import scene_view

    at = _app({"scene": "talk"})
    assert not at.exception and at.toggle(key="present_toggle").value is True   # a scene is presented
    assert "A short talk" in _texts(at) and "Next (→) starts step 1" in _texts(at)
    first_run = _trainer(at).run_id

    _next(at)                                  # step 1: the untouched run takes the preset and trains
    trainer = _trainer(at)
    assert trainer.run_id == first_run
    _settled(trainer, 20)
    at.run()
    assert "First the default network." in _texts(at) and "step 1 of 3 · done (until step 20)" in _texts(at)

    # A second session on the same run, without the right to steer: the caption, no keys.
    with monkeypatch.context() as patch:
        patch.setattr(scene_view, "may_steer", lambda: False)
        watcher = _app({"run": first_run})
    assert not watcher.exception and "First the default network." in _texts(watcher)
    assert not any(b.label in ("Next", "Pause / Resume") for b in watcher.button)

    _next(at)                                  # step 2: a live change on the same run, marked on its curve
    assert _trainer(at).run_id == first_run and trainer.config.learning_rate == 0.003
    snap = _settled(trainer, 40)
    assert snap.history.events[-1]["field"] == "learning_rate" and snap.history.events[-1]["new"] == 0.003
    watcher.run()
    assert "Now three times the learning rate." in _texts(watcher)

    _next(at)                                  # step 3: a preset starts a new run; the old one is kept
    demo = _trainer(at)
    assert demo.run_id != first_run and at.query_params["run"] in (demo.run_id, [demo.run_id])
    assert demo.config.activation == "sigmoid" and demo.config.learning_rate == 0.01
    _settled(demo, 10)
    at.run()
    assert "And the notebook's own." in _texts(at)
    assert next(b for b in at.button if b.label == "Next").disabled          # the end of the scene
    watcher.run()                              # the watcher follows the scene to its new run
    watcher.run()
    assert watcher.session_state["run_id"] == demo.run_id and "And the notebook's own." in _texts(watcher)

    next(b for b in at.button if b.label == "Reset").click().run()   # the presenter starts over: the scene stays
    assert not at.exception and _trainer(at).run_id != demo.run_id
    assert "And the notebook's own." in _texts(at)


def test_the_space_bar_button_pauses_and_resumes():
    at = _app({"scene": "talk"})
    trainer = _trainer(at)
    trainer.wait_ready()
    pause = next(b for b in at.button if b.label == "Pause / Resume")
    assert pause.proto.shortcut.lower() == "space"        # the space bar presses it (Streamlit's own shortcut)
    assert next(b for b in at.button if b.label == "Next").proto.shortcut.lower() == "right"
    pause.click().run()
    trainer.wait(lambda s: s.status == "running", 60)
    next(b for b in at.button if b.label == "Pause / Resume").click().run()
    trainer.wait(lambda s: s.status == "paused", 60)


@pytest.mark.parametrize("name, says", [("broken", "Scene file broken.toml, step 2: until_step must be"),
                                        ("gone", "There is no scene 'gone'"),
                                        ("../../etc/passwd", "is not one")])
def test_a_bad_scene_is_one_sentence_and_the_page_works_on(name, says):
    at = _app({"scene": name})
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and says in errors[0], errors
    assert {"Start", "Pause", "Reset"} <= {b.label for b in at.button}
    assert not any(b.label == "Next" for b in at.button)

"""A presenter key (AE_PRESENTER_KEY): the key's own session steers, every other one watches.

AppTest sessions of one server: a presenter (``?key=…``) starts a run and pauses it; watchers of
the same server see it with no control, and what they craft (widget values, session keys, query
parameters) changes nothing in the run. The read-only handles are checked headless.
"""
from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from pages import access
from tests.conftest import ROOT

KEY = "s3cret-presenter-key"
AUDIENCE = "http://10.0.0.5:8501/"
CONTROLS = {"Start", "Pause", "Resume", "Step", "Reset", "Fork", "Start sweep", "Rename", "Delete…",
            "Yes, delete", "New race"}
VIEW_OPTIONS = {"Grid", "Film strip step", "Filters shown"}   # a watcher keeps these: they change only their own view


@pytest.fixture(scope="module")
def stage(tmp_path_factory, mnist_path):
    """A server with a presenter key, and the presenter's run: started, trained a little, paused."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AE_MNIST_PATH", str(mnist_path))
        mp.setenv("AE_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
        mp.setenv(access.KEY_ENV, KEY)
        mp.setenv("AE_AUDIENCE_URL", AUDIENCE)
        from pages import common

        common.registry.clear()
        access._stage.clear()
        presenter = _app({"key": KEY})
        trainer = common.shared_registry().get(presenter.session_state["run_id"])
        trainer.wait_ready()
        presenter.run()
        _button(presenter, "Start").click().run()
        trainer.wait(lambda s: s.step >= 20, timeout=120)
        presenter.run()
        _button(presenter, "Pause").click().run()
        trainer.wait(lambda s: s.status != "running", timeout=30)
        yield presenter, trainer
        common.shared_registry().stop_all()
        common.registry.clear()


def _app(query: dict | None = None, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    # AppTest runs app.py itself only the first time (then the page's file alone): keep what it drew.
    at.first_run_markdown = [m.value for m in at.markdown]
    at.first_run_errors = [e.value for e in at.error]
    from pages import common

    assert common.default_data_job().done.wait(60), "default data never loaded"
    if page:
        at.switch_page(page)
    at.run()
    return at


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def _labels(at) -> set[str]:
    widgets = [*at.button, *at.get("form_submit_button"), *at.slider, *at.select_slider, *at.number_input,
               *at.text_input, *at.selectbox, *at.multiselect, *at.get("segmented_control")]
    return {w.label for w in widgets}


def test_the_key_is_taken_from_the_url_and_its_session_steers(stage):
    presenter, trainer = stage
    assert "key" not in presenter.query_params            # out of the address bar at once
    assert presenter.session_state[access.PRESENTER] is True
    assert {"Start", "Pause", "Resume", "Step", "Reset", "Fork"} <= {b.label for b in presenter.button}
    assert trainer.snapshot().step >= 20 and trainer.snapshot().status == "paused"


def test_a_watcher_follows_the_presenters_run_with_no_control(stage):
    _, trainer = stage
    watcher = _app()
    assert not watcher.exception
    assert watcher.session_state["run_id"] == trainer.run_id      # the bare audience link follows the presenter
    assert not CONTROLS & _labels(watcher), _labels(watcher)
    assert not ({s.label for s in watcher.slider} | {s.label for s in watcher.select_slider}) - VIEW_OPTIONS
    assert not watcher.get("file_uploader")
    assert any(access.WATCHING in text for text in watcher.first_run_markdown)
    assert {"Step", "Loss"} <= {m.label for m in watcher.metric}   # the live view is all there
    steps = int(next(m for m in watcher.metric if m.label == "Step").value.split("/")[0].replace(",", ""))
    assert steps == trainer.snapshot().step


def test_what_a_watcher_crafts_changes_nothing(stage):
    _, trainer = stage
    before = trainer.snapshot()
    # A link with settings of its own: ?preset= must not reset the presenter's run, ?run= adds nothing.
    watcher = _app({"preset": "seed", "learning_rate": "0.5", "run": trainer.run_id})
    assert not watcher.exception
    # Crafted widget values and session keys, as a hand-made websocket message could set them.
    watcher.session_state["cfg_learning_rate"] = 0.3
    watcher.session_state["cfg_batch_size"] = 32
    watcher.session_state["start_over"] = True
    watcher.run()
    time.sleep(0.3)
    after = trainer.snapshot()
    assert trainer.config == before.config and after.step == before.step and after.status == "paused"
    assert access.presenter_run() == trainer.run_id
    from pages import common

    assert common.shared_registry().run_ids() == [trainer.run_id]   # no run was made for the watcher


def test_a_watchers_handles_refuse_every_command(stage):
    _, trainer = stage
    from pages import common

    watcher = _app()
    assert not watcher.exception
    # Outside a presenter's session the registry hands out read-only runs.
    run = common.registry().get(trainer.run_id)
    assert isinstance(run, access.ReadOnlyRun) and run.snapshot().step == trainer.snapshot().step
    for command, args in (("start", ()), ("resume", ()), ("pause", ()), ("step", (5,)), ("reset", ()),
                          ("stop", ()), ("update", ())):
        with pytest.raises(access.WatchOnly):
            getattr(run, command)(*args)
    for command in ("create", "release", "stop_all"):
        with pytest.raises(access.WatchOnly):
            getattr(common.registry(), command)
    with pytest.raises(access.WatchOnly):
        common.load_upload(None)
    assert trainer.snapshot().status == "paused"


def test_a_wrong_key_says_so_and_watches(stage):
    _, trainer = stage
    at = _app({"key": "not-the-key"})
    assert "key" not in at.query_params
    assert at.first_run_errors == [access.WRONG_KEY]
    assert not CONTROLS & _labels(at)
    assert at.session_state["run_id"] == trainer.run_id


def test_the_runs_page_is_read_only_for_a_watcher(stage):
    _, trainer = stage
    watcher = _app(page="pages/runs.py")
    assert not watcher.exception
    assert any(trainer.run_id in str(o) for o in watcher.selectbox[0].options)   # the runs are listed
    assert not {"Rename", "Delete…"} & _labels(watcher) and not watcher.get("file_uploader")
    presenter = _app({"key": KEY, "run": trainer.run_id}, page="pages/runs.py")
    assert {"Rename", "Delete…"} <= _labels(presenter) and presenter.get("file_uploader")


def test_the_compare_page_has_no_knobs_for_a_watcher(stage):
    _, trainer = stage
    watcher = _app(page="pages/compare.py")
    assert not watcher.exception and watcher.title[0].value == "Compare"
    assert not {"Pause", "Resume", "New race", "Learning rate", "Batch size"} & _labels(watcher)
    assert "New race" in _labels(_app({"key": KEY, "run": trainer.run_id}, page="pages/compare.py"))


def test_presentation_mode_shows_the_audience_link_and_its_qr_code(stage):
    import base64
    import io

    import segno
    from PIL import Image

    watcher = _app({"present": "1"})
    assert not watcher.exception
    assert any(AUDIENCE in m.value for m in watcher.markdown)
    qr = next(img for img in watcher.get("image") if "Audience link" in img.captions)
    shown = Image.open(io.BytesIO(base64.b64decode(qr.proto.imgs[0].url.split(",", 1)[1])))
    expected = io.BytesIO()
    segno.make(AUDIENCE, error="m").save(expected, kind="png", scale=4, border=2, dark="#000", light="#fff")
    assert list(shown.convert("L").getdata()) == list(Image.open(expected).convert("L").getdata())
    assert not (CONTROLS | {"Preset"}) & _labels(watcher)   # presentation mode: no preset buttons either


def test_a_watcher_waits_for_the_presenter_and_never_starts_a_run(stage):
    _, trainer = stage
    from pages import common

    stage_now = access._stage()
    stage_now.pop("run_id")                       # as before the presenter's first run
    try:
        watcher = _app()
        assert any("has not started a run yet" in i.value for i in watcher.info)
        assert not CONTROLS & _labels(watcher)
        assert common.shared_registry().run_ids() == [trainer.run_id]
    finally:
        stage_now.setdefault("run_id", trainer.run_id)
    watcher.run()                                 # (the page polls; here one rerun stands for it)
    # AppTest gives a query parameter as a string, or (Streamlit 1.59, the floor) as a list of one.
    assert watcher.session_state["run_id"] == trainer.run_id
    assert watcher.query_params["run"] in (trainer.run_id, [trainer.run_id])
    # A link to a run that is not live: one sentence; a watcher does not bring it back into memory.
    gone = _app({"run": "20200101-000000-abcdef"})
    assert any("is not live on this server" in i.value for i in gone.info)
    assert common.shared_registry().run_ids() == [trainer.run_id]


def test_a_watcher_explores_the_presenters_run(stage):
    _, trainer = stage
    watcher = _app({"run": trainer.run_id}, page="pages/explore.py")
    assert not watcher.exception and not watcher.error
    assert watcher.title[0].value == "What the autoencoder has learnt"
    assert {"Interpolation", "Draw a digit"} <= {s.value for s in watcher.subheader}   # the views are all there
    assert trainer.snapshot().status == "paused"

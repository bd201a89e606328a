"""The Compare page (AppTest): runs from ?runs=, a bad id in one sentence, Pause and live knobs,
a fork's curve from its branch; the race's pure parts (ids, configs, chart)."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ae_core import race
from ae_core.config import PRESETS, ConfigError
from tests.conftest import ROOT

SMALL = PRESETS["fast"].replace(hidden=(32,), latent=8, steps=100_000)


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path, mnist_path):
    monkeypatch.setenv("AE_MNIST_PATH", str(mnist_path))
    monkeypatch.setenv("AE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("AE_MAX_RUNS", "4")
    from pages import common

    common.registry.clear()
    yield
    common.registry().stop_all()
    common.registry.clear()


def _compare(runs_param: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["runs"] = runs_param
    at.switch_page("pages/compare.py")
    at.run()
    return at


def _chart(at) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def _wait(pred, timeout=60):
    deadline = time.time() + timeout
    while not pred():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_two_live_runs_race_and_pause_works(small_mnist):
    from pages import common

    registry = common.registry()
    a = registry.create(SMALL, small_mnist, run_id="race-a")
    b = registry.create(SMALL.replace(learning_rate=0.0001), small_mnist, run_id="race-b")
    for t in (a, b):
        t.wait_ready()
        t.start()
    _wait(lambda: a.snapshot().step > 30 and b.snapshot().step > 30)

    at = _compare("race-a,race-b")
    assert not at.exception and not at.error
    assert at.multiselect[0].value == ["race-a", "race-b"]
    spec = _chart(at)
    assert spec["layout"]["title"]["text"] == "Loss"
    curves = [t for t in spec["data"] if t.get("legendgroup") not in (None, "baselines") and t.get("showlegend") is not False]
    assert [t["name"] for t in curves] == ["race-a", "race-b"]
    assert curves[0]["line"]["color"] != curves[1]["line"]["color"]
    captions = [c for img in at.get("image") for c in img.captions]
    assert captions.count("Original") == 1 and len(captions) == 3  # the originals and one grid a run

    lr = [s for s in at.select_slider if s.label == "Learning rate"]
    assert [s.value for s in lr] == [SMALL.learning_rate, 0.0001]
    lr[1].set_value(0.001).run()
    _wait(lambda: b.config.learning_rate == 0.001)

    pauses = [x for x in at.button if x.label == "Pause"]
    assert len(pauses) == 2
    pauses[0].click().run()
    _wait(lambda: a.snapshot().status == "paused")
    held = a.snapshot().step
    time.sleep(0.3)
    assert a.snapshot().step == held and b.snapshot().status == "running"
    at.run()
    assert [x.label for x in at.button if x.key and x.key.startswith("cmp_race-a")] == ["Resume"]
    next(x for x in at.button if x.key == "cmp_race-a_resume").click().run()
    _wait(lambda: a.snapshot().step > held)


def test_a_bad_or_unknown_id_gets_one_sentence():
    at = _compare("../../etc,nosuchrun")
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 2
    assert "not a valid run id" in errors[0] and "\n" not in errors[0]
    assert "nosuchrun is neither live on this server nor saved" in errors[1]
    assert any("Pick 2 to 4 runs" in i.value for i in at.info)


def test_a_fork_races_from_where_it_branched(small_mnist):
    from ae_core.fork import fork
    from pages import common

    registry = common.registry()
    parent = registry.create(SMALL, small_mnist, run_id="parent")
    parent.wait_ready()
    parent.step(50)
    parent.wait(lambda s: s.status == "paused" and s.step == 50)
    child = fork(parent, SMALL.replace(learning_rate=0.003), registry.create)
    child.wait(lambda s: s.step > 60)
    at = _compare(f"parent,{child.run_id}")
    curves = {t["name"]: t for t in _chart(at)["data"] if t.get("legendgroup") not in (None, "baselines")
              and t.get("showlegend") is not False}
    xs = curves[child.run_id]["x"]
    first = xs[0] if isinstance(xs, list) else None
    if first is None:  # a typed array in plotly's JSON
        import base64

        first = np.frombuffer(base64.b64decode(xs["bdata"]), dtype=xs["dtype"])[0]
    assert first == 50
    notes = [a["text"] for a in _chart(at)["layout"]["annotations"]]
    assert "fork of parent" in notes


def test_parse_run_ids():
    assert race.parse_run_ids("a, b,a,,c") == (["a", "b", "c"], [])
    ids, errors = race.parse_run_ids("a,../x,b,c,d,e")
    assert ids == ["a", "b", "c", "d"] and len(errors) == 2
    assert race.parse_run_ids(None) == ([], [])


def test_race_configs_differ_in_one_setting_and_share_the_seed():
    configs = race.race_configs(PRESETS["fast"], "learning_rate", race.parse_values("learning_rate", "0.01, 0.001"))
    assert [c.learning_rate for c in configs] == [0.01, 0.001]
    assert configs[0].replace(learning_rate=0.001) == configs[1] and configs[0].seed == configs[1].seed
    assert [c.hidden for c in race.race_configs(PRESETS["fast"], "hidden", race.parse_values("hidden", "256-64, 128"))] \
        == [(256, 64), (128,)]
    for field, text in (("learning_rate", "0.01"), ("learning_rate", "0.01, 0.01"), ("learning_rate", "fast, 1")):
        with pytest.raises(ConfigError):
            race.race_configs(PRESETS["fast"], field, race.parse_values(field, text))


def test_new_race_starts_two_runs_together_with_the_same_seed():
    from pages import common

    at = _compare("")
    assert common.default_data_job().done.wait(60)
    at.run()
    next(b for b in at.button if b.label == "New race").click().run()
    assert not at.exception and not at.error
    trainers = common.registry().trainers()
    assert sorted(t.config.learning_rate for t in trainers) == [0.001, 0.01]
    assert len({t.config.replace(learning_rate=1.0) for t in trainers}) == 1  # only the learning rate differs
    assert at.query_params["runs"] == ",".join(t.run_id for t in trainers)
    for t in trainers:
        t.wait(lambda s: s.step > 0, timeout=120)  # started without a click


def test_two_saved_runs_race_from_the_store(tmp_path, monkeypatch, mnist_path):
    import shutil

    from ae_core import runs
    from tests.test_runs_page import NAMES, make_cli_runs

    folder = tmp_path / "saved"
    shutil.copytree(make_cli_runs(tmp_path, mnist_path), folder)
    monkeypatch.setenv("AE_RUNS_DIR", str(folder))
    ids = [r.run_id for r in runs.list_runs(folder)]
    at = _compare(",".join(ids))
    assert not at.exception and not at.error
    names = [t["name"] for t in _chart(at)["data"] if t.get("legendgroup") not in (None, "baselines")
             and t.get("showlegend") is not False]
    assert sorted(names) == sorted(NAMES)
    from pages import common

    assert common.default_data_job().done.wait(60)
    at.run()
    captions = [c for img in at.get("image") for c in img.captions]
    assert captions.count("Original") == 1 and captions.count("step 60") == 2  # each saved model's digits
    assert not [s for s in at.select_slider if s.label == "Learning rate"]  # saved runs have no live knobs

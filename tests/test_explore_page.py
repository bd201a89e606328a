"""The Explore page, driven headless with Streamlit's AppTest, on real (short) trainings."""
import base64
import dataclasses
import json
import time
import uuid

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ae_core import latent
from ae_core.config import PRESETS
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def env(tmp_path_factory, mnist_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AE_MNIST_PATH", str(mnist_path))
        mp.setenv("AE_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
        yield
    from pages import common

    common.registry().stop_all()


def _train(config, dataset, steps: int):
    """A real run in the page's registry, trained ``steps`` steps and paused."""
    from pages import common

    trainer = common.registry().create(config, dataset, run_id=f"test-{uuid.uuid4().hex[:8]}")
    trainer.wait_ready()
    trainer.step(steps)
    trainer.wait(lambda s: s.status == "paused" and s.step == steps, timeout=120)
    return trainer


@pytest.fixture(scope="module")
def run(env, small_mnist):
    """A `fast` run of 200 steps on 2 000 / 500 real digits, and the page as it was while the
    network was still being built."""
    from pages import common

    trainer = common.registry().create(PRESETS["fast"], small_mnist, run_id=f"test-{uuid.uuid4().hex[:8]}")
    trainer.first_view = _explore(session_run=trainer.run_id)
    trainer.first_view_preparing = trainer.snapshot().status == "preparing"  # then it was during the view too
    trainer.wait_ready()
    trainer.step(200)
    trainer.wait(lambda s: s.status == "paused" and s.step == 200, timeout=120)
    yield trainer
    from pages import common

    common.registry().release(trainer.run_id)


def _explore(session_run: str | None = None, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    # Switching before the first run makes AppTest run the page file on its own (as a pages/ page):
    # no Train page run (which would start a run of its own) and no app.py; the browser test covers
    # the page inside the real app's navigation.
    at.switch_page("pages/explore.py")
    if session_run:
        at.session_state["run_id"] = session_run   # set by the Train page in a real session
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def _charts(at) -> dict:
    return {json.loads(c.proto.spec)["layout"]["title"]["text"]: c for c in at.get("plotly_chart")}


def _spec(at, title="Latent space") -> dict:
    return json.loads(_charts(at)[title].proto.spec)


def _array(value):
    """A plotly 6 JSON array: a plain list, or {dtype, bdata[, shape]} for numpy data."""
    if isinstance(value, dict) and "bdata" in value:
        a = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return a.reshape([int(s) for s in str(shape).split(",")]) if shape else a
    return np.asarray(value)


def _trace(spec, name):
    return next(t for t in spec["data"] if t.get("name") == name)


def _captions(at) -> list[str]:
    return [c for el in at.get("image") for c in el.captions]


def _click(at, trace_name: str, k: int) -> AppTest:
    """Send the selection a browser sends when point ``k`` of a trace of the map is clicked.

    AppTest 1.67 has no driver for plotly selections, so the widget state is built here as
    Streamlit's frontend builds it: snake_case point fields, and a customdata row of a 2-D numpy
    array (a typed array in the browser) arriving as {"0": ..., "1": ...}."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    chart = _charts(at)["Latent space"]
    spec = json.loads(chart.proto.spec)
    curve = next(i for i, t in enumerate(spec["data"]) if t.get("name") == trace_name)
    t = spec["data"][curve]
    custom = _array(t["customdata"])[k]
    custom = {str(i): v for i, v in enumerate(custom.tolist())} if custom.ndim else custom.item()
    point = {"curve_number": curve, "point_number": k, "point_index": k, "x": float(_array(t["x"])[k]),
             "y": float(_array(t["y"])[k]), "customdata": custom, "legendgroup": ""}
    states = at._tree.get_widget_states()
    states.widgets.append(WidgetState(id=chart.proto.id, string_value=json.dumps(
        {"selection": {"points": [point], "point_indices": [k], "box": [], "lasso": []}})))
    return at._run(states)


# --- no run ---------------------------------------------------------------------------------------------
def test_without_a_run_it_points_to_the_train_page(env):
    at = _explore()
    assert not at.exception
    assert any("Train page" in i.value for i in at.info)
    assert at.get("page_link") and not at.get("plotly_chart")


def test_an_unknown_or_bad_run_id_says_so(env):
    at = _explore(query={"run": "no-such-run"})
    assert not at.exception and any("neither training" in i.value for i in at.info)
    at = _explore(query={"run": "../../etc"})
    assert not at.exception and any("not a valid run id" in w.value for w in at.warning)


# --- a live run ---------------------------------------------------------------------------------------------
def test_a_run_whose_network_is_being_built_says_so(run):
    at = run.first_view
    assert not at.exception
    if run.first_view_preparing:
        assert any("being built" in i.value for i in at.info) and not at.get("plotly_chart")


def test_the_live_run_shows_its_latent_map_and_every_section(run):
    at = _explore(session_run=run.run_id)
    assert not at.exception
    charts = _charts(at)
    assert {"Latent space", "Reconstruction error per digit"} <= set(charts)
    spec = _spec(at)
    digits = [t for t in spec["data"] if t.get("showlegend") is not False]
    assert [t["name"] for t in digits] == [str(c) for c in range(10)]
    assert sum(len(_array(t["x"])) for t in digits) == 500          # every test digit of this data set
    assert spec["layout"]["xaxis"]["title"]["text"].startswith("PC 1")
    bars = _spec(at, "Reconstruction error per digit")["data"][0]
    assert list(bars["x"]) == [str(c) for c in range(10)] and all(v > 0 for v in _array(bars["y"]))
    captions = _captions(at)
    assert any(c.startswith("Generated at") for c in captions)
    assert "10 decoded codes from #0 (a 7) to #1 (a 2)" in captions
    assert sum("MSE" in c for c in captions) == 12                  # the worst-case grid
    assert any(f"Run `{run.run_id}`" in c.value and "step 200" in c.value for c in at.caption)
    assert at.query_params["run"] == [run.run_id] or at.query_params["run"] == run.run_id
    assert not any(s.value == "Denoising" for s in at.subheader)


def test_the_map_is_the_pca_of_the_networks_codes(run):
    at = _explore(query={"run": run.run_id})
    spec = _spec(at)
    nets = run.model()
    x_test = run.dataset.x_test
    projection = latent.fit_projection(latent.encode(nets.encoder, x_test))
    t = _trace(spec, "4")
    idx = _array(t["customdata"])[:, 0].astype(int)
    drawn = np.column_stack([_array(t["x"]), _array(t["y"])])
    np.testing.assert_allclose(drawn, projection.project(latent.encode(nets.encoder, x_test[idx])), atol=1e-3)
    assert np.all(run.dataset.y_test[idx] == 4)


def test_picking_a_digit_shows_it_beside_its_reconstruction(run):
    at = _explore(session_run=run.run_id)
    assert any("Click a digit" in c.value for c in at.caption)
    at = _click(at, "3", 2)
    assert not at.exception
    idx = int(_array(_trace(_spec(at), "3")["customdata"])[2, 0])
    captions = _captions(at)
    assert f"Test digit #{idx} (a 3)" in captions and "Reconstruction" in captions
    assert any(c.value.startswith("Reconstruction error (MSE)") for c in at.caption)
    assert _trace(_spec(at), "picked")                                # ringed on the map
    # From the picked digit to interpolation.
    next(b for b in at.button if b.label == "Interpolate to it").click().run()
    assert next(n for n in at.number_input if n.label == "To test digit #").value == idx
    assert any(c.startswith(f"10 decoded codes from #0 (a 7) to #{idx} (a 3)") for c in _captions(at))


def test_choosing_an_empty_place_decodes_it(run):
    at = _explore(session_run=run.run_id)
    grid = _trace(_spec(at), "position")
    k = len(_array(grid["x"])) // 3
    x, y = float(_array(grid["x"])[k]), float(_array(grid["y"])[k])
    at = _click(at, "position", k)
    assert not at.exception
    assert next(n for n in at.number_input if n.label == "Map x").value == pytest.approx(x)
    assert next(n for n in at.number_input if n.label == "Map y").value == pytest.approx(y)
    assert f"Generated at ({x:.2f}, {y:.2f})" in _captions(at)
    marker = _trace(_spec(at), "decoded")
    assert _array(marker["x"])[0] == pytest.approx(x) and _array(marker["y"])[0] == pytest.approx(y)
    # Typing a position works as well as clicking one.
    next(n for n in at.number_input if n.label == "Map x").set_value(1.5).run()
    assert any(c.startswith("Generated at (1.50,") for c in _captions(at))


def test_the_interpolation_follows_its_controls(run):
    at = _explore(session_run=run.run_id)
    next(n for n in at.number_input if n.label == "From test digit #").set_value(3).run()
    next(s for s in at.slider if s.label == "Steps").set_value(5).run()
    assert not at.exception
    assert any(c.startswith("5 decoded codes from #3 (a 0) to #1 (a 2)") for c in _captions(at))


def test_the_denoising_view_appears_when_input_noise_is_above_zero(run):
    run.update(noise=0.3)
    try:
        run.wait(lambda s: s.config.noise == 0.3, timeout=30)
        at = _explore(session_run=run.run_id)
        assert not at.exception
        assert any(s.value == "Denoising" for s in at.subheader)
        assert {"Noisy input", "Reconstruction", "Original"} <= set(_captions(at))
    finally:
        run.update(noise=0.0)


# --- the 2-D code, and a saved run --------------------------------------------------------------------------
def test_with_a_two_number_code_the_map_is_the_raw_code(env, small_mnist):
    from pages import common

    trainer = _train(PRESETS["latent2"], small_mnist, 60)
    try:
        at = _explore(query={"run": trainer.run_id})
        assert not at.exception
        spec = _spec(at)
        assert spec["layout"]["xaxis"]["title"]["text"] == "code 1"
        assert spec["layout"]["yaxis"]["title"]["text"] == "code 2"
        t = _trace(spec, "7")
        idx = _array(t["customdata"])[:, 0].astype(int)
        codes = latent.encode(trainer.model().encoder, small_mnist.x_test[idx])
        np.testing.assert_allclose(np.column_stack([_array(t["x"]), _array(t["y"])]), codes, rtol=1e-4, atol=1e-4)
        assert any("raw 2-number code" in c.value for c in at.caption)
    finally:
        common.registry().release(trainer.run_id)


def test_a_saved_run_is_explored_from_its_model_file(run):
    from ae_core import runs
    from pages import common

    saved_id = f"saved-{uuid.uuid4().hex[:8]}"
    runs.save(dataclasses.replace(run.snapshot(), run_id=saved_id), run.model())
    assert common.registry().get(saved_id) is None
    at = _explore(query={"run": saved_id})
    deadline = time.time() + 90
    while not _charts(at) and time.time() < deadline:   # the default MNIST may still be loading
        assert not at.exception
        time.sleep(0.5)
        at.run()
    assert not at.exception
    assert "Latent space" in _charts(at) and "Reconstruction error per digit" in _charts(at)
    spec = _spec(at)
    assert sum(len(_array(t["x"])) for t in spec["data"] if t.get("showlegend") is not False) == 2000
    assert any("saved" in c.value and "step 200" in c.value for c in at.caption)
    # The saved weights are the run's: the same digit has the same code.
    t = _trace(spec, "1")
    idx = int(_array(t["customdata"])[0, 0])
    full = common.current_dataset()
    encoder, _ = latent.split(runs.load_keras_model(runs.load(saved_id).model_path))
    np.testing.assert_allclose(latent.encode(encoder, full.x_test[idx:idx + 1]),
                               latent.encode(run.model().encoder, full.x_test[idx:idx + 1]), atol=1e-5)


def test_a_drawn_digit_shows_with_its_reconstruction_and_as_a_star_on_the_map(run, mnist_path):
    from ae_core.drawing import to_mnist

    # What the canvas hands over: a 280×280 RGBA drawing of a real test digit, white on black.
    digit = np.load(mnist_path, allow_pickle=False)["x_test"][3]
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., :3] = np.kron(digit, np.ones((10, 10), np.uint8))[..., None]
    rgba[..., 3] = 255
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/explore.py")
    at.session_state["run_id"] = run.run_id
    at.session_state["drawn_digit"] = to_mnist(rgba)
    at.run()
    assert not at.exception
    assert "Draw a digit" in [h.value for h in at.subheader] and "Your drawing" in [h.value for h in at.subheader]
    captions = _captions(at)
    assert "Your digit, as MNIST would see it" in captions and "Its reconstruction" in captions
    assert _trace(_spec(at), "your drawing")["text"] == ["your drawing"]

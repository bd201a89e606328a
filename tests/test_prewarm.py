"""Cold start: the default network is built and compiled before any run asks, and the first run of
that network takes it over instead of building its own."""
import time

import numpy as np
import pytest

from ae_core import config as cfg_lib
from ae_core import loop as loop_lib
from ae_core import prewarm
from ae_core.trainer import Trainer


@pytest.fixture(autouse=True)
def _no_warm_engine_left_behind():
    """Other test files' runs must build their own engines."""
    yield
    prewarm.wait_all()
    prewarm._warmups.clear()


@pytest.fixture
def default_config():
    # The default preset's network, with a short budget (a live setting: the warm engine still fits).
    return cfg_lib.PRESETS[cfg_lib.DEFAULT_PRESET].replace(steps=40)


@pytest.fixture
def count_builds(monkeypatch):
    """How many engines the training loop builds itself."""
    built = []
    real = loop_lib.Engine

    def engine(*args, **kwargs):
        built.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(loop_lib, "Engine", engine)
    return built


def test_the_default_network_is_built_and_compiled_before_any_run(small_mnist, default_config):
    prewarm._warmups.clear()
    warm = prewarm.begin(cfg_lib.PRESETS[cfg_lib.DEFAULT_PRESET], lambda: small_mnist)
    assert warm.done.wait(120) and warm.error is None
    assert warm.message == prewarm.READY
    assert warm.engine is not None and warm.engine.compiled(default_config.batch_size)
    assert prewarm.begin(cfg_lib.PRESETS[cfg_lib.DEFAULT_PRESET], lambda: small_mnist) is warm  # once


def test_the_first_run_of_that_network_takes_it_over_without_building(small_mnist, default_config,
                                                                          count_builds):
    warm = prewarm.begin(cfg_lib.PRESETS[cfg_lib.DEFAULT_PRESET], lambda: small_mnist)
    warmed = warm.engine if warm.done.wait(120) else None
    from ae_core.engine import Engine
    from ae_core.snapshot import N_DIGITS

    fresh_weights = Engine(default_config, small_mnist, N_DIGITS).model.get_weights()
    trainer = Trainer(default_config.replace(learning_rate=0.002), small_mnist)
    try:
        trainer.wait_ready(120)
        assert trainer.engine is warmed and count_builds == []
        assert warm not in prewarm.pending()
        # The run's live settings are in force, and it is the network a fresh build would make.
        assert float(warmed.optimizer.learning_rate.numpy()) == pytest.approx(0.002)
        for a, b in zip(warmed.model.get_weights(), fresh_weights):
            np.testing.assert_array_equal(a, b)
        trainer.start()
        done = trainer.wait(lambda s: s.status == "done", 120)
        assert done.step == 40 and np.isfinite(done.loss)
    finally:
        trainer.stop()
    # Only the first run gets it: the next one builds its own network.
    second = Trainer(default_config, small_mnist)
    try:
        second.wait_ready(120)
        assert second.engine is not warmed and len(count_builds) == 1
    finally:
        second.stop()


def test_a_run_of_another_network_or_other_data_builds_its_own(small_mnist, default_config, count_builds):
    import dataclasses

    warm = prewarm.begin(cfg_lib.PRESETS[cfg_lib.DEFAULT_PRESET], lambda: small_mnist)
    warm.done.wait(120)
    other_data = dataclasses.replace(small_mnist, x_train=small_mnist.x_train[:1000],
                                     y_train=small_mnist.y_train[:1000], source="fewer digits")
    assert not warm.fits(default_config.replace(latent=16), small_mnist)
    assert not warm.fits(default_config, other_data)
    trainer = Trainer(default_config, other_data)
    try:
        trainer.wait_ready(120)
        assert trainer.engine is not warm.engine and len(count_builds) == 1
        assert warm in prewarm.pending()  # still there for the run it was made for
    finally:
        trainer.stop()


def test_the_first_page_starts_the_warm_up_and_its_run_trains_on_the_warm_engine(monkeypatch, tmp_path,
                                                                                  mnist_path, count_builds):
    from streamlit.testing.v1 import AppTest

    from pages import common
    from tests.conftest import ROOT

    monkeypatch.setenv("AE_MNIST_PATH", str(mnist_path))
    monkeypatch.setenv("AE_RUNS_DIR", str(tmp_path / "runs"))
    prewarm._warmups.clear()
    common._prewarm.clear()  # as on a fresh server
    # Recorded as begun, not looked up among the pending ones: when the default data is already in
    # memory (an earlier test loaded it), the first page's run claims the warm engine at once.
    begun, begin = [], prewarm.begin
    monkeypatch.setattr(prewarm, "begin", lambda *a, **k: begun.append(begin(*a, **k)) or begun[-1])
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    try:
        begun = [w for w in begun if w.config == cfg_lib.PRESETS[cfg_lib.DEFAULT_PRESET]]
        assert begun, "the first page did not start warming up the default network"
        assert common.default_data_job().done.wait(60)
        at.run()
        trainer = common.registry().get(at.session_state["run_id"])
        trainer.wait_ready(120)
        assert trainer.engine is begun[0].engine and count_builds == []
    finally:
        common.registry().stop_all()


def test_a_cold_start_trains_uncompiled_first_and_xla_takes_over(small_mnist):
    """The warm-up traces a plain graph (seconds sooner than XLA's compile); the first real chunk
    then starts XLA's compile in the background, and the compiled chunk and evaluation take over,
    computing what an engine compiled with XLA from the start computes."""
    from ae_core.engine import Engine
    from ae_core.snapshot import N_DIGITS

    config = cfg_lib.PRESETS[cfg_lib.DEFAULT_PRESET]
    size = config.batch_size
    cold = Engine(config, small_mnist, N_DIGITS)
    cold.warm_up(size, xla_later=True)
    assert cold.jit and cold.compiled(size) and cold.uncompiled(size) and not cold.compiling(size)
    hot = Engine(config, small_mnist, N_DIGITS)     # the reference: XLA from the start
    hot.warm_up(size)
    assert not hot.uncompiled(size)

    np.testing.assert_allclose(cold.chunk(5, size)[0], hot.chunk(5, size)[0], rtol=1e-3)  # XLA rounds its own way
    assert cold.compiling(size) or not cold.uncompiled(size)      # the first real chunk started XLA's compile
    deadline = time.monotonic() + 120
    while cold.uncompiled(size) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not cold.uncompiled(size) and not cold.compiling(size), "XLA's chunk never took over"
    np.testing.assert_allclose(cold.chunk(5, size)[0], hot.chunk(5, size)[0], rtol=1e-3)
    assert cold.evaluate()[0] == pytest.approx(hot.evaluate()[0], rel=1e-3)


def test_work_that_can_wait_waits_for_the_warm_up():
    """The PCA baselines (both cores for a second) start only once the warm-up is done."""
    import threading

    class Making:
        done = threading.Event()

    prewarm._making.append(Making)
    try:
        waiting = threading.Thread(target=prewarm.wait_until_warm, args=(30,))
        waiting.start()
        time.sleep(0.3)
        assert waiting.is_alive()
        Making.done.set()
        waiting.join(5)
        assert not waiting.is_alive()
    finally:
        prewarm._making.remove(Making)

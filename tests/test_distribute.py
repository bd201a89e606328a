"""Training under a tf.distribute strategy: MirroredStrategy over two logical CPU devices.

Logical devices can only be set before TensorFlow starts its runtime, which the other tests have
already done in this process; so each case runs in a fresh interpreter and reports JSON.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.conftest import ROOT


SCRIPT = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from ae_core import config as cfg_lib
    from ae_core.data import Dataset, load
    from ae_core.trainer import DONE, Trainer

    mode, path, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    full = load(path)
    data = Dataset(full.x_train[:4000].copy(), full.y_train[:4000].copy(), full.x_test[:500].copy(),
                   full.y_test[:500].copy(), format=full.format, source="subset", path=full.path)
    cfg = cfg_lib.preset("fast").replace(hidden=(128,), latent=16, batch_size=129 if mode == "env" else 128,
                                         steps=steps, sampling="epoch")
    out = {"logical_cpus": len(tf.config.list_logical_devices("CPU"))}
    if mode == "mirrored":
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            trainer = Trainer(cfg, data)            # picks up the active strategy
        out["replicas"] = strategy.num_replicas_in_sync
    elif mode == "env":
        os.environ["AE_DISTRIBUTE"] = "mirrored"
        trainer = Trainer(cfg, data)
    else:
        trainer = Trainer(cfg, data)
    trainer.wait_ready()
    trainer.start()
    snap = trainer.wait(lambda s: s.status != "running" and s.step >= steps, timeout=300)
    engine = trainer.engine
    out.update(status=snap.status, message=snap.message, step=snap.step, test_loss=snap.test_loss,
               losses=[float(x) for x in snap.history.loss], replicas_in_engine=engine.replicas,
               batch_sizes=sorted(set(int(b) for b in snap.history.batch_size)),
               variable_type=type(engine.model.trainable_variables[0].value).__name__)
    # The model of a distributed run saves and loads like any other.
    import keras
    from ae_core import runs
    saved = runs.save(snap, trainer.model())
    model = keras.models.load_model(saved / "model.keras", safe_mode=True)
    recon = model.predict(data.x_test, verbose=0)
    out["reloaded_mse"] = float(np.mean((recon - data.x_test) ** 2))
    trainer.stop()
    print("RESULT " + json.dumps(out))
""")


def _run(mode: str, mnist_path, tmp_path, steps: int) -> dict:
    env = dict(os.environ, AE_RUNS_DIR=str(tmp_path / mode), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("AE_DISTRIBUTE", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(mnist_path), str(steps)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def _smooth(losses, k=20):
    a = np.asarray(losses)
    return np.convolve(a, np.ones(k) / k, mode="valid")


@pytest.fixture(scope="module")
def single(mnist_path, tmp_path_factory):
    return _run("single", mnist_path, tmp_path_factory.mktemp("single"), 300)


def test_mirrored_over_two_logical_cpus_learns_like_one_device(single, mnist_path, tmp_path):
    mirrored = _run("mirrored", mnist_path, tmp_path, 300)
    assert mirrored["logical_cpus"] == 2 and mirrored["replicas"] == 2
    assert mirrored["replicas_in_engine"] == 2
    assert "Mirrored" in mirrored["variable_type"]       # the network really lives on both replicas
    assert mirrored["status"] == "done" and mirrored["step"] == 300, mirrored["message"]
    assert single["replicas_in_engine"] == 1 and "Mirrored" not in single["variable_type"]

    a, b = _smooth(single["losses"]), _smooth(mirrored["losses"])
    assert np.all(np.isfinite(b))
    # Same shape: both fall by the same large factor, track each other step by step, end close.
    assert b[-1] < 0.5 * b[0] and a[-1] < 0.5 * a[0]
    assert np.corrcoef(a, b)[0, 1] > 0.95
    assert abs(b[-1] - a[-1]) < 0.25 * a[-1], (a[-1], b[-1])
    assert abs(mirrored["test_loss"] - single["test_loss"]) < 0.25 * single["test_loss"]
    # A distributed run is saved as an ordinary model.keras that reproduces its test loss.
    assert mirrored["reloaded_mse"] == pytest.approx(mirrored["test_loss"], rel=1e-3)


def test_ae_distribute_env_trains_under_a_mirrored_strategy(mnist_path, tmp_path):
    out = _run("env", mnist_path, tmp_path, 60)
    assert out["replicas_in_engine"] == 2 and "Mirrored" in out["variable_type"]
    assert out["status"] == "done" and out["step"] == 60 and np.isfinite(out["test_loss"])
    assert out["batch_sizes"] == [128]  # 129 asked: an equal slice per replica, and the history says so


def test_no_strategy_is_looked_for_in_a_tensorflow_still_being_imported(monkeypatch):
    """The page makes Trainers while another thread may still be importing TensorFlow: a partly
    initialised module (no ``distribute`` yet) means no scope can be active, not an error."""
    import types

    from ae_core import strategy

    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    assert strategy.active_strategy() is None
    half = types.ModuleType("tensorflow")
    half.distribute = types.SimpleNamespace()  # the attribute exists, its functions not yet
    monkeypatch.setitem(sys.modules, "tensorflow", half)
    assert strategy.active_strategy() is None

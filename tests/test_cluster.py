"""Runs as Ray actors (AE_RAY_ADDRESS): a local Ray instance with 2 CPUs, no Ray dashboard.

One run trains in an actor for the first tests (commands, a second server re-attaching, the actor
killed and the run continued from its saved files); the CLI trains in another, from a subprocess.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="needs Ray for the cluster tests: pip install '.[cluster]' "
                                        "(or -r requirements-dev.txt)")

from ae_core import cluster, runs  # noqa: E402
from ae_core.cluster import remote_trainer  # noqa: E402
from ae_core.config import preset  # noqa: E402
from ae_core.data import Dataset  # noqa: E402
from ae_core import registry as registry_lib  # noqa: E402
from ae_core.registry import Registry  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CFG = preset("fast").replace(hidden=(32,), latent=8, steps=1_000_000)
RUN = "cluster-test-run"


@pytest.fixture(scope="module")
def ray_address():
    """A Ray instance inside this process (2 CPUs: two runs at once), ended with the module."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, namespace=cluster.NAMESPACE,
             logging_level="ERROR")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def on_cluster(ray_address, tmp_path_factory):
    """AE_RAY_ADDRESS set (runs become actors) and a run store of the module's own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(cluster.ADDRESS_ENV, ray_address)
        mp.setenv("AE_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
        yield ray_address


@pytest.fixture(scope="module")
def digits(small_mnist):
    """A few hundred digits: the network compiles and trains in moments."""
    d = small_mnist
    return Dataset(d.x_train[:400].copy(), d.y_train[:400].copy(), d.x_test[:100].copy(), d.y_test[:100].copy(),
                   format=d.format, source="400 / 100 digits", path=d.path)


@pytest.fixture(scope="module")
def server(on_cluster):
    """The registry of one web server with runs on the cluster."""
    reg = Registry(save=lambda trainer: None)
    assert reg.on_cluster
    yield reg
    reg.shutdown()


def _steps_advance(trainer, seconds: float = 30.0) -> tuple[int, int]:
    """Two snapshots, read the way a page reads them (never waiting), the second with more steps."""
    first = trainer.snapshot().step
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = trainer.snapshot().step
        if now > first + 20:
            return first, now
    pytest.fail(f"run {trainer.run_id} did not advance past step {first} in {seconds:g} s")


def test_a_run_trains_in_an_actor_and_takes_commands(server, digits):
    trainer = server.create(CFG, digits, run_id=RUN, on_checkpoint=lambda t: None)
    assert isinstance(trainer, remote_trainer.RemoteTrainer)
    assert trainer.where()["pid"] != os.getpid()          # it trains in a Ray worker, not here
    trainer.wait_ready(120)
    trainer.start()
    trainer.wait(lambda s: s.status == "running", 30)
    _steps_advance(trainer)

    trainer.pause()
    paused = trainer.wait(lambda s: s.status == "paused", 10)
    time.sleep(0.5)
    assert trainer.snapshot().step == paused.step          # paused means no steps
    trainer.step(7)
    stepped = trainer.wait(lambda s: s.step >= paused.step + 7 and s.status == "paused", 20)
    assert stepped.step == paused.step + 7

    target = trainer.update(learning_rate=0.002, batch_size=64)
    assert (target.learning_rate, target.batch_size) == (0.002, 64)
    trainer.resume()
    snap = trainer.wait(lambda s: s.config.batch_size == 64 and s.step > stepped.step + 10, 60)
    assert snap.config.learning_rate == 0.002
    assert {e["field"] for e in snap.history.events} >= {"learning_rate", "batch_size"}
    assert snap.history.batch_size[-1] == 64 and np.isclose(snap.history.learning_rate[-1], 0.002)
    assert snap.originals.shape == (64, 784) and snap.reconstructions.shape[1] == 784

    nets = trainer.model()                                  # the Explore page's local copy of the network
    assert nets.encoder(digits.x_test[:3]).shape == (3, 8)


def test_a_second_server_reattaches_by_name_and_sees_it_advance(server, digits):
    before = server.get(RUN).snapshot().step
    restarted = Registry(save=lambda trainer: None)         # as after a web-server restart
    trainer = restarted.get(RUN)
    assert isinstance(trainer, remote_trainer.RemoteTrainer) and trainer is not server.get(RUN)
    assert trainer.snapshot().step >= before and trainer.config.batch_size == 64
    first, later = _steps_advance(trainer)
    assert later > before
    assert np.array_equal(trainer.dataset.x_test, digits.x_test)   # the run's own digits come along
    restarted.shutdown()                                    # a server going away leaves the run training
    assert server.get(RUN).wait(lambda s: s.step > later + 20, 30).status == "running"


def test_a_killed_actor_shows_error_keeps_its_save_and_the_run_continues(server, digits, monkeypatch):
    trainer = server.get(RUN)
    saved_step = trainer.wait(lambda s: s.step > 0, 5).step
    trainer.pause()                                         # pausing saves the run (and waits for nothing)
    paused = trainer.wait(lambda s: s.status == "paused", 10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:                      # the actor writes the run store itself
        if runs.run_path(RUN).joinpath("config.json").is_file() and runs.load(RUN).history.shape[0] == paused.step:
            break
        time.sleep(0.2)
    saved = runs.load(RUN)
    assert len(saved.history) == paused.step >= saved_step and saved.model_path is not None

    ray.kill(ray.get_actor(RUN, namespace=cluster.NAMESPACE))
    snap = trainer.wait(lambda s: s.status == "error", 20)
    assert "actor has ended" in snap.message and snap.message.count(". ") == 0 and snap.step == paused.step

    monkeypatch.setattr(registry_lib, "DEAD_SHOWN_S", 0.0)
    assert server.get(RUN) is None                          # shown, then let go: the saved files take over
    # What the Train page does for a run that is not live (pages/train_state.attach_or_create).
    saved = runs.load(RUN)
    continued = server.create(saved.config, digits, run_id=RUN, on_checkpoint=lambda t: None,
                              **runs.resume_kwargs(saved))
    ready = continued.wait_ready(120)
    assert ready.step == paused.step and ready.status in ("ready", "paused")
    continued.start()
    assert continued.wait(lambda s: s.step > paused.step + 10, 60).history.batch_size[-1] == 64
    server.release(RUN)                                     # stopped: saved, and its CPU given back
    assert continued.wait(lambda s: s.status == "stopped", 30)
    assert len(runs.load(RUN).history) > paused.step


def test_the_cli_trains_in_a_ray_worker_and_prints_the_usual_lines(on_cluster, small_mnist, tmp_path):
    data = tmp_path / "digits.npz"
    np.savez(data, x_train=(small_mnist.x_train[:400] * 255).astype(np.uint8), y_train=small_mnist.y_train[:400],
             x_test=(small_mnist.x_test[:100] * 255).astype(np.uint8), y_test=small_mnist.y_test[:100])
    env = {**os.environ, cluster.ADDRESS_ENV: on_cluster, "AE_RUNS_DIR": str(tmp_path / "runs")}
    out = subprocess.run([sys.executable, "-m", "ae_core", "train", "--preset", "fast", "--steps", "300",
                          "--set", "hidden=32", "--set", "latent=8", "--data", str(data), "--json",
                          "--log-every", "100"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["step"] for line in lines[:-1]] == [0, 100, 200, 299]
    done = lines[-1]
    assert done["event"] == "done" and done["steps"] == 300 and 0 < done["test_mse"] < 0.2
    assert (tmp_path / "runs" / done["run_id"] / "model.keras").is_file()   # the actor saved it
    from ray._private import state  # the actor's record (Ray keeps dead actors' names for a while)
    named = [a for a in state.actors().values() if a.get("Name") == done["run_id"]]
    assert named and named[0]["State"] == "DEAD"            # it trained in an actor, which has ended


def test_a_sweep_fans_out_one_actor_a_run_and_keeps_its_group(on_cluster, digits, tmp_path):
    from ae_core import sweep as sweep_lib

    sweep = sweep_lib.Sweep(CFG.replace(steps=150), {"learning_rate": [0.001, 0.003]})
    outcomes = sweep_lib.run_sweep(sweep, digits, parallel=2, root=tmp_path)
    assert [o.status for o in outcomes] == ["done", "done"] and all(o.steps == 150 for o in outcomes)
    for outcome in outcomes:                                 # each saved by its actor, with the sweep's marks
        meta = runs.load(outcome.run_id, root=tmp_path).meta
        assert meta[sweep_lib.SWEEP_KEY] == sweep.sweep_id and meta["name"] == sweep_lib.run_name(outcome.values)
        assert not _alive(outcome.run_id)                    # the actor ended with its run


def _alive(run_id: str) -> bool:
    try:
        ray.get_actor(run_id, namespace=cluster.NAMESPACE)
        return True
    except ValueError:
        return False


def test_without_a_cluster_address_nothing_changes(monkeypatch):
    monkeypatch.delenv(cluster.ADDRESS_ENV, raising=False)
    assert not cluster.enabled() and not Registry().on_cluster
    code = ("import sys, ae_core.registry, ae_core.sweep, ae_core.__main__; "
            "ae_core.registry.Registry(); print('ray' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != cluster.ADDRESS_ENV}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-1000:]


def test_an_unreachable_cluster_is_one_sentence_and_saved_runs_are_still_served(tmp_path):
    """A server whose AE_RAY_ADDRESS does not answer: looking a run up finds nothing (the page then
    serves the run's saved files) and starting one is refused with one sentence (the page shows it)."""
    env = {**os.environ, cluster.ADDRESS_ENV: "127.0.0.1:9", "AE_RUNS_DIR": str(tmp_path)}
    code = ("import numpy as np\n"
            "from ae_core.config import preset\n"
            "from ae_core.data import Dataset\n"
            "from ae_core.registry import Registry, RegistryFull\n"
            "x, y = np.zeros((8, 784), np.float32), np.zeros(8, np.int64)\n"
            "registry = Registry()\n"
            "assert registry.get('some-run') is None and not registry.has_room()\n"
            "try:\n"
            "    registry.create(preset('fast'), Dataset(x, y, x, y, format='npz', source='zeros', path=None))\n"
            "except RegistryFull as e:\n"
            "    print(e)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("Cannot reach the Ray cluster at '127.0.0.1:9'"), out.stderr[-2000:]
    assert out.stdout.count("\n") == 1 and out.stdout.count(". ") == 0

"""The process-wide registry of live runs: cap, eviction of unwatched runs, idle release, shutdown."""
import time

import pytest

from ae_core.config import preset
from ae_core.registry import Registry, RegistryFull

CFG = preset("fast").replace(hidden=(32,), latent=8)


@pytest.fixture()
def registry():
    reg = Registry(max_runs=2, idle_seconds=3600, watch_grace_s=0.3)
    yield reg
    reg.stop_all()


def test_the_cap_refuses_a_third_run_while_two_are_watched_and_training(registry, small_mnist):
    a = registry.create(CFG.replace(steps=100_000), small_mnist, run_id="a")
    b = registry.create(CFG.replace(steps=100_000), small_mnist, run_id="b")
    for t in (a, b):
        t.start()
        t.wait(lambda s: s.status == "running", 120)
    with pytest.raises(RegistryFull, match="All 2 training slots"):
        registry.create(CFG, small_mnist, run_id="c")
    assert registry.create(CFG, small_mnist, run_id="a") is a  # an existing id is returned, not counted


def test_a_full_registry_frees_the_least_recently_watched_idle_run(registry, small_mnist):
    a = registry.create(CFG, small_mnist, run_id="a")
    b = registry.create(CFG, small_mnist, run_id="b")
    a.wait_ready(120)
    b.wait_ready(120)
    time.sleep(0.4)
    registry.get("b")  # b is being watched, a is not
    c = registry.create(CFG, small_mnist, run_id="c")
    assert set(registry.run_ids()) == {"b", "c"} and c.run_id == "c"
    a.wait(lambda s: s.status == "stopped", 10)


def test_idle_runs_are_released_but_training_ones_are_kept(small_mnist):
    reg = Registry(max_runs=3, idle_seconds=0.5)
    try:
        idle = reg.create(CFG, small_mnist, run_id="idle")
        busy = reg.create(CFG.replace(steps=100_000), small_mnist, run_id="busy")
        idle.wait_ready(120)
        busy.start()
        busy.wait(lambda s: s.status == "running", 120)
        time.sleep(0.7)
        assert reg.release_idle() == ["idle"]
        assert reg.run_ids() == ["busy"] and reg.get("idle") is None
    finally:
        reg.stop_all()


def test_shutdown_stops_every_thread_and_saves_each_run(small_mnist):
    saved = []
    reg = Registry(max_runs=2, save=lambda t: saved.append((t.run_id, t.snapshot().step, t.snapshot().status)))
    trainer = reg.create(CFG.replace(steps=100_000), small_mnist, run_id="r")
    trainer.start()
    trainer.wait(lambda s: s.step > 20, 120)
    started = time.monotonic()
    reg.shutdown()
    assert time.monotonic() - started < 2.0
    assert not trainer._thread.is_alive()
    assert saved and saved[0][0] == "r" and saved[0][1] >= 20 and saved[0][2] == "stopped"
    assert reg.run_ids() == []


def test_a_full_server_says_what_would_free_a_slot_and_knows_when_one_is_free(small_mnist):
    """Item 5 of the newcomer report: "pause one" was offered while nothing trained."""
    reg = Registry(max_runs=2, idle_seconds=3600, watch_grace_s=0.3)
    try:
        busy = reg.create(CFG.replace(steps=100_000), small_mnist, run_id="busy")
        idle = reg.create(CFG, small_mnist, run_id="idle")
        busy.start()
        busy.wait(lambda s: s.status == "running", 120)
        idle.wait_ready(120)
        reg.get("idle")   # someone has the idle run open
        with pytest.raises(RegistryFull) as full:
            reg.create(CFG, small_mnist, run_id="third")
        message = str(full.value)
        assert "1 run is training and 1 is open in another tab" in message
        assert "tab is closed" in message and "pause" not in message and "\n" not in message
        assert not reg.has_room()
        time.sleep(0.5)   # the idle run's tab closed: nobody looks at it any more
        assert reg.has_room()
        assert reg.create(CFG, small_mnist, run_id="third").run_id == "third"
        assert set(reg.run_ids()) == {"busy", "third"}
    finally:
        reg.stop_all()


def test_a_released_run_that_trained_is_saved_once_more(small_mnist):
    saved = []
    reg = Registry(max_runs=2, idle_seconds=0.3, save=lambda t: saved.append((t.run_id, t.snapshot().step)))
    try:
        run = reg.create(CFG, small_mnist, run_id="trained")
        run.wait_ready(120)
        run.step(7)
        run.wait(lambda s: s.status == "paused" and s.step == 7, 60)
        time.sleep(0.5)
        assert reg.release_idle() == ["trained"]
        deadline = time.monotonic() + 10
        while not saved and time.monotonic() < deadline:
            time.sleep(0.05)
        assert saved == [("trained", 7)]
    finally:
        reg.stop_all()


def test_default_slots_follow_the_cores(monkeypatch):
    from ae_core import registry as registry_module

    monkeypatch.delenv("AE_MAX_RUNS", raising=False)
    monkeypatch.setattr(registry_module.os, "cpu_count", lambda: 8)
    assert Registry().max_runs == 8
    monkeypatch.setattr(registry_module.os, "cpu_count", lambda: 1)
    assert Registry().max_runs == 2
    monkeypatch.setenv("AE_MAX_RUNS", "3")
    assert Registry().max_runs == 3

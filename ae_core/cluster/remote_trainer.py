"""RemoteTrainer: a run that lives in a Ray actor, seen through the Trainer's interface.

Commands (start, pause, resume, step, update, reset) are sent and return at once, as a Trainer's
do; their effect shows in a later snapshot. ``snapshot()`` never waits for the cluster: it returns
the last snapshot fetched, and a background thread keeps that fresh (at most ``REFRESH_S`` old) for
as long as someone reads it, by long-polling the actor for the next version. ``model()`` is a local
Keras copy of the actor's network with its weights refreshed at most every ``MODEL_REFRESH_S``.

An actor that dies (its node was lost, it ran out of memory, it was killed) turns into an ``error``
snapshot with one sentence; its last save stays in the run store, from which the run continues.
"""
from __future__ import annotations

import dataclasses
import threading
import time

from ..config import LIVE_FIELDS, ConfigError
from ..history import History
from ..registry import RegistryFull
from ..snapshot import N_DIGITS, Snapshot, new_run_id, wait_for
from ..status import Status
from . import NAMESPACE, wire
from .connect import ClusterError, connect, resources_per_run, room_sentence, runtime_env

REFRESH_S = 0.1          # a watched run's snapshot is at most this old (plus the time to fetch it)
WATCH_S = 3.0            # a run nobody has read for this long is not refreshed
LONG_POLL_S = 1.0        # how long one fetch waits in the actor for a newer snapshot
CALL_TIMEOUT_S = 30.0    # a read (weights, data) that takes longer than this has failed
MODEL_REFRESH_S = 1.0    # the local copy of the network takes the actor's weights at most this often
FINISH_TIMEOUT_S = 120.0  # stopping: the actor's last save may take this long


class ClusterFull(RegistryFull):
    """The cluster has no room for another run (one sentence)."""


class RemoteTrainer:
    """The Trainer interface over a run's actor (see the module's docstring)."""

    saves_itself = True   # the actor writes the run store; a server must not save over it
    on_checkpoint = None
    engine = None         # the engine lives in the actor; model() is a local copy of its network

    def __init__(self, actor, run_id: str, config, dataset, data_key: str, snapshot: Snapshot | None = None,
                 history: History | None = None):
        self._actor = actor
        self.run_id = run_id
        self._dataset = dataset
        self._data_key = data_key
        self._cond = threading.Condition()
        self._target = config
        self._updates = 0                   # live changes sent; a fetch started before one keeps ours
        self._snapshot = snapshot or self._placeholder(config, history, "Starting the run on the Ray cluster…")
        self._dead: str | None = None       # why the run is gone, once it is
        self._stopped = False
        self._watched = time.monotonic()
        self._wake = threading.Event()
        self._pending = None                # the outstanding long-poll, re-awaited rather than re-sent
        self._refresher: threading.Thread | None = None
        self._nets = None
        self._nets_key = None
        self._nets_at = 0.0
        self._film = (0.0, None)

    # --- commands -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._send("start")

    def resume(self) -> None:
        self._send("resume")

    def pause(self) -> None:
        self._send("pause")

    def step(self, n: int = 1) -> None:
        if n < 1:
            raise ConfigError("Step needs a positive number of steps.")
        self._send("step", int(n))

    def update(self, **changes):
        not_live = sorted(set(changes) - set(LIVE_FIELDS))
        if not_live:
            raise ConfigError(f"{not_live[0]} cannot change while a run trains; Reset to apply it.")
        with self._cond:
            target = self._target.replace(**changes)  # validates here: one sentence, at once
            self._target = target
            self._updates += 1
        self._send("update", changes)
        return target

    def set_learning_rate(self, lr: float):
        return self.update(learning_rate=float(lr))

    def set_batch_size(self, batch_size: int):
        return self.update(batch_size=int(batch_size))

    def reset(self, config=None, dataset=None) -> None:
        config = config or self._target
        ref = key = None
        if dataset is not None:
            ref, key = wire.dataset_ref(dataset), _key(dataset)
            self._dataset, self._data_key = dataset, key
        with self._cond:
            self._target = config
            self._updates += 1
            self._snapshot = dataclasses.replace(
                self._placeholder(config, None, "Building the network…"), version=self._snapshot.version)
        self._send("reset", config, ref, key)

    def stop(self, timeout: float | None = 5.0) -> None:
        """End the run's actor once it has saved the run (the saved files stay)."""
        with self._cond:
            if self._stopped:
                finisher = getattr(self, "_finisher", None)
            else:
                self._stopped = True
                finisher = self._finisher = threading.Thread(target=self._finish, daemon=True,
                                                             name=f"finish-{self.run_id}")
                finisher.start()
        if finisher is not None and timeout != 0:
            finisher.join(timeout)

    def close(self) -> None:
        """Stop watching (the actor trains on): a server shutting down leaves its runs running."""
        self._stopped = True
        self._wake.set()

    # --- reading --------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        self._watch()
        return self._snapshot

    @property
    def config(self):
        return self._target

    @property
    def dataset(self):
        if self._dataset is None:
            ray = connect()
            key, dataset = ray.get(self._actor.data.remote(), timeout=CALL_TIMEOUT_S)
            wire.remember_dataset(key, dataset)
            self._dataset, self._data_key = wire.known_dataset(key), key
        return self._dataset

    @property
    def film(self):
        """A copy of the run's film strip (fetched at most once a second)."""
        at, film = self._film
        if film is None or time.monotonic() - at > MODEL_REFRESH_S:
            data = self._read("film_bytes")
            if data is not None:
                from .actor import _film_from_bytes
                film = _film_from_bytes(data)
                self._film = (time.monotonic(), film)
        return film

    @property
    def alive(self) -> bool:
        return self._dead is None and not self._stopped

    def gone_for(self) -> float:
        """Seconds since the run's actor was found dead (0 while it lives)."""
        return 0.0 if self._dead is None else time.monotonic() - self._dead_at

    def wait(self, until, timeout: float = 60.0) -> Snapshot:
        ended = lambda: "the run has ended" if self._dead or (self._stopped and self._refresher_done()) else ""  # noqa: E731
        return wait_for(self._cond, lambda: self._snapshot, until, timeout, self.run_id, ended, on_tick=self._watch)

    def wait_ready(self, timeout: float = 120.0) -> Snapshot:
        return self.wait(lambda s: s.status != Status.PREPARING, timeout)

    def weights(self):
        return self._read("weights")

    def optimizer_state(self):
        return self._read("optimizer_state")

    def model(self):
        """A local copy of the run's network (encoder, decoder, autoencoder) with recent weights."""
        if self._nets is not None and time.monotonic() - self._nets_at < MODEL_REFRESH_S:
            return self._nets
        weights = self.weights()
        if weights is None:
            return self._nets
        config = self._snapshot.config
        key = (tuple(w.shape for w in weights),
               tuple((k, v) for k, v in sorted(config.to_dict().items()) if k not in LIVE_FIELDS))
        if key != self._nets_key:
            from ..model import build

            self._nets, self._nets_key = build(config), key
        self._nets.autoencoder.set_weights(weights)
        self._nets_at = time.monotonic()
        return self._nets

    def where(self) -> dict | None:
        """The node and process the run trains in."""
        return self._read("where")

    # --- internals ------------------------------------------------------------------------------------
    def _placeholder(self, config, history: History | None, message: str) -> Snapshot:
        import numpy as np

        history = history if history is not None else History()
        originals = self._dataset.x_test[:N_DIGITS] if self._dataset is not None else np.zeros((0, 784), np.float32)
        return Snapshot(run_id=self.run_id, config=config, status=Status.PREPARING, message=message,
                        step=history.n, elapsed=0.0, steps_per_sec=0.0, history=history.view(), originals=originals,
                        reconstructions=np.zeros((0, 784), np.float32), recon_step=0, test_loss=None,
                        data_source=getattr(self._dataset, "source", ""), version=-1)

    def _send(self, method: str, *args) -> None:
        if self._dead:
            return
        try:
            getattr(self._actor, method).remote(*args)
        except Exception as e:  # the connection to the cluster is gone
            self._died(e)

    def _read(self, method: str):
        if self._dead or self._stopped:
            return None
        ray = connect()
        try:
            return ray.get(getattr(self._actor, method).remote(), timeout=CALL_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            return None
        except Exception as e:
            self._died(e)
            return None

    def _watch(self) -> None:
        self._watched = time.monotonic()
        if self._refresher is None and not self._stopped and not self._dead:
            with self._cond:
                if self._refresher is None:
                    self._refresher = threading.Thread(target=self._refresh_loop, daemon=True,
                                                       name=f"watch-{self.run_id}")
                    self._refresher.start()
        self._wake.set()

    def _refresher_done(self) -> bool:
        return self._refresher is None or not self._refresher.is_alive()

    def _refresh_loop(self) -> None:
        try:
            self._refresh()
        except BaseException:  # noqa: BLE001  Ray shut down under this thread (SystemExit): nothing to watch
            return

    def _refresh(self) -> None:
        while not self._dead and not self._stopped:
            if time.monotonic() - self._watched > WATCH_S:
                self._wake.clear()
                self._wake.wait(1.0)
                continue
            began = time.monotonic()
            self._fetch(LONG_POLL_S)
            time.sleep(max(0.0, REFRESH_S - (time.monotonic() - began)))

    def _fetch(self, wait_s: float) -> None:
        ray = connect()
        updates = self._updates
        try:
            if self._pending is None:
                self._pending = self._actor.snapshot_after.remote(self._snapshot.version, wait_s)
            ready, _ = ray.wait([self._pending], timeout=wait_s + CALL_TIMEOUT_S)
            if not ready:   # not placed yet, or very busy: ask the same question again later
                return
            ref, self._pending = self._pending, None
            got = ray.get(ref)
        except Exception as e:
            self._died(e)
            return
        if got is not None:
            self._take(*got, updates=updates)

    def _take(self, packed, target, updates: int | None = None) -> None:
        snap = wire.unpack(packed, self.dataset)
        with self._cond:
            if snap.version > self._snapshot.version or self._snapshot.version < 0:
                self._snapshot = snap
            if updates is None or updates == self._updates:
                self._target = target
            self._cond.notify_all()

    def _finish(self) -> None:
        ray = connect()
        try:
            self._take(*ray.get(self._actor.finish.remote(None), timeout=FINISH_TIMEOUT_S))
        except Exception as e:  # it had died already, or would not stop: its last save stands
            self._died(e)
        finally:
            try:
                ray.kill(self._actor, no_restart=True)
            except Exception:  # already gone
                pass
            with self._cond:
                self._cond.notify_all()

    def _died(self, error: BaseException) -> None:
        with self._cond:
            if self._dead:
                return
            cause = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            last = self._snapshot
            self._dead = (f"This run's Ray actor has ended unexpectedly (its node was lost, it ran out of memory, "
                          f"or it was killed: {type(error).__name__}); its last save is on the Runs page, and "
                          f"reloading this page continues the run from there.")
            self._cause = cause   # for the server's log and the tests
            self._dead_at = time.monotonic()
            if not self._stopped or last.status != Status.STOPPED:
                self._snapshot = dataclasses.replace(last, status=Status.ERROR, message=self._dead,
                                                     version=last.version + 1)
            self._cond.notify_all()


def _key(dataset) -> str:
    from ..run_data import fingerprint

    return fingerprint(dataset)


def _actor_named(ray, run_id: str):
    try:
        return ray.get_actor(run_id, namespace=NAMESPACE)
    except ValueError:  # no live actor by that name
        return None


def create(config, dataset, run_id: str | None = None, *, on_checkpoint=None, save_as: dict | None = None,
           queue: bool = False, **trainer_kwargs) -> RemoteTrainer:
    """A new run in a Ray actor named ``run_id`` (or the live one by that name). The actor saves the
    run to the run store when ``save_as`` is given ({} for the defaults; ``root``, ``name``,
    ``extra_meta`` as for ``runs.save``) or when an ``on_checkpoint`` is (the actor's save takes its
    place: a callable of the server cannot run where the run lives). Raises ClusterFull with one
    sentence when the cluster cannot place the run now, unless ``queue`` (a sweep's runs wait for
    their turn: Ray starts each actor once a place frees)."""
    from .actor import RunActor

    connect()   # one sentence (ClusterError) if the cluster cannot be reached
    run_id = run_id or new_run_id()
    found = attach(run_id)
    if found is not None:
        return found
    sentence = None if queue else room_sentence()
    if sentence:
        raise ClusterFull(sentence)
    if save_as is None and on_checkpoint is not None:
        save_as = {}
    trainer_kwargs.pop("strategy", None)   # the actor picks its own (AE_DISTRIBUTE on its node)
    film = trainer_kwargs.pop("film", None)
    if film is not None:
        trainer_kwargs["film_bytes"] = film.to_bytes()
    if save_as and save_as.get("root") is not None:
        save_as = {**save_as, "root": str(save_as["root"])}
    key = _key(dataset)
    try:
        actor = RunActor.options(name=run_id, namespace=NAMESPACE, lifetime="detached", max_restarts=0,
                                 runtime_env=runtime_env(), **resources_per_run()).remote(
            config, wire.dataset_ref(dataset), key, run_id, save_as, trainer_kwargs)
    except ValueError as e:  # the name was taken in between: someone else made this run
        raise ClusterError(f"Run {run_id} could not be started on the Ray cluster: {e}") from None
    return RemoteTrainer(actor, run_id, config, dataset, key, history=trainer_kwargs.get("history"))


def attach(run_id: str, timeout: float = 10.0) -> RemoteTrainer | None:
    """The live run ``run_id`` (its actor found by name), or None when there is none."""
    ray = connect()
    actor = _actor_named(ray, run_id)
    if actor is None:
        return None
    try:
        got = ray.get(actor.snapshot_after.remote(-1, 0.0), timeout=timeout)
        key = ray.get(actor.data_key.remote(), timeout=timeout)
    except Exception:  # dead, dying, or not answering: not a run to attach to
        return None
    packed, target = got
    trainer = RemoteTrainer(actor, run_id, target, wire.known_dataset(key), key)
    trainer._take(packed, target)
    return trainer

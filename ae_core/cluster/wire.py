"""What crosses between a run's actor and the processes that watch it.

A :class:`~ae_core.snapshot.Snapshot` is immutable and its mappings are ``MappingProxyType``, which
pickle refuses: :func:`pack` makes them plain dicts (and leaves out the fixed test digits, which the
watcher has in its own copy of the data set), :func:`unpack` restores them. Data sets go into Ray's
object store once per process and data set (:func:`dataset_ref`), so the runs of one server share one
copy instead of each receiving its own.
"""
from __future__ import annotations

import dataclasses
import threading
from types import MappingProxyType

import numpy as np

from ..history import _readonly
from ..run_data import KEYS  # noqa: F401  (the data set's arrays, for the actor)
from ..snapshot import N_DIGITS

_refs: dict[str, object] = {}        # data set fingerprint -> its ObjectRef in Ray's object store
_datasets: dict[str, object] = {}    # fingerprint -> the Dataset itself, as this process knows it
_lock = threading.Lock()
_EMPTY = np.zeros((0, 784), np.float32)


def pack(snapshot):
    history = snapshot.history
    return dataclasses.replace(
        snapshot, originals=_EMPTY,
        history=dataclasses.replace(history, terms=dict(history.terms)),
        test_measures=dict(snapshot.test_measures), measurements=dict(snapshot.measurements))


def unpack(snapshot, dataset):
    history = snapshot.history
    readonly = {f.name: _readonly(np.asarray(getattr(history, f.name))) for f in dataclasses.fields(history)
                if isinstance(getattr(history, f.name), np.ndarray)}
    return dataclasses.replace(
        snapshot, originals=_readonly(dataset.x_test[:N_DIGITS]),
        history=dataclasses.replace(history, **readonly, terms=MappingProxyType(
            {k: _readonly(np.asarray(v)) for k, v in history.terms.items()})),
        test_measures=MappingProxyType(dict(snapshot.test_measures)),
        measurements=MappingProxyType({k: _readonly(np.asarray(v)) for k, v in snapshot.measurements.items()}))


def dataset_ref(dataset):
    """The data set's ObjectRef, put in the object store the first time this process needs it."""
    from ..run_data import fingerprint
    from .connect import connect

    key = fingerprint(dataset)
    with _lock:
        if key not in _refs:
            _refs[key] = connect().put(dataset)
            _datasets[key] = dataset
        return _refs[key]


def known_dataset(key: str):
    """The data set with this fingerprint if this process has it (else None)."""
    with _lock:
        return _datasets.get(key)


def remember_dataset(key: str, dataset) -> None:
    with _lock:
        _datasets.setdefault(key, dataset)

"""The data a run trains on belongs to the run.

A run records where its digits came from (a sentence, the counts and a content hash) in its
``config.json``; an uploaded data set, which no path on the server can bring back, is also stored in
the run folder as ``data.npz`` (8-bit pixels when they are exactly k/255, read back with
``allow_pickle=False``). A saved run then reopens on its own digits, or the page says in one
sentence why it cannot.
"""
from __future__ import annotations

import hashlib
import threading
import weakref
import zipfile
from pathlib import Path

import numpy as np

DATA_FILE = "data.npz"
KEYS = ("x_train", "y_train", "x_test", "y_test")

_digests: dict[tuple, tuple[list, str]] = {}   # ids of the four arrays -> (weak refs to them, digest)
_lock = threading.Lock()


def fingerprint(dataset) -> str:
    """A content hash of the digits and labels (16 hex digits), computed once per data set (data
    sets are never changed in place)."""
    arrays = [getattr(dataset, name) for name in KEYS]
    key = tuple(id(a) for a in arrays)
    with _lock:
        known = _digests.get(key)
        if known is not None and all(ref() is a for ref, a in zip(known[0], arrays)):
            return known[1]
    h = hashlib.sha256()
    for name in KEYS:
        a = np.ascontiguousarray(getattr(dataset, name))
        h.update(f"{name}{a.shape}{a.dtype}".encode())
        h.update(memoryview(a).cast("B"))
    digest = h.hexdigest()[:16]
    with _lock:
        for stale in [k for k, (refs, _) in _digests.items() if any(ref() is None for ref in refs)]:
            del _digests[stale]
        _digests[key] = ([weakref.ref(a) for a in arrays], digest)
    return digest


def is_upload(dataset) -> bool:
    """Uploaded data sets have no path on the server (their temporary file is gone) and are not the
    bundled fallback: only the run folder can keep them."""
    return dataset.path is None and dataset.format != "bundled"


def describe(dataset) -> dict:
    """What a run records about its data (JSON-able)."""
    return {"source": dataset.source, "format": dataset.format, "path": dataset.path,
            "n_train": dataset.n_train, "n_test": dataset.n_test, "sha256": fingerprint(dataset),
            "stored": is_upload(dataset)}


def short_label(data: dict | None, fallback: str = "") -> str:
    """A data set in a few words for a table cell: ``mnist.npz · 60,000 / 10,000``."""
    if not data:
        return fallback
    path = data.get("path")
    if path:
        name = Path(str(path)).name
    elif data.get("format") == "bundled":
        name = "bundled digits"
    else:
        name = "upload"
        source = str(data.get("source") or "")
        for word in source.split():
            if "." in word.strip("(),") and not word.startswith("("):
                name = f"{word.strip('(),')} (upload)"
                break
    try:
        return f"{name} · {int(data['n_train']):,} / {int(data['n_test']):,}"
    except (KeyError, TypeError, ValueError):
        return name


def store(folder: Path, dataset) -> None:
    """Keep an uploaded data set in the run folder (once: the same digits are not written again)."""
    from .runs import atomic_write

    target = Path(folder) / DATA_FILE
    digest = fingerprint(dataset)
    if target.is_file() and _stored_digest(target) == digest:
        return
    arrays = {name: _compact(getattr(dataset, name)) for name in KEYS}
    arrays["sha256"] = np.array(digest)
    arrays["source"] = np.array(dataset.source)
    arrays["format"] = np.array(dataset.format)
    atomic_write(target, lambda tmp: np.savez_compressed(tmp, **arrays))


def _compact(a: np.ndarray) -> np.ndarray:
    """Pixels as uint8 when every value is k/255 (MNIST always is): a quarter of the size."""
    if a.dtype.kind == "f":
        scaled = np.rint(a * np.float32(255))
        if np.array_equal(scaled / np.float32(255), a):
            return scaled.astype(np.uint8)
    return a


def _stored_digest(path: Path) -> str | None:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return str(npz["sha256"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


class RunDataError(ValueError):
    """A run's own data cannot be brought back, in one sentence."""


def load_stored(folder: Path):
    """The data set kept in a run folder (raises RunDataError with one sentence)."""
    from .data import Dataset

    path = Path(folder) / DATA_FILE
    try:
        with np.load(path, allow_pickle=False) as npz:
            parts = {name: npz[name] for name in KEYS}
            source, fmt, digest = str(npz["source"]), str(npz["format"]), str(npz["sha256"])
    except FileNotFoundError:
        raise RunDataError(f"its data file {DATA_FILE} is missing") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise RunDataError(f"its data file {DATA_FILE} cannot be read ({type(e).__name__})") from None
    for name in ("x_train", "x_test"):
        a = parts[name]
        a = a.astype(np.float32) / np.float32(255) if a.dtype == np.uint8 else a.astype(np.float32)
        parts[name] = np.ascontiguousarray(a.reshape(len(a), -1))
    parts["y_train"] = parts["y_train"].astype(np.int64)
    parts["y_test"] = parts["y_test"].astype(np.int64)
    dataset = Dataset(**parts, format=fmt, source=source, path=None)
    if fingerprint(dataset) != digest:
        raise RunDataError(f"its data file {DATA_FILE} does not match the digits the run recorded")
    return dataset


def dataset_for(folder: Path, recorded: dict | None, current):
    """The data set a saved run continues on, and a sentence when that is not its own data.

    ``recorded`` is what the run's ``config.json`` says about its data (None for runs saved before
    runs recorded it); ``current`` is the server's default data set."""
    if not recorded:
        return current, None
    if recorded.get("sha256") == fingerprint(current):
        return current, None
    if recorded.get("stored"):
        try:
            return load_stored(folder), None
        except RunDataError as e:
            why = str(e)
    else:
        why = "that data is not available on this server"
    counts = f"{int(recorded.get('n_train', 0)):,} training digits"
    return current, (f"This run trained on {recorded.get('source') or 'another data set'} ({counts}), but {why}; "
                     f"it continues on {current.source}.")

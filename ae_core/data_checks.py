"""The shared ground of every MNIST reader: the `Dataset` they all return, the `DataError` they all
raise, and the one place images and labels are checked and normalised (`_split`, `_dataset`).

Readers live in `data_npz.py`, `data_idx.py` and `data_csv.py`; `data.py` decides which one a path
needs and is what the rest of the lab imports.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np


TEST_FRACTION = 1 / 7       # share held out for testing when a source has one split (MNIST's own 10k/70k)
MAX_IMAGES = 1_000_000      # per split; far above MNIST, far below what would exhaust memory
SPLIT_SEED = 0              # the held-out split must be the same on every run and machine
SIDE = 28
PIXELS = SIDE * SIDE

_CHUNK = 4 * 2**20                  # read compressed streams in pieces, so lies about size cost nothing
_SNIFF = 64 * 2**10                 # enough to hold a CSV header line (MNIST's is about 3 KB)
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


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
# File access and error wrapping
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

"""Reading MNIST from Yann LeCun's original IDX files (raw or gzipped).

Each header is checked against the bytes really there before anything is allocated.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .data_checks import (DataError, Dataset, MAX_IMAGES, PIXELS, SIDE, _CHUNK, _dataset, _open_binary,
    _reading, _split)

_IDX_IMAGES_MAGIC = 0x00000803      # unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 0x00000801      # unsigned bytes, 1 dimension


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

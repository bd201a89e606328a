"""Reading MNIST from an NPZ archive in the layout keras.datasets.mnist.load_data() returns.

Array headers are read from the archive before any data, so a lying header costs nothing, and
pickled members are refused (`allow_pickle=False`).
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .data_checks import (DataError, Dataset, _ZIP_MAGICS, _brief, _check_image_shape, _check_label_shape,
    _dataset, _peek, _split)

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

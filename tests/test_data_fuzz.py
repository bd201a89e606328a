"""Fuzzing ae_core.data: for any bytes at all, load() and load_upload() give a valid Dataset or a DataError.

Seeds are small valid files in each layout (NPZ, CSV, gzipped IDX); hypothesis flips, truncates and
inserts bytes, or replaces a file with random bytes. Nothing but DataError may escape, and whatever
loads must still satisfy the Dataset contract. AE_FUZZ_EXAMPLES=5000 makes a longer hunt.
"""
import gzip
import io
import os
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ae_core import data
from ae_core.data import DataError

FUZZ = settings(max_examples=int(os.environ.get("AE_FUZZ_EXAMPLES", 60)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow], database=None)
N_TRAIN, N_TEST = 12, 6
IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(scope="module")
def seeds(mnist_path):
    """Small valid files: bytes of an NPZ, a Kaggle-style CSV and four gzipped IDX files."""
    with np.load(mnist_path, allow_pickle=False) as f:
        arrays = {"x_train": f["x_train"][:N_TRAIN], "y_train": f["y_train"][:N_TRAIN],
                  "x_test": f["x_test"][:N_TEST], "y_test": f["y_test"][:N_TEST]}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    header = "label," + ",".join(f"pixel{i}" for i in range(784))
    rows = np.column_stack([arrays["y_train"], arrays["x_train"].reshape(N_TRAIN, 784)])
    csv = header + "\n" + "\n".join(",".join(map(str, row)) for row in rows.tolist()) + "\n"

    def idx(array, magic):
        return gzip.compress(struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
                             + array.astype(np.uint8).tobytes(), mtime=0)

    idx_files = dict(zip(IDX_NAMES, (idx(arrays["x_train"], 0x803), idx(arrays["y_train"], 0x801),
                                     idx(arrays["x_test"], 0x803), idx(arrays["y_test"], 0x801))))
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        for name, content in idx_files.items():
            archive.writestr(name, content)
    return {"npz": buf.getvalue(), "csv": csv.encode(), "idx": idx_files, "idx.zip": zipped.getvalue()}


def check_outcome(load):
    """Run a load: a DataError with a one-line message is fine, a valid Dataset is fine, nothing else is."""
    try:
        ds = load()
    except DataError as e:
        assert "\n" not in str(e) and str(e).strip()
        return
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        assert x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == 784 and x.shape[0] >= 1
        assert x.flags.c_contiguous
        assert np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
        assert y.dtype == np.int64 and y.shape == (x.shape[0],)
        assert ((y >= 0) & (y <= 9)).all() or (y == -1).all()


def load_bytes(content: bytes, name: str):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        check_outcome(lambda: data.load(path))


def load_idx_folder(files: dict[str, bytes], target: str | None = None):
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in files.items():
            (Path(tmp) / name).write_bytes(content)
        check_outcome(lambda: data.load(Path(tmp) / target if target else Path(tmp)))


# A mutation: flip one byte, cut the file short, or insert a few bytes, at a position given as a fraction.
mutations = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True), st.just(0)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
)


def mutate(content: bytes, mutation) -> bytes:
    kind, where, arg = mutation
    at = int(where * len(content))
    if kind == "flip":
        return content[:at] + bytes([content[at] ^ arg]) + content[at + 1:]
    if kind == "truncate":
        return content[:at]
    return content[:at] + arg + content[at:]


# ------------------------------------------------------------------------------------------
# Random bytes
# ------------------------------------------------------------------------------------------

@FUZZ
@given(content=st.binary(max_size=2048), name=st.sampled_from(["x.npz", "x.csv", "x.csv.gz", "x.bin", "mnist_train.csv"]))
def test_random_bytes_as_a_file(content, name):
    load_bytes(content, name)


@FUZZ
@given(content=st.binary(max_size=2048), which=st.sampled_from(IDX_NAMES), raw=st.booleans())
def test_random_bytes_in_an_idx_folder(seeds, content, which, raw):
    files = dict(seeds["idx"])
    files[which] = content if raw else gzip.compress(content)
    load_idx_folder(files)


@FUZZ
@given(prefix=st.sampled_from([b"PK\x03\x04", b"\x1f\x8b", b"\x93NUMPY", b"\x00\x00\x08\x03", b"label,"]),
       content=st.binary(max_size=512), name=st.sampled_from(["f.npz", "f.csv", "f.gz", "train-images-idx3-ubyte"]))
def test_random_bytes_behind_a_plausible_magic_number(prefix, content, name):
    load_bytes(prefix + content, name)


# ------------------------------------------------------------------------------------------
# Mutations of valid files
# ------------------------------------------------------------------------------------------

@FUZZ
@given(mutation=mutations)
def test_mutated_npz(seeds, mutation):
    load_bytes(mutate(seeds["npz"], mutation), "mutated.npz")


@FUZZ
@given(mutation=mutations)
def test_mutated_csv(seeds, mutation):
    load_bytes(mutate(seeds["csv"], mutation), "mutated.csv")


@FUZZ
@given(mutation=mutations, which=st.sampled_from(IDX_NAMES), decompressed=st.booleans())
def test_mutated_idx(seeds, mutation, which, decompressed):
    """Mutate either the gzip stream itself or the IDX bytes inside it."""
    files = dict(seeds["idx"])
    if decompressed:
        files[which] = gzip.compress(mutate(gzip.decompress(files[which]), mutation))
    else:
        files[which] = mutate(files[which], mutation)
    load_idx_folder(files, target="train-images-idx3-ubyte.gz")


@FUZZ
@given(mutation=mutations, name=st.sampled_from(["up.npz", "up.csv", "up.zip", "up.csv.gz", "idx.zip"]))
def test_mutated_uploads(seeds, mutation, name):
    content = {"up.npz": seeds["npz"], "up.zip": seeds["npz"], "idx.zip": seeds["idx.zip"]}.get(name, seeds["csv"])
    if name.endswith(".gz"):
        content = gzip.compress(content)
    check_outcome(lambda: data.load_upload(mutate(content, mutation), name))


def test_seeds_are_valid(seeds):
    """The unmutated seeds load, so mutations start from files that work."""
    load_bytes(seeds["npz"], "seed.npz")
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in seeds["idx"].items():
            (Path(tmp) / name).write_bytes(content)
        assert data.load(tmp).n_train == N_TRAIN
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "seed.csv").write_bytes(seeds["csv"])
        ds = data.load(Path(tmp) / "seed.csv")
        assert ds.n_train + ds.n_test == N_TRAIN

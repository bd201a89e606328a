"""The data a run trains on belongs to the run: recorded, stored for uploads, brought back on reopening."""
import dataclasses
import json

import numpy as np
import pytest

from ae_core import run_data, run_table, runs
from ae_core.data import Dataset


def _digits(n_train=300, n_test=60, seed=0, source="digits.npz (uploaded)"):
    rng = np.random.default_rng(seed)
    x = (rng.integers(0, 256, (n_train + n_test, 784)) / 255).astype(np.float32)
    y = rng.integers(0, 10, n_train + n_test).astype(np.int64)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:], format="npz", source=source, path=None)


def test_the_fingerprint_follows_the_content_not_the_object():
    a, b = _digits(seed=1), _digits(seed=1)
    assert run_data.fingerprint(a) == run_data.fingerprint(b)
    changed = dataclasses.replace(a, x_train=a.x_train.copy())
    changed.x_train[0, 0] = 1.0 - changed.x_train[0, 0]
    assert run_data.fingerprint(changed) != run_data.fingerprint(a)
    labels = dataclasses.replace(a, y_test=(a.y_test + 1) % 10)
    assert run_data.fingerprint(labels) != run_data.fingerprint(a)


def test_an_upload_is_stored_compactly_and_comes_back_identical(tmp_path):
    upload = _digits()
    run_data.store(tmp_path, upload)
    with np.load(tmp_path / run_data.DATA_FILE, allow_pickle=False) as npz:
        assert npz["x_train"].dtype == np.uint8    # k/255 pixels kept as bytes
    back = run_data.load_stored(tmp_path)
    assert np.array_equal(back.x_train, upload.x_train) and np.array_equal(back.y_test, upload.y_test)
    assert back.source == upload.source and run_data.fingerprint(back) == run_data.fingerprint(upload)


def test_a_saved_run_reopens_on_its_own_data_or_says_why_not(tmp_path):
    upload, default = _digits(), _digits(n_train=500, seed=7, source="MNIST from /data/mnist.npz")
    default = dataclasses.replace(default, path="/data/mnist.npz")
    recorded = run_data.describe(upload)
    assert recorded["stored"] and recorded["n_train"] == 300
    run_data.store(tmp_path, upload)

    dataset, why = run_data.dataset_for(tmp_path, recorded, default)
    assert why is None and dataset.n_train == 300

    # the server's default data is the run's own: no file needed
    dataset, why = run_data.dataset_for(tmp_path / "none", run_data.describe(default), default)
    assert dataset is default and why is None

    # the stored file was lost: one sentence, and the run continues on the default data
    (tmp_path / run_data.DATA_FILE).unlink()
    dataset, why = run_data.dataset_for(tmp_path, recorded, default)
    assert dataset is default
    assert "300 training digits" in why and "missing" in why and "\n" not in why

    # a run recorded on a file this server does not have
    other = dict(run_data.describe(default), sha256="0" * 16, stored=False)
    dataset, why = run_data.dataset_for(tmp_path, other, default)
    assert dataset is default and "not available on this server" in why


def test_a_tampered_data_file_is_refused(tmp_path):
    upload = _digits()
    run_data.store(tmp_path, upload)
    with np.load(tmp_path / run_data.DATA_FILE, allow_pickle=False) as npz:
        parts = {k: npz[k] for k in npz.files}
    parts["x_train"] = parts["x_train"][::-1].copy()
    np.savez(tmp_path / run_data.DATA_FILE, **parts)
    with pytest.raises(run_data.RunDataError, match="does not match"):
        run_data.load_stored(tmp_path)


def test_runs_record_their_data_and_the_table_shows_it(tmp_path, small_mnist):
    from ae_core.config import preset
    from ae_core.trainer import Trainer

    upload = _digits()
    for run_id, dataset in (("on-upload", upload), ("on-mnist", small_mnist)):
        t = Trainer(preset("fast").replace(hidden=(16,), latent=4), dataset, run_id=run_id)
        try:
            t.wait_ready()
            t.step(3)
            snap = t.wait(lambda s: s.status == "paused" and s.step == 3)
            runs.save(snap, t.model(), root=tmp_path, dataset=dataset)
        finally:
            t.stop()
    meta = json.loads((tmp_path / "on-upload" / "config.json").read_text())["run"]
    assert meta["data"]["n_train"] == 300 and meta["data"]["stored"] is True
    assert (tmp_path / "on-upload" / run_data.DATA_FILE).is_file()
    assert not (tmp_path / "on-mnist" / run_data.DATA_FILE).exists()   # a file on the server: not copied
    table = run_table.summary_table(runs.list_runs(tmp_path)).set_index("run_id")
    assert table.loc["on-upload", "data"] == "digits.npz (upload) · 300 / 60"
    assert table.loc["on-mnist", "data"].startswith("mnist.npz · 2,000 / 500")

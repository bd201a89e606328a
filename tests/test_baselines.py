"""Baselines: mean digit and PCA-k test MSE, against a direct numpy computation; the sentence the
Train page shows; the lines on the loss charts; the CLI verb."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ae_core import baselines as bl
from ae_core.data import Dataset
from ae_core.history import History
from tests.conftest import MNIST_NPZ
from tests.test_cli import cli

# Measured once on MNIST's 10 000 test digits (k principal components of the 60 000 training digits).
KNOWN_MEAN_DIGIT = 0.06747
KNOWN_PCA = {2: 0.0557, 16: 0.0269, 32: 0.0168, 64: 0.0090, 128: 0.0042, 256: 0.0014}


def small_dataset(seed: int = 0, n_train: int = 300, n_test: int = 80) -> Dataset:
    """Digit-like data with structure (a few blobs mixed), so PCA's errors differ clearly by k."""
    rng = np.random.default_rng(seed)
    basis = rng.random((12, 784)) ** 3
    def draw(n):
        return np.clip(rng.random((n, 12)) @ basis / 4 + 0.05 * rng.standard_normal((n, 784)), 0, 1).astype(np.float32)
    return Dataset(draw(n_train), np.zeros(n_train, np.int64), draw(n_test), np.zeros(n_test, np.int64),
                   format="npz", source="synthetic", path=None)


def direct_pca_mse(x_train: np.ndarray, x_test: np.ndarray, k: int) -> float:
    """The textbook way: SVD of the centred training matrix, project, reconstruct, compare."""
    mean = x_train.astype(np.float64).mean(axis=0)
    _, _, vt = np.linalg.svd(x_train.astype(np.float64) - mean, full_matrices=False)
    v = vt[:k].T
    recon = (x_test - mean) @ v @ v.T + mean
    return float(np.mean((x_test - recon) ** 2))


def test_matches_direct_numpy():
    ds = small_dataset()
    spec = bl.spectrum_of(ds.x_train, ds.x_test)
    mean = ds.x_train.astype(np.float64).mean(axis=0)
    for k in (1, 2, 5, 12, 50):
        got = spec.baselines(k)
        assert got.mean_digit == pytest.approx(float(np.mean((ds.x_test - mean) ** 2)), rel=1e-6)
        assert got.pca == pytest.approx(direct_pca_mse(ds.x_train, ds.x_test, k), rel=1e-4, abs=1e-8), k
        assert got.latent == k and got.lines() == {"mean digit": got.mean_digit, f"PCA-{k}": got.pca}


def test_reconstruct_is_the_unclipped_projection():
    ds = small_dataset(1)
    spec = bl.spectrum_of(ds.x_train, ds.x_test)
    recon = spec.reconstruct(ds.x_test, 5)
    assert recon.shape == ds.x_test.shape
    assert float(np.mean((ds.x_test - recon.astype(np.float64)) ** 2)) == pytest.approx(spec.test_mse[5], rel=1e-4)
    # 784 components reproduce the digits; nothing is clipped into [0, 1] on the way.
    assert np.allclose(spec.reconstruct(ds.x_test, 784), ds.x_test, atol=1e-4)
    assert recon.min() < 0 or recon.max() > 1 or np.allclose(np.clip(recon, 0, 1), recon)


def test_more_components_never_hurt():
    ds = small_dataset(2)
    curve = bl.spectrum_of(ds.x_train, ds.x_test).test_mse
    assert len(curve) == 785 and np.all(np.diff(curve) <= 1e-12)


def test_cached_once_per_dataset():
    ds = small_dataset(3)
    first = bl.spectrum(ds)
    assert bl.spectrum(ds) is first
    assert bl.baselines(ds, 4).pca == pytest.approx(first.test_mse[4])
    other = small_dataset(4)
    assert bl.spectrum(other) is not first


def test_baselines_soon_computes_in_the_background():
    ds = small_dataset(5)
    import time

    got = bl.baselines_soon(ds, 3)
    deadline = time.monotonic() + 30
    while got is None and time.monotonic() < deadline:
        time.sleep(0.05)
        got = bl.baselines_soon(ds, 3)
    assert got is not None and got.pca == pytest.approx(direct_pca_mse(ds.x_train, ds.x_test, 3), rel=1e-4)


def test_known_values_on_mnist():
    if not MNIST_NPZ.is_file():
        pytest.skip(f"{MNIST_NPZ} is not here: the known MNIST values cannot be checked")
    from ae_core.data import load

    ds = load(MNIST_NPZ)
    spec = bl.spectrum(ds)
    assert spec.baselines(32).mean_digit == pytest.approx(KNOWN_MEAN_DIGIT, abs=5e-5)
    for k, value in KNOWN_PCA.items():
        assert spec.baselines(k).pca == pytest.approx(value, abs=5e-5), k


# --- the sentence ---------------------------------------------------------------------------------
def history_with_tests(points: list[tuple[int, float]]):
    h = History()
    h.extend(np.full(points[-1][0] if points else 0, 0.05, np.float32), 0.01, 64, 0.0, 1.0)
    for step, loss in points:
        h.add_test(step, loss)
    return h.view()


BASE = bl.Baselines(latent=64, mean_digit=0.0675, pca=0.0090)


def test_verdict_worse_than_the_mean_digit_all_along():
    text = bl.verdict(history_with_tests([(0, 0.2), (1000, 0.09), (10000, 0.080)]), BASE)
    assert "worse than the mean digit" in text and "10 000 steps" in text


def test_verdict_beats_pca_since_the_last_crossing():
    view = history_with_tests([(500, 0.05), (1240, 0.0085), (1500, 0.0095), (2000, 0.0089), (3000, 0.007)])
    text = bl.verdict(view, BASE)
    assert "beats PCA-64 since step 2 000" in text
    view = history_with_tests([(500, 0.05), (1240, 0.0085), (3000, 0.007)])
    assert "beats PCA-64 since step 1 240" in bl.verdict(view, BASE)


def test_verdict_between_the_two():
    text = bl.verdict(history_with_tests([(10, 0.07), (200, 0.03), (400, 0.02)]), BASE)
    assert "beats the mean digit since step 200" in text and "not yet PCA-64" in text


def test_verdict_says_nothing_without_evaluations_or_baselines():
    assert bl.verdict(history_with_tests([]), BASE) is None
    assert bl.verdict(history_with_tests([(0, 0.2)]), BASE) is None  # the untrained network: step 0 only
    assert bl.verdict(history_with_tests([(100, 0.02)]), None) is None


# --- the charts -----------------------------------------------------------------------------------
def test_loss_charts_draw_the_baselines_as_flat_labelled_lines():
    from ae_core import viz

    view = history_with_tests([(100, 0.02), (300, 0.01)])
    fig = viz.loss_figure(view, log_y=True, baselines=BASE.lines())
    lines = {t.name: t for t in fig.data if t.name in ("mean digit", "PCA-64")}
    assert set(lines) == {"mean digit", "PCA-64"}
    assert list(lines["PCA-64"].y) == [0.0090, 0.0090] and lines["PCA-64"].x[-1] == 299
    assert not [t for t in viz.loss_figure(view).data if t.name in lines]  # optional
    overlay = viz.overlay_figure({"a": (np.arange(50), np.linspace(1, 0.1, 50))}, baselines=BASE.lines())
    assert {t.name for t in overlay.data} == {"a", "mean digit", "PCA-64"}


# --- the CLI ---------------------------------------------------------------------------------------
def test_cli_baselines(tmp_path):
    ds = small_dataset(6)
    path = tmp_path / "digits.npz"
    np.savez(path, x_train=(ds.x_train * 255).round().astype(np.uint8).reshape(-1, 28, 28),
             y_train=np.zeros(len(ds.x_train), np.uint8),
             x_test=(ds.x_test * 255).round().astype(np.uint8).reshape(-1, 28, 28),
             y_test=np.zeros(len(ds.x_test), np.uint8))
    p = cli("baselines", "--data", str(path), "--latent", "7", "--json", runs_dir=tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert set(out) == {"latent", "mean_digit", "pca"} and out["latent"] == 7
    x_train = np.load(path)["x_train"].reshape(-1, 784) / np.float32(255)
    x_test = np.load(path)["x_test"].reshape(-1, 784) / np.float32(255)
    assert out["pca"] == pytest.approx(direct_pca_mse(x_train, x_test, 7), abs=2e-6)
    assert out["mean_digit"] == pytest.approx(float(np.mean((x_test - x_train.mean(0)) ** 2)), abs=2e-6)

    bad = cli("baselines", "--data", str(tmp_path / "missing.npz"), "--latent", "7", runs_dir=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and len(bad.stderr.strip().splitlines()) == 1
    bad = cli("baselines", "--data", str(path), "--latent", "0", runs_dir=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")

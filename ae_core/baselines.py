"""Baselines an autoencoder has to beat, on the held-out digits its test MSE is measured on.

- **mean digit**: always answer the training images' mean image.
- **PCA-k**: project onto the k principal components of the training images and back (the best
  any *linear* k-number code can do; the reconstruction is not clipped to [0, 1]).

Both are test MSE per pixel over *all* of ``dataset.x_test``, exactly as the trainer's test MSE.
One eigendecomposition of the 784×784 covariance serves every k: the test digits' squared
coordinates along the components, summed cumulatively, give the PCA error for all k at once.
It is computed once per data set and kept in memory (a few data sets at most).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .data import Dataset
    from .history import HistoryView

MEAN_DIGIT = "mean digit"
KEEP_DATASETS = 4          # spectra kept in memory (each ~5 MB: 784×784 float64 components)
_GRAM_ROWS = 8192          # training rows per slice of the covariance product (bounded temporaries)


def pca_label(k: int) -> str:
    return f"PCA-{k}"


@dataclass(frozen=True)
class Baselines:
    latent: int
    mean_digit: float      # test MSE of answering the training mean for every digit
    pca: float             # test MSE of PCA with ``latent`` components

    @property
    def pca_label(self) -> str:
        return pca_label(self.latent)

    def lines(self) -> dict[str, float]:
        """Label -> test MSE, as drawn on the loss charts (``mean digit``, ``PCA-64``)."""
        return {MEAN_DIGIT: self.mean_digit, self.pca_label: self.pca}

    def to_dict(self) -> dict:
        return {"latent": self.latent, "mean_digit": self.mean_digit, "pca": self.pca}


@dataclass(frozen=True)
class Spectrum:
    """The training images' principal components and the test error of every k."""
    mean: np.ndarray          # (784,) float64 training mean
    components: np.ndarray    # (784, 784) float64, columns by decreasing variance
    test_mse: np.ndarray      # (785,) test MSE with k = 0..784 components (k = 0: the mean digit)

    def baselines(self, latent: int) -> Baselines:
        k = int(np.clip(latent, 0, len(self.test_mse) - 1))
        return Baselines(latent=int(latent), mean_digit=float(self.test_mse[0]), pca=float(self.test_mse[k]))

    def reconstruct(self, images: np.ndarray, k: int) -> np.ndarray:
        """PCA-k reconstructions of ``images`` (rows of 784 pixels), not clipped."""
        x = np.asarray(images, np.float64).reshape(-1, self.mean.size) - self.mean
        v = self.components[:, : max(0, int(k))]
        return ((x @ v) @ v.T + self.mean).astype(np.float32)


def spectrum_of(x_train: np.ndarray, x_test: np.ndarray) -> Spectrum:
    """Principal components of ``x_train`` and the PCA test error on ``x_test`` for every k."""
    x_train = np.asarray(x_train, np.float32).reshape(len(x_train), -1)
    d = x_train.shape[1]
    mean = x_train.mean(axis=0, dtype=np.float64)
    mean32 = mean.astype(np.float32)
    # X_cᵀX_c in float32 slices (BLAS-fast; differs from float64 by ~1e-6 of the variances), summed in float64.
    gram = np.zeros((d, d), np.float64)
    for start in range(0, len(x_train), _GRAM_ROWS):
        part = x_train[start:start + _GRAM_ROWS] - mean32
        gram += part.T @ part
    _, vectors = np.linalg.eigh(gram / max(len(x_train), 1))
    components = np.ascontiguousarray(vectors[:, ::-1])
    centred = np.asarray(x_test, np.float64).reshape(len(x_test), -1) - mean
    total = float(np.square(centred).sum())
    explained = np.square(centred @ components).sum(axis=0)
    n = max(centred.size, 1)
    residual = np.maximum(total - np.concatenate([[0.0], np.cumsum(explained)]), 0.0)
    return Spectrum(mean=mean, components=components, test_mse=residual / n)


# --- the cache: one spectrum per data set -------------------------------------------------------------
_SPECTRA: "OrderedDict[tuple[int, int], tuple[object, object, Spectrum]]" = OrderedDict()
_PENDING: dict[tuple[int, int], threading.Thread] = {}
_LOCK = threading.Lock()


def _key(dataset: "Dataset") -> tuple[int, int]:
    return id(dataset.x_train), id(dataset.x_test)


def _cached(dataset: "Dataset") -> Spectrum | None:
    with _LOCK:
        hit = _SPECTRA.get(_key(dataset))
        # The arrays are kept with the entry, so an id can only match the very same arrays.
        if hit is None or hit[0] is not dataset.x_train or hit[1] is not dataset.x_test:
            return None
        _SPECTRA.move_to_end(_key(dataset))
        return hit[2]


def _store(dataset: "Dataset", spectrum: Spectrum) -> None:
    with _LOCK:
        _SPECTRA[_key(dataset)] = (dataset.x_train, dataset.x_test, spectrum)
        _SPECTRA.move_to_end(_key(dataset))
        while len(_SPECTRA) > KEEP_DATASETS:
            _SPECTRA.popitem(last=False)


def spectrum(dataset: "Dataset") -> Spectrum:
    """The data set's spectrum, computed on first use (about a second on 60 000 digits)."""
    hit = _cached(dataset)
    if hit is None:
        hit = spectrum_of(dataset.x_train, dataset.x_test)
        _store(dataset, hit)
    return hit


def baselines(dataset: "Dataset", latent: int) -> Baselines:
    """Mean-digit and PCA-``latent`` test MSE on ``dataset`` (computed once per data set)."""
    return spectrum(dataset).baselines(latent)


def baselines_soon(dataset: "Dataset", latent: int) -> Baselines | None:
    """The baselines if they are known, else None while a background thread computes them (a
    page asks again at its next refresh instead of waiting)."""
    hit = _cached(dataset)
    if hit is not None:
        return hit.baselines(latent)
    key = _key(dataset)
    with _LOCK:
        if key not in _PENDING or not _PENDING[key].is_alive():
            def work():
                from . import prewarm

                try:
                    prewarm.wait_until_warm()
                    spectrum(dataset)
                finally:
                    with _LOCK:
                        _PENDING.pop(key, None)
            _PENDING[key] = threading.Thread(target=work, daemon=True, name="baselines")
            _PENDING[key].start()
    return None


# --- what the Train page says about a run -------------------------------------------------------------
def _spaced(n: int) -> str:
    return f"{int(n):,}".replace(",", " ")


def verdict(history: "HistoryView", base: Baselines | None) -> str | None:
    """One plain sentence comparing a run's held-out MSE with the baselines, or None before there
    is anything to compare. Uses the test evaluations after at least one step."""
    if base is None:
        return None
    ok = np.asarray(history.test_step) > 0
    steps = np.asarray(history.test_step)[ok]
    losses = np.asarray(history.test_loss, np.float64)[ok]
    if not len(steps):
        return None
    last = float(losses[-1])
    if not np.isfinite(last):
        return None
    if last >= base.mean_digit:
        if np.all(losses >= base.mean_digit):
            return (f"This run is worse than the mean digit (always answering the average image) for all "
                    f"{_spaced(steps[-1])} steps so far: test MSE {last:.4f} against {base.mean_digit:.4f}.")
        return (f"This run is worse than the mean digit (always answering the average image) again: "
                f"test MSE {last:.4f} against {base.mean_digit:.4f}.")
    if last < base.pca:
        since = _since(steps, losses < base.pca)
        return (f"This run beats {base.pca_label} since step {_spaced(since)}: "
                f"test MSE {last:.4f} against {base.pca:.4f}.")
    since = _since(steps, losses < base.mean_digit)
    return (f"This run beats the mean digit since step {_spaced(since)} but not yet {base.pca_label}: "
            f"test MSE {last:.4f} against {base.pca:.4f}.")


def _since(steps: np.ndarray, good: np.ndarray) -> int:
    """The first step of the final unbroken stretch of evaluations where ``good`` holds."""
    bad = np.flatnonzero(~good)
    return int(steps[bad[-1] + 1] if len(bad) else steps[0])


def lines_for(dataset: "Dataset", latents) -> dict[str, float] | None:
    """Chart lines for several runs at once: the mean digit and PCA-k for each distinct code size
    (None while the data set's spectrum is first computed)."""
    latents = sorted({int(k) for k in latents})
    if not latents or baselines_soon(dataset, latents[0]) is None:
        return None
    spec = spectrum(dataset)
    lines = {MEAN_DIGIT: float(spec.test_mse[0])}
    lines.update({pca_label(k): spec.baselines(k).pca for k in latents})
    return lines

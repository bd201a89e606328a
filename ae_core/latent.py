"""What the network has learnt, as arrays: codes of a fixed sample of test digits, their 2-D map,
decoded positions, interpolations and reconstruction errors per digit class.

Pure numpy apart from a few thin functions that call a Keras ``encoder``/``decoder`` (inference only,
one batched call each, so a page can use them while a Trainer updates the same weights in its own
thread). Figures are drawn from these arrays by :mod:`ae_core.viz`; nothing here imports streamlit.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Hashable

import numpy as np

SAMPLE_SIZE = 2000   # test digits on the map: enough for ten clear clusters, one cheap batched call
SAMPLE_SEED = 0      # the same digits at every refresh, on every machine
GRID_SIDE = 40       # the map's invisible grid of clickable positions is GRID_SIDE × GRID_SIDE
N_CLASSES = 10


class LatentError(ValueError):
    """Codes that cannot be drawn (e.g. NaN after a diverged run), in one sentence."""


# --- the 2-D projection ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Projection:
    """A linear map between the latent space (D numbers) and the 2-D plane of the picture.

    ``project(codes) = (codes - mean) @ components.T`` and ``inverse(xy) = mean + xy @ components``.
    ``components`` has orthonormal rows (zero rows pad a 1-D code), so ``project(inverse(xy)) == xy``
    and ``inverse(project(c)) == c`` for every code that lies in the plane (every code when D <= 2).
    """

    mean: np.ndarray          # (D,)
    components: np.ndarray    # (2, D)
    kind: str                 # "pca" or "raw" (the code itself, latent size 1 or 2)
    explained: tuple[float, float] | None = None  # PCA: share of the codes' variance along each axis

    @property
    def latent_dim(self) -> int:
        return int(self.mean.shape[0])

    def project(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes, np.float64).reshape(-1, self.latent_dim)
        return (codes - self.mean) @ self.components.T

    def inverse(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        return self.mean + xy @ self.components

    @property
    def axis_titles(self) -> tuple[str, str]:
        if self.kind == "raw":
            return ("code 1", "code 2") if self.latent_dim == 2 else ("code", "")
        ex = self.explained or (0.0, 0.0)
        return f"PC 1 ({ex[0]:.0%} of variance)", f"PC 2 ({ex[1]:.0%})"


def fit_projection(codes: np.ndarray) -> Projection:
    """PCA of the codes to 2-D (the two directions of largest variance); the raw code when it has
    1 or 2 numbers."""
    codes = np.asarray(codes, np.float64)
    if codes.ndim != 2 or len(codes) == 0:
        raise LatentError(f"Expected a non-empty (N, D) array of codes, got shape {codes.shape}.")
    if not np.all(np.isfinite(codes)):
        raise LatentError("Some codes are NaN or infinite, so there is no map to draw (did the run diverge?).")
    dim = codes.shape[1]
    if dim <= 2:
        # The code itself: a 2-D code is the map; a 1-D code lies along the x axis.
        return Projection(mean=np.zeros(dim), components=np.eye(2, dim), kind="raw")
    mean = codes.mean(axis=0)
    centred = codes - mean
    # Eigenvectors of the D×D scatter matrix rather than an SVD of the N×D codes: the same axes for
    # a fraction of the CPU time (it runs every few seconds beside a training run).
    variances, vectors = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(variances)[::-1][:2]
    variances = np.clip(variances, 0.0, None)
    components = vectors[:, order].T.copy()
    # Eigenvectors' signs are arbitrary: fix them (largest loading positive) so the map does not flip
    # from one refresh to the next while training changes the codes a little.
    for row in components:
        if row[np.argmax(np.abs(row))] < 0:
            row *= -1
    total = float(variances.sum())
    explained = tuple(float(variances[i] / total) if total > 0 else 0.0 for i in order)
    return Projection(mean=mean, components=components, kind="pca", explained=explained)


def grid_positions(xy: np.ndarray, side: int = GRID_SIDE, pad: float = 0.05) -> np.ndarray:
    """side² positions evenly covering the points' bounding box (plus a margin), row by row.
    Drawn as invisible points under the map, they make every empty place of it clickable."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    lo, hi = lo - pad * span, hi + pad * span
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], side), np.linspace(lo[1], hi[1], side))
    return np.column_stack([gx.ravel(), gy.ravel()])


def empty_positions(xy: np.ndarray, side: int = GRID_SIDE, pad: float = 0.05) -> np.ndarray:
    """The grid positions (see :func:`grid_positions`) whose cell holds no point of ``xy``.

    These are the map's clickable empty places: a click there means "decode this place", never
    "this digit" (an invisible grid point on a digit could win plotly's nearest-point contest)."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    grid = grid_positions(xy, side, pad).reshape(side, side, 2)
    xs, ys = grid[0, :, 0], grid[:, 0, 1]
    if side < 2:
        return grid.reshape(-1, 2)
    dx, dy = xs[1] - xs[0], ys[1] - ys[0]
    col = np.clip(np.floor((xy[:, 0] - xs[0]) / dx + 0.5).astype(np.int64), 0, side - 1)
    row = np.clip(np.floor((xy[:, 1] - ys[0]) / dy + 0.5).astype(np.int64), 0, side - 1)
    taken = np.zeros((side, side), bool)
    taken[row, col] = True
    return grid[~taken]


# --- interpolation, errors, noise ----------------------------------------------------------------------
def line(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` codes evenly spaced on the straight line from ``a`` to ``b``, both ends included."""
    if steps < 2:
        raise ValueError("An interpolation needs at least 2 steps (its two ends).")
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return a + t * (b - a)


def reconstruction_errors(x: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """Mean squared error of each digit (one number a row)."""
    x = np.asarray(x, np.float32)
    return np.mean(np.square(x - np.asarray(reconstructions, np.float32)), axis=1)


def per_class_error(errors: np.ndarray, labels: np.ndarray, n_classes: int = N_CLASSES):
    """Mean error and count per class 0..n_classes-1 (NaN mean where a class has no digit).
    Labels outside the range (-1: unlabelled data) are ignored."""
    errors = np.asarray(errors, np.float64)
    labels = np.asarray(labels)
    ok = (labels >= 0) & (labels < n_classes)
    counts = np.bincount(labels[ok].astype(np.int64), minlength=n_classes)
    sums = np.bincount(labels[ok].astype(np.int64), weights=errors[ok], minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return means, counts


def worst(errors: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest errors, largest first (ties: lower position first)."""
    errors = np.asarray(errors)
    order = np.argsort(-errors, kind="stable")
    return order[: max(0, k)]


def corrupt(x: np.ndarray, noise: float, seed: int = 0) -> np.ndarray:
    """The denoising input the Trainer makes: Gaussian noise of stddev ``noise``, clipped to [0, 1]."""
    x = np.asarray(x, np.float32)
    rng = np.random.default_rng(seed)
    return np.clip(x + noise * rng.standard_normal(x.shape).astype(np.float32), 0.0, 1.0)


def sample_indices(n: int, size: int = SAMPLE_SIZE, seed: int = SAMPLE_SEED) -> np.ndarray:
    """A fixed, sorted sample of ``size`` test positions (all of them when there are fewer)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


# --- the thin Keras part ----------------------------------------------------------------------------------
def split(autoencoder) -> tuple:
    """(encoder, decoder) of a saved autoencoder (its nested models, or a tied one's rebuilt: see
    ae_core.model.split)."""
    from .model import split as split_model

    try:
        return split_model(autoencoder)
    except ValueError:
        raise LatentError("This model has no nested 'encoder' and 'decoder' parts to explore.") from None


def encode(encoder, x: np.ndarray) -> np.ndarray:
    """Codes of a batch of images, in one call (inference: dropout-free, no weight updates)."""
    return np.asarray(encoder(np.asarray(x, np.float32), training=False), np.float32)


def decode(decoder, codes: np.ndarray) -> np.ndarray:
    return np.asarray(decoder(np.asarray(codes, np.float32), training=False), np.float32)


def decode_positions(decoder, projection: Projection, xy: np.ndarray) -> np.ndarray:
    """Images generated from places of the map: back to the latent space, then the decoder."""
    return decode(decoder, projection.inverse(xy))


def interpolate(encoder, decoder, a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """Decoded images along the straight line between the codes of images ``a`` and ``b``."""
    codes = encode(encoder, np.stack([np.ravel(a), np.ravel(b)]))
    return decode(decoder, line(codes[0], codes[1], steps))


@dataclass(frozen=True)
class Analysis:
    """Everything the Explore page draws, for one state of the weights."""

    step: int
    indices: np.ndarray          # (N,) positions in the test set
    labels: np.ndarray           # (N,) digit classes (-1: unlabelled)
    codes: np.ndarray            # (N, D)
    xy: np.ndarray               # (N, 2) the map
    reconstructions: np.ndarray  # (N, 784)
    errors: np.ndarray           # (N,) MSE per digit
    projection: Projection
    seconds: float               # wall time the analysis took (model calls included)

    def row_of(self, test_index: int) -> int | None:
        """The row of a test digit in this analysis, or None when it is not in the sample."""
        i = int(np.searchsorted(self.indices, test_index))
        return i if i < len(self.indices) and self.indices[i] == test_index else None

    def class_errors(self):
        return per_class_error(self.errors, self.labels)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def analyse(encoder, decoder, x_test: np.ndarray, y_test: np.ndarray, indices: np.ndarray | None = None,
            step: int = 0) -> Analysis:
    """Encode the sample (one batched call), decode it (one more), project and measure errors."""
    t0 = time.perf_counter()
    indices = sample_indices(len(x_test)) if indices is None else np.asarray(indices)
    x = np.asarray(x_test)[indices]
    codes = encode(encoder, x)
    reconstructions = decode(decoder, codes)
    projection = fit_projection(codes)
    return Analysis(step=step, indices=_readonly(indices), labels=_readonly(np.asarray(y_test)[indices]),
                    codes=_readonly(codes), xy=_readonly(projection.project(codes)),
                    reconstructions=_readonly(reconstructions),
                    errors=_readonly(reconstruction_errors(x, reconstructions)), projection=projection,
                    seconds=time.perf_counter() - t0)


class AnalysisCache:
    """One analysis per model, shared by every viewer, recomputed at most every ``min_age_s``.

    A viewer asks with the model's key and its current training step. A cached analysis of the same
    step is returned as is (a paused run costs nothing); a newer step triggers a recomputation only
    once the cached one is ``min_age_s`` old, so however many tabs watch, a training run pays for at
    most one analysis per interval. Computations are serialised: two cores are not shared three ways.
    """

    def __init__(self, min_age_s: float = 2.5, max_entries: int = 6):
        self.min_age_s = min_age_s
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, Analysis]] = {}
        self._lock = threading.Lock()        # guards _entries
        self._compute_lock = threading.Lock()  # one analysis at a time

    def get(self, key: Hashable, step: int, compute: Callable[[], Analysis]) -> Analysis:
        hit = self._fresh(key, step)
        if hit is not None:
            return hit
        with self._compute_lock:
            hit = self._fresh(key, step)  # another viewer may have just computed it
            if hit is not None:
                return hit
            result = compute()
            with self._lock:
                self._entries.pop(key, None)
                self._entries[key] = (time.monotonic(), result)
                while len(self._entries) > self.max_entries:
                    self._entries.pop(next(iter(self._entries)))
            return result

    def _fresh(self, key: Hashable, step: int) -> Analysis | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return None
        made, analysis = entry
        if analysis.step == step or time.monotonic() - made < self.min_age_s:
            return analysis
        return None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

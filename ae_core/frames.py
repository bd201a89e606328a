"""The film strip: a run's fixed test digits reconstructed at log-spaced steps (0, 10, 20, 50, 100,
200, 500, …) and at every live change, and, for a 2-D code, where those test digits sit in the code.

The training thread feeds a :class:`FilmStrip` (it ends a chunk at each scheduled step and calls
:func:`capture`); pages read :meth:`FilmStrip.frames` while training goes on. Saved in the run folder
as ``frames.npz`` (``runs.FRAMES_FILE``; no pickles: plain numeric and fixed-width text arrays).

Size bound: at most ``MAX_FRAMES`` (60) frames of ``FILM_DIGITS`` (16) digits as 8-bit pixels and,
for a 2-D code, ``FILM_POINTS`` (500) float32 points: 60 × (16 × 784 + 500 × 2 × 4) bytes ≈ 0.99 MB
uncompressed, plus the originals (16 × 784 bytes) and labels; ``frames.npz`` is compressed.
Scheduled steps up to a million are 17 frames; live changes beyond the bound replace older ones.
"""
from __future__ import annotations

import io
import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILM_DIGITS = 16        # the first 16 test digits (the notebook's 4×4 grid)
FILM_POINTS = 500       # test digits placed on the latent map (2-D codes only)
MAX_FRAMES = 60
MANTISSAS = (1, 2, 5)   # 10, 20, 50, 100, 200, 500, …


def scheduled_steps(up_to: int) -> list[int]:
    """0 and 10, 20, 50, 100, 200, 500, … not beyond ``up_to``."""
    steps, decade = [0], 10
    while decade <= up_to:
        steps += [m * decade for m in MANTISSAS if m * decade <= up_to]
        decade *= 10
    return steps


def next_scheduled(step: int) -> int:
    """The first scheduled step after ``step``."""
    if step < 0:
        return 0
    decade = 10
    while True:
        for m in MANTISSAS:
            if m * decade > step:
                return m * decade
        decade *= 10


def change_reason(changed: dict) -> str:
    """A frame's reason for live changes ``{field: (old, new)}``: ``learning_rate 0.01→0.001``."""
    return "; ".join(f"{name} {old:g}→{new:g}" if isinstance(old, (int, float)) else f"{name} changed"
                     for name, (old, new) in changed.items())[:64]


def is_scheduled(step: int) -> bool:
    return step == 0 or (step >= 10 and next_scheduled(step - 1) == step)


@dataclass(frozen=True)
class Frame:
    step: int
    reason: str                      # "" for a scheduled step, else the live change ("lr 0.01→0.001")
    reconstructions: np.ndarray      # (FILM_DIGITS, 784) float32 in [0, 1]
    latent: np.ndarray | None = None  # (FILM_POINTS, 2) float32 for a 2-D code


class FilmStrip:
    """Frames of one run, thread-safe: the training thread adds, pages read."""

    def __init__(self, originals: np.ndarray | None = None, labels: np.ndarray | None = None,
                 max_frames: int = MAX_FRAMES):
        self.originals = None if originals is None else _pixels(originals[:FILM_DIGITS])
        self.labels = None if labels is None else np.asarray(labels[:FILM_POINTS], np.int64)
        self.max_frames = max_frames
        self._frames: list[Frame] = []
        self._lock = threading.Lock()

    # --- the training thread's side ---
    def wants(self, step: int, reason: str = "") -> bool:
        with self._lock:
            if reason:
                return True
            return is_scheduled(step) and not any(f.step == step and not f.reason for f in self._frames)

    def add(self, step: int, reconstructions: np.ndarray, latent: np.ndarray | None = None, reason: str = "") -> None:
        frame = Frame(int(step), str(reason), _pixels(reconstructions[:FILM_DIGITS]).astype(np.float32) / 255,
                      None if latent is None else np.asarray(latent[:FILM_POINTS], np.float32))
        with self._lock:
            # A Reset or a diverged chunk can move the history back: later frames no longer happened.
            self._frames = [f for f in self._frames if f.step <= frame.step]
            self._frames.append(frame)
            while len(self._frames) > self.max_frames:
                self._frames.pop(self._victim())

    def _victim(self) -> int:
        """Which frame to drop when full: the oldest live-change frame, else the scheduled frame
        closest to its predecessor (never the first)."""
        for i, f in enumerate(self._frames):
            if f.reason:
                return i
        gaps = [self._frames[i].step - self._frames[i - 1].step for i in range(1, len(self._frames))]
        return 1 + int(np.argmin(gaps))

    def prepend(self, earlier: "FilmStrip", before: int) -> None:
        """Put ``earlier``'s frames from before step ``before`` in front (a fork's or a continued
        run's past), keeping the bound."""
        old = [f for f in earlier.frames() if f.step < before]
        with self._lock:
            mine = [f for f in self._frames if f.step >= before]
            self._frames = old + mine
            while len(self._frames) > self.max_frames:
                self._frames.pop(self._victim())

    # --- readers ---
    def frames(self) -> list[Frame]:
        with self._lock:
            return list(self._frames)

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    def steps(self) -> list[int]:
        return [f.step for f in self.frames()]

    # --- frames.npz ---
    def to_bytes(self) -> bytes:
        frames = self.frames()
        arrays = {
            "steps": np.asarray([f.step for f in frames], np.int64),
            "reasons": np.asarray([f.reason for f in frames], dtype="<U64"),
            "reconstructions": (np.stack([_pixels(f.reconstructions) for f in frames]) if frames
                                else np.zeros((0, FILM_DIGITS, 784), np.uint8)),
        }
        if self.originals is not None:
            arrays["originals"] = self.originals
        if frames and all(f.latent is not None for f in frames):
            arrays["latent"] = np.stack([f.latent for f in frames]).astype(np.float32)
            if self.labels is not None:
                arrays["labels"] = self.labels[: arrays["latent"].shape[1]]
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    def save(self, path: str | os.PathLike) -> None:
        """Write ``frames.npz`` through a temporary name (readers see the old file or the new one)."""
        path = Path(path)
        tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
        try:
            tmp.write_bytes(self.to_bytes())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FilmStrip":
        """Read a ``frames.npz`` (never unpickles); raises ValueError with one sentence if unusable."""
        name = Path(path).name
        try:
            with np.load(path, allow_pickle=False) as npz:
                steps = npz["steps"].astype(np.int64)
                reasons = [str(r) for r in npz["reasons"]]
                recon = npz["reconstructions"]
                originals = npz["originals"] if "originals" in npz.files else None
                latent = npz["latent"] if "latent" in npz.files else None
                labels = npz["labels"] if "labels" in npz.files else None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"{name} is not a usable film strip ({type(e).__name__}).") from None
        if recon.ndim != 3 or recon.shape[0] != len(steps) or recon.shape[2] != 784 or len(reasons) != len(steps):
            raise ValueError(f"{name} does not hold one 784-pixel reconstruction set per step.")
        strip = cls(max_frames=max(MAX_FRAMES, len(steps)))
        strip.originals = None if originals is None else _pixels(originals.astype(np.float32) / 255)
        strip.labels = labels
        for i, step in enumerate(steps):
            strip._frames.append(Frame(int(step), reasons[i], recon[i].astype(np.float32) / 255,
                                       None if latent is None else latent[i].astype(np.float32)))
        return strip


def _pixels(images: np.ndarray) -> np.ndarray:
    """Images in [0, 1] as 8-bit pixels (a film strip is for looking at, 1/255 is plenty)."""
    return np.rint(np.clip(np.asarray(images, np.float32).reshape(len(images), -1), 0, 1) * 255).astype(np.uint8)


def capture(engine, config) -> tuple[np.ndarray, np.ndarray | None]:
    """From the training thread: the film digits' reconstructions and, for a 2-D code, the film
    points' codes, with the weights as they are now."""
    digits = engine.x_test[:FILM_DIGITS]
    recon = np.asarray(engine.model(digits, training=False))
    latent = None
    if config.latent == 2:
        latent = np.asarray(engine.nets.encoder(engine.x_test[:FILM_POINTS], training=False))
    return recon, latent


def strip_for(dataset) -> FilmStrip:
    """An empty strip for a run on ``dataset`` (its originals and labels kept with it)."""
    return FilmStrip(dataset.x_test[:FILM_DIGITS], dataset.y_test[:FILM_POINTS])

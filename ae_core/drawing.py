"""A hand-drawn digit made MNIST-like, the way MNIST itself was made.

LeCun et al. scaled each digit's bounding box to fit 20×20 pixels (keeping its aspect ratio, with
anti-aliasing, hence grey levels) and placed it in a 28×28 field so that its centre of mass sits
at the centre. A canvas drawing gets the same treatment before the autoencoder sees it.
"""
from __future__ import annotations

import numpy as np

SIDE = 28
BOX = 20
INK_THRESHOLD = 0.1   # share of the brightest stroke that counts as ink when finding the bounding box


def to_gray(image: np.ndarray) -> np.ndarray:
    """Canvas pixels to ink in [0, 1]: (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA with light strokes
    on a dark or transparent background."""
    a = np.asarray(image, np.float32)
    if a.max(initial=0) > 1.0:
        a = a / 255.0
    if a.ndim == 2:
        return np.clip(a, 0, 1)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected a (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    ink = a[..., :3].max(axis=2)
    if a.shape[2] == 4:
        ink = ink * a[..., 3]  # transparent pixels carry no ink, whatever their colour
    return np.clip(ink, 0, 1)


def _resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    pil = Image.fromarray(np.uint8(np.round(img * 255)), mode="L")
    return np.asarray(pil.resize((width, height), Image.Resampling.LANCZOS), np.float32) / 255.0


def to_mnist(image: np.ndarray) -> np.ndarray | None:
    """784 pixels in [0, 1] like an MNIST digit, or None when nothing was drawn."""
    ink = to_gray(image)
    peak = float(ink.max(initial=0))
    if peak < 0.05:
        return None
    rows = np.flatnonzero((ink >= INK_THRESHOLD * peak).any(axis=1))
    cols = np.flatnonzero((ink >= INK_THRESHOLD * peak).any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]

    h, w = crop.shape
    scale = BOX / max(h, w)
    digit = _resize(crop, max(1, round(h * scale)), max(1, round(w * scale)))
    digit = np.clip(digit, 0, 1)

    # Shift so the centre of mass lands on pixel (14, 14) as in MNIST (and never off the field).
    com_y, com_x = centre_of_mass(digit)
    top = int(np.clip(round(SIDE / 2 - com_y), 0, SIDE - digit.shape[0]))
    left = int(np.clip(round(SIDE / 2 - com_x), 0, SIDE - digit.shape[1]))
    field = np.zeros((SIDE, SIDE), np.float32)
    field[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return field.reshape(-1)


def centre_of_mass(pixels: np.ndarray) -> tuple[float, float]:
    """(row, column) of an image's centre of mass; a flat image is a 28×28 digit."""
    img = np.asarray(pixels, np.float64)
    img = img.reshape(SIDE, SIDE) if img.ndim == 1 else img
    ys, xs = np.indices(img.shape)
    return float((ys * img).sum() / img.sum()), float((xs * img).sum() / img.sum())

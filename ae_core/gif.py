"""A film strip as an animated GIF for slides: originals beside reconstructions, the step printed
on each frame (PIL; no streamlit)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .frames import FilmStrip

SCALE = 2            # screen pixels per digit pixel: a 4×4 grid of 28-pixel digits is 224 px wide
GAP = 16             # pixels between the two grids and around them
HEADER = 34          # the band with the step at the top
FOOTER = 24          # the band with the grids' captions at the bottom
MS_PER_FRAME = 700
LAST_FRAME_MS = 2000  # the final state stays up a little longer


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1: one fixed-size bitmap font
        return ImageFont.load_default()


def frame_images(strip: FilmStrip, *, scale: int = SCALE) -> list:
    """One PIL image a frame: ``step N`` on top, originals left, reconstructions right."""
    from PIL import Image, ImageDraw

    from .viz import digit_grid

    frames = strip.frames()
    if strip.originals is None or not frames:
        raise ValueError("The film strip is empty: a run records its first frame when its network is built.")
    originals = strip.originals.astype(np.float32) / 255
    n = int(np.sqrt(len(originals)))
    left = digit_grid(originals, n, scale=scale)
    side = left.shape[0]
    width, height = 3 * GAP + 2 * side, HEADER + side + FOOTER
    title_font, caption_font = _font(22), _font(15)
    images = []
    for frame in frames:
        right = digit_grid(frame.reconstructions, n, scale=scale)
        canvas = np.full((height, width), 24, np.uint8)
        canvas[HEADER:HEADER + side, GAP:GAP + side] = np.rint(left * 255)
        canvas[HEADER:HEADER + side, 2 * GAP + side:2 * GAP + 2 * side] = np.rint(right * 255)
        image = Image.fromarray(canvas, mode="L")
        draw = ImageDraw.Draw(image)
        title = f"step {frame.step:,}" + (f"  ({frame.reason})" if frame.reason else "")
        draw.text((GAP, 6), title, fill=255, font=title_font)
        draw.text((GAP, HEADER + side + 4), "Original", fill=200, font=caption_font)
        draw.text((2 * GAP + side, HEADER + side + 4), "Reconstruction", fill=200, font=caption_font)
        images.append(image)
    return images


def film_gif(strip: FilmStrip, *, scale: int = SCALE, ms_per_frame: int = MS_PER_FRAME) -> bytes:
    """The animated GIF's bytes (loops forever)."""
    images = frame_images(strip, scale=scale)
    durations = [ms_per_frame] * (len(images) - 1) + [LAST_FRAME_MS]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0,
                   optimize=False, disposal=1)
    return buffer.getvalue()


def write_gif(strip: FilmStrip, path: str | Path, **kwargs) -> Path:
    path = Path(path)
    path.write_bytes(film_gif(strip, **kwargs))
    return path

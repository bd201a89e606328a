"""Turning a canvas drawing into an MNIST-like digit (bounding box to 20×20, centred by mass)."""
import numpy as np
import pytest

from ae_core.drawing import centre_of_mass, to_gray, to_mnist


def _canvas(rgba=True, size=280):
    return np.zeros((size, size, 4 if rgba else 3), np.uint8)


def test_a_bar_in_a_corner_becomes_a_centred_20_pixel_digit():
    canvas = _canvas()
    canvas[10:110, 20:40] = (255, 255, 255, 255)  # a tall bar, far from the centre
    pixels = to_mnist(canvas)
    assert pixels.shape == (784,) and pixels.dtype == np.float32
    assert 0.0 <= pixels.min() and pixels.max() <= 1.0
    img = pixels.reshape(28, 28)
    rows = np.flatnonzero(img.max(axis=1) > 0.1)
    cols = np.flatnonzero(img.max(axis=0) > 0.1)
    assert rows[-1] - rows[0] + 1 == pytest.approx(20, abs=1)   # the long side fills the 20-pixel box
    assert cols[-1] - cols[0] + 1 == pytest.approx(4, abs=1)    # aspect ratio kept (100×20 → 20×4)
    cy, cx = centre_of_mass(pixels)
    assert abs(cy - 14) <= 0.75 and abs(cx - 14) <= 0.75


def test_an_empty_canvas_gives_none_and_transparent_ink_does_not_count():
    assert to_mnist(_canvas()) is None
    canvas = _canvas()
    canvas[50:100, 50:100] = (255, 255, 255, 0)  # white but fully transparent
    assert to_mnist(canvas) is None


def test_grey_rgb_and_rgba_inputs_agree():
    gray = np.zeros((140, 140), np.float32)
    gray[30:100, 60:75] = 1.0
    rgb = np.repeat((gray * 255).astype(np.uint8)[..., None], 3, axis=2)
    rgba = np.concatenate([rgb, np.full((140, 140, 1), 255, np.uint8)], axis=2)
    a, b, c = to_mnist(gray), to_mnist(rgb), to_mnist(rgba)
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(b, c, atol=1e-6)
    with pytest.raises(ValueError):
        to_gray(np.zeros((5, 5, 2)))


def test_a_real_digit_scaled_up_comes_back_close_to_itself(mnist_path):
    digit = np.load(mnist_path, allow_pickle=False)["x_test"][0].astype(np.float32) / 255
    big = np.kron(digit, np.ones((10, 10), np.float32))  # drawn 10× larger, as on a 280-px canvas
    back = to_mnist(big).reshape(28, 28)
    assert np.corrcoef(back.ravel(), digit.ravel())[0, 1] > 0.85

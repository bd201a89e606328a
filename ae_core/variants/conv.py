"""Convolutional architecture: stride-2 convolutions (one per hidden width, its filter count)
down to 7×7 or 14×14 feature maps, a dense code, and transposed convolutions back to 28×28."""
from __future__ import annotations

import numpy as np

KERNEL = 3      # each convolution's window (pixels)
SIDE = 28       # an MNIST digit is 28×28


def side_after(n_layers: int) -> int:
    return SIDE // 2 ** n_layers


def encoder_layers(cfg, initializers) -> list:
    """Reshape to an image, then one stride-2 convolution per hidden width, then flatten."""
    import keras

    layers = [keras.layers.Reshape((SIDE, SIDE, 1), name="to_image")]
    for i, filters in enumerate(cfg.hidden):
        kernel, bias = initializers(i)
        layers.append(keras.layers.Conv2D(filters, KERNEL, strides=2, padding="same", activation=cfg.activation,
                                          kernel_initializer=kernel, bias_initializer=bias, name=f"encoder_{i + 1}"))
    layers.append(keras.layers.Flatten(name="to_features"))
    return layers


def decoder_layers(cfg, initializers) -> list:
    """Dense up to the smallest feature maps, then transposed convolutions back to one 28×28 channel."""
    import keras

    side, last = side_after(len(cfg.hidden)), cfg.hidden[-1]
    kernel, bias = initializers(10)
    layers = [keras.layers.Dense(side * side * last, activation=cfg.activation, kernel_initializer=kernel,
                                 bias_initializer=bias, name="decoder_1"),
              keras.layers.Reshape((side, side, last), name="to_maps")]
    for j, filters in enumerate(reversed(cfg.hidden[:-1])):
        kernel, bias = initializers(11 + j)
        layers.append(keras.layers.Conv2DTranspose(filters, KERNEL, strides=2, padding="same",
                                                   activation=cfg.activation, kernel_initializer=kernel,
                                                   bias_initializer=bias, name=f"decoder_{j + 2}"))
    kernel, bias = initializers(20)
    layers.append(keras.layers.Conv2DTranspose(1, KERNEL, strides=2, padding="same", activation=cfg.output_activation,
                                               kernel_initializer=kernel, bias_initializer=bias, name="reconstruction"))
    layers.append(keras.layers.Flatten(name="to_pixels"))
    return layers


def parameter_rows(cfg) -> list[dict]:
    """The weight layers' table rows (name, inputs, units, activation, parameters), without Keras."""
    rows, channels, side = [], 1, SIDE
    for i, filters in enumerate(cfg.hidden):
        side = side_after(i + 1)
        rows.append(dict(name=f"encoder_{i + 1}", inputs=channels * (side * 2) ** 2, units=filters * side * side,
                         activation=cfg.activation, parameters=KERNEL * KERNEL * channels * filters + filters,
                         shape=f"{side}×{side}×{filters}"))
        channels = filters
    return rows


def decoder_rows(cfg) -> list[dict]:
    n, rows = len(cfg.hidden), []
    side, last = side_after(n), cfg.hidden[-1]
    rows.append(dict(name="decoder_1", inputs=cfg.latent, units=side * side * last, activation=cfg.activation,
                     parameters=cfg.latent * side * side * last + side * side * last, shape=f"{side}×{side}×{last}"))
    channels = last
    for j, filters in enumerate(reversed(cfg.hidden[:-1])):
        side *= 2
        rows.append(dict(name=f"decoder_{j + 2}", inputs=channels * (side // 2) ** 2, units=filters * side * side,
                         activation=cfg.activation, parameters=KERNEL * KERNEL * channels * filters + filters,
                         shape=f"{side}×{side}×{filters}"))
        channels = filters
    rows.append(dict(name="reconstruction", inputs=channels * side * side, units=SIDE * SIDE,
                     activation=cfg.output_activation, parameters=KERNEL * KERNEL * channels + 1, shape="28×28×1"))
    return rows


def filter_pictures(kernel: np.ndarray) -> np.ndarray:
    """First convolution's kernels (k×k×1×F) as (784, F) pictures, each k×k window blown up to
    fill a 28×28 tile, so the page's filter grid draws them like dense filters."""
    k = kernel.shape[0]
    scale = SIDE // k
    big = np.kron(kernel[:, :, 0, :].transpose(2, 0, 1), np.ones((1, scale, scale), np.float32))  # F×27×27
    pad = SIDE - big.shape[1]
    big = np.pad(big, ((0, 0), (pad // 2, pad - pad // 2), (pad // 2, pad - pad // 2)))
    return big.reshape(len(big), SIDE * SIDE).T.astype(np.float32)


def feature_maps(nets, digit: np.ndarray) -> np.ndarray:
    """The first convolution's output maps for one digit: (filters, side, side)."""
    h = np.asarray(digit, np.float32).reshape(1, -1)
    for stage in nets.stages:
        h = stage.call(h)
        if stage.kernel is not None:
            return np.asarray(h)[0].transpose(2, 0, 1)
    raise ValueError("no convolution in this network")


def inspect(nets, probe) -> dict[str, np.ndarray]:
    first = next(stage for stage in nets.stages if stage.kernel is not None)
    return {"filters": np.asarray(first.kernel)[:, :, 0, :].transpose(2, 0, 1).astype(np.float32),  # F×k×k
            "feature_maps": feature_maps(nets, probe[0]).astype(np.float32)}

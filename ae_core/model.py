"""Encoder, decoder and autoencoder built from a Config (Keras functional API, named layers)."""
from __future__ import annotations

from typing import NamedTuple

from .config import Config

IMAGE_SIZE = 784


class Autoencoder(NamedTuple):
    encoder: "keras.Model"
    decoder: "keras.Model"
    autoencoder: "keras.Model"


def _initializers(cfg: Config, layer_index: int):
    """Kernel and bias initialisers; each layer gets its own seed so a Config repeats exactly."""
    import keras

    seed = cfg.seed * 1000 + layer_index
    if cfg.initializer == "random_normal":
        # The notebook draws weights *and* biases from N(0, 1): most sigmoid units start saturated.
        return (keras.initializers.RandomNormal(stddev=1.0, seed=seed),
                keras.initializers.RandomNormal(stddev=1.0, seed=seed + 500))
    kernel = {"glorot_uniform": keras.initializers.GlorotUniform,
              "he_normal": keras.initializers.HeNormal}[cfg.initializer](seed=seed)
    return kernel, keras.initializers.Zeros()


def _dense(cfg: Config, index: int, units: int, activation: str, name: str):
    import keras

    kernel, bias = _initializers(cfg, index)
    return keras.layers.Dense(units, activation=activation, kernel_initializer=kernel,
                              bias_initializer=bias, name=name)


def build(cfg: Config) -> Autoencoder:
    """784 → hidden → latent → mirrored hidden → 784, as three models sharing their layers."""
    import keras

    image = keras.Input((IMAGE_SIZE,), name="image")
    h = image
    for i, width in enumerate(cfg.hidden):
        h = _dense(cfg, i, width, cfg.activation, f"encoder_{i + 1}")(h)
    latent = _dense(cfg, len(cfg.hidden), cfg.latent, cfg.activation, "latent")(h)
    encoder = keras.Model(image, latent, name="encoder")

    code = keras.Input((cfg.latent,), name="code")
    h = code
    for i, width in enumerate(reversed(cfg.hidden)):
        h = _dense(cfg, 10 + i, width, cfg.activation, f"decoder_{i + 1}")(h)
    reconstruction = _dense(cfg, 20, IMAGE_SIZE, cfg.output_activation, "reconstruction")(h)
    decoder = keras.Model(code, reconstruction, name="decoder")

    autoencoder = keras.Model(image, decoder(encoder(image)), name="autoencoder")
    return Autoencoder(encoder, decoder, autoencoder)


def parameter_count(cfg: Config) -> int:
    """Weights and biases of the whole autoencoder, without building it."""
    widths = cfg.layer_widths
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


def reconstruction_loss(cfg: Config):
    """Per-batch scalar loss: the notebook's mean squared error, or binary cross-entropy."""
    import tensorflow as tf

    if cfg.loss == "mse":
        return lambda x, y: tf.reduce_mean(tf.square(x - y))
    eps = 1e-7  # keeps log() finite when a sigmoid saturates to exactly 0 or 1 in float32
    return lambda x, y: -tf.reduce_mean(x * tf.math.log(y + eps) + (1 - x) * tf.math.log(1 - y + eps))

"""Encoder, decoder and autoencoder built from a Config (Keras functional API, named layers).

The architecture (``dense`` or ``conv``, ``tied`` or not) decides the layers between the image
and the code; the variant (:mod:`ae_core.variants`) decides the code layer. Layer names are the
same for every kind: ``encoder_1``…, ``latent``, ``decoder_1``…, ``reconstruction``.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from .config import Config
from .variants.base import IMAGE_SIZE

__all__ = ["IMAGE_SIZE", "Autoencoder", "Stage", "build", "split", "layer_table", "parameter_count",
           "reconstruction_loss"]


class Stage(NamedTuple):
    """One step of the forward path, image to reconstruction (for layer health and feature maps)."""
    name: str
    call: Callable
    kernel: object           # the weight layer's kernel variable; None for a reshape
    activation: str


class Autoencoder(NamedTuple):
    encoder: "keras.Model"       # image → code (a variational code's mean)
    decoder: "keras.Model"       # code → reconstruction
    autoencoder: "keras.Model"   # image → reconstruction: the model saved as model.keras
    features: "keras.Model"      # image → the encoder's last features, the code layer's input
    code: object                 # the code layer (a variational one also has ``moments``)
    stages: tuple                # Stage per layer, image to reconstruction

    def first_layer(self) -> np.ndarray:
        """The first layer's filters as (784, units) pictures: what each unit looks for in a digit."""
        from .variants import conv

        kernel = next(s.kernel for s in self.stages if s.kernel is not None).numpy()
        return kernel.copy() if kernel.ndim == 2 else conv.filter_pictures(kernel)


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


def _tied(cfg: Config, index: int, mirror: int, units: int, activation: str, transpose_activation: str, name: str):
    """A TiedDense layer: forward as encoder layer ``index``, transposed as decoder layer ``mirror``."""
    from .variants.tied import tied_dense_class

    kernel, bias = _initializers(cfg, index)
    return tied_dense_class()(units, activation=activation, transpose_activation=transpose_activation,
                              kernel_initializer=kernel, bias_initializer=bias,
                              transpose_bias_initializer=_initializers(cfg, mirror)[1], name=name)


def build(cfg: Config) -> Autoencoder:
    """784 → hidden → latent → mirrored hidden → 784, as models sharing their layers."""
    import keras

    from .variants import conv, variant_of

    variant = variant_of(cfg)
    n = len(cfg.hidden)
    code_activation = variant.code_activation or cfg.activation
    stages: list[Stage] = []

    def apply(layer, h, name=None, activation=None, **kwargs):
        """Call ``layer`` while building, and note the call as a Stage (``activation`` None: no weights)."""
        out = layer(h, **kwargs)
        stages.append(Stage(name or layer.name, lambda x, layer=layer, kwargs=kwargs: layer(x, **kwargs),
                            layer.kernel if activation is not None else None, activation or ""))
        return out

    image = keras.Input((IMAGE_SIZE,), name="image")
    h = image
    if cfg.architecture == "conv":
        for layer in conv.encoder_layers(cfg, lambda i: _initializers(cfg, i)):
            h = apply(layer, h, activation=cfg.activation if hasattr(layer, "kernel_size") else None)
        trunk = []
    elif cfg.tied:
        trunk = [_tied(cfg, i, 20 if i == 0 else 10 + n - i, width, cfg.activation,
                       cfg.output_activation if i == 0 else cfg.activation, f"encoder_{i + 1}")
                 for i, width in enumerate(cfg.hidden)]
    else:
        trunk = [_dense(cfg, i, width, cfg.activation, f"encoder_{i + 1}") for i, width in enumerate(cfg.hidden)]
    for layer in trunk:
        h = apply(layer, h, activation=cfg.activation)
    features = h

    kernel, bias = _initializers(cfg, n)
    tied_to = None
    if cfg.tied:
        from .variants.tied import tied_dense_class

        tied_to = tied_dense_class()
    code_layer = variant.code_layer(cfg.latent, code_activation, kernel, bias, "latent", tied_to=tied_to)
    if cfg.tied:
        # The code layer's transposed use is decoder_1: its second bias and activation are decoder_1's.
        code_layer.tied = True
        code_layer.transpose_activation = keras.activations.get(cfg.activation)
        code_layer.transpose_bias_initializer = _initializers(cfg, 10)[1]
    code = apply(code_layer, features, activation=code_activation)
    encoder = keras.Model(image, code, name="encoder")

    def decode(h, record: bool):
        step = apply if record else (lambda layer, h, name=None, activation=None, **kw: layer(h, **kw))
        if cfg.tied:
            mirrored = [code_layer, *reversed(trunk)]
            names = [f"decoder_{i + 1}" for i in range(n)] + ["reconstruction"]
            for i, (layer, name) in enumerate(zip(mirrored, names)):
                h = step(layer, h, name=name, activation=cfg.output_activation if i == n else cfg.activation,
                         transpose=True)
            return h
        for layer in decoder_layers:
            act = cfg.output_activation if layer.name == "reconstruction" else cfg.activation
            h = step(layer, h, activation=act if hasattr(layer, "kernel_initializer") else None)
        return h

    if cfg.architecture == "conv":
        decoder_layers = conv.decoder_layers(cfg, lambda i: _initializers(cfg, i))
    else:
        decoder_layers = ([_dense(cfg, 10 + i, width, cfg.activation, f"decoder_{i + 1}")
                           for i, width in enumerate(reversed(cfg.hidden))]
                          + [_dense(cfg, 20, IMAGE_SIZE, cfg.output_activation, "reconstruction")])
    code_input = keras.Input((cfg.latent,), name="code")
    decoder = keras.Model(code_input, decode(code_input, record=True), name="decoder")
    if cfg.tied:
        # One flat model: Keras saves a layer shared by two nested models twice and cannot load it
        # back; :func:`split` rebuilds the encoder and decoder of a loaded tied model.
        autoencoder = keras.Model(image, decode(code, record=False), name="autoencoder")
    else:
        autoencoder = keras.Model(image, decoder(encoder(image)), name="autoencoder")
    return Autoencoder(encoder, decoder, autoencoder, keras.Model(image, features, name="features"), code_layer,
                       tuple(stages))


def xla_friendly(cfg: Config) -> bool:
    """Whether XLA runs this network's step well on a CPU: its convolutions (and their gradients)
    are about 10× slower than TensorFlow's own kernels, so a conv network trains uncompiled."""
    return cfg.architecture != "conv"


def split(autoencoder) -> tuple:
    """(encoder, decoder) of a loaded autoencoder: its nested models, or for a tied one (a flat
    model whose layers are used forward then transposed) two models rebuilt around its layers."""
    import keras

    names = [layer.name for layer in autoencoder.layers]
    if "encoder" in names and "decoder" in names:
        return autoencoder.get_layer("encoder"), autoencoder.get_layer("decoder")
    weighted = [layer for layer in autoencoder.layers if hasattr(layer, "transpose_bias")]
    if not weighted or weighted[-1].name != "latent":
        raise ValueError("This model has no nested 'encoder' and 'decoder' parts to explore.")
    image = keras.Input((IMAGE_SIZE,), name="image")
    h = image
    for layer in weighted:
        h = layer(h)
    code = keras.Input((weighted[-1].units,), name="code")
    g = code
    for layer in reversed(weighted):
        g = layer(g, transpose=True)
    return keras.Model(image, h, name="encoder"), keras.Model(code, g, name="decoder")


def layer_table(cfg: Config) -> list[dict]:
    """One row a weight layer: name, inputs, units, activation, parameters (weights + biases), and
    for a convolution its output ``shape``. A tied decoder layer owns only its bias."""
    from .variants import conv, variant_of

    variant = variant_of(cfg)
    code_activation = variant.code_activation or cfg.activation
    n = len(cfg.hidden)
    widths = cfg.layer_widths
    rows = []
    if cfg.architecture == "conv":
        rows += conv.parameter_rows(cfg)
        side = conv.side_after(n)
        fan_in = side * side * cfg.hidden[-1]
        rows.append(dict(name="latent", inputs=fan_in, units=cfg.latent, activation=code_activation,
                         parameters=fan_in * cfg.latent + cfg.latent))
        rows += conv.decoder_rows(cfg)
    else:
        names = ([f"encoder_{i + 1}" for i in range(n)] + ["latent"]
                 + [f"decoder_{i + 1}" for i in range(n)] + ["reconstruction"])
        for i, (name, fan_in, units) in enumerate(zip(names, widths[:-1], widths[1:])):
            activation = (cfg.output_activation if name == "reconstruction"
                          else code_activation if name == "latent" else cfg.activation)
            shared = cfg.tied and i > n
            rows.append(dict(name=name, inputs=fan_in, units=units, activation=activation,
                             parameters=units if shared else fan_in * units + units, tied=shared))
    if variant.code_activation == "linear" and variant.term == "kl":
        latent = next(r for r in rows if r["name"] == "latent")
        latent["parameters"] *= 2   # a mean and a log-variance kernel
        latent["log_var"] = True
    return rows


def parameter_count(cfg: Config) -> int:
    """Weights and biases of the whole autoencoder, without building it."""
    return sum(row["parameters"] for row in layer_table(cfg))


def reconstruction_loss(cfg: Config):
    """Per-batch scalar loss: the notebook's mean squared error, or binary cross-entropy."""
    import tensorflow as tf

    if cfg.loss == "mse":
        return lambda x, y: tf.reduce_mean(tf.square(x - y))
    eps = 1e-7  # keeps log() finite when a sigmoid saturates to exactly 0 or 1 in float32
    return lambda x, y: -tf.reduce_mean(x * tf.math.log(y + eps) + (1 - x) * tf.math.log(1 - y + eps))

"""Variational autoencoder (Kingma & Welling, 2014): the encoder gives each digit a Gaussian over
codes (a mean and a log-variance); training decodes a sample of it (the reparameterisation
z = μ + σ·ε keeps the sample differentiable) and adds the KL divergence to a unit Gaussian,
weighted by the live knob ``beta`` (a β-VAE when it is not 1). The encoder model outputs the
mean, so reconstructions, the latent map and the test MSE use the mean.
"""
from __future__ import annotations

import numpy as np

from .base import IMAGE_SIZE, PROBE_DIGITS, Variant
from .tied import tied_dense_class

PRIOR_SAMPLES = 16    # digits decoded from the prior for the live view (a 4×4 grid)
_CLASS = []


def gaussian_code_class():
    """The GaussianCode layer class (made, and registered with Keras, on first use)."""
    if _CLASS:
        return _CLASS[0]
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="ae_core")
    class GaussianCode(tied_dense_class()):
        """The code layer of a VAE: ``layer(h)`` is the mean μ = h·W + b (its kernel can be tied to the
        decoder like any TiedDense); :meth:`moments` also gives log σ² from a second kernel, which
        starts at zero (unit variance) so the first steps are stable under any initialiser."""

        def build(self, input_shape):
            super().build(input_shape)
            fan_in = int(input_shape[-1])
            self.log_var_kernel = self.add_weight(shape=(fan_in, self.units), initializer="zeros",
                                                  name="log_var_kernel")
            self.log_var_bias = self.add_weight(shape=(self.units,), initializer="zeros", name="log_var_bias")

        def moments(self, inputs):
            mean = self.activation(ops.matmul(inputs, self.kernel) + self.bias)
            return mean, ops.matmul(inputs, self.log_var_kernel) + self.log_var_bias

    _CLASS.append(GaussianCode)
    return GaussianCode


def kl_to_unit_gaussian(mean, log_var):
    """Per digit KL( N(μ, σ²) ‖ N(0, I) ) = ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1), in nats."""
    import tensorflow as tf

    return 0.5 * tf.reduce_sum(tf.square(mean) + tf.exp(log_var) - log_var - 1.0, axis=-1)


class Variational(Variant):
    name = "variational"
    term = "kl"
    knob = "beta"
    code_activation = "linear"   # a Gaussian's mean is any real number

    def code_layer(self, units, activation, kernel_init, bias_init, name, tied_to=None):
        return gaussian_code_class()(units, activation=activation, kernel_initializer=kernel_init,
                                     bias_initializer=bias_init, tied=False, name=name)

    def objective(self, nets, clean, noisy, loss_fn, weight, normal):
        import tensorflow as tf

        mean, log_var = nets.code.moments(nets.features(noisy, training=True))
        sample = mean + tf.exp(0.5 * log_var) * normal(tf.shape(mean))
        reconstruction = loss_fn(clean, nets.decoder(sample, training=True))
        return self.combine(reconstruction, tf.reduce_mean(kl_to_unit_gaussian(mean, log_var)) / IMAGE_SIZE,
                            weight)

    def test_measures(self, nets, x, loss_fn, weight) -> dict:
        import tensorflow as tf

        mean, log_var = nets.code.moments(nets.features(x, training=False))
        kl = tf.reduce_mean(kl_to_unit_gaussian(mean, log_var))
        reconstruction = loss_fn(x, nets.decoder(mean, training=False))
        return {"test_kl": kl, "test_objective": reconstruction + weight * kl / IMAGE_SIZE}

    def inspect(self, nets, probe) -> dict[str, np.ndarray]:
        mean, log_var = nets.code.moments(nets.features(probe[:PROBE_DIGITS], training=False))
        mean, log_var = np.asarray(mean, np.float64), np.asarray(log_var, np.float64)
        per_dim = 0.5 * (mean ** 2 + np.exp(log_var) - log_var - 1.0).mean(axis=0)
        prior = np.random.default_rng(0).standard_normal((PRIOR_SAMPLES, mean.shape[1])).astype(np.float32)
        return {"kl_per_dim": per_dim.astype(np.float32),    # nats per code dimension: which are in use
                "prior_samples": np.asarray(nets.decoder(prior, training=False), np.float32)}


def manifold(decoder, x_range: tuple[float, float], y_range: tuple[float, float], n: int = 15) -> np.ndarray:
    """The decoded manifold of a 2-D code: decodings of an n×n grid over the code plane, top row
    at the largest y (as a map is drawn), as (n*n, 784) images row by row."""
    xs = np.linspace(x_range[0], x_range[1], n, dtype=np.float32)
    ys = np.linspace(y_range[1], y_range[0], n, dtype=np.float32)
    codes = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    return np.asarray(decoder(codes, training=False), np.float32)

"""Contractive autoencoder: a penalty on the squared Frobenius norm of the encoder's Jacobian
(how much the code moves when the input moves), after Rifai et al. (2011).

In training the norm is estimated without forming the Jacobian: for a direction ε ~ N(0, I) in
pixel space, E‖J ε‖² = ‖J‖²_F, and J ε is one forward-mode (JVP) pass through the encoder, so the
penalty costs about one more encoder pass a step whatever the code size.
"""
from __future__ import annotations

import numpy as np

from .base import IMAGE_SIZE, PROBE_DIGITS, Variant


def jacobian_sq_along(encode, x, direction):
    """Per digit ‖J(x) d‖², J the Jacobian of ``encode`` at ``x`` and d that digit's ``direction``;
    returns (code, values). With d ~ N(0, I) each value estimates ‖J(x)‖²_F without bias."""
    import tensorflow as tf

    x, direction = tf.convert_to_tensor(x), tf.convert_to_tensor(direction)
    with tf.autodiff.ForwardAccumulator(x, direction) as acc:
        code = encode(x)
    return code, tf.reduce_sum(tf.square(acc.jvp(code)), axis=-1)


def exact_jacobian_sq(encode, x):
    """Per digit ‖J(x)‖²_F from the full Jacobian (code size × 784 a digit): for measurements and tests."""
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        code = encode(x)
    jacobian = tape.batch_jacobian(code, x)
    return tf.reduce_sum(tf.square(jacobian), axis=[1, 2])


class Contractive(Variant):
    name = "contractive"
    term = "contraction"
    knob = "contractive_weight"
    # Under XLA the forward-mode pass made every compiled chunk cost ~2 s more on a CPU (measured:
    # ~2 s a call whatever its length, against ~60 ms a step uncompiled), so it runs uncompiled.
    xla = False

    def objective(self, nets, clean, noisy, loss_fn, weight, normal):
        import tensorflow as tf

        encode = lambda x: nets.encoder(x, training=True)  # noqa: E731
        code, norms = jacobian_sq_along(encode, noisy, normal(tf.shape(noisy)))
        reconstruction = loss_fn(clean, nets.decoder(code, training=True))
        return self.combine(reconstruction, tf.reduce_mean(norms) / IMAGE_SIZE, weight)

    def test_measures(self, nets, x, loss_fn, weight) -> dict:
        import tensorflow as tf

        # A fixed direction per digit: the same test objective at every evaluation of the same weights.
        direction = tf.random.stateless_normal(tf.shape(x), seed=[7, 11])
        code, norms = jacobian_sq_along(lambda v: nets.encoder(v, training=False), x, direction)
        reconstruction = loss_fn(x, nets.decoder(code, training=False))
        return {"test_objective": reconstruction + weight * tf.reduce_mean(norms) / IMAGE_SIZE}

    def inspect(self, nets, probe) -> dict[str, np.ndarray]:
        norms = np.sqrt(np.asarray(exact_jacobian_sq(lambda v: nets.encoder(v, training=False),
                                                     probe[:PROBE_DIGITS])))
        return {"jacobian_norm": norms.astype(np.float32)}  # ‖J‖_F per probe digit

"""Sparse autoencoder: an L1 penalty on the code, so each digit uses few code units."""
from __future__ import annotations

import numpy as np

from .base import IMAGE_SIZE, PROBE_DIGITS, Variant

NEAR_ZERO = 0.01   # a code unit below this (in absolute value) counts as silent for a digit


def l1_penalty(code):
    """Mean over the batch of each digit's code L1 norm, divided by 784 (per-pixel scale)."""
    import tensorflow as tf

    return tf.reduce_mean(tf.reduce_sum(tf.abs(code), axis=-1)) / IMAGE_SIZE


class Sparse(Variant):
    name = "sparse"
    term = "sparsity"
    knob = "sparsity_weight"

    def objective(self, nets, clean, noisy, loss_fn, weight, normal):
        code = nets.encoder(noisy, training=True)
        reconstruction = loss_fn(clean, nets.decoder(code, training=True))
        return self.combine(reconstruction, l1_penalty(code), weight)

    def test_measures(self, nets, x, loss_fn, weight) -> dict:
        code = nets.encoder(x, training=False)
        return {"test_objective": loss_fn(x, nets.decoder(code, training=False)) + weight * l1_penalty(code)}

    def inspect(self, nets, probe) -> dict[str, np.ndarray]:
        code = np.abs(np.asarray(nets.encoder(probe[:PROBE_DIGITS], training=False)))
        return {"silent_share": np.float32((code < NEAR_ZERO).mean()),    # of code units, over digits
                "unit_mean": code.mean(axis=0).astype(np.float32),           # each unit's mean |activation|
                "digit_code": code[0].astype(np.float32)}                   # one digit's code

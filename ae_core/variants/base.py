"""The plain autoencoder: the variant every other one extends.

A variant may add one objective term, weighted by one live Config field (its knob). The compiled
step calls :meth:`Variant.objective`; the plain autoencoder's is exactly ``loss(clean,
autoencoder(noisy))``, so it costs no op more than a lab without variants.
"""
from __future__ import annotations

import numpy as np

IMAGE_SIZE = 784     # pixels of a digit; every term is per digit divided by this, the reconstruction's scale
PROBE_DIGITS = 64    # probe digits the live measurements use (the first of the engine's probe batch)


class Variant:
    name = "autoencoder"
    term: str | None = None    # its extra objective term: the history column ``loss_<term>``
    knob: str | None = None    # the live Config field weighting that term
    code_activation: str | None = None  # the code layer's activation; None: the Config's activation
    xla = True                 # whether its step runs well compiled by XLA (see Contractive)

    # --- layers -------------------------------------------------------------------------------
    def code_layer(self, units: int, activation: str, kernel_init, bias_init, name: str, tied_to=None):
        """The layer that makes the code from the encoder's last hidden features."""
        import keras

        if tied_to is not None:
            return tied_to(units, activation=activation, kernel_initializer=kernel_init,
                           bias_initializer=bias_init, name=name)
        return keras.layers.Dense(units, activation=activation, kernel_initializer=kernel_init,
                                  bias_initializer=bias_init, name=name)

    # --- the objective (inside the compiled step) ---------------------------------------------------
    @property
    def parts(self) -> tuple[str, ...]:
        """Names of the objective's terms when it has several (the history's ``loss_*`` columns)."""
        return ("reconstruction", self.term) if self.term else ()

    def objective(self, nets, clean, noisy, loss_fn, weight, normal):
        """The batch's objective; with several terms, a vector: [total, reconstruction, term].
        ``weight`` is the knob's tf.Variable, ``normal(shape)`` draws from the run's generator."""
        return loss_fn(clean, nets.autoencoder(noisy, training=True))

    def combine(self, reconstruction, term, weight):
        import tensorflow as tf

        weighted = weight * term
        return tf.stack([reconstruction + weighted, reconstruction, weighted])

    def test_measures(self, nets, x, loss_fn, weight) -> dict:
        """Graph values on the test digits for the CLI's ``done`` line (``test_objective``...)."""
        return {}

    # --- live measurements (eager, on the probe digits) --------------------------------------------
    def inspect(self, nets, probe) -> dict[str, np.ndarray]:
        return {}

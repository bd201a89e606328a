"""Optimizers by name, including TF1's RMSProp as the notebook used it."""
from __future__ import annotations

from .config import Config


def _tf1_rmsprop_class():
    import keras

    @keras.saving.register_keras_serializable(package="ae_core")
    class TF1RMSprop(keras.optimizers.RMSprop):
        """TF1's ``RMSPropOptimizer``: same update as Keras' RMSprop, but the mean-square accumulator
        starts at 1.0 (Keras starts it at 0) and epsilon is 1e-10. Starting at 1 makes the first steps
        small; starting at 0 makes the first step about lr/|g|·|g| = lr·sqrt(10) per weight, which with
        the notebook's N(0, 1) init gives a very different loss curve."""

        def __init__(self, learning_rate=0.01, rho=0.9, epsilon=1e-10, **kwargs):
            super().__init__(learning_rate=learning_rate, rho=rho, epsilon=epsilon, **kwargs)

        def build(self, var_list):
            if self.built:
                return
            super().build(var_list)
            for velocity in self._velocities:
                velocity.assign(keras.ops.ones_like(velocity))

    return TF1RMSprop


_TF1 = None


def make_optimizer(cfg: Config):
    import keras

    global _TF1
    lr = cfg.learning_rate
    if cfg.optimizer == "rmsprop_tf1":
        _TF1 = _TF1 or _tf1_rmsprop_class()
        return _TF1(learning_rate=lr)
    return {
        "rmsprop": lambda: keras.optimizers.RMSprop(learning_rate=lr),
        "adam": lambda: keras.optimizers.Adam(learning_rate=lr),
        "adamw": lambda: keras.optimizers.AdamW(learning_rate=lr),
        "sgd": lambda: keras.optimizers.SGD(learning_rate=lr),
        "momentum": lambda: keras.optimizers.SGD(learning_rate=lr, momentum=0.9),
    }[cfg.optimizer]()

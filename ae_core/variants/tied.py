"""Tied weights: each decoder layer's kernel is its mirrored encoder layer's kernel, transposed.

One Keras layer, :class:`TiedDense`, holds the kernel and both biases and is called twice: forward
in the encoder and with ``transpose=True`` in the decoder, so there is one variable to train and
the saved model.keras stores it once.
"""
from __future__ import annotations

_CLASS = []


def tied_dense_class():
    """The TiedDense layer class (made, and registered with Keras, on first use)."""
    if _CLASS:
        return _CLASS[0]
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="ae_core")
    class TiedDense(keras.layers.Layer):
        """A dense layer usable both ways: ``layer(x)`` is act(x·W + b) and ``layer(y, transpose=True)``
        is act_t(y·Wᵀ + b_t), where W is the one kernel and b_t a second bias of the input's width."""

        def __init__(self, units, activation=None, transpose_activation=None, kernel_initializer="glorot_uniform",
                     bias_initializer="zeros", transpose_bias_initializer="zeros", tied=True, **kwargs):
            super().__init__(**kwargs)
            self.units = int(units)
            self.activation = keras.activations.get(activation)
            self.transpose_activation = keras.activations.get(transpose_activation)
            self.kernel_initializer = keras.initializers.get(kernel_initializer)
            self.bias_initializer = keras.initializers.get(bias_initializer)
            self.transpose_bias_initializer = keras.initializers.get(transpose_bias_initializer)
            self.tied = bool(tied)  # False: forward only (no second bias), e.g. an untied Gaussian code

        def build(self, input_shape):
            fan_in = int(input_shape[-1])
            self.kernel = self.add_weight(shape=(fan_in, self.units), initializer=self.kernel_initializer,
                                          name="kernel")
            self.bias = self.add_weight(shape=(self.units,), initializer=self.bias_initializer, name="bias")
            if self.tied:
                self.transpose_bias = self.add_weight(shape=(fan_in,), initializer=self.transpose_bias_initializer,
                                                      name="transpose_bias")

        def call(self, inputs, transpose=False):
            if transpose:
                return self.transpose_activation(ops.matmul(inputs, ops.transpose(self.kernel)) + self.transpose_bias)
            return self.activation(ops.matmul(inputs, self.kernel) + self.bias)

        def get_config(self):
            config = super().get_config()
            config.update(
                units=self.units, tied=self.tied,
                activation=keras.activations.serialize(self.activation),
                transpose_activation=keras.activations.serialize(self.transpose_activation),
                kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
                bias_initializer=keras.initializers.serialize(self.bias_initializer),
                transpose_bias_initializer=keras.initializers.serialize(self.transpose_bias_initializer))
            return config

    _CLASS.append(TiedDense)
    return TiedDense

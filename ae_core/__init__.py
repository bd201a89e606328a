"""The autoencoder lab's engine: configuration, data, model, trainer, run store.

Plain Python and Keras; never imports streamlit. TensorFlow is imported lazily by the
modules that need it, so importing ``ae_core`` itself is cheap.
"""
import os

# TensorFlow's C++ start-up chatter (oneDNN notices, CPU feature lines) means nothing to a user.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

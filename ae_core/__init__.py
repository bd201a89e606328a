"""The autoencoder lab's engine: configuration, data, model, trainer, run store.

Plain Python and Keras; never imports streamlit. TensorFlow is imported lazily by the
modules that need it, so importing ``ae_core`` itself is cheap.
"""
import os

# TensorFlow's C++ start-up chatter (oneDNN notices, CPU feature lines) means nothing to a user.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import importlib.abc
import importlib.util
import sys


def _register_keras_layers() -> None:
    """Register the variants' custom Keras layers, so that any model.keras of the lab loads with
    ``keras.models.load_model(path, safe_mode=True)`` once ``ae_core`` is imported."""
    from .variants import register_layers

    register_layers()


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Importing ``ae_core`` stays cheap (no Keras): the layers are registered right after Keras
    itself is first imported, whoever imports it."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            try:
                _register_keras_layers()
            except Exception:  # never break the import of Keras itself; loading would then say what is missing
                pass

        spec.loader.exec_module = exec_then_register
        return spec


if "keras" in sys.modules:
    _register_keras_layers()
elif not any(isinstance(finder, _RegisterAfterKeras) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterKeras())

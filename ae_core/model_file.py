"""A .keras file someone uploads to look at: loaded safely in a temporary folder, summarised layer by
layer, and (when it is an MNIST-shaped autoencoder) asked for reconstructions."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .runs import RunError, load_keras_model


def safe_filename(name: str, suffix: str = ".keras") -> str:
    """An uploaded file's name reduced to a plain file name (no folders, no odd characters)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(str(name).replace("\\", "/")).name).lstrip(".")
    stem = stem[: -len(suffix)] if stem.lower().endswith(suffix) else stem
    return (stem[:60] or "model") + suffix


def load_keras_bytes(data: bytes, filename: str = "model.keras"):
    """Load an uploaded ``.keras`` file (``safe_mode=True``) from a temporary folder that is removed
    afterwards; raises :class:`RunError` with one sentence for anything unusable."""
    import tempfile

    if not data:
        raise RunError(f"{safe_filename(filename)} is empty.")
    with tempfile.TemporaryDirectory(prefix="ae-upload-") as tmp:
        path = Path(tmp) / safe_filename(filename)
        path.write_bytes(data)
        return load_keras_model(path)


def model_summary(model) -> pd.DataFrame:
    """Layer name, type, output shape and parameter count, nested models flattened (``encoder/latent``)."""
    rows = []

    def walk(m, prefix):
        for layer in m.layers:
            if hasattr(layer, "layers") and layer.layers:
                walk(layer, f"{prefix}{layer.name}/")
                continue
            if prefix and type(layer).__name__ == "InputLayer":
                continue  # a nested model's input is the previous layer's output, listed already
            try:
                shape = tuple(layer.output.shape)
            except Exception:  # a layer never called has no output yet
                shape = None
            rows.append({"layer": prefix + layer.name, "type": type(layer).__name__,
                         "output shape": str(shape).replace("None", "batch") if shape is not None else "—",
                         "parameters": int(layer.count_params()) if layer.built else 0})

    walk(model, "")
    return pd.DataFrame(rows, columns=["layer", "type", "output shape", "parameters"])


def is_autoencoder(model) -> bool:
    """One input and one output, both 784 pixels a digit: a model whose reconstructions we can draw."""
    try:
        ins, outs = model.inputs, model.outputs
        return (len(ins) == 1 and len(outs) == 1 and tuple(ins[0].shape)[1:] == (784,)
                and tuple(outs[0].shape)[1:] == (784,))
    except Exception:
        return False


def reconstruct(model, images: np.ndarray) -> np.ndarray:
    """The model's reconstructions of ``images`` (rows of 784 pixels in [0, 1])."""
    x = np.asarray(images, np.float32).reshape(-1, 784)
    return np.asarray(model.predict(x, verbose=0, batch_size=256), np.float32).reshape(len(x), 784)

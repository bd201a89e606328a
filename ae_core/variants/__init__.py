"""The family of autoencoders: one class per variant (``Config.variant``) and per architecture
option (``conv``, ``tied``), each holding everything it adds to the plain autoencoder: its layers,
its objective term (a curve of its own in the history), the live knob weighting that term, and its
live measurements. The engine and the model builder ask these classes; they never test a name.

Importing this package is cheap: Keras is imported by the methods that build or run layers.
"""
from __future__ import annotations

from ..config import VARIANTS, Config
from .base import Variant
from .contractive import Contractive
from .sparse import Sparse
from .variational import Variational

BY_NAME: dict[str, Variant] = {v.name: v for v in (Variant(), Sparse(), Contractive(), Variational())}
assert tuple(BY_NAME) == VARIANTS, "every Config variant has exactly one class"


def variant_of(cfg: Config) -> Variant:
    return BY_NAME[cfg.variant]


def register_layers() -> None:
    """Register every custom Keras layer (so a saved model.keras loads with safe_mode=True)."""
    from .tied import tied_dense_class
    from .variational import gaussian_code_class

    tied_dense_class()
    gaussian_code_class()

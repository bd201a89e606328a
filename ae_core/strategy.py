"""Which tf.distribute strategy a run trains under: the caller's active scope, or AE_DISTRIBUTE."""
from __future__ import annotations

import os
import sys
import threading

from .config import ConfigError

_ENV_STRATEGY: list = []
_LOCK = threading.Lock()


def active_strategy():
    """The strategy of an active ``with strategy.scope():`` in this thread, or None. TensorFlow is
    not imported for this: if nothing imported it yet, no scope can be active; if another thread is
    still importing it (the module is only partly there), no scope can be active here either."""
    distribute = getattr(sys.modules.get("tensorflow"), "distribute", None)
    try:
        return distribute.get_strategy() if distribute.has_strategy() else None
    except AttributeError:  # no TensorFlow yet, or a partly imported one
        return None


def strategy_from_env():
    """``AE_DISTRIBUTE=mirrored``: one MirroredStrategy over every GPU of the machine (over the CPU
    when there is none), made once per process and shared by its runs. Unset or ``none``: None."""
    name = os.environ.get("AE_DISTRIBUTE", "none").strip().lower()
    if name in ("", "none", "off", "0"):
        return None
    if name != "mirrored":
        raise ConfigError(f"AE_DISTRIBUTE must be 'mirrored' or 'none', not {name!r}.")
    with _LOCK:
        if not _ENV_STRATEGY:
            import tensorflow as tf

            _ENV_STRATEGY.append(tf.distribute.MirroredStrategy())
        return _ENV_STRATEGY[0]

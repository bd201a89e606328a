"""Cold start: TensorFlow imported and the default network built and compiled before anyone asks.

Importing TensorFlow, building a network and compiling its training step take several seconds the
first time in a process. A server begins that work in the background as soon as it can (``ae-lab``
and ``make run`` when the process starts, a plain ``streamlit run app.py`` on its first page: see
:func:`begin_default`) and the first run with the same network takes the finished
:class:`~ae_core.engine.Engine` over instead of building its own (:func:`claim`, called by the
training loop). While the engine is still being made, a run that wants it waits for it (building
a second one on the same cores would only slow both) and says what is happening meanwhile.
"""
from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Callable

from .config import LIVE_FIELDS, Config
from .snapshot import N_DIGITS

if TYPE_CHECKING:
    from .data import Dataset
    from .engine import Engine

# What the warm-up is doing, said as the page's status line says it.
WAITING_FOR_DATA = "Loading the data…"
STARTING_TF = "Starting TensorFlow…"
BUILDING = "Building the network…"
COMPILING = "Compiling the training step…"
READY = "Ready."

_lock = threading.Lock()
_warmups: list["Prewarm"] = []   # begun and not yet claimed
_making: list["Prewarm"] = []    # begun and not yet done (claimed or not)
_data_lock = threading.Lock()
_default_data: dict = {}         # AE_MNIST_PATH -> (Dataset, warning): loaded once per process


def default_data() -> tuple["Dataset", str | None]:
    """The data set the lab uses when nobody picked one, loaded once per process (a second caller
    waits for the first's load and gets the very same Dataset): the file in AE_MNIST_PATH, Keras'
    MNIST or the bundled digits; if AE_MNIST_PATH names a file that cannot be used, the bundled
    digits and one sentence why. Raises DataError when there is no data at all."""
    from . import data

    key = os.environ.get("AE_MNIST_PATH")
    with _data_lock:
        if key not in _default_data:
            try:
                _default_data[key] = data.load_default(), None
            except data.DataError as e:
                _default_data[key] = data.load_bundled(), f"{e} Using the bundled MNIST subset instead."
        return _default_data[key]


def enabled() -> bool:
    """``AE_PREWARM=0`` leaves the network to the first run (to compare, or short of memory)."""
    return os.environ.get("AE_PREWARM", "1").strip() != "0"


def begin_default() -> "Prewarm | None":
    """Warm up the default preset's network on the default data (when a server starts)."""
    from .config import DEFAULT_PRESET, PRESETS

    return begin(PRESETS[DEFAULT_PRESET], lambda: default_data()[0]) if enabled() else None


class Prewarm:
    """One engine for ``config`` on the data set ``dataset()`` returns, made in a background thread."""

    def __init__(self, config: Config, dataset: Callable[[], "Dataset"]):
        self.config = config
        self.message = STARTING_TF
        self.dataset: "Dataset | None" = None
        self.engine: "Engine | None" = None
        self.error: str | None = None
        self.claimed = False
        self.done = threading.Event()
        self._load = dataset
        self._thread = threading.Thread(target=self._run, daemon=True, name="prewarm")
        self._thread.start()

    def _run(self) -> None:
        try:
            # The data loads (mostly file reading and numpy, outside the interpreter's lock) while
            # TensorFlow is imported, the longest part.
            loaded: dict = {}
            loading = threading.Thread(target=self._load_into, args=(loaded,), daemon=True, name="prewarm-data")
            loading.start()
            import tensorflow  # noqa: F401  (the import is the work)

            self.message = WAITING_FOR_DATA
            loading.join()
            if "error" in loaded:
                raise loaded["error"]
            self.dataset = loaded["dataset"]
            from .engine import Engine
            from .strategy import strategy_from_env

            self.message = BUILDING
            engine = Engine(self.config, self.dataset, N_DIGITS, strategy=strategy_from_env())
            self.message = COMPILING
            engine.warm_up(self.config.batch_size, xla_later=True)
            # What the first chunk's evaluation calls (layer health is a graph of its own, and the
            # film strip's first frame an eager pass): traced now, not after the first Start.
            from .frames import capture

            engine.health()
            engine.inspect()
            capture(engine, self.config)
            self.engine = engine
            self.message = READY
        except Exception as e:  # a run then builds its own network and says what went wrong there
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.done.set()

    def _load_into(self, loaded: dict) -> None:
        try:
            loaded["dataset"] = self._load()
        except Exception as e:  # raised again in the warm-up's own thread
            loaded["error"] = e

    def fits(self, config: Config, dataset: "Dataset") -> bool:
        """Whether a run of ``config`` on ``dataset`` can train on this engine: the same network
        (only live settings may differ) on the very same data set."""
        return (not self.claimed and self.error is None and not self.config.needs_reset(config)
                and (self.dataset is None or self.dataset is dataset))

    def wait(self, on_wait: Callable[[str], None] | None = None, every: float = 0.1) -> None:
        said = None
        while not self.done.wait(every):
            if on_wait is not None and self.message != said:
                said = self.message
                on_wait(said)


def begin(config: Config, dataset: Callable[[], "Dataset"]) -> Prewarm:
    """Start making the engine for ``config`` (once: a warm-up for an equal config that is still
    unclaimed is returned instead of starting another)."""
    with _lock:
        for warm in _warmups:
            if warm.config == config and not warm.claimed:
                return warm
        warm = Prewarm(config, dataset)
        _warmups.append(warm)
        _making[:] = [w for w in _making if not w.done.is_set()] + [warm]
        return warm


def pending() -> list[Prewarm]:
    with _lock:
        return list(_warmups)


def claim(config: Config, dataset: "Dataset", *, strategy=None,
          on_wait: Callable[[str], None] | None = None) -> "Engine | None":
    """The warmed-up engine for a new run of ``config`` on ``dataset``, or None when there is none
    that fits (the run then builds its own). Waits for one still being made, calling ``on_wait``
    with what it is doing. The engine comes with the run's live settings applied and is the
    caller's alone from then on."""
    if strategy is not None:
        return None  # a caller's own tf.distribute strategy: the warm-up used the default one
    with _lock:
        warm = next((w for w in _warmups if w.fits(config, dataset)), None)
        if warm is None:
            return None
        warm.claimed = True
        _warmups.remove(warm)
    warm.wait(on_wait)
    engine = warm.engine
    if engine is None or warm.dataset is not dataset:
        return None
    for name, (_, value) in warm.config.diff(config).items():
        if name in LIVE_FIELDS:
            engine.set_live(name, value)
    engine.cfg = config
    if not engine.compiled(config.batch_size):
        engine.warm_up(config.batch_size)
    return engine


def wait_until_warm(timeout: float = 30.0) -> None:
    """Wait, at most ``timeout``, while a warm-up is being made: work that can come a few seconds
    later (the PCA baselines: both cores for about a second) then does not slow the first step."""
    deadline = time.monotonic() + timeout
    with _lock:
        making = list(_making)
    for warm in making:
        warm.done.wait(max(0.0, deadline - time.monotonic()))


def wait_all(timeout: float = 60.0) -> None:
    """Let every unclaimed warm-up finish (for tests and a tidy shutdown)."""
    deadline = time.monotonic() + timeout
    for warm in pending():
        warm.done.wait(max(0.0, deadline - time.monotonic()))

"""Snapshot: what a run looks like after a chunk of training, published for any reader.

Immutable: its arrays are read-only views, so a page can draw one while training goes on.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np

from .config import Config
from .history import HistoryView
from .status import ACTIVE, Status

N_DIGITS = 64             # fixed test digits whose reconstructions are published (8×8 at most)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


@dataclass(frozen=True)
class Snapshot:
    run_id: str
    config: Config               # the configuration in force, live changes included
    status: Status
    message: str                 # a plain sentence for the page ("" when all is well)
    step: int                    # completed training steps
    elapsed: float               # training seconds, pauses excluded
    steps_per_sec: float
    history: HistoryView
    originals: np.ndarray        # (N_DIGITS, 784) fixed test digits
    reconstructions: np.ndarray  # their reconstructions at ``recon_step`` (empty before the network exists)
    recon_step: int
    test_loss: float | None      # latest held-out MSE
    data_source: str
    version: int                 # increases with every publication
    health: tuple = ()           # ae_core.health.LayerHealth per layer, at ``recon_step``
    first_layer: np.ndarray | None = None  # first encoder kernel (784 × units), at ``recon_step``
    # The variant's numbers on the test digits at ``recon_step`` (``test_objective``, ``test_kl``)
    test_measures: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    # The variant's and architecture's live measurements (ae_core.variants' ``inspect``), at ``recon_step``
    measurements: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def budget(self) -> int:
        return self.config.steps

    @property
    def loss(self) -> float | None:
        return float(self.history.loss[-1]) if self.history.steps else None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def wait_for(cond, latest, until, timeout: float, run_id: str, ended, on_tick=None) -> "Snapshot":
    """Block on ``cond`` until ``latest()`` satisfies ``until``; what a local and a remote run share.
    ``ended()`` returns why no snapshot will come any more (or "" while one may); ``on_tick`` runs
    before each wait (a remote run keeps its watcher alive with it)."""
    deadline = time.monotonic() + timeout
    with cond:
        while not until(snap := latest()):
            why = ended()
            if why:
                raise RuntimeError(f"run {run_id}: {why} ({snap.status}: {snap.message})")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"run {run_id}: still {snap.status} at step {snap.step} after {timeout:g} s"
                                   + (f" ({snap.message})" if snap.message else ""))
            if on_tick is not None:
                on_tick()
            cond.wait(min(left, 0.5))
        return snap

"""Training history: per-step metrics, held-out evaluations and hyperparameter events.

The trainer appends; readers get a :class:`HistoryView` whose arrays are read-only slices, so a
page can plot them while training keeps appending (appends never touch the first ``n`` entries).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import time

import numpy as np
import pandas as pd

SMOOTHING_SPAN = 50  # steps; the exponential moving average drawn over the noisy minibatch loss
GESTURE_S = 1.5      # changes of one setting closer together than this are one gesture (one mark)
TERM_PREFIX = "loss_"  # history.csv column of one term of a several-term objective: loss_reconstruction, loss_kl...


@dataclass(frozen=True)
class HistoryView:
    loss: np.ndarray          # minibatch loss of step i (0-based), before that step's update
    learning_rate: np.ndarray
    batch_size: np.ndarray
    elapsed: np.ndarray       # training seconds (pauses excluded) when step i finished
    test_step: np.ndarray     # completed steps at each held-out evaluation
    test_loss: np.ndarray     # held-out MSE at those points
    events: tuple = ()        # dicts: {"step", "elapsed", "field", "old", "new"}
    # When the objective has several terms (a variant's penalty beside the reconstruction): each
    # term's value at step i, by name; ``loss`` is their sum. Empty for a one-term objective.
    terms: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def steps(self) -> int:
        return len(self.loss)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = a.view()
    a.flags.writeable = False
    return a


class History:
    """Append-only store; only the training thread writes to it."""

    def __init__(self, capacity: int = 4096):
        self._loss = np.zeros(capacity, np.float32)
        self._lr = np.zeros(capacity, np.float32)
        self._batch = np.zeros(capacity, np.int32)
        self._elapsed = np.zeros(capacity, np.float64)
        self.n = 0
        self.test_step: list[int] = []
        self.test_loss: list[float] = []
        self.events: list[dict] = []
        self._gestures: dict[str, dict] = {}  # setting -> its latest change: when, its mark, where it began
        self._terms: dict[str, np.ndarray] = {}

    def _grow(self, need: int) -> None:
        # Grow into new arrays: views handed out earlier keep pointing at the old ones, unchanged.
        cap = max(need, 2 * len(self._loss))
        for name in ("_loss", "_lr", "_batch", "_elapsed"):
            old = getattr(self, name)
            new = np.zeros(cap, old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)
        for name, old in self._terms.items():
            new = np.zeros(cap, old.dtype)
            new[: self.n] = old[: self.n]
            self._terms[name] = new

    def extend(self, losses: np.ndarray, learning_rate: float, batch_size: int, t0: float, t1: float,
               terms: Mapping[str, np.ndarray] | None = None) -> None:
        """Append a chunk of steps that ran between training-clock times t0 and t1 (with each
        objective term's values, when the objective has several)."""
        k = len(losses)
        if k == 0:
            return
        if self.n + k > len(self._loss):
            self._grow(self.n + k)
        s = slice(self.n, self.n + k)
        for name, values in (terms or {}).items():
            if name not in self._terms:
                self._terms[name] = np.full(len(self._loss), np.nan, np.float32)
            self._terms[name][s] = values
        self._loss[s] = losses
        self._lr[s] = learning_rate
        self._batch[s] = batch_size
        self._elapsed[s] = t0 + (t1 - t0) * np.arange(1, k + 1) / k
        self.n += k

    def add_test(self, step: int, loss: float) -> None:
        if self.test_step and self.test_step[-1] == step:
            self.test_loss[-1] = loss
        else:
            self.test_step.append(step)
            self.test_loss.append(loss)

    def add_event(self, step: int, elapsed: float, field_name: str, old, new, now: float | None = None) -> None:
        """Record a live change. Changes of one setting in quick succession (a slider moved with the
        arrow keys, one press at a time) are one gesture: they update the gesture's mark instead of
        adding marks on top of each other, and a gesture that ends where it began leaves no mark."""
        now = time.monotonic() if now is None else now
        gesture = self._gestures.get(field_name)
        if gesture is not None and now - gesture["at"] < GESTURE_S:
            gesture["at"] = now
            event = gesture["event"]
            if new == gesture["origin"]:
                if event is not None:
                    self.events = [e for e in self.events if e is not event]
                gesture["event"] = None
            elif event is not None:
                event["new"] = new
            else:
                gesture["event"] = dict(step=step, elapsed=elapsed, field=field_name, old=gesture["origin"], new=new)
                self.events.append(gesture["event"])
            return
        event = dict(step=step, elapsed=elapsed, field=field_name, old=old, new=new)
        self.events.append(event)
        self._gestures[field_name] = {"at": now, "event": event, "origin": old}

    def truncate(self, n: int) -> None:
        """Forget steps from ``n`` on (used when a chunk diverged and its weights were rolled back)."""
        self.n = min(self.n, n)

    def view(self) -> HistoryView:
        n = self.n
        return HistoryView(
            loss=_readonly(self._loss[:n]), learning_rate=_readonly(self._lr[:n]),
            batch_size=_readonly(self._batch[:n]), elapsed=_readonly(self._elapsed[:n]),
            test_step=_readonly(np.asarray(self.test_step, np.int64)),
            test_loss=_readonly(np.asarray(self.test_loss, np.float64)),
            events=tuple(dict(e) for e in self.events),
            terms=MappingProxyType({name: _readonly(a[:n]) for name, a in self._terms.items()}))

    @classmethod
    def from_frames(cls, steps: pd.DataFrame, events: list[dict]) -> "History":
        """Rebuild from :func:`to_frame` output (a saved run's history.csv) to continue training."""
        h = cls(max(4096, len(steps)))
        n = len(steps)
        h._loss[:n] = steps["loss"].to_numpy(np.float32)
        h._lr[:n] = steps["learning_rate"].to_numpy(np.float32)
        h._batch[:n] = steps["batch_size"].to_numpy(np.int32)
        h._elapsed[:n] = steps["elapsed"].to_numpy(np.float64)
        h.n = n
        tests = steps.dropna(subset=["test_loss"])
        h.test_step = [int(s) + 1 for s in tests["step"]]
        h.test_loss = [float(v) for v in tests["test_loss"]]
        h.events = [dict(e) for e in events]
        for column in steps.columns:
            if column.startswith(TERM_PREFIX):
                h._terms[column[len(TERM_PREFIX):]] = np.full(len(h._loss), np.nan, np.float32)
                h._terms[column[len(TERM_PREFIX):]][:n] = steps[column].to_numpy(np.float32)
        return h


def smooth(loss: np.ndarray, span: int = SMOOTHING_SPAN) -> np.ndarray:
    """Exponential moving average, bias-corrected at the start (as pandas' ewm with adjust=True).
    On short histories the span shrinks (to a 30th of the length) so the curve does not lag far
    behind a loss that is still falling fast."""
    if len(loss) == 0:
        return np.zeros(0, np.float64)
    span = int(min(span, max(1, len(loss) // 30)))
    return pd.Series(loss, dtype=np.float64).ewm(span=span, adjust=True).mean().to_numpy()


def to_frame(view: HistoryView) -> pd.DataFrame:
    """One row a step: step, loss, smoothed_loss, test_loss (where evaluated), learning_rate,
    batch_size, elapsed, and ``loss_<term>`` per objective term when there are several. ``step`` is 0-based like the notebook's ``Step i`` lines; a held-out
    evaluation after ``k`` completed steps sits on row ``k - 1``."""
    n = view.steps
    test = np.full(n, np.nan)
    idx = view.test_step - 1
    ok = (idx >= 0) & (idx < n)
    test[idx[ok]] = view.test_loss[ok]
    return pd.DataFrame({
        "step": np.arange(n, dtype=np.int64),
        "loss": view.loss.astype(np.float64),
        "smoothed_loss": smooth(view.loss),
        "test_loss": test,
        "learning_rate": view.learning_rate.astype(np.float64),
        "batch_size": view.batch_size.astype(np.int64),
        "elapsed": view.elapsed,
        **{TERM_PREFIX + name: values.astype(np.float64) for name, values in view.terms.items()},
    })


def events_frame(view: HistoryView) -> pd.DataFrame:
    return pd.DataFrame(list(view.events), columns=["step", "elapsed", "field", "old", "new"])

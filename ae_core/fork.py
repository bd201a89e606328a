"""Fork: a new run that goes on from another run's current step, with some settings changed.

The fork starts from the parent's weights, optimizer state (moments, step count) and history at
the step where it branched, the same way a saved run is continued (``runs.resume_kwargs``), under
a new run id. Its history records the branch as an event (``field == "fork"``, ``old`` = the
parent's run id), which is also how the run store knows a run's parent. The parent is not changed:
it is paused for the moment its state is copied and resumed if it was training.
"""
from __future__ import annotations

from typing import Callable

from .config import LIVE_FIELDS, Config
from .history import History, HistoryView, to_frame

FORK_EVENT = "fork"
PAUSE_TIMEOUT_S = 10.0


class ForkError(ValueError):
    """Why a run cannot be forked, in one sentence."""


def fork_config(parent: Config, wanted: Config, step: int) -> Config:
    """The fork's configuration: ``wanted`` (the settings on the sliders), refused if its network
    has other layer sizes than the parent's weights. A step budget already reached is extended by
    the same number of steps again, so the fork has something to train."""
    if wanted.layer_widths != parent.layer_widths:
        raise ForkError(
            f"A fork keeps the weights, so its layers must stay {' → '.join(map(str, parent.layer_widths))}; "
            f"the sliders say {' → '.join(map(str, wanted.layer_widths))} (Reset to train that network instead).")
    if wanted.steps <= step:
        wanted = wanted.replace(steps=step + wanted.steps)
    return wanted


def parent_of(events) -> tuple[str, int] | None:
    """(parent run id, step where it branched) from a run's events, or None for a run that is no fork."""
    forks = [e for e in events or () if isinstance(e, dict) and e.get("field") == FORK_EVENT]
    if not forks:
        return None
    try:
        return str(forks[-1]["old"]), int(forks[-1]["step"])
    except (KeyError, TypeError, ValueError):
        return None


def branch_history(view: HistoryView, parent_config: Config, config: Config, parent_id: str,
                   run_id: str) -> History:
    """A copy of the parent's history with the branch (and each live setting that differs) as events."""
    history = History.from_frames(to_frame(view), list(view.events))
    step = view.steps
    elapsed = float(view.elapsed[-1]) if step else 0.0
    history.add_event(step, elapsed, FORK_EVENT, parent_id, run_id)
    for name, (old, new) in parent_config.diff(config).items():
        if name in LIVE_FIELDS:
            history.add_event(step, elapsed, name, old, new)
    return history


def fork(parent, config: Config, create: Callable, run_id: str | None = None):
    """Fork the live trainer ``parent`` with ``config``; ``create(config, dataset, run_id=..., history=...,
    weights=..., optimizer_state=...)`` makes the new trainer (e.g. ``Registry.create``). The new run
    starts training at once. Raises ForkError with one sentence when it cannot."""
    from .trainer import RUNNING, new_run_id

    was_running = parent.snapshot().status == RUNNING
    parent.pause()
    try:
        snap = parent.wait(lambda s: s.status != RUNNING, timeout=PAUSE_TIMEOUT_S)
        weights = parent.weights()
        optimizer_state = parent.optimizer_state()
    except (TimeoutError, RuntimeError) as e:
        raise ForkError(f"Run {parent.run_id} could not be paused to copy it ({e}).") from None
    finally:
        if was_running:
            parent.resume()
    if weights is None:
        raise ForkError("This run has no network yet to fork; wait until it is ready.")
    config = fork_config(snap.config, config, snap.step)
    run_id = run_id or new_run_id()
    history = branch_history(snap.history, snap.config, config, parent.run_id, run_id)
    same_optimizer = config.optimizer == snap.config.optimizer
    child = create(config, parent.dataset, run_id=run_id, history=history, weights=weights,
                   optimizer_state=optimizer_state if same_optimizer else None)
    film = getattr(parent, "film", None)
    if film is not None and hasattr(child, "film"):
        child.film.prepend(film, snap.step + 1)  # the film strip goes back through the parent's past
    child.start()
    return child

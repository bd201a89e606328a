"""Who may steer a run from this session.

Every control that changes a run or the run store (Start, Pause, sliders, Fork, Rename, Delete,
upload, a scene's Next) asks `may_steer()` first, on the server, before it acts.

With ``AE_PRESENTER_KEY`` set (``make share`` sets it), only a session that brought the key once
(``?key=...``) may steer; every other session watches. A watcher's pages get the run registry
through :func:`guard`: read-only handles that show runs and refuse every command, so a control
forgotten behind a missing ``may_steer()`` still cannot change anything.
"""
from __future__ import annotations

import hmac
import os

import streamlit as st

KEY_ENV = "AE_PRESENTER_KEY"
KEY_PARAM = "key"                 # the URL parameter the presenter's link carries, once
PRESENTER = "presenter"           # session key: this session brought the right key
WRONG_KEY = "That presenter key is wrong: this page is watch-only."
WATCHING = "Watching — read-only"


class WatchOnly(PermissionError):
    """A watcher's session tried to change a run or the run store."""

    def __init__(self, what: str = "change runs"):
        super().__init__(f"This page is watch-only: it cannot {what}.")


def presenter_key() -> str | None:
    return os.environ.get(KEY_ENV) or None


def may_steer() -> bool:
    """True when this session may change runs. Without a presenter key everyone may."""
    if presenter_key() is None:
        return True
    try:
        return bool(st.session_state.get(PRESENTER))
    except Exception:  # no session at all (a thread, a bare import): nobody to trust
        return False


def take_key() -> None:
    """The presenter's link brings ``?key=``: check it, remember the answer for this session, and
    take it out of the address bar (it must not end up in a shared link or a screenshot)."""
    given = st.query_params.get(KEY_PARAM)
    if given is None:
        return
    del st.query_params[KEY_PARAM]
    expected = presenter_key()
    if expected is None:
        return  # nobody needs a key here: everyone steers
    if hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        st.session_state[PRESENTER] = True
    else:
        st.error(WRONG_KEY, icon=":material/key_off:")


def badge() -> None:
    """A small badge telling a watcher why there is nothing to press."""
    if not may_steer():
        st.badge(WATCHING, icon=":material/visibility:", color="gray")


def guard(registry):
    """The run registry as this session may use it."""
    return registry if may_steer() else WatchOnlyRegistry(registry)


def read_only(trainer):
    """A run as this session may use it (None stays None)."""
    if trainer is None or may_steer():
        return trainer
    return ReadOnlyRun(trainer)


class ReadOnlyRun:
    """A live run seen by a watcher: its snapshot, settings, data and networks; no command."""

    SHOWS = frozenset({"run_id", "config", "dataset", "snapshot", "wait", "wait_ready", "weights",
                       "optimizer_state", "model", "film", "engine"})

    def __init__(self, trainer):
        object.__setattr__(self, "_trainer", trainer)

    def __getattr__(self, name):
        if name in self.SHOWS:
            return getattr(self._trainer, name)
        raise WatchOnly(f"{name.replace('_', ' ')} a run")

    def __setattr__(self, name, value):
        raise WatchOnly("change a run")


class WatchOnlyRegistry:
    """The registry seen by a watcher: the live runs, read-only; nothing created or released."""

    def __init__(self, registry):
        self._registry = registry

    def get(self, run_id):
        return read_only(self._registry.get(run_id))

    def trainers(self):
        return [ReadOnlyRun(t) for t in self._registry.trainers()]

    def run_ids(self):
        return self._registry.run_ids()

    def has_room(self):
        return self._registry.has_room()

    def __getattr__(self, name):
        raise WatchOnly("start, stop or release runs")


# --- what the audience follows ------------------------------------------------------------------------
@st.cache_resource
def _stage() -> dict:
    """The run the presenter shows now, shared by the server's sessions."""
    return {}


def on_air(run_id: str) -> None:
    """The presenter's Train page shows ``run_id``: an audience link without a run follows it."""
    if presenter_key() is not None and may_steer():
        _stage()["run_id"] = run_id


def presenter_run() -> str | None:
    return _stage().get("run_id")

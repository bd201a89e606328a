"""Who may steer a run from this session.

Every control that changes a run or the run store (Start, Pause, sliders, Fork, Rename, Delete,
upload, a scene's Next) asks `may_steer()` first, on the server, before it acts.
"""
from __future__ import annotations


def may_steer() -> bool:
    """True when this session may change runs. Without a presenter key everyone may."""
    return True

"""The statuses a run can be in: one enum shared by the engine, the CLI and the pages.

``Status`` is a ``str`` enum, so a status compares equal to its plain name (``Status.RUNNING ==
"running"``), prints as it (``f"{Status.DONE}"`` is ``done``) and is written to JSON as it.
"""
from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PREPARING = "preparing"   # building the network and compiling the step
    READY = "ready"           # built, waiting for Start
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"             # the step budget is reached
    DIVERGED = "diverged"     # a NaN/inf loss: weights rolled back, paused
    ERROR = "error"           # the training thread ended on an exception
    STOPPED = "stopped"       # the run was stopped (its thread has ended)


# A run in one of these can still train (its thread is alive and takes commands).
ACTIVE = (Status.PREPARING, Status.READY, Status.RUNNING, Status.PAUSED, Status.DIVERGED)

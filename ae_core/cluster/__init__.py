"""Runs on a Ray cluster: with ``AE_RAY_ADDRESS`` set, every run is a named, detached Ray actor
holding an ordinary :class:`ae_core.trainer.Trainer`, and the server, the CLI and sweeps talk to it
through :class:`RemoteTrainer`, which has the Trainer's interface. Runs then outlive the web server:
a page with ``?run=ID`` re-attaches to the actor by its name.

Without ``AE_RAY_ADDRESS`` nothing here is imported beyond this file, and ``ray`` never is: it is an
optional dependency (``pip install .[cluster]``).
"""
from __future__ import annotations

import os

ADDRESS_ENV = "AE_RAY_ADDRESS"        # a Ray cluster's address (``auto``, ``host:6379``) or ``local``
CPUS_ENV = "AE_RAY_CPUS_PER_RUN"      # CPUs Ray reserves for each run (default 1)
GPUS_ENV = "AE_RAY_GPUS_PER_RUN"      # GPUs Ray reserves for each run (default 0)
NAMESPACE = "ae_lab"                  # the Ray namespace the runs' actor names live in


def enabled() -> bool:
    """True when runs live on a Ray cluster (``AE_RAY_ADDRESS`` is set)."""
    return bool(os.environ.get(ADDRESS_ENV, "").strip())


def create(config, dataset, run_id=None, **kwargs):
    """A new run as a Ray actor (see :func:`ae_core.cluster.remote_trainer.create`)."""
    from .remote_trainer import create as make

    return make(config, dataset, run_id=run_id, **kwargs)


def attach(run_id: str):
    """The live run ``run_id`` on the cluster, or None (see :func:`ae_core.cluster.remote_trainer.attach`)."""
    from .remote_trainer import attach as find

    return find(run_id)


def capacity() -> int:
    """How many runs the cluster can place at once with the resources each run asks for."""
    from .connect import capacity as runs_that_fit

    return runs_that_fit()

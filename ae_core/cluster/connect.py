"""One connection to the Ray cluster per process, and what the cluster can place.

``AE_RAY_ADDRESS`` is handed to ``ray.init(address=...)``: ``auto`` (a cluster started on this
machine with ``ray start``), ``host:port`` of a head node, or ``local`` for a Ray instance inside
this process (tests, a quick try). A connection that fails is one sentence (:class:`ClusterError`).
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from . import ADDRESS_ENV, CPUS_ENV, GPUS_ENV, NAMESPACE

_lock = threading.Lock()
CONNECT_TIMEOUT_S = 3.0
REPO_ROOT = str(Path(__file__).resolve().parents[2])   # where ``ae_core`` is importable from
# What a run's actor must see as the server does (the run store above all).
FORWARDED_ENV = ("AE_RUNS_DIR", "AE_MNIST_PATH", "AE_TENSORBOARD_DIR", "AE_DISTRIBUTE", "TF_CPP_MIN_LOG_LEVEL")


class ClusterError(RuntimeError):
    """The Ray cluster cannot be reached or cannot take the run, in one sentence."""


def address() -> str:
    return os.environ.get(ADDRESS_ENV, "").strip()


def connect():
    """``ray``, connected (once per process). Raises ClusterError with one sentence."""
    try:
        import ray
    except ImportError:
        raise ClusterError(f"{ADDRESS_ENV} is set but Ray is not installed: pip install '.[cluster]' "
                           f"(or unset {ADDRESS_ENV} to train in this process).") from None
    with _lock:
        if ray.is_initialized():
            return ray
        where = address()
        unreachable = _unreachable(where)
        if unreachable:
            raise ClusterError(f"Cannot reach the Ray cluster at {where!r} ({ADDRESS_ENV}): {unreachable}; "
                               f"start one with `ray start --head` or unset {ADDRESS_ENV}.")
        try:
            if where == "local":
                ray.init(address="local", namespace=NAMESPACE, include_dashboard=False, logging_level=logging.WARNING)
            else:
                ray.init(address=where, namespace=NAMESPACE, logging_level=logging.WARNING)
        except Exception as e:  # ConnectionError, ValueError, RuntimeError...: all mean "not reachable"
            why = str(e).splitlines()[0].rstrip(".") if str(e) else type(e).__name__
            raise ClusterError(f"Cannot reach the Ray cluster at {where!r} ({ADDRESS_ENV}): {why}; start one with "
                               f"`ray start --head`, give a cluster with token authentication its token "
                               f"(RAY_AUTH_MODE=token, ~/.ray/auth_token), or unset {ADDRESS_ENV}.") from None
    return ray


def _unreachable(where: str) -> str | None:
    """Why ``host:port`` takes no connection, or None. Asked first because ``ray.init`` itself keeps
    retrying an address that does not answer for minutes."""
    import socket

    host, sep, port = where.rpartition(":")
    if not sep or not port.isdigit() or "://" in where:
        return None   # ``auto``, ``local``, ``ray://``: Ray's own checks answer at once
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        return f"nothing answers there ({e.strerror or type(e).__name__})"
    return None


def connected() -> bool:
    """True while this process holds a live connection to the cluster."""
    try:
        import ray
        return ray.is_initialized() and bool(ray.nodes())
    except Exception:  # the head went away: any call fails
        return False


def _number(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name, default)))
    except ValueError:
        return default


def resources_per_run() -> dict:
    """What Ray reserves for one run: ``num_cpus`` and ``num_gpus`` from the environment."""
    return {"num_cpus": _number(CPUS_ENV, 1.0), "num_gpus": _number(GPUS_ENV, 0.0)}


def room_sentence() -> str | None:
    """None when the cluster has room for one more run now; else one sentence saying why not."""
    ray = connect()
    need = resources_per_run()
    free = ray.available_resources()
    total = ray.cluster_resources()
    for key, kind in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
        if need[key] > 0 and free.get(kind, 0.0) + 1e-9 < need[key]:
            env = CPUS_ENV if kind == "CPU" else GPUS_ENV
            return (f"The Ray cluster cannot place another run now: each run needs {need[key]:g} {kind} ({env}) "
                    f"and {free.get(kind, 0.0):g} of its {total.get(kind, 0.0):g} {kind}s are free. "
                    f"A place frees when a run finishes or is released; add workers with `ray start --address=…`.")
    return None


def capacity() -> int:
    """Runs the whole cluster can hold at once (busy or not) with the resources each one asks for."""
    ray = connect()
    need, total = resources_per_run(), ray.cluster_resources()
    fits = [int(total.get(kind, 0.0) // need[key]) for key, kind in (("num_cpus", "CPU"), ("num_gpus", "GPU"))
            if need[key] > 0]
    return max(1, min(fits)) if fits else 1


def runtime_env() -> dict:
    """The environment a run's actor starts with: ``ae_core`` importable as here and the server's
    settings (the run store must be a folder every node sees at the same path)."""
    env = {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)}
    from ..runs import runs_dir
    env["AE_RUNS_DIR"] = str(Path(runs_dir()).resolve())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, os.environ.get("PYTHONPATH", "")) if p)
    return {"env_vars": env}

"""`ae-lab`: start the dashboard, from a checkout or from an installed package.

    ae-lab [streamlit run options...]      e.g.  ae-lab --server.port 8600
    ae-lab --share [--port N] [...]        serve on the network with a presenter key (ae_core/share.py)

Runs ``streamlit run app.py`` in this process, after starting TensorFlow and the default network in
the background (``ae_core.prewarm``; with ``AE_PREWARM=0`` it execs Streamlit instead; the engine
itself never imports streamlit). Streamlit
reads ``.streamlit/config.toml`` only from the current folder, so the dashboard's settings are passed
as options instead; options given on the command line come after them and win.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path


def dashboard_dir() -> Path:
    """The folder holding app.py: the installed ``ae_lab`` package, else this checkout's top level."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "app.py").is_file():
        return checkout
    import importlib.util

    spec = importlib.util.find_spec("ae_lab")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        if (Path(location) / "app.py").is_file():
            return Path(location)
    raise SystemExit("error: the dashboard (app.py) is not installed beside ae_core; reinstall the package.")


def config_options(config_toml: Path) -> list[str]:
    """``--section.key value`` options for every setting of a Streamlit config file."""
    if not config_toml.is_file():
        return []
    options = []
    for section, values in tomllib.loads(config_toml.read_text()).items():
        for key, value in values.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            options += [f"--{section}.{key}", text]
    return options


def command(args: list[str]) -> list[str]:
    folder = dashboard_dir()
    return ([sys.executable, "-m", "streamlit", "run", str(folder / "app.py")]
            + config_options(folder / ".streamlit" / "config.toml") + list(args))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if "--share" in args:
        from ae_core import share

        args.remove("--share")
        return share.main(args)
    cmd = command(args)
    from . import prewarm

    if prewarm.enabled():
        # Serve from this very process, with TensorFlow and the default network being made
        # meanwhile: the first page's Start then trains at once (ae_core.prewarm).
        prewarm.begin_default()
        return serve_here(cmd)
    if os.name == "posix":
        os.execv(cmd[0], cmd)  # become the server: signals (Ctrl-C, a service manager's TERM) reach it
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 130


def serve_here(cmd: list[str]) -> int:
    """Run ``python -m streamlit run …`` (``cmd``) in this process, as the interpreter would."""
    import runpy

    sys.argv = ["streamlit", *cmd[3:]]
    try:
        runpy.run_module("streamlit", run_name="__main__", alter_sys=True)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

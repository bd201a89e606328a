"""`ae-lab`: the command line that starts the dashboard, from a checkout or an installed package."""
from __future__ import annotations

import sys

from ae_core import lab
from tests.conftest import ROOT


def test_the_dashboard_is_found_and_its_streamlit_settings_are_passed_as_options():
    assert lab.dashboard_dir() == ROOT
    cmd = lab.command(["--server.port", "8600"])
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
    options = dict(zip(cmd[5::2], cmd[6::2]))
    # Streamlit reads .streamlit/config.toml only from the folder it starts in: the settings travel as options.
    assert options["--server.maxUploadSize"] == "50" and options["--server.enableXsrfProtection"] == "true"
    assert options["--runner.postScriptGC"] == "false" and options["--theme.base"] == "dark"
    assert cmd[-2:] == ["--server.port", "8600"]  # the user's own options come last, so they win


def test_no_message_is_ever_sent_as_a_reference_to_the_browsers_cache():
    # Parts of a page rerun on their own timers; a reference to a cached element could reach a tab that had
    # just dropped it, and the tab lost its connection. Nothing the server may send is big enough to be cached.
    from streamlit import config

    options = dict(zip(*[iter(lab.config_options(ROOT / ".streamlit" / "config.toml"))] * 2))
    largest_message = config.get_option("server.maxMessageSize") * 1e6  # the server's own cap, in bytes
    assert float(options["--global.minCachedMessageSize"]) > largest_message


def test_a_missing_config_file_gives_no_options(tmp_path):
    assert lab.config_options(tmp_path / "config.toml") == []


def test_the_dashboard_is_served_from_a_process_that_warms_the_default_network_up(monkeypatch):
    from ae_core import prewarm

    calls = []
    monkeypatch.delenv("AE_PREWARM", raising=False)
    monkeypatch.setattr(prewarm, "begin_default", lambda: calls.append("prewarm"))
    monkeypatch.setattr(lab, "serve_here", lambda cmd: calls.append(cmd[2:5]) or 0)
    assert lab.main(["--server.port", "8600"]) == 0
    assert calls == ["prewarm", ["streamlit", "run", str(ROOT / "app.py")]]  # warm-up first, same process


def test_serve_here_runs_streamlits_command_line_in_this_process(monkeypatch):
    import runpy

    seen = {}

    def fake_run_module(name, run_name, alter_sys):
        seen.update(name=name, argv=list(sys.argv))
        raise SystemExit(0)

    monkeypatch.setattr(runpy, "run_module", fake_run_module)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    assert lab.serve_here(lab.command(["--server.port", "8600"])) == 0
    assert seen["name"] == "streamlit" and seen["argv"][:3] == ["streamlit", "run", str(ROOT / "app.py")]
    assert seen["argv"][-2:] == ["--server.port", "8600"]

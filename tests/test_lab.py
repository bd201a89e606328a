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


def test_a_missing_config_file_gives_no_options(tmp_path):
    assert lab.config_options(tmp_path / "config.toml") == []

"""Safe by default, shared on purpose: localhost unless `make share` / `ae-lab --share` (ae_core/share.py)."""
from __future__ import annotations

import ipaddress
import tomllib
from urllib.parse import parse_qs, urlsplit

from ae_core import lab, share
from tests.conftest import ROOT


def test_the_dashboard_listens_on_this_machine_only_by_default():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"          # plain `streamlit run app.py`
    options = lab.command([])
    assert options[options.index("--server.address") + 1] == "127.0.0.1"   # ae-lab
    make_run = (ROOT / "Makefile").read_text().split("\nrun:")[1].split("\n\n")[0]
    assert "--server.address 127.0.0.1" in make_run             # make run


def test_links_and_keys():
    audience, presenter = share.links("192.168.1.20", 8501, "abc_-12")
    assert audience == "http://192.168.1.20:8501/"
    assert presenter.startswith(audience) and parse_qs(urlsplit(presenter).query) == {"key": ["abc_-12"]}
    keys = {share.new_key() for _ in range(20)}
    assert len(keys) == 20 and all(len(k) >= 20 and k.replace("-", "").replace("_", "").isalnum() for k in keys)
    ipaddress.IPv4Address(share.lan_ip())   # an address, loopback when there is no network


def _no_env(monkeypatch, *names):
    """Unset, and restored after the test (share.main sets them in os.environ for the server)."""
    for name in names:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def test_share_prints_both_links_and_serves_on_the_network_with_the_key(monkeypatch, capsys):
    _no_env(monkeypatch, share.KEY_ENV, share.AUDIENCE_ENV)
    monkeypatch.setattr(share, "lan_ip", lambda: "10.1.2.3")
    started = []
    monkeypatch.setattr(lab, "main", lambda args: started.append(args) or 0)
    assert share.main(["--port", "8600", "--server.headless", "true"]) == 0
    import os

    key = os.environ[share.KEY_ENV]
    out = capsys.readouterr().out
    assert "http://10.1.2.3:8600/\n" in out and f"http://10.1.2.3:8600/?key={key}" in out
    assert os.environ[share.AUDIENCE_ENV] == "http://10.1.2.3:8600/"
    args = started[0]
    # after the config file's 127.0.0.1, so it wins; the user's own options come last
    assert args[:6] == ["--server.address", "0.0.0.0", "--server.port", "8600", "--browser.serverAddress", "10.1.2.3"]
    assert args[6:] == ["--server.headless", "true"]


def test_a_key_set_by_hand_is_kept_and_ae_lab_share_goes_there(monkeypatch, capsys):
    _no_env(monkeypatch, share.AUDIENCE_ENV)
    monkeypatch.setenv(share.KEY_ENV, "my-own-key")
    monkeypatch.setattr(share, "lan_ip", lambda: "10.1.2.3")
    started = []
    monkeypatch.setattr(lab, "command", lambda args: started.append(args) or ["true"])
    monkeypatch.setattr(lab.os, "execv", lambda *a: started.append(a))
    lab.main(["--share"])
    assert "?key=my-own-key" in capsys.readouterr().out
    assert started[0][:2] == ["--server.address", "0.0.0.0"] and "--share" not in started[0]

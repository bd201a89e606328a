"""Show the lab to a room: serve it on the network with a presenter key.

    python -m ae_core.share [--port 8501] [streamlit run options...]     (what `make share` runs)
    ae-lab --share [...]

Prints two links, then becomes the dashboard's server listening on every interface:
the audience link (watch-only) and the presenter link, which carries a fresh key once
(``?key=...``; the page takes it out of the address bar). The key is in ``AE_PRESENTER_KEY`` and
the audience link in ``AE_AUDIENCE_URL`` for the server's pages.
"""
from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys

KEY_ENV = "AE_PRESENTER_KEY"
AUDIENCE_ENV = "AE_AUDIENCE_URL"
ALL_INTERFACES = "0.0.0.0"
DEFAULT_PORT = 8501


def lan_ip() -> str:
    """This machine's address on its local network (the interface of its default route), or
    127.0.0.1 when it has none. No packet is sent: connecting a UDP socket only picks a route."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        address = probe.getsockname()[0]
    except OSError:
        address = "127.0.0.1"
    finally:
        probe.close()
    return address


def new_key() -> str:
    """A presenter key: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


def links(host: str, port: int, key: str) -> tuple[str, str]:
    """The audience link and the presenter link."""
    audience = f"http://{host}:{port}/"
    return audience, f"{audience}?key={key}"


def audience_url() -> str | None:
    """The audience link of a shared server (None when the server is not shared)."""
    return os.environ.get(AUDIENCE_ENV) or None


def announcement(audience: str, presenter: str) -> str:
    return (f"Audience link (watch-only):  {audience}\n"
            f"Presenter link (keep it to yourself; it steers the runs):  {presenter}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ae-lab --share", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args, streamlit_options = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    key = os.environ.get(KEY_ENV) or new_key()   # a key set by hand is kept
    host = lan_ip()
    audience, presenter = links(host, args.port, key)
    print(announcement(audience, presenter), flush=True)
    os.environ[KEY_ENV] = key
    os.environ[AUDIENCE_ENV] = audience
    from ae_core import lab

    # The browsers' address, named: Streamlit then accepts their websockets from it for sure (its own
    # guess of this machine's addresses could pick another interface) and asks no outside service.
    return lab.main(["--server.address", ALL_INTERFACES, "--server.port", str(args.port),
                     "--browser.serverAddress", host] + streamlit_options)


if __name__ == "__main__":
    sys.exit(main())

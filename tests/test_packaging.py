"""`pip install .` must carry everything a checkout runs: every engine package and the app's files."""
from __future__ import annotations

import fnmatch
import tomllib

from tests.conftest import ROOT

SETUP = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_engine_package_is_installed():
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "ae_core").rglob("__init__.py")}
    assert found <= set(SETUP["packages"]), f"missing from pyproject's packages: {sorted(found - set(SETUP['packages']))}"


def test_every_file_the_dashboard_reads_is_package_data():
    patterns = SETUP["package-data"]["ae_lab"]
    needed = [".streamlit/config.toml", *(p.relative_to(ROOT).as_posix() for p in (ROOT / "assets").iterdir()),
              *(p.relative_to(ROOT).as_posix() for p in (ROOT / "scenes").glob("*.toml"))]
    assert len(needed) > 3
    missing = [n for n in needed if not any(fnmatch.fnmatch(n, pat) for pat in patterns)]
    assert not missing, f"not installed by pip install .: {missing}"

"""requirements.txt's environment markers, as tools/check_platforms.py reads them for each platform
(the resolution itself asks PyPI, so CI runs it: `make platforms`)."""
from __future__ import annotations

from tests.conftest import ROOT
from tools import check_platforms


def _names(target_name: str) -> dict[str, str]:
    target = next(t for t in check_platforms.TARGETS if t.name == target_name)
    lines = check_platforms.requirement_lines(ROOT / "requirements.txt", target)
    assert all(";" not in line for line in lines)  # markers are resolved here, not left to pip
    return {line.split("<")[0].split(">")[0].split("=")[0]: line for line in lines}


def test_each_platform_gets_the_tensorflow_build_that_has_wheels_there():
    for name in ("linux-x86_64-py3.11", "linux-x86_64-py3.13", "windows-amd64-py3.12"):
        got = _names(name)
        assert "tensorflow-cpu" in got and "tensorflow" not in got, name
    for name in ("linux-aarch64-py3.11", "macos-arm64-py3.12", "macos-x86_64-py3.12"):
        got = _names(name)
        assert "tensorflow" in got and "tensorflow-cpu" not in got, name


def test_only_intel_macs_keep_pyarrow_below_26_and_every_platform_gets_the_rest():
    assert _names("macos-x86_64-py3.12")["pyarrow"] == "pyarrow<26"
    common = {"keras", "streamlit", "plotly", "pandas", "numpy", "mlxtend", "streamlit-drawable-canvas", "pillow"}
    for target in check_platforms.TARGETS:
        got = _names(target.name)
        assert common <= set(got), target.name
        assert ("pyarrow" in got) == (target.name == "macos-x86_64-py3.12")

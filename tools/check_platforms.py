"""Check that requirements.txt resolves to binary wheels on every platform the lab supports.

    python tools/check_platforms.py [--requirements requirements.txt] [--only NAME ...]

For each platform, pip resolves the requirements as if installing there (``pip install --dry-run
--only-binary=:all: --platform ... --python-version ...``), without installing anything. pip
evaluates environment markers (``sys_platform``, ``platform_machine``) against the machine it runs
on, not against ``--platform``, so this script evaluates the markers of requirements.txt itself
for each platform and hands pip the lines that apply there. (Markers inside the dependencies'
own metadata are still evaluated by pip for this machine; wheels are what is checked.) Every
package the lab needs has wheels, pure-Python ones as ``py3-none-any``, so ``--only-binary`` holds
and nothing is built.
Exit status 0 when every platform resolves, 1 otherwise, with pip's last lines for each failure.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

try:
    from packaging.requirements import Requirement
except ImportError:  # packaging ships inside pip
    from pip._vendor.packaging.requirements import Requirement  # type: ignore

ROOT = Path(__file__).resolve().parents[1]


def _manylinux(arch: str) -> list[str]:
    """pip matches --platform tags exactly: list every glibc tag a current Linux accepts."""
    return [f"manylinux_2_{minor}_{arch}" for minor in range(17, 40)] + [f"manylinux2014_{arch}"]


@dataclass(frozen=True)
class Target:
    name: str
    platforms: list[str]
    python: str
    sys_platform: str
    machine: str
    system: str

    def environment(self) -> dict[str, str]:
        major, minor = self.python.split(".")
        return {"sys_platform": self.sys_platform, "platform_machine": self.machine,
                "platform_system": self.system, "os_name": "nt" if self.system == "Windows" else "posix",
                "python_version": self.python, "python_full_version": f"{self.python}.0",
                "implementation_name": "cpython", "platform_python_implementation": "CPython"}


TARGETS = [
    Target("linux-x86_64-py3.11", _manylinux("x86_64"), "3.11", "linux", "x86_64", "Linux"),
    Target("linux-x86_64-py3.13", _manylinux("x86_64"), "3.13", "linux", "x86_64", "Linux"),
    Target("linux-aarch64-py3.11", _manylinux("aarch64"), "3.11", "linux", "aarch64", "Linux"),
    Target("macos-arm64-py3.12", ["macosx_14_0_arm64"], "3.12", "darwin", "arm64", "Darwin"),
    Target("macos-arm64-py3.13", ["macosx_14_0_arm64"], "3.13", "darwin", "arm64", "Darwin"),
    Target("macos-x86_64-py3.12", ["macosx_13_0_x86_64"], "3.12", "darwin", "x86_64", "Darwin"),
    Target("windows-amd64-py3.12", ["win_amd64"], "3.12", "win32", "AMD64", "Windows"),
]


def requirement_lines(path: Path, target: Target) -> list[str]:
    """The requirement lines of ``path`` (following ``-r``) that apply on ``target``, markers removed."""
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            lines += requirement_lines(path.parent / line.split(maxsplit=1)[1], target)
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(target.environment()):
            req.marker = None
            lines.append(str(req))
    return lines


def check(target: Target, requirements: Path, python: str) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory(prefix="ae-platform-") as tmp:
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text("\n".join(requirement_lines(requirements, target)) + "\n")
        cmd = [python, "-m", "pip", "install", "--dry-run", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "--implementation", "cp", "--python-version", target.python,
               "--target", str(Path(tmp) / "target"), "--report", str(Path(tmp) / "report.json"),
               "-r", str(reqs)]
        for platform in target.platforms:
            cmd += ["--platform", platform]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            return False, "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-4:])
        report = json.loads((Path(tmp) / "report.json").read_text())
        picked = {_canonical(item["metadata"]["name"]): item["metadata"]["version"] for item in report["install"]}
        direct = {_canonical(Requirement(line).name) for line in reqs.read_text().splitlines()}
        return True, " ".join(f"{name}=={picked[name]}" for name in sorted(picked) if name in direct)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requirements", type=Path, default=ROOT / "requirements.txt")
    p.add_argument("--only", nargs="*", help="check only these targets")
    p.add_argument("--python", default=sys.executable, help="the Python whose pip resolves")
    args = p.parse_args(argv)
    targets = [t for t in TARGETS if not args.only or t.name in args.only]
    failed = 0
    for target in targets:
        ok, text = check(target, args.requirements, args.python)
        print(f"{'ok  ' if ok else 'FAIL'} {target.name}: {text}", flush=True)
        failed += not ok
    if failed:
        print(f"{failed} of {len(targets)} platforms do not resolve.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

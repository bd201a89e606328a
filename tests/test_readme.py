"""The README's command lines work as written, from the repository's root, right after `make run`:
every Python tool is called from the virtual environment the Makefile creates (the packages live
there, not in the system's Python); the CLI's `data` and `presets` lines run for real and its `train`
lines are parsed by the CLI's own code (tests/test_cli.py trains for real)."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import ROOT

TOOLS = ("python", "python3", "pip", "streamlit", "pytest")
QUICK_VERBS = ("data", "presets", "baselines")   # CLI lines that run for real here (seconds each)
ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def venv_bin() -> str:
    """The Makefile's `BIN` ($(VENV)/bin), where `make run` installs every package."""
    make = (ROOT / "Makefile").read_text()
    variables = dict(re.findall(r"^(\w+)\s*:=\s*(\S+)\s*$", make, re.MULTILINE))
    return variables["BIN"].replace("$(VENV)", variables["VENV"])


def command_lines() -> list[str]:
    """Shell lines of the README: those of its bash blocks and its inline code spans."""
    text = (ROOT / "README.md").read_text()
    lines = [line for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL) for line in block.splitlines()]
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    lines += re.findall(r"`([^`\n]+)`", prose)
    return [line.split(" #")[0].strip() for line in lines if line.strip()]


def words(line: str) -> tuple[dict, list[str]]:
    """A command line's leading VAR=value assignments, and its words."""
    parts = shlex.split(line)
    env = {}
    while parts and ENV_ASSIGNMENT.match(parts[0]):
        name, value = parts.pop(0).split("=", 1)
        env[name] = value
    return env, parts


def commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line (split at &&, ||, ;, |, quotes respected), each without
    its leading VAR=value assignments; [] for a code span that is no shell line (unbalanced quotes)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        assert not re.search(rf"\b({'|'.join(TOOLS)})\b", line), f"unreadable command line: {line}"
        return []
    out, current = [], []
    for token in tokens + [";"]:
        if token in ("&&", "||", ";", "|", "&"):
            while current and ENV_ASSIGNMENT.match(current[0]):
                current.pop(0)
            if current:
                out.append(current)
            current = []
        else:
            current.append(token)
    return out


def cli_lines() -> list[str]:
    return [line for line in command_lines() if " -m ae_core" in line]


def test_every_python_tool_in_the_readme_is_the_virtual_environments():
    bin_dir = venv_bin()
    assert bin_dir == ".venv/bin"
    called = []
    for line in command_lines():
        for parts in commands(line):
            if os.path.basename(parts[0]) in TOOLS:
                called.append(parts[0])
                assert parts[0] == f"{bin_dir}/{os.path.basename(parts[0])}", line
    assert called.count(f"{bin_dir}/python") >= 5  # the CLI block, the GPU check and its CLI line
    # Nowhere, not even in prose, a bare `python -m ae_core` for a newcomer to copy.
    assert not re.search(r"(?<![\w/.])python3? -m ae_core", (ROOT / "README.md").read_text())


@pytest.mark.parametrize("line", cli_lines(), ids=lambda line: line.split(" -m ae_core ")[1][:40])
def test_the_readmes_cli_lines_run_as_written(line, tmp_path):
    """Each line as written, from the repository's root, with this interpreter standing in for
    .venv/bin/python (under `make test` they are the same). `data` and `presets` run for real;
    a `train` line's arguments are parsed into its Config and data path by the CLI's own code
    (tests/test_cli.py trains for real), so a stale flag, setting or path fails here in a second."""
    from ae_core import __main__ as cli

    env, parts = words(line)
    assert parts[:3] == [f"{venv_bin()}/python", "-m", "ae_core"], line
    args = parts[3:]
    if args[0] not in QUICK_VERBS:
        # Lines that train (train, sweep) or need a run made first (gif, tensorboard: RUN stands
        # for one) are parsed by the CLI's own parser: a stale flag, setting or path fails here.
        parsed = cli.parser().parse_args(args)
        if args[0] == "train":
            config = cli._config_from_args(parsed)
            assert config.steps == parsed.steps or parsed.steps is None
        assert getattr(parsed, "data", None) is None or (ROOT / parsed.data).exists(), parsed.data
        return
    run_env = dict(os.environ, **env, AE_RUNS_DIR=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="3")
    p = subprocess.run([sys.executable, "-m", "ae_core", *args], cwd=ROOT, env=run_env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    if args[0] == "data":
        assert json.loads(p.stdout)["train"] > 0
    elif args[0] == "baselines":
        result = json.loads(p.stdout.splitlines()[-1])
        assert result["mean_digit"] > result["pca"] > 0
    else:
        assert args[0] == "presets" and p.stdout.split()[0] == "seed"

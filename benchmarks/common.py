"""Small helpers shared by the benchmark modules (no TensorFlow here: run.py stays light)."""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist.npz"


def data_path() -> Path:
    """The MNIST NPZ: AE_MNIST_PATH, else ../shared/data/mnist.npz. Never downloads."""
    path = Path(os.environ.get("AE_MNIST_PATH") or DEFAULT_DATA)
    if not path.is_file():
        raise SystemExit(f"MNIST not found at {path}; set AE_MNIST_PATH (benchmarks never download).")
    return path


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(statistics.median(values)) if values else None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict:
    """Library versions from package metadata (no TensorFlow import: that takes seconds)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("tensorflow-cpu", "tensorflow", "keras", "streamlit", "numpy", "playwright"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def machine() -> dict:
    chromium = "/usr/bin/chromium"
    try:
        chromium_version = subprocess.run([chromium, "--version"], capture_output=True, text=True,
                                          timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        chromium_version = None
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "chromium": chromium_version, **versions()}


def run_module_json(module: str, args: list[str], timeout: float, capture_stderr: bool = True) -> dict:
    """Run ``python -m module args`` in a fresh process; its last stdout line is a JSON object.
    With ``capture_stderr=False`` its progress on stderr shows live instead of in a failure message."""
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE if capture_stderr else None, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{module} failed (exit {proc.returncode}): {(proc.stderr or '')[-3000:]}")
    return json.loads(lines[-1])


def process_tree(proc) -> list:
    """A psutil process and its live descendants ([] if it has ended)."""
    import psutil

    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


class Worker:
    """A benchmark process answering one JSON line per command line (``measure``, ``finish``).

    run.py keeps two of them warm and alternates their measurements, so both see the same load."""

    READY_TIMEOUT = 300  # seconds for the process to start and warm up

    def __init__(self, module: str, args: list[str]):
        import tempfile

        self.module = module
        self.err = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT,
                                     env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.hello: dict | None = None

    def ready(self) -> dict:
        """Wait for the process's first line (it is warm then)."""
        if self.hello is None:
            self.hello = self._read(self.READY_TIMEOUT)
        return self.hello

    def _read(self, timeout: float) -> dict:
        import select

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise TimeoutError(f"{self.module}: no answer within {timeout:g} s")
            line = self.proc.stdout.readline()
            if not line:
                self.err.seek(0)
                raise RuntimeError(f"{self.module} ended (exit {self.proc.wait()}): {self.err.read()[-3000:]}")
            if line.startswith("{"):
                return json.loads(line)

    def ask(self, command: str, timeout: float = 300) -> dict:
        self.ready()
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.err.close()

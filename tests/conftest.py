import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MNIST_NPZ = Path(os.environ.get("AE_MNIST_PATH") or ROOT.parent / "shared" / "data" / "mnist.npz")


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    """The real MNIST NPZ the tests read (never downloaded)."""
    if not MNIST_NPZ.is_file():
        pytest.fail(f"MNIST test data not found at {MNIST_NPZ}; set AE_MNIST_PATH to ../shared/data/mnist.npz")
    return MNIST_NPZ

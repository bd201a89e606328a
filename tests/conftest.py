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


# --- shared engine fixtures (test_trainer, test_runs, test_model) -------------------------------

def pytest_configure(config):
    config.addinivalue_line("markers", "notebook: reproduces the reference notebook's numbers (slow-ish; runs by default)")


@pytest.fixture(scope="session")
def small_mnist(mnist_path):
    """The first 2 000 train / 500 test digits of the real file: enough to train on, quick to compile.

    Copies, so the full 60 000-digit arrays can be freed once this is built."""
    import numpy as np

    from ae_core.data import Dataset, load

    full = load(mnist_path)
    return Dataset(np.ascontiguousarray(full.x_train[:2000]), np.ascontiguousarray(full.y_train[:2000]),
                   np.ascontiguousarray(full.x_test[:500]), np.ascontiguousarray(full.y_test[:500]),
                   format=full.format, source="first 2 000 / 500 digits of " + full.source, path=full.path)

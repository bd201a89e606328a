import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True, scope="session")
def never_download():
    """Nothing downloads at test time, online or not: a test that opens the app with no data set
    configured (and no MNIST in Keras' cache) gets the bundled digits, as an offline user would.
    Yields the real reachability check, for the test of that check."""
    from ae_core import data

    real_check = data._check_download_reachable

    def offline(cached):
        raise data.DataError(f"MNIST is not in Keras' cache ({cached}) and tests never download it.")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(data, "_check_download_reachable", offline)
        yield real_check


def pytest_sessionfinish(session, exitstatus):
    """Under CI (``CI=true``) a skipped test fails the run: CI promises to run every test, so what a
    test needs (a browser, the full MNIST) must be there. Elsewhere a skip says what is missing."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if IN_CI and skipped and exitstatus == pytest.ExitCode.OK:
        reporter.write_line(f"CI=true: {skipped} test(s) skipped (reasons in the summary); CI runs every test, so this run fails.",
                            red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def find_mnist() -> Path | None:
    """The full MNIST file for the tests that need it: AE_MNIST_PATH, the project's shared copy
    (../shared/data/mnist.npz), or Keras' own cache. Never downloaded."""
    from ae_core.data import _keras_cache_path

    for candidate in (os.environ.get("AE_MNIST_PATH"), SHARED_MNIST, _keras_cache_path()):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


MNIST_NPZ = find_mnist()


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    """The real MNIST NPZ the tests read (never downloaded)."""
    if MNIST_NPZ is None:
        pytest.skip("needs the full MNIST (mnist.npz): set AE_MNIST_PATH to it, put it at "
                    f"{SHARED_MNIST}, or let Keras cache it (keras.datasets.mnist.load_data())")
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

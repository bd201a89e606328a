"""`python -m ae_core tensorboard RUN --logdir DIR` and AE_TENSORBOARD_DIR, read back with
TensorBoard's own EventAccumulator (no data file needed: MNIST-shaped stand-in digits)."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ae_core import runs
from ae_core.__main__ import main

try:
    import tensorboard  # noqa: F401  (reads the event files back)
except ImportError:
    pytest.skip("needs tensorboard, from requirements-dev.txt", allow_module_level=True)


def _digits_npz(path: Path, n_train: int = 600, n_test: int = 100) -> Path:
    """An NPZ in Keras' MNIST layout (uint8 28×28, labels) of blob digits."""
    rng = np.random.default_rng(0)

    def images(n):
        x = rng.integers(0, 40, (n, 28, 28))
        x[:, 8:20, 10:18] += rng.integers(100, 215, (n, 1, 1))
        return x.astype(np.uint8)

    np.savez(path, x_train=images(n_train), y_train=rng.integers(0, 10, n_train).astype(np.uint8),
             x_test=images(n_test), y_test=rng.integers(0, 10, n_test).astype(np.uint8))
    return path


def _events(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"tensors": 0, "images": 0})
    acc.Reload()
    return acc


def _series(acc, tag: str) -> tuple[np.ndarray, np.ndarray]:
    from tensorboard.util import tensor_util

    events = acc.Tensors(tag)
    return (np.array([e.step for e in events]),
            np.array([float(tensor_util.make_ndarray(e.tensor_proto)) for e in events]))


def _png_size(acc, tag: str) -> tuple[int, int]:
    from tensorboard.util import tensor_util

    width, height, png = tensor_util.make_ndarray(acc.Tensors(tag)[-1].tensor_proto)[:3]
    assert png.startswith(b"\x89PNG")
    return int(width), int(height)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 40-step CLI run of the fast preset, saved every 0.1 s while AE_TENSORBOARD_DIR is set."""
    base = tmp_path_factory.mktemp("tb")
    data = _digits_npz(base / "digits.npz")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AE_RUNS_DIR", str(base / "runs"))
        mp.setenv("AE_TENSORBOARD_DIR", str(base / "live"))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["train", "--preset", "fast", "--steps", "40", "--data", str(data), "--json",
                         "--log-every", "1000", "--save-every", "0.1", "--eval-every", "0.1"])
    done = json.loads(out.getvalue().splitlines()[-1])
    assert code == 0 and done["event"] == "done", out.getvalue()
    return base, data, runs.load(done["run_id"], base / "runs")


def test_the_verb_writes_history_settings_and_reconstructions(trained, tmp_path):
    base, data, run = trained
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["tensorboard", str(run.path), "--logdir", str(tmp_path), "--data", str(data)]) == 0
    assert f"tensorboard --logdir {tmp_path}" in out.getvalue()
    acc = _events(tmp_path / run.run_id)
    h = run.history
    steps, loss = _series(acc, "loss")
    assert list(steps) == list(h["step"])
    np.testing.assert_allclose(loss, h["loss"], rtol=1e-6)
    np.testing.assert_allclose(_series(acc, "smoothed_loss")[1], h["smoothed_loss"], rtol=1e-6)
    np.testing.assert_allclose(_series(acc, "learning_rate")[1], h["learning_rate"], rtol=1e-6)
    assert set(_series(acc, "batch_size")[1]) == set(h["batch_size"])
    tested = h.dropna(subset=["test_loss"])
    test_steps, test_mse = _series(acc, "test_mse")
    assert len(tested) >= 1 and list(test_steps) == list(tested["step"])
    np.testing.assert_allclose(test_mse, tested["test_loss"], rtol=1e-6)
    assert _png_size(acc, "original_vs_reconstruction") == (4 * 28 * 2 + 4, 4 * 28)
    assert _png_size(acc, "reconstruction") == (4 * 28, 4 * 28)
    assert "hparams" in acc.PluginTagToContent("hparams") or acc.PluginTagToContent("hparams")


def test_the_settings_are_hparams_with_their_values(trained, tmp_path, monkeypatch):
    from tensorboard.plugins.hparams import plugin_data_pb2

    base, data, run = trained
    monkeypatch.setenv("AE_RUNS_DIR", str(base / "runs"))  # RUN given as a run id this time
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["tensorboard", run.run_id, "--logdir", str(tmp_path), "--data", str(data)]) == 0
    content = _events(tmp_path / run.run_id).PluginTagToContent("hparams")
    session = next(plugin_data_pb2.HParamsPluginData.FromString(c).session_start_info for c in content.values()
                   if plugin_data_pb2.HParamsPluginData.FromString(c).HasField("session_start_info"))
    values = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in session.hparams.items()}
    assert values["learning_rate"] == pytest.approx(run.config.learning_rate)
    assert values["hidden"] == "-".join(map(str, run.config.hidden))
    assert values["optimizer"] == run.config.optimizer


def test_a_live_run_is_followed_step_by_step_without_repeats(trained):
    base, _, run = trained
    acc = _events(base / "live" / run.run_id)
    steps, loss = _series(acc, "loss")
    # Saved many times while training: every step once, in order, with the saved losses.
    assert list(steps) == list(range(40))
    np.testing.assert_allclose(loss, run.history["loss"], rtol=1e-6)
    assert len(acc.Tensors("reconstruction")) >= 1
    assert acc.PluginTagToContent("hparams")


def test_an_unknown_run_is_one_sentence_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AE_RUNS_DIR", str(tmp_path))
    assert main(["tensorboard", "no-such-run", "--logdir", str(tmp_path / "tb")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert main(["tensorboard", "../etc", "--logdir", str(tmp_path / "tb")]) == 2


def test_hparams_are_plain_values():
    from ae_core.config import PRESETS
    from ae_core.tensorboard import hparams

    values = hparams(PRESETS["seed"])
    assert all(isinstance(v, (bool, int, float, str)) for v in values.values())
    assert values["hidden"] == "-".join(map(str, PRESETS["seed"].hidden))
    assert isinstance(pd.Series(values), pd.Series)

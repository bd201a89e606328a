"""The film strip: frames at log-spaced steps and live changes, the size bound, frames.npz round
trip, the GIF and its CLI verb."""
from __future__ import annotations

import io

import numpy as np
import pytest

from ae_core import frames as film_lib
from ae_core import runs
from ae_core.config import PRESETS
from ae_core.frames import FILM_DIGITS, FILM_POINTS, MAX_FRAMES, FilmStrip
from ae_core.trainer import Trainer
from tests.test_cli import cli

SMALL = PRESETS["fast"].replace(hidden=(32,), latent=8, steps=1000)


@pytest.fixture(scope="module")
def thousand_steps(small_mnist):
    """A finished 1 000-step run (its trainer and final snapshot)."""
    trainer = Trainer(SMALL, small_mnist, eval_every_s=0.5)
    trainer.wait_ready()
    trainer.start()
    snap = trainer.wait(lambda s: s.status == "done", timeout=300)
    yield trainer, snap
    trainer.stop()


def test_scheduled_steps_are_log_spaced():
    assert film_lib.scheduled_steps(1000) == [0, 10, 20, 50, 100, 200, 500, 1000]
    assert film_lib.scheduled_steps(10_000)[-3:] == [2000, 5000, 10_000]
    assert len(film_lib.scheduled_steps(1_000_000)) == 17 < MAX_FRAMES
    assert [film_lib.next_scheduled(s) for s in (0, 9, 10, 49, 50, 999, 1000)] == [10, 10, 20, 50, 100, 1000, 2000]
    assert [s for s in range(2001) if film_lib.is_scheduled(s)] == film_lib.scheduled_steps(2000)


def test_a_run_records_frames_at_the_scheduled_steps(thousand_steps, small_mnist):
    trainer, snap = thousand_steps
    strip = trainer.film
    assert strip.steps() == [0, 10, 20, 50, 100, 200, 500, 1000]
    assert not any(f.reason for f in strip.frames())
    last = strip.frames()[-1]
    assert last.reconstructions.shape == (FILM_DIGITS, 784) and last.latent is None
    # The frame at step 1000 is the network's output then: the snapshot's reconstructions (8-bit).
    assert snap.recon_step == 1000
    np.testing.assert_allclose(last.reconstructions, np.clip(snap.reconstructions[:FILM_DIGITS], 0, 1), atol=0.6 / 255)
    np.testing.assert_array_equal(strip.originals, np.rint(small_mnist.x_test[:FILM_DIGITS] * 255))
    # Training shows: the first frame is far from the digits, the last one close.
    err = [float(np.mean((f.reconstructions - small_mnist.x_test[:FILM_DIGITS]) ** 2)) for f in strip.frames()]
    assert err[-1] < 0.5 * err[0]


def test_a_live_change_records_a_frame_and_a_2d_code_records_points(small_mnist):
    config = PRESETS["fast"].replace(hidden=(32,), latent=2, steps=1000)
    trainer = Trainer(config, small_mnist)
    try:
        trainer.wait_ready()
        trainer.step(30)
        trainer.wait(lambda s: s.status == "paused" and s.step == 30)
        trainer.update(learning_rate=0.0005)
        trainer.step(5)
        trainer.wait(lambda s: s.status == "paused" and s.step == 35)
        frames = trainer.film.frames()
        assert [(f.step, f.reason) for f in frames] == [(0, ""), (10, ""), (20, ""),
                                                        (30, "learning_rate 0.001→0.0005")]
        assert all(f.latent.shape == (FILM_POINTS, 2) for f in frames)
        assert not np.allclose(frames[0].latent, frames[-1].latent)
    finally:
        trainer.stop()


def test_the_strip_stays_bounded():
    rng = np.random.default_rng(0)
    strip = FilmStrip(rng.random((FILM_DIGITS, 784)), np.arange(FILM_POINTS) % 10)
    for step in film_lib.scheduled_steps(1_000_000):
        strip.add(step, rng.random((FILM_DIGITS, 784)), rng.random((FILM_POINTS, 2)))
    for i in range(200):  # someone wiggling the learning rate
        strip.add(1_000_000 + i, rng.random((FILM_DIGITS, 784)), rng.random((FILM_POINTS, 2)), reason=f"lr {i}")
    assert len(strip) == MAX_FRAMES
    assert set(film_lib.scheduled_steps(1_000_000)) <= set(strip.steps())  # live changes made room
    assert strip.steps()[-1] == 1_000_199
    data = strip.to_bytes()
    assert len(data) < 1.1e6  # random pixels do not compress: this is the bound


def test_frames_npz_round_trip_without_pickles(tmp_path):
    rng = np.random.default_rng(1)
    strip = FilmStrip(rng.random((FILM_DIGITS, 784)), np.arange(FILM_POINTS) % 10)
    for step, reason in ((0, ""), (10, ""), (15, "learning_rate 0.01→0.001")):
        strip.add(step, rng.random((FILM_DIGITS, 784)), rng.random((FILM_POINTS, 2)), reason)
    path = tmp_path / "frames.npz"
    strip.save(path)
    with np.load(path, allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
    back = FilmStrip.load(path)
    assert back.steps() == [0, 10, 15] and [f.reason for f in back.frames()][-1] == "learning_rate 0.01→0.001"
    for a, b in zip(strip.frames(), back.frames()):
        np.testing.assert_array_equal(a.reconstructions, b.reconstructions)
        np.testing.assert_array_equal(a.latent, b.latent)
    np.testing.assert_array_equal(back.originals, strip.originals)
    np.testing.assert_array_equal(back.labels, strip.labels)

    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        FilmStrip.load(bad)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, steps=np.array([{"a": 1}], dtype=object), reasons=np.array([""]),
             reconstructions=np.zeros((1, FILM_DIGITS, 784), np.uint8))
    with pytest.raises(ValueError, match="pickled.npz"):
        FilmStrip.load(pickled)


def test_a_thousand_step_run_gives_a_gif_of_six_or_more_frames(thousand_steps, tmp_path, monkeypatch):
    from PIL import Image

    from ae_core.gif import film_gif

    trainer, snap = thousand_steps
    data = film_gif(trainer.film)
    with Image.open(io.BytesIO(data)) as gif:
        assert gif.format == "GIF" and gif.n_frames >= 6 and gif.n_frames == len(trainer.film)
        assert gif.size[0] >= 200

    # The CLI, from the saved run: by folder and by run id.
    root = tmp_path / "runs"
    folder = runs.save(snap, trainer.model(), root=root, film=trainer.film)
    assert (folder / runs.FRAMES_FILE).is_file()
    out = tmp_path / "a.gif"
    p = cli("gif", str(folder), "--out", str(out), runs_dir=root)
    assert p.returncode == 0, p.stderr
    with Image.open(out) as gif:
        assert gif.n_frames == 8 and gif.size[0] >= 200
    p = cli("gif", snap.run_id, "--out", str(tmp_path / "b.gif"), runs_dir=root)
    assert p.returncode == 0 and (tmp_path / "b.gif").read_bytes() == out.read_bytes()

    for args in (("no-such-run",), ("../../etc",)):
        p = cli("gif", *args, "--out", str(tmp_path / "c.gif"), runs_dir=root)
        assert p.returncode == 2 and p.stderr.startswith("error: ") and len(p.stderr.strip().splitlines()) == 1


def test_a_continued_run_goes_on_with_its_film_strip(thousand_steps, small_mnist, tmp_path):
    trainer, snap = thousand_steps
    root = tmp_path / "runs"
    runs.save(snap, trainer.model(), root=root, optimizer_state=trainer.optimizer_state(), film=trainer.film)
    saved = runs.load(snap.run_id, root)
    kwargs = runs.resume_kwargs(saved)
    assert kwargs["film"].steps() == trainer.film.steps()
    again = Trainer(saved.config.replace(steps=2000), small_mnist, run_id=snap.run_id, **kwargs)
    try:
        again.wait_ready()
        again.start()
        done = again.wait(lambda s: s.status == "done", timeout=300)
        assert again.film.steps() == film_lib.scheduled_steps(2000)
        runs.save(done, again.model(), root=root, film=again.film)
        assert FilmStrip.load(runs.run_path(snap.run_id, root) / runs.FRAMES_FILE).steps()[:2] == [0, 10]
    finally:
        again.stop()

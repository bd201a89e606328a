"""ae_core.latent (projection, interpolation, errors, the analysis cache) and the Explore figures in viz."""
import threading
import time

import numpy as np
import pytest

from ae_core import latent, viz
from ae_core.config import PRESETS


# --- projection and its inverse ------------------------------------------------------------------------
def test_pca_of_a_known_cross_finds_the_long_axis_first():
    codes = np.array([[1, 0, 0], [-1, 0, 0], [0, 2, 0], [0, -2, 0]], np.float64) + [5, 5, 5]
    p = latent.fit_projection(codes)
    assert p.kind == "pca" and p.latent_dim == 3
    np.testing.assert_allclose(p.mean, [5, 5, 5])
    np.testing.assert_allclose(p.components, [[0, 1, 0], [1, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(p.project(codes), [[0, 1], [0, -1], [2, 0], [-2, 0]], atol=1e-12)
    np.testing.assert_allclose(p.explained, (0.8, 0.2))
    assert p.axis_titles == ("PC 1 (80% of variance)", "PC 2 (20%)")
    # Back from the plane: the map's (2, 0) is the code 2 units along the long axis from the mean.
    np.testing.assert_allclose(p.inverse([[2, 0]]), [[5, 7, 5]])


def test_pca_round_trips_for_codes_in_a_plane_and_its_signs_are_fixed():
    rng = np.random.default_rng(1)
    basis, _ = np.linalg.qr(rng.standard_normal((6, 2)))          # two orthonormal directions in 6-D
    ab = rng.standard_normal((300, 2)) * [3.0, 1.0]
    codes = 0.5 + ab @ basis.T
    p = latent.fit_projection(codes)
    xy = p.project(codes)
    np.testing.assert_allclose(p.inverse(xy), codes, atol=1e-9)        # codes in the plane come back exactly
    np.testing.assert_allclose(p.project(p.inverse(xy)), xy, atol=1e-9)
    np.testing.assert_allclose(p.components @ p.components.T, np.eye(2), atol=1e-12)
    assert sum(p.explained) == pytest.approx(1.0)
    for row in p.components:                                           # deterministic orientation
        assert row[np.argmax(np.abs(row))] > 0
    # The same codes with their first axis flipped give the same picture orientation.
    q = latent.fit_projection(codes * [-1, 1, 1, 1, 1, 1])
    for row in q.components:
        assert row[np.argmax(np.abs(row))] > 0


def test_a_two_number_code_is_the_map_itself():
    codes = np.array([[0.5, -1.0], [2.0, 3.0], [7.0, 0.0]])
    p = latent.fit_projection(codes)
    assert p.kind == "raw" and p.axis_titles == ("code 1", "code 2")
    np.testing.assert_array_equal(p.project(codes), codes)
    np.testing.assert_array_equal(p.inverse([[1.5, -2.5]]), [[1.5, -2.5]])


def test_a_one_number_code_is_padded_onto_the_x_axis():
    p = latent.fit_projection(np.array([[1.0], [-3.0]]))
    np.testing.assert_array_equal(p.project([[1.0], [-3.0]]), [[1.0, 0.0], [-3.0, 0.0]])
    np.testing.assert_array_equal(p.inverse([[2.0, 9.0]]), [[2.0]])


def test_codes_that_are_not_finite_are_refused_in_a_sentence():
    with pytest.raises(latent.LatentError, match="NaN"):
        latent.fit_projection(np.array([[0.0, 1.0, np.nan]]))
    with pytest.raises(latent.LatentError):
        latent.fit_projection(np.zeros((0, 4)))


def test_empty_positions_leave_out_the_cells_with_points():
    xy = np.array([[0.0, 0.0], [1.0, 1.0]])
    grid = latent.grid_positions(xy, side=5, pad=0.0)
    assert grid.shape == (25, 2)
    np.testing.assert_allclose(grid.min(axis=0), [0, 0])
    np.testing.assert_allclose(grid.max(axis=0), [1, 1])
    empty = latent.empty_positions(xy, side=5, pad=0.0)
    assert len(empty) == 23
    assert not any(np.allclose(e, [0, 0]) or np.allclose(e, [1, 1]) for e in empty)
    assert any(np.allclose(e, [0.5, 0.5]) for e in empty)


# --- interpolation, errors, noise, sample -------------------------------------------------------------
def test_line_runs_straight_between_the_two_codes():
    codes = latent.line([0.0, 2.0], [4.0, -2.0], 5)
    np.testing.assert_allclose(codes, [[0, 2], [1, 1], [2, 0], [3, -1], [4, -2]])
    with pytest.raises(ValueError):
        latent.line([0.0], [1.0], 1)


def test_per_class_error_on_known_numbers():
    errors = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    labels = np.array([0, 0, 1, 1, -1])
    means, counts = latent.per_class_error(errors, labels, n_classes=3)
    np.testing.assert_allclose(means[:2], [1.5, 3.5])
    assert np.isnan(means[2])
    np.testing.assert_array_equal(counts, [2, 2, 0])


def test_reconstruction_errors_and_the_worst_first():
    x = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]])
    r = np.array([[0.0, 0.0], [0.0, 0.0], [0.5, 1.5]])
    np.testing.assert_allclose(latent.reconstruction_errors(x, r), [0.0, 1.0, 0.5])
    np.testing.assert_array_equal(latent.worst(np.array([0.1, 0.5, 0.3, 0.5]), 3), [1, 3, 2])
    assert len(latent.worst(np.array([0.1]), 5)) == 1


def test_corrupt_adds_seeded_noise_within_pixel_range():
    x = np.full((4, 784), 0.5, np.float32)
    np.testing.assert_array_equal(latent.corrupt(x, 0.0), x)
    noisy = latent.corrupt(x, 0.3, seed=3)
    assert noisy.min() >= 0 and noisy.max() <= 1 and 0.2 < noisy.std() < 0.4
    np.testing.assert_array_equal(noisy, latent.corrupt(x, 0.3, seed=3))


def test_the_sample_is_fixed_sorted_and_capped():
    a = latent.sample_indices(10_000)
    assert len(a) == latent.SAMPLE_SIZE and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, latent.sample_indices(10_000))
    np.testing.assert_array_equal(latent.sample_indices(7), np.arange(7))


# --- the cache ---------------------------------------------------------------------------------------
def _fake(step):
    return latent.Analysis(step, np.arange(1), np.zeros(1), np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, 784)),
                           np.zeros(1), latent.fit_projection(np.zeros((1, 2))), 0.0)


def test_the_cache_recomputes_a_newer_step_at_most_every_min_age():
    cache = latent.AnalysisCache(min_age_s=0.3)
    calls = []

    def compute(step):
        calls.append(step)
        return _fake(step)

    assert cache.get("run", 10, lambda: compute(10)).step == 10
    assert cache.get("run", 10, lambda: compute(10)).step == 10      # same weights: no work
    assert cache.get("run", 20, lambda: compute(20)).step == 10      # newer, but the map is fresh
    time.sleep(0.35)
    assert cache.get("run", 20, lambda: compute(20)).step == 20
    assert cache.get("other", 20, lambda: compute(99)).step == 99     # keyed by model
    assert calls == [10, 20, 99]


def test_viewers_asking_together_share_one_computation():
    cache = latent.AnalysisCache(min_age_s=5)
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.2)
        return _fake(1)

    threads = [threading.Thread(target=cache.get, args=("run", 1, compute)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1


# --- with real Keras networks --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    rng = np.random.default_rng(0)
    x = rng.random((300, 784), dtype=np.float32)
    y = np.arange(300) % 10
    return x, y


@pytest.mark.parametrize("preset", ["fast", "latent2"])
def test_analyse_decode_and_interpolate_with_a_keras_network(preset, digits):
    from ae_core.model import build

    x, y = digits
    nets = build(PRESETS[preset].replace(seed=3))
    a = latent.analyse(nets.encoder, nets.decoder, x, y, step=7)
    dim = PRESETS[preset].latent
    assert a.step == 7 and a.codes.shape == (300, dim) and a.xy.shape == (300, 2)
    assert a.reconstructions.shape == (300, 784) and a.errors.shape == (300,)
    assert a.projection.kind == ("raw" if dim == 2 else "pca")
    if dim == 2:
        np.testing.assert_allclose(a.xy, a.codes, rtol=1e-6)
    # Decoding a digit's place on the map gives its reconstruction when the code lies in the plane.
    if dim == 2:
        np.testing.assert_allclose(latent.decode_positions(nets.decoder, a.projection, a.xy[:5]),
                                   a.reconstructions[:5], atol=1e-5)
    # The interpolation starts and ends at the two digits' reconstructions.
    path = latent.interpolate(nets.encoder, nets.decoder, x[0], x[1], 6)
    assert path.shape == (6, 784)
    np.testing.assert_allclose(path[[0, -1]], a.reconstructions[:2], atol=1e-5)
    means, counts = a.class_errors()
    assert counts.tolist() == [30] * 10 and np.all(means > 0)
    assert a.row_of(5) == 5 and a.row_of(300) is None


def test_a_saved_autoencoder_splits_into_its_encoder_and_decoder(tmp_path, digits):
    from ae_core.model import build
    from ae_core.runs import load_keras_model

    nets = build(PRESETS["fast"])
    nets.autoencoder.save(tmp_path / "model.keras")
    encoder, decoder = latent.split(load_keras_model(tmp_path / "model.keras"))
    x = digits[0][:3]
    np.testing.assert_allclose(latent.encode(encoder, x), latent.encode(nets.encoder, x), atol=1e-6)
    np.testing.assert_allclose(latent.decode(decoder, latent.encode(encoder, x)),
                               np.asarray(nets.autoencoder(x)), atol=1e-6)


# --- figures -----------------------------------------------------------------------------------------
def test_the_latent_figure_has_ten_digit_traces_and_a_hidden_clickable_grid():
    rng = np.random.default_rng(0)
    xy = rng.standard_normal((200, 2))
    labels = np.arange(200) % 10
    fig = viz.latent_figure(xy, labels, np.arange(200) + 1000, errors=np.zeros(200),
                            grid=latent.empty_positions(xy), picked=(0.0, 0.0), position=(1.0, 1.0))
    assert fig.layout.title.text == "Latent space"
    legend = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in legend] == [str(c) for c in range(10)]
    assert len({t.marker.color for t in legend}) == 10
    np.testing.assert_array_equal(np.asarray(legend[3].customdata)[:, 0], np.arange(3, 200, 10) + 1000)
    grid = next(t for t in fig.data if t.name == viz.GRID_TRACE)
    assert grid.marker.opacity == 0 and set(grid.customdata) == {-1}


def test_unlabelled_digits_are_one_trace():
    fig = viz.latent_figure(np.zeros((5, 2)), np.full(5, -1), np.arange(5))
    assert [t.name for t in fig.data] == ["unlabelled"]


def test_class_error_figure_and_digit_row():
    fig = viz.class_error_figure(np.array([0.1, 0.2, np.nan]), np.array([5, 3, 0]))
    assert fig.layout.title.text == "Reconstruction error per digit"
    assert list(fig.data[0].x) == ["0", "1"] and list(fig.data[0].y) == [0.1, 0.2]
    strip = viz.digit_row(np.ones((3, 784)), scale=2, gap=1)
    assert strip.shape == (56, (3 * 28 + 2) * 2)

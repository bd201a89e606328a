"""Layer health on hand-made activations, and the pictures of the network (diagram, filters)."""
import numpy as np
import pytest

from ae_core.config import preset
from ae_core.health import dead_share, layer_health, reading, saturated_share
from ae_core.model import parameter_count
from ae_core.viz_network import architecture_dot, filter_grid, filter_images, health_figure, layer_table


def test_saturated_share_counts_outputs_near_either_bound():
    acts = np.array([[0.01, 0.5, 0.99, 0.97],
                     [0.02, 0.3, 0.60, 0.04]])
    assert saturated_share(acts, "sigmoid") == pytest.approx(5 / 8)  # 0.01 0.99 0.97 0.02 0.04
    assert saturated_share(np.array([[-0.95, 0.0, 0.95, 0.5]]), "tanh") == pytest.approx(2 / 4)
    assert saturated_share(acts, "relu") is None


def test_dead_share_counts_units_silent_on_every_input():
    acts = np.array([[0.0, 1.0, 0.0, 0.0],
                     [0.0, 0.0, 2.0, 0.0],
                     [0.0, 3.0, 0.0, 0.0]])
    assert dead_share(acts, "relu") == pytest.approx(2 / 4)  # units 0 and 3 never fire
    assert dead_share(acts, "sigmoid") is None


def test_the_plain_reading_names_the_worst_layer():
    saturated = layer_health("encoder_1", "sigmoid", np.full((8, 10), 0.999), 0.1)
    fine = layer_health("latent", "sigmoid", np.full((8, 4), 0.5), 0.1)
    output = layer_health("reconstruction", "sigmoid", np.zeros((8, 784)), 0.1)  # left out: black pixels
    assert reading([saturated, fine, output]) == (
        "100% of encoder layer 1 units are saturated — their gradients vanish, so learning is slow.")
    relu = np.ones((8, 10))
    relu[:, :3] = 0
    assert reading([layer_health("decoder_1", "relu", relu, 0.1)]).startswith("30% of decoder layer 1 units are dead")
    assert saturated.hist_counts.sum() == 80


def test_the_diagram_follows_the_config_and_marks_a_pending_network():
    seed = preset("seed")
    rows = layer_table(seed)
    assert [r["name"] for r in rows] == ["encoder_1", "latent", "decoder_1", "reconstruction"]
    assert [r["parameters"] for r in rows] == [784 * 256 + 256, 256 * 128 + 128, 128 * 256 + 256, 256 * 784 + 784]
    assert sum(r["parameters"] for r in rows) == parameter_count(seed) == 468_368
    dot = architecture_dot(seed)
    assert "468,368 parameters" in dot and "dashed" not in dot and "latent\\n128 · sigmoid" in dot
    wider = seed.replace(hidden=(512, 64), latent=8)
    pending = architecture_dot(seed, pending=wider)
    assert "pending: Reset to apply" in pending and "dashed" in pending
    assert "encoder_2\\n64 · sigmoid" in pending and f"{parameter_count(wider):,} parameters" in pending


def test_filters_are_scaled_per_unit_around_mid_grey():
    kernel = np.zeros((784, 3), np.float32)
    kernel[0, 0], kernel[1, 0] = 2.0, -1.0
    kernel[5, 1] = -0.5
    images = filter_images(kernel, 2)
    assert images.shape == (2, 784)
    assert images[0, 0] == 1.0 and images[0, 1] == 0.25 and images[0, 2] == 0.5
    assert images[1, 5] == 0.0
    assert filter_grid(kernel, 2, scale=2).shape == (112, 112)


def test_the_health_figure_has_one_bar_a_layer():
    layers = [layer_health(n, "relu", np.abs(np.random.default_rng(0).normal(size=(16, 8))), 0.5)
              for n in ("encoder_1", "latent", "decoder_1")]
    fig = health_figure(layers, layer=1)
    assert fig.layout.title.text == "Layer health"
    assert list(fig.data[1].y) == ["encoder layer 1", "the latent code", "decoder layer 1"]

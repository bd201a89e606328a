"""Layer health on hand-made activations, and the pictures of the network (diagram, filters)."""
import numpy as np
import pytest

from ae_core.config import preset
from ae_core.health import (ALARM, EXPECTED, NOTABLE, OK, dead_share, layer_health, layer_label, loss_falling,
                             reading, saturated_share, verdict)
from ae_core.model import parameter_count
from ae_core.viz import EVENT
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


def relu_layer(name: str, units: int, dead: int, digits: int = 16):
    """Hand-made ReLU outputs: the first ``dead`` units silent on every digit, the rest firing."""
    acts = np.abs(np.random.default_rng(0).normal(size=(digits, units))) + 0.1
    acts[:, :dead] = 0.0
    return layer_health(name, "relu", acts, 0.01)


FALLING = np.linspace(0.2, 0.01, 3000)           # a loss still learning
FLAT = np.full(3000, 0.11)                        # a loss that has stopped


def test_the_loss_is_falling_when_the_last_tenth_beats_the_tenth_before():
    assert loss_falling(FALLING) is True and loss_falling(FLAT) is False
    # Windows of 300 steps here: means 0.10 vs 0.098 (2 % lower) falls; 0.10 vs 0.0995 does not.
    assert loss_falling(np.r_[np.full(2400, 0.5), np.full(300, 0.10), np.full(300, 0.098)]) is True
    assert loss_falling(np.r_[np.full(2400, 0.5), np.full(300, 0.10), np.full(300, 0.0995)]) is False
    assert loss_falling(np.full(99, 0.1)) is None  # two windows of at least 50 steps are needed
    assert loss_falling(np.r_[np.full(200, 0.1), np.full(100, np.nan)]) is False


def test_the_default_presets_healthy_state_is_no_alarm():
    """The fast preset learning well (test MSE 0.006) has ~15-25 % of its ReLU units silent on every
    probe digit: normal for ReLU, not a reason to lower the learning rate."""
    layers = [relu_layer("encoder_1", 256, 38), relu_layer("latent", 64, 15), relu_layer("decoder_1", 256, 39),
              layer_health("reconstruction", "sigmoid", np.zeros((16, 784)), 0.01)]  # black background
    for falling in (True, False, None):
        text = reading(layers, falling)
        assert text == "Healthy: at most 23% of a layer's units are dead (latent code).", text
        assert [verdict(h, falling) for h in layers] == [OK, OK, OK, EXPECTED]


def test_an_alarm_needs_a_large_share_and_a_loss_that_stopped_falling():
    layers = [relu_layer("encoder_1", 256, 120), relu_layer("latent", 64, 58), relu_layer("decoder_1", 256, 200)]
    assert reading(layers, False) == ("58 of 64 latent code units (91%) never fire on any probe digit, and the "
                                      "loss has stopped falling: lower the learning rate or use another initializer.")
    assert verdict(layers[1], False) == ALARM and verdict(layers[0], False) == OK  # 47 %: below half
    # The same units while the loss still falls, or before it can be told: a remark, no remedy.
    assert reading(layers, True) == ("58 of 64 latent code units (91%) never fire on any probe digit; the loss "
                                     "still falls, so the other units carry on.")
    assert "stops falling" in reading(layers, None) and verdict(layers[1], None) == NOTABLE
    assert "learning rate" not in reading(layers, True) + reading(layers, None)


def test_saturated_sigmoid_layers_and_the_output_layer():
    saturated = layer_health("encoder_1", "sigmoid", np.full((8, 10), 0.999), 0.1)
    fine = layer_health("latent", "sigmoid", np.full((8, 4), 0.5), 0.1)
    output = layer_health("reconstruction", "sigmoid", np.zeros((8, 784)), 0.1)  # left out: black pixels
    assert output.saturated == 1.0 and verdict(output, False) == EXPECTED
    assert reading([saturated, fine, output], True) == (
        "100% of encoder layer 1 outputs sit near 0 or 1, where the gradient vanishes; the loss still falls, "
        "if slowly.")
    assert reading([saturated, fine, output], False).endswith("use smaller initial weights (Glorot) or ReLU.")
    assert reading([fine, output], False) == "Healthy: no saturated outputs in the hidden layers."
    assert saturated.hist_counts.sum() == 80


def test_each_layer_has_one_readable_name():
    assert [layer_label(n) for n in ("encoder_1", "encoder_2", "latent", "decoder_1", "reconstruction")] == [
        "encoder layer 1", "encoder layer 2", "latent code", "decoder layer 1", "reconstruction layer"]
    rows = layer_table(preset("seed").replace(hidden=(256, 64)))
    assert [r["label"] for r in rows] == ["encoder layer 1", "encoder layer 2", "latent code", "decoder layer 1",
                                          "decoder layer 2", "reconstruction layer"]


def test_the_diagram_follows_the_config_and_marks_a_pending_network():
    seed = preset("seed")
    rows = layer_table(seed)
    assert [r["name"] for r in rows] == ["encoder_1", "latent", "decoder_1", "reconstruction"]
    assert [r["parameters"] for r in rows] == [784 * 256 + 256, 256 * 128 + 128, 128 * 256 + 256, 256 * 784 + 784]
    assert sum(r["parameters"] for r in rows) == parameter_count(seed) == 468_368
    dot = architecture_dot(seed)
    assert "468,368 parameters" in dot and "dashed" not in dot and "latent code\\n128 · sigmoid" in dot
    wider = seed.replace(hidden=(512, 64), latent=8)
    pending = architecture_dot(seed, pending=wider)
    assert "pending: Reset to apply" in pending and "dashed" in pending
    assert "encoder layer 2\\n64 · sigmoid" in pending and f"{parameter_count(wider):,} parameters" in pending


def test_filters_are_scaled_per_unit_around_mid_grey():
    kernel = np.zeros((784, 3), np.float32)
    kernel[0, 0], kernel[1, 0] = 2.0, -1.0
    kernel[5, 1] = -0.5
    images = filter_images(kernel, 2)
    assert images.shape == (2, 784)
    assert images[0, 0] == 1.0 and images[0, 1] == 0.25 and images[0, 2] == 0.5
    assert images[1, 5] == 0.0
    assert filter_grid(kernel, 2, scale=2).shape == (112, 112)


def fast_preset_layers():
    """Shaped like the fast preset's health after 3 000 steps (measured: 15-19 % dead, MSE 0.006)."""
    return [relu_layer("encoder_1", 256, 38), relu_layer("latent", 64, 12), relu_layer("decoder_1", 256, 39),
            layer_health("reconstruction", "sigmoid", np.zeros((16, 784)), 0.006)]


def test_the_health_figure_has_one_bar_a_layer_named_as_everywhere():
    layers = fast_preset_layers()
    fig = health_figure(layers, layer=1, falling=True)
    assert fig.layout.title.text == "Layer health"
    labels = ["encoder layer 1", "latent code", "decoder layer 1", "reconstruction layer"]
    assert list(fig.data[1].y) == list(fig.data[2].y) == labels
    assert fig.layout.annotations[0].text == "latent code outputs"


def test_the_health_figure_draws_no_alarm_for_a_healthy_network_or_the_output_layer():
    layers = fast_preset_layers()
    colours = list(health_figure(layers, falling=True).data[1].marker.color)
    assert EVENT not in colours
    assert colours[3] != colours[0]  # the output layer's expected saturation is set apart (grey)
    stalled = [relu_layer("encoder_1", 256, 200)] + layers[1:]
    assert list(health_figure(stalled, falling=False).data[1].marker.color)[:2] == [EVENT, colours[1]]


def test_the_health_figure_layout_leaves_room_for_names_values_and_bars():
    fig = health_figure(fast_preset_layers(), falling=True)
    shares, norms = fig.data[1], fig.data[2]
    # Gradient norms on a linear axis from 0 (bar lengths compare).
    norm_axis = fig.layout["xaxis" + norms.xaxis[1:]]
    assert norm_axis.type in (None, "linear") and norm_axis.range[0] == 0
    # Values are short and drawn outside their bar, unclipped: "100%" fits, nothing is cut to "70% s".
    assert shares.textposition == "outside" and shares.cliponaxis is False
    assert all(len(t) <= 4 for t in shares.text)
    # The layer names (tick labels of the shares' y axis) sit in the figure's left margin, on a row
    # of their own below the histogram: nothing is drawn to their left or beside them.
    names_axis = fig.layout["yaxis" + shares.yaxis[1:]]
    hist_x = fig.layout["xaxis" + fig.data[0].xaxis[1:]]
    hist_y = fig.layout["yaxis" + fig.data[0].yaxis[1:]]
    assert fig.layout["xaxis" + shares.xaxis[1:]].domain[0] == 0
    assert names_axis.domain[1] < hist_y.domain[0] and hist_x.domain[0] == 0

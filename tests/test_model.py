"""model.py (layer shapes, names, initialisation, seeds) and optimizers.py (TF1 RMSProp)."""
from __future__ import annotations

import numpy as np
import pytest

from ae_core.config import PRESETS, Config
from ae_core.model import IMAGE_SIZE, build, parameter_count, reconstruction_loss
from ae_core.optimizers import make_optimizer

CONFIGS = {
    "notebook": Config(),
    "two-layer": Config(hidden=(512, 64), latent=16, activation="relu", initializer="glorot_uniform"),
    "four-layer": Config(hidden=(64, 32, 16, 8), latent=2, activation="tanh", initializer="he_normal",
                         output_activation="linear"),
    "latent2": PRESETS["latent2"],
}


def _dense_names(model):
    return [layer.name for layer in model.layers if layer.__class__.__name__ == "Dense"]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_layer_shapes_and_names(name):
    cfg = CONFIGS[name]
    nets = build(cfg)
    n = len(cfg.hidden)
    assert _dense_names(nets.encoder) == [f"encoder_{i + 1}" for i in range(n)] + ["latent"]
    assert _dense_names(nets.decoder) == [f"decoder_{i + 1}" for i in range(n)] + ["reconstruction"]
    assert tuple(nets.encoder.output.shape) == (None, cfg.latent)
    assert tuple(nets.decoder.input.shape) == (None, cfg.latent)
    assert tuple(nets.decoder.output.shape) == (None, IMAGE_SIZE)
    assert tuple(nets.autoencoder.output.shape) == (None, IMAGE_SIZE)

    # Kernel shapes follow layer_widths: 784 -> hidden -> latent -> mirrored hidden -> 784.
    layers = [nets.encoder.get_layer(f"encoder_{i + 1}") for i in range(n)] + [nets.encoder.get_layer("latent")]
    layers += [nets.decoder.get_layer(f"decoder_{i + 1}") for i in range(n)] + [nets.decoder.get_layer("reconstruction")]
    widths = cfg.layer_widths
    assert [tuple(layer.kernel.shape) for layer in layers] == list(zip(widths[:-1], widths[1:]))
    assert nets.encoder.get_layer("latent").activation.__name__ == cfg.activation
    assert nets.decoder.get_layer("reconstruction").activation.__name__ == cfg.output_activation

    # The three models share their layers: the autoencoder is decoder(encoder(x)).
    x = np.random.default_rng(0).random((3, IMAGE_SIZE), dtype=np.float32)
    direct = nets.autoencoder.predict(x, verbose=0)
    chained = nets.decoder.predict(nets.encoder.predict(x, verbose=0), verbose=0)
    np.testing.assert_allclose(direct, chained, rtol=1e-5, atol=1e-6)
    assert parameter_count(cfg) == nets.autoencoder.count_params()


def test_parameter_count_of_the_notebook():
    # 784*256+256 + 256*128+128 + 128*256+256 + 256*784+784
    assert parameter_count(Config()) == 468_368


def test_random_normal_is_unit_normal_for_kernels_and_biases():
    nets = build(Config())
    layers = [l for m in (nets.encoder, nets.decoder) for l in m.layers if hasattr(l, "kernel")]
    kernels = np.concatenate([l.kernel.numpy().ravel() for l in layers])
    biases = np.concatenate([l.bias.numpy().ravel() for l in layers])
    assert kernels.std() == pytest.approx(1.0, abs=0.01)
    assert kernels.mean() == pytest.approx(0.0, abs=0.01)
    assert biases.size == 256 + 128 + 256 + 784
    assert biases.std() == pytest.approx(1.0, abs=0.08)
    assert abs(biases.mean()) < 0.1
    # Not truncated: a unit normal has values beyond 3 sigma among 400k draws.
    assert np.abs(kernels).max() > 3.5


@pytest.mark.parametrize("initializer", ["glorot_uniform", "he_normal"])
def test_other_initializers_have_zero_biases_and_small_kernels(initializer):
    nets = build(Config(initializer=initializer))
    layer = nets.encoder.get_layer("encoder_1")
    assert not layer.bias.numpy().any()
    std = layer.kernel.numpy().std()
    expected = {"glorot_uniform": np.sqrt(2 / (784 + 256)), "he_normal": np.sqrt(2 / 784)}[initializer]
    assert std == pytest.approx(expected, rel=0.1)


def test_same_seed_same_weights_different_seed_different_weights():
    cfg = Config(hidden=(64,), latent=8)
    a = build(cfg).autoencoder.get_weights()
    b = build(cfg).autoencoder.get_weights()
    c = build(cfg.replace(seed=1)).autoencoder.get_weights()
    assert len(a) == len(b) == len(c) == 8
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    for wa, wc in zip(a, c):
        assert not np.array_equal(wa, wc)
    # Within one network no two layers (nor a kernel and its bias) share a random stream.
    firsts = [w.ravel()[:4].tolist() for w in a]
    assert len({tuple(f) for f in firsts}) == len(firsts)


def test_reconstruction_losses():
    x = np.array([[0.0, 1.0, 0.5, 0.25]], np.float32)
    y = np.array([[0.1, 0.9, 0.5, 0.75]], np.float32)
    mse = float(reconstruction_loss(Config())(x, y))
    assert mse == pytest.approx(np.mean((x - y) ** 2), rel=1e-6)
    bce = float(reconstruction_loss(Config(loss="bce"))(x, y))
    expected = -np.mean(x * np.log(y + 1e-7) + (1 - x) * np.log(1 - y + 1e-7))
    assert bce == pytest.approx(expected, rel=1e-5)
    # Saturated outputs stay finite.
    assert np.isfinite(float(reconstruction_loss(Config(loss="bce"))(x, np.round(1 - x))))


# --- optimizers ------------------------------------------------------------------------------------

def _variable(values):
    import keras

    return keras.Variable(np.asarray(values, np.float32))


def test_tf1_rmsprop_velocities_start_at_one():
    opt = make_optimizer(Config())
    w = [_variable(np.zeros((3, 2))), _variable(np.zeros(5))]
    opt.build(w)
    assert len(opt._velocities) == 2
    for velocity in opt._velocities:
        np.testing.assert_array_equal(velocity.numpy(), np.ones(velocity.shape, np.float32))
    assert opt.epsilon == pytest.approx(1e-10) and opt.rho == pytest.approx(0.9)
    assert float(opt.learning_rate) == pytest.approx(0.01)


def test_tf1_rmsprop_update_matches_tf1_formula():
    lr = 0.01
    opt = make_optimizer(Config(learning_rate=lr))
    w0 = np.array([0.5, -1.0, 2.0, 0.0], np.float32)
    g = np.array([0.1, -2.0, 0.0, 5.0], np.float32)
    w = _variable(w0)
    opt.build([w])
    opt.apply([g], [w])
    ms = 0.9 * 1.0 + 0.1 * g.astype(np.float64) ** 2
    expected = w0 - lr * g / np.sqrt(ms + 1e-10)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(opt._velocities[0].numpy(), ms, rtol=1e-6)
    # Second step: the accumulator keeps decaying from there.
    opt.apply([g], [w])
    ms2 = 0.9 * ms + 0.1 * g.astype(np.float64) ** 2
    np.testing.assert_allclose(w.numpy(), expected - lr * g / np.sqrt(ms2 + 1e-10), rtol=1e-6, atol=1e-7)


def test_keras_rmsprop_differs_from_tf1_on_the_first_step():
    """The reason TF1RMSprop exists: Keras starts the accumulator at 0, so its first step is ~sqrt(10) x lr."""
    g = np.array([0.1], np.float32)
    w = _variable([0.0])
    opt = make_optimizer(Config(optimizer="rmsprop", learning_rate=0.01))
    opt.build([w])
    opt.apply([g], [w])
    assert float(w.numpy()[0]) == pytest.approx(-0.01 * np.sqrt(10), rel=1e-4)


@pytest.mark.parametrize("name,cls", [("rmsprop", "RMSprop"), ("adam", "Adam"), ("adamw", "AdamW"),
                                      ("sgd", "SGD"), ("momentum", "SGD"), ("rmsprop_tf1", "TF1RMSprop")])
def test_make_optimizer_by_name(name, cls):
    opt = make_optimizer(Config(optimizer=name, learning_rate=0.123))
    assert type(opt).__name__ == cls
    assert float(opt.learning_rate) == pytest.approx(0.123)
    if name == "momentum":
        assert opt.momentum == pytest.approx(0.9)
    if name == "sgd":
        assert opt.momentum == 0

"""The family of autoencoders (ae_core.variants): each variant's objective term against an
independent numpy computation, tied weights, conv shapes, live knobs, and for every new preset a
short real training run whose model.keras reloads with safe_mode=True and reproduces its test MSE."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ae_core import runs
from ae_core.config import LIVE_FIELDS, PRESETS, Config, ConfigError, parse_assignment
from ae_core.engine import Engine
from ae_core.model import IMAGE_SIZE, build, parameter_count, reconstruction_loss
from ae_core.trainer import Trainer
from ae_core.variants import BY_NAME, variant_of
from ae_core.variants.contractive import exact_jacobian_sq, jacobian_sq_along
from ae_core.variants.sparse import l1_penalty
from ae_core.variants.variational import kl_to_unit_gaussian
from tests.conftest import ROOT

NEW_PRESETS = ("sparse", "contractive", "vae2d", "conv")
TINY = Config(hidden=(16,), latent=4, activation="sigmoid", initializer="glorot_uniform", optimizer="adam",
              learning_rate=1e-3, steps=1000)


def _batch(n=3, seed=0):
    return np.random.default_rng(seed).random((n, IMAGE_SIZE), dtype=np.float32)


# --- each term against numpy ------------------------------------------------------------------------

def test_l1_of_a_known_code():
    code = np.array([[1.0, -2.0, 0.0, 0.5], [0.0, 0.0, 3.0, -1.0]], np.float32)
    # Per digit L1 norms 3.5 and 4.0; their mean, on the reconstruction's per-pixel scale.
    assert float(l1_penalty(code)) == pytest.approx(3.75 / 784, rel=1e-6)


def test_kl_of_known_gaussians():
    mean = np.array([[0.0, 0.0], [1.0, -2.0], [0.5, 0.0]], np.float32)
    log_var = np.array([[0.0, 0.0], [0.0, 0.0], [np.log(4.0), np.log(0.25)]], np.float32)
    kl = np.asarray(kl_to_unit_gaussian(mean, log_var))
    # N(0, I) against itself: 0. Unit variances: ½‖μ‖². Otherwise ½ Σ (μ² + σ² − ln σ² − 1).
    expected = [0.0, 0.5 * (1 + 4),
                0.5 * ((0.25 + 4 - np.log(4) - 1) + (0 + 0.25 - np.log(0.25) - 1))]
    np.testing.assert_allclose(kl, expected, rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def sigmoid_encoder():
    """A one-layer sigmoid encoder h = σ(xW + b) with known weights, and its closed-form penalty
    ‖J‖²_F = Σ_j (h_j(1 − h_j))² Σ_i W_ij² for each digit."""
    import keras

    rng = np.random.default_rng(1)
    w = (0.1 * rng.standard_normal((IMAGE_SIZE, 5))).astype(np.float32)
    b = (0.1 * rng.standard_normal(5)).astype(np.float32)
    layer = keras.layers.Dense(5, activation="sigmoid")
    layer.build((None, IMAGE_SIZE))
    layer.set_weights([w, b])
    x = _batch(3, seed=2)
    h = 1 / (1 + np.exp(-(x.astype(np.float64) @ w + b)))
    closed = ((h * (1 - h)) ** 2 * (w.astype(np.float64) ** 2).sum(axis=0)).sum(axis=1)
    return layer, x, closed


def test_exact_jacobian_penalty_of_a_sigmoid_layer_matches_the_closed_form(sigmoid_encoder):
    layer, x, closed = sigmoid_encoder
    np.testing.assert_allclose(np.asarray(exact_jacobian_sq(layer, x)), closed, rtol=1e-4)


def test_training_estimate_of_the_jacobian_penalty_is_exact_over_a_basis(sigmoid_encoder):
    """The training step estimates ‖J‖²_F as ‖J ε‖²; averaged over the 784 directions √784·e_i it
    is exactly Σ_i ‖J e_i‖² = ‖J‖²_F, the closed form."""
    layer, x, closed = sigmoid_encoder
    basis = (np.sqrt(IMAGE_SIZE) * np.eye(IMAGE_SIZE)).astype(np.float32)
    for digit in range(len(x)):
        repeated = np.repeat(x[digit:digit + 1], IMAGE_SIZE, axis=0)
        _, values = jacobian_sq_along(layer, repeated, basis)
        assert float(np.mean(values)) == pytest.approx(closed[digit], rel=1e-4)


def test_random_directions_estimate_the_jacobian_penalty_without_bias(sigmoid_encoder):
    layer, x, closed = sigmoid_encoder
    directions = np.random.default_rng(3).standard_normal((4000, IMAGE_SIZE)).astype(np.float32)
    _, values = jacobian_sq_along(layer, np.repeat(x[:1], 4000, axis=0), directions)
    assert float(np.mean(values)) == pytest.approx(closed[0], rel=0.06)


@pytest.mark.parametrize("variant", ["sparse", "contractive", "variational"])
def test_objective_is_reconstruction_plus_weighted_term(variant):
    """The compiled step's vector [total, reconstruction, weighted term], recomputed here from the
    network's own parts (no sampling noise: the draws are zeros, so a VAE decodes its mean)."""
    import tensorflow as tf

    cfg = TINY.replace(variant=variant)
    nets = build(cfg)
    v = variant_of(cfg)
    x = _batch(4)
    loss = reconstruction_loss(cfg)
    weight = tf.Variable(0.7)
    zeros = lambda shape: tf.zeros(shape)  # noqa: E731
    total, recon, term = np.asarray(v.objective(nets, x, x, loss, weight, zeros), np.float64)
    assert total == pytest.approx(recon + term, rel=1e-6)
    code = np.asarray(nets.encoder(x), np.float64)
    decoded = np.asarray(nets.decoder(code.astype(np.float32)), np.float64)
    assert recon == pytest.approx(np.mean((decoded - x) ** 2), rel=1e-5)
    if variant == "sparse":
        expected = np.abs(code).sum(axis=1).mean() / 784
    elif variant == "variational":
        mean, log_var = (np.asarray(t, np.float64) for t in nets.code.moments(nets.features(x)))
        np.testing.assert_allclose(mean, code, rtol=1e-6)
        expected = (0.5 * (mean ** 2 + np.exp(log_var) - log_var - 1).sum(axis=1)).mean() / 784
    else:  # zero directions: the estimate ‖J·0‖² is 0
        expected = 0.0
    assert term == pytest.approx(0.7 * expected, rel=1e-5, abs=1e-9)


def test_plain_autoencoder_objective_is_the_reconstruction_loss_alone():
    nets = build(TINY)
    v = variant_of(TINY)
    assert v.parts == () and v.knob is None
    x = _batch(4)
    out = np.asarray(v.objective(nets, x, x, reconstruction_loss(TINY), None, None))
    assert out.shape == () and float(out) == pytest.approx(np.mean((np.asarray(nets.autoencoder(x)) - x) ** 2))


def test_every_config_variant_has_one_class_with_a_live_knob():
    from ae_core.config import VARIANTS

    assert tuple(BY_NAME) == VARIANTS
    knobs = {v.knob for v in BY_NAME.values()} - {None}
    assert knobs == {"sparsity_weight", "contractive_weight", "beta"} and knobs <= set(LIVE_FIELDS)


# --- architectures -------------------------------------------------------------------------------------

def test_tied_weights_are_one_variable():
    cfg = Config(hidden=(32, 16), latent=4, activation="relu", initializer="glorot_uniform", tied=True)
    nets = build(cfg)
    kernels = [v for v in nets.autoencoder.trainable_variables if v.path.endswith("/kernel")]
    assert [tuple(k.shape) for k in kernels] == [(784, 32), (32, 16), (16, 4)]  # the decoder has none of its own
    assert parameter_count(cfg) == nets.autoencoder.count_params()
    # The decoder's reconstruction layer is encoder_1's kernel, transposed: change it, the decoder follows.
    layer = nets.encoder.get_layer("encoder_1")
    code = np.random.default_rng(0).random((2, 4), dtype=np.float32)
    before = np.asarray(nets.decoder(code))
    layer.kernel.assign(layer.kernel * 2.0)
    assert not np.allclose(np.asarray(nets.decoder(code)), before)
    h = np.asarray(nets.decoder.get_layer("encoder_2")(nets.decoder.get_layer("latent")(code, transpose=True),
                                                        transpose=True))
    expected = 1 / (1 + np.exp(-(h @ layer.kernel.numpy().T + layer.transpose_bias.numpy())))
    np.testing.assert_allclose(np.asarray(nets.decoder(code)), expected, rtol=1e-5, atol=1e-6)


def test_conv_and_tied_is_refused_in_one_sentence():
    with pytest.raises(ConfigError, match=r"^Tied weights need the dense architecture[^.]*\.$"):
        Config(architecture="conv", tied=True)
    with pytest.raises(ConfigError, match="1 to 2 hidden layers"):
        Config(architecture="conv", hidden=(8, 8, 8))
    assert parse_assignment("tied=true") == ("tied", True) and parse_assignment("tied=0") == ("tied", False)
    with pytest.raises(ConfigError, match="true or false"):
        parse_assignment("tied=maybe")


@pytest.mark.parametrize("hidden", [(32, 64), (16,)])
def test_conv_shapes(hidden):
    cfg = PRESETS["conv"].replace(hidden=hidden)
    nets = build(cfg)
    convs = [nets.encoder.get_layer(f"encoder_{i + 1}") for i in range(len(hidden))]
    assert [tuple(c.kernel.shape) for c in convs] == [(3, 3, c_in, c_out) for c_in, c_out in zip((1, *hidden), hidden)]
    side = 28 // 2 ** len(hidden)
    assert tuple(convs[-1].output.shape) == (None, side, side, hidden[-1])
    assert tuple(nets.encoder.output.shape) == (None, 32) and tuple(nets.decoder.output.shape) == (None, 784)
    assert parameter_count(cfg) == nets.autoencoder.count_params()
    assert nets.first_layer().shape == (784, hidden[0])


@pytest.mark.parametrize("cfg", [TINY.replace(variant="variational"), TINY.replace(variant="variational", tied=True),
                                 TINY.replace(variant="sparse", tied=True)], ids=["vae", "vae-tied", "sparse-tied"])
def test_parameter_count_of_every_kind(cfg):
    assert parameter_count(cfg) == build(cfg).autoencoder.count_params()


# --- live knobs ------------------------------------------------------------------------------------

def test_a_knob_changes_mid_run_without_retracing_and_is_marked(small_mnist):
    t = Trainer(PRESETS["vae2d"].replace(steps=10_000, hidden=(64,)), small_mnist)
    try:
        t.wait_ready(timeout=120)
        t.step(5)
        t.wait(lambda s: s.status == "paused" and s.step >= 5, 120)
        traces = [fn.experimental_get_tracing_count() for fn in t.engine.graphs.traced()]
        t.update(beta=4.0)
        t.step(5)
        s = t.wait(lambda s: s.status == "paused" and s.step >= 10, 120)
        assert float(t.engine.weight.numpy()) == 4.0
        assert [fn.experimental_get_tracing_count() for fn in t.engine.graphs.traced()] == traces
        assert {"step": 5, "field": "beta", "old": 1.0, "new": 4.0}.items() <= s.history.events[-1].items()
        assert set(s.history.terms) == {"reconstruction", "kl"}
        np.testing.assert_allclose(s.history.loss, s.history.terms["reconstruction"] + s.history.terms["kl"],
                                   rtol=1e-5)
        with pytest.raises(ConfigError, match="Reset"):
            t.update(variant="sparse")
    finally:
        t.stop()


# --- every new preset trains, saves and reloads ----------------------------------------------------------

@pytest.fixture(scope="module")
def trained(small_mnist, tmp_path_factory):
    """Each new preset trained 80 steps on 2 000 digits, then saved to a run folder."""
    import os

    store = tmp_path_factory.mktemp("runs")
    old = os.environ.get("AE_RUNS_DIR")
    os.environ["AE_RUNS_DIR"] = str(store)
    out = {}
    try:
        for name in NEW_PRESETS:
            t = Trainer(PRESETS[name].replace(steps=80), small_mnist)
            try:
                t.wait_ready(timeout=180)
                t.start()
                snap = t.wait(lambda s: s.status == "done", 300)
                runs.save(snap, t.model())
                out[name] = (snap, runs.run_path(snap.run_id) / "model.keras")
            finally:
                t.stop()
    finally:
        if old is None:
            os.environ.pop("AE_RUNS_DIR", None)
        else:
            os.environ["AE_RUNS_DIR"] = old
    return out


@pytest.mark.parametrize("name", NEW_PRESETS)
def test_each_new_preset_lowers_its_loss_and_reports_its_terms(trained, name):
    snap, _ = trained[name]
    loss = np.asarray(snap.history.loss)
    assert loss[-10:].mean() < 0.8 * loss[:10].mean()
    variant = variant_of(snap.config)
    assert set(snap.history.terms) == set(variant.parts)
    if variant.parts:
        assert set(snap.test_measures) == ({"test_objective", "test_kl"} if variant.term == "kl" else {"test_objective"})
        assert snap.test_measures["test_objective"] > 0
    if variant.term == "kl":
        assert np.isfinite(snap.test_measures["test_kl"]) and snap.test_measures["test_kl"] > 0
    assert snap.measurements, "every new preset has live measurements"


def test_every_model_keras_reloads_with_safe_mode_and_reproduces_its_test_mse(trained, small_mnist, tmp_path):
    """In a fresh process that imports ae_core (which registers the custom layers) and Keras."""
    np.save(tmp_path / "x.npy", small_mnist.x_test)
    paths = {name: str(path) for name, (_, path) in trained.items()}
    script = ("import json, sys, numpy as np, ae_core, keras\n"
              "x = np.load(sys.argv[2], allow_pickle=False)\n"
              "out = {}\n"
              "for name, path in json.loads(sys.argv[1]).items():\n"
              "    m = keras.models.load_model(path, safe_mode=True, compile=False)\n"
              "    out[name] = float(np.mean((np.asarray(m.predict(x, verbose=0)) - x) ** 2))\n"
              "print(json.dumps(out))\n")
    p = subprocess.run([sys.executable, "-c", script, json.dumps(paths), str(tmp_path / "x.npy")], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    reloaded = json.loads(p.stdout.strip().splitlines()[-1])
    for name, (snap, _) in trained.items():
        assert reloaded[name] == pytest.approx(snap.test_loss, rel=1e-4), name


def test_a_tied_run_continues_from_its_saved_weights(small_mnist, tmp_path):
    cfg = TINY.replace(tied=True, variant="sparse", steps=20)
    t = Trainer(cfg, small_mnist)
    try:
        t.wait_ready(timeout=120)
        t.start()
        snap = t.wait(lambda s: s.status == "done", 120)
        path = tmp_path / "tied.keras"
        t.model().autoencoder.save(path)
    finally:
        t.stop()
    again = Engine(cfg, small_mnist, 64, weights=lambda: runs.load_keras_model(path).get_weights())
    assert again.evaluate()[0] == pytest.approx(snap.test_loss, rel=1e-5)

"""Config: notebook defaults, presets, validation, (de)serialisation, CLI assignments, live fields."""
from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ae_core import config as cfg_lib
from ae_core.config import (FIELDS, LIVE_FIELDS, PRESETS, Config, ConfigError, parse_assignment, parse_value,
                            preset, preset_of, spec)


# --- defaults: the notebook exactly -------------------------------------------------------------

def test_defaults_are_the_notebook():
    c = Config()
    assert c.layer_widths == (784, 256, 128, 256, 784)
    assert c.hidden == (256,) and c.latent == 128
    assert c.activation == "sigmoid" and c.output_activation == "sigmoid"
    assert c.optimizer == "rmsprop_tf1"
    assert c.learning_rate == 0.01
    assert c.batch_size == 256
    assert c.initializer == "random_normal"
    assert c.loss == "mse"
    assert c.steps == 10_000
    assert c.sampling == "random"
    assert c.noise == 0.0


def test_config_is_frozen_and_hashable():
    c = Config(hidden=[512, 256])
    assert c.hidden == (512, 256)  # lists are stored as tuples
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.latent = 3  # type: ignore[misc]
    assert hash(c) == hash(Config(hidden=(512, 256)))


# --- presets -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid_and_named(name):
    c = preset(name)
    assert c == Config(**c.to_dict())  # re-validates every field
    assert preset_of(c) == name
    assert name in cfg_lib.PRESET_BLURBS


def test_preset_names_and_default():
    assert set(PRESETS) == {"seed", "fast", "denoising", "latent2", "sparse", "contractive", "vae2d", "conv"}
    assert set(cfg_lib.PRESET_BLURBS) == set(PRESETS)
    assert PRESETS["seed"] == Config()
    assert cfg_lib.DEFAULT_PRESET in PRESETS
    with pytest.raises(ConfigError, match="nope"):
        preset("nope")


def test_preset_of_ignores_steps_and_seed_only():
    fast = PRESETS["fast"]
    assert preset_of(fast.replace(steps=17, seed=42)) == "fast"
    assert preset_of(fast.replace(learning_rate=0.5)) is None
    assert preset_of(Config(latent=3)) is None
    assert preset_of(PRESETS["denoising"].replace(steps=1, seed=9)) == "denoising"
    assert preset_of(PRESETS["seed"].replace(steps=20_000)) == "seed"


# --- validation: every kind of field, the label in every message -----------------------------------

BAD_VALUES = [
    # (field, bad value, fragment expected besides the label)
    ("latent", 0, "from"),                  # below range
    ("latent", 2000, "from"),               # above range
    ("latent", 12.5, "whole number"),       # wrong type
    ("latent", True, "whole number"),       # bools are not numbers here
    ("latent", "128", "whole number"),
    ("batch_size", 0, "from"),
    ("batch_size", 5000, "from"),
    ("steps", 0, "from"),
    ("seed", -1, "from"),
    ("learning_rate", 0.0, "from"),
    ("learning_rate", 11.0, "from"),
    ("learning_rate", float("nan"), "finite"),
    ("learning_rate", float("inf"), "finite"),
    ("learning_rate", "0.1", "finite"),
    ("noise", -0.1, "from"),
    ("noise", 1.5, "from"),
    ("activation", "softmax", "one of"),
    ("output_activation", "relu", "one of"),
    ("optimizer", "lbfgs", "one of"),
    ("initializer", "zeros", "one of"),
    ("loss", "mae", "one of"),
    ("sampling", "stratified", "one of"),
    ("hidden", (), "1 to"),                 # empty widths list
    ("hidden", (8, 8, 8, 8, 8), "1 to"),    # too many layers
    ("hidden", (256, 1), "each width"),     # width below range
    ("hidden", (256, 4096), "each width"),  # width above range
    ("hidden", (256, 12.0), "each width"),  # not an int
    ("hidden", (True,), "each width"),
    ("hidden", 256, "1 to"),                # not a list at all
    ("hidden", "256", "1 to"),
]


@pytest.mark.parametrize("name,value,fragment", BAD_VALUES,
                         ids=[f"{n}={v!r}" for n, v, _ in BAD_VALUES])
def test_bad_value_is_a_config_error_naming_the_field(name, value, fragment):
    with pytest.raises(ConfigError) as err:
        Config(**{name: value})
    message = str(err.value)
    assert spec(name)["label"] in message
    assert fragment in message


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_bce_needs_sigmoid_output():
    with pytest.raises(ConfigError) as err:
        Config(loss="bce", output_activation="linear")
    message = str(err.value)
    assert spec("loss")["label"] in message and "output activation" in message.lower()
    assert Config(loss="bce", output_activation="sigmoid").loss == "bce"


def test_every_field_has_complete_metadata():
    for name, f in FIELDS.items():
        m = f.metadata
        assert m["label"] and m["help"], name
        assert m["kind"] in {"widths", "int", "float", "choice", "bool"}, name
        if m["kind"] == "choice":
            assert f.default in m["choices"], name
        elif m["kind"] == "bool":
            assert isinstance(f.default, bool), name
        else:
            assert m["lo"] is not None and m["hi"] is not None, name
    assert set(LIVE_FIELDS) == {"learning_rate", "batch_size", "noise", "steps", "sparsity_weight",
                                "contractive_weight", "beta"}


# --- round trips -----------------------------------------------------------------------------------

def test_dict_and_json_round_trip():
    c = Config(hidden=(512, 64), latent=16, activation="tanh", learning_rate=3e-4, noise=0.25, seed=7)
    d = c.to_dict()
    assert d["hidden"] == [512, 64]
    assert Config.from_dict(d) == c
    text = c.to_json()
    assert json.loads(text)["latent"] == 16
    assert Config.from_json(text) == c


def test_from_dict_merges_onto_base_and_rejects_unknown_keys():
    base = PRESETS["fast"]
    c = Config.from_dict({"latent": 8}, base=base)
    assert c == base.replace(latent=8)
    with pytest.raises(ConfigError, match="bogus"):
        Config.from_dict({"bogus": 1})


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '"seed"', '{"latent": -1}'])
def test_from_json_rejects_bad_documents(text):
    with pytest.raises(ConfigError):
        Config.from_json(text)


def test_query_round_trip_and_short_links():
    base = Config()
    c = base.replace(hidden=(512, 256), learning_rate=0.003, sampling="epoch")
    full = c.to_query()
    assert set(full) == set(FIELDS)
    assert all(isinstance(v, str) for v in full.values())
    assert full["hidden"] == "512-256"
    assert Config.from_query(full) == c

    short = c.to_query(base=base)
    assert short == {"hidden": "512-256", "learning_rate": "0.003", "sampling": "epoch"}
    assert Config.from_query(short, base=base) == c
    assert base.to_query(base=base) == {}


def test_from_query_ignores_non_settings_and_validates():
    c = Config.from_query({"run": "abc", "preset": "fast", "latent": "32"})
    assert c == Config(latent=32)
    with pytest.raises(ConfigError, match="Latent size"):
        Config.from_query({"latent": "lots"})
    with pytest.raises(ConfigError, match="Latent size"):
        Config.from_query({"latent": "0"})


widths = st.lists(st.integers(2, 2048), min_size=1, max_size=4).map(tuple)


@st.composite
def valid_configs(draw):
    loss = draw(st.sampled_from(cfg_lib.LOSSES))
    out = "sigmoid" if loss == "bce" else draw(st.sampled_from(cfg_lib.OUTPUT_ACTIVATIONS))
    hidden = draw(widths)
    architecture = draw(st.sampled_from(cfg_lib.ARCHITECTURES)) if len(hidden) <= cfg_lib.MAX_CONV_LAYERS else "dense"
    return Config(
        variant=draw(st.sampled_from(cfg_lib.VARIANTS)), architecture=architecture,
        tied=architecture == "dense" and draw(st.booleans()), sparsity_weight=draw(st.floats(0.0, 100.0)),
        contractive_weight=draw(st.floats(0.0, 100.0)), beta=draw(st.floats(0.0, 20.0)),
        hidden=hidden, latent=draw(st.integers(1, 1024)),
        activation=draw(st.sampled_from(cfg_lib.ACTIVATIONS)), output_activation=out,
        optimizer=draw(st.sampled_from(cfg_lib.OPTIMIZERS)),
        learning_rate=draw(st.floats(1e-5, 10.0)), batch_size=draw(st.integers(1, 4096)),
        initializer=draw(st.sampled_from(cfg_lib.INITIALIZERS)), loss=loss,
        noise=draw(st.floats(0.0, 1.0)), steps=draw(st.integers(1, 1_000_000)),
        sampling=draw(st.sampled_from(cfg_lib.SAMPLINGS)), seed=draw(st.integers(0, 2**31 - 1)))


@settings(max_examples=150, deadline=None)
@given(valid_configs(), valid_configs())
def test_round_trips_hold_for_any_valid_config(c, base):
    assert Config.from_dict(c.to_dict()) == c
    assert Config.from_json(c.to_json()) == c
    assert Config.from_query(c.to_query()) == c
    short = c.to_query(base=base)
    assert set(short) == set(c.diff(base))
    assert Config.from_query(short, base=base) == c
    # Every value survives the text codec used by URLs and --set.
    for name, text in c.to_query().items():
        assert parse_value(name, text) == getattr(c, name)


# --- CLI assignments -------------------------------------------------------------------------------

@pytest.mark.parametrize("item,expected", [
    ("hidden=512-256", ("hidden", (512, 256))),
    ("hidden=512,256", ("hidden", (512, 256))),
    ("steps=1e4", ("steps", 10_000)),
    ("steps=256.0", ("steps", 256)),
    ("learning_rate=0.003", ("learning_rate", 0.003)),
    ("learning-rate=0.003", ("learning_rate", 0.003)),
    (" activation = relu ", ("activation", "relu")),
    ("seed=42", ("seed", 42)),
])
def test_parse_assignment(item, expected):
    assert parse_assignment(item) == expected


@pytest.mark.parametrize("item,fragment", [
    ("bogus=1", "bogus"),
    ("noequals", "key=value"),
    ("steps=1.5", "Step budget"),
    ("steps=many", "Step budget"),
    ("learning_rate=abc", "Learning rate"),
    ("hidden=a-b", "Hidden layer widths"),
    ("batch_size=1e400", "Batch size"),
])
def test_parse_assignment_errors(item, fragment):
    with pytest.raises(ConfigError) as err:
        parse_assignment(item)
    assert fragment in str(err.value)


def test_parsed_values_still_validated_by_config():
    key, value = parse_assignment("latent=0")
    with pytest.raises(ConfigError, match="Latent size"):
        Config.from_dict({key: value})


# --- live fields vs fields that need a new network ---------------------------------------------------

def test_needs_reset_lists_only_structural_changes():
    c = Config()
    live = c.replace(learning_rate=0.1, batch_size=32, noise=0.2, steps=5)
    assert c.needs_reset(live) == []
    assert set(c.diff(live)) == {"learning_rate", "batch_size", "noise", "steps"}
    structural = c.replace(hidden=(64,), activation="relu", learning_rate=0.1, seed=3)
    assert sorted(c.needs_reset(structural)) == ["activation", "hidden", "seed"]
    assert c.diff(structural)["hidden"] == ((256,), (64,))

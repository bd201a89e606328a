"""Config: the single truth for every hyperparameter.

Each field carries its own description (label, range, choices, whether it can change while a run
trains). Sliders, URL query parameters, CLI ``--set`` flags and JSON are all derived from these
fields, never re-listed by hand, in the spirit of tensorflow/playground's ``state.ts``.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

ACTIVATIONS = ("sigmoid", "relu", "tanh", "elu", "selu", "gelu", "linear")
OUTPUT_ACTIVATIONS = ("sigmoid", "linear")
OPTIMIZERS = ("rmsprop_tf1", "rmsprop", "adam", "adamw", "sgd", "momentum")
INITIALIZERS = ("random_normal", "glorot_uniform", "he_normal")
LOSSES = ("mse", "bce")
SAMPLINGS = ("random", "epoch")
VARIANTS = ("autoencoder", "sparse", "contractive", "variational")  # ae_core.variants has one class each
ARCHITECTURES = ("dense", "conv")
MAX_CONV_LAYERS = 2      # stride-2 convolutions: 28 → 14 → 7, and back by transposed ones
PENALTY_WEIGHTS = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)

MAX_LAYERS = 4


class ConfigError(ValueError):
    """A hyperparameter value that cannot be used, in one plain sentence."""


def _spec(label: str, help: str, *, kind: str, lo=None, hi=None, choices=(), log=False, live=False, step=None,
          options=()):
    """Field metadata read by validation, the page's widgets, the CLI and the URL codec.

    ``lo``/``hi`` bound both the valid values and the page's slider; ``step`` is the slider's step
    (a field with a step is drawn as a slider); ``options`` are the stops of a select-slider (for
    fields whose useful values are spread over a log scale)."""
    return dict(label=label, help=help, kind=kind, lo=lo, hi=hi, choices=tuple(choices), log=log, live=live, step=step,
                options=tuple(options))


@dataclass(frozen=True)
class Config:
    hidden: tuple[int, ...] = field(
        default=(256,),
        metadata=_spec("Hidden layer widths", "Encoder hidden layers, input side first; the decoder mirrors them.",
                       kind="widths", lo=2, hi=2048, step=2))
    latent: int = field(
        default=128, metadata=_spec("Latent size", "Width of the code between encoder and decoder.",
                                    kind="int", lo=1, hi=1024, step=1))
    activation: str = field(
        default="sigmoid", metadata=_spec("Activation", "Activation of every hidden layer and the code.",
                                          kind="choice", choices=ACTIVATIONS))
    output_activation: str = field(
        default="sigmoid", metadata=_spec("Output activation", "Activation of the reconstruction layer.",
                                          kind="choice", choices=OUTPUT_ACTIVATIONS))
    optimizer: str = field(
        default="rmsprop_tf1",
        metadata=_spec("Optimizer", "rmsprop_tf1 is TF1's RMSPropOptimizer (accumulator starts at 1), as in the notebook.",
                       kind="choice", choices=OPTIMIZERS))
    learning_rate: float = field(
        default=0.01, metadata=_spec("Learning rate", "Step size; changes apply to a running run at once.",
                                     kind="float", lo=1e-5, hi=10.0, log=True, live=True,
                                     options=(1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2,
                                              5e-2, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)))
    batch_size: int = field(
        default=256, metadata=_spec("Batch size", "Digits per training step; changes apply to a running run.",
                                    kind="int", lo=1, hi=4096, live=True,
                                    options=(16, 32, 64, 128, 256, 512, 1024, 2048)))
    initializer: str = field(
        default="random_normal",
        metadata=_spec("Initializer", "random_normal is stddev 1 for weights and biases, as in the notebook.",
                       kind="choice", choices=INITIALIZERS))
    loss: str = field(
        default="mse", metadata=_spec("Loss", "Mean squared error or binary cross-entropy of the reconstruction.",
                                      kind="choice", choices=LOSSES))
    noise: float = field(
        default=0.0, metadata=_spec("Input noise", "Stddev of Gaussian noise added to inputs (denoising autoencoder).",
                                    kind="float", lo=0.0, hi=1.0, live=True, step=0.05))
    steps: int = field(
        default=10_000, metadata=_spec("Step budget", "Training stops by itself after this many steps.",
                                       kind="int", lo=1, hi=1_000_000, live=True))
    sampling: str = field(
        default="random", metadata=_spec("Batch sampling", "random: a fresh random batch each step (the notebook); "
                                         "epoch: shuffled passes over the training set.",
                                         kind="choice", choices=SAMPLINGS))
    seed: int = field(
        default=0, metadata=_spec("Random seed", "Seeds weights, batches and noise, so a run repeats itself.",
                                  kind="int", lo=0, hi=2**31 - 1))
    variant: str = field(
        default="autoencoder",
        metadata=_spec("Variant", "autoencoder: reconstruction only; sparse: plus an L1 penalty on the code; "
                       "contractive: plus a penalty on the encoder's Jacobian; variational: a Gaussian code "
                       "with a KL term to a unit Gaussian.", kind="choice", choices=VARIANTS))
    architecture: str = field(
        default="dense",
        metadata=_spec("Architecture", "dense: fully connected layers; conv: stride-2 convolutions (hidden "
                       "widths are their filter counts) around a dense code.", kind="choice", choices=ARCHITECTURES))
    tied: bool = field(
        default=False,
        metadata=_spec("Tied weights", "The decoder's kernels are the encoder's, transposed (dense only).",
                       kind="bool"))
    sparsity_weight: float = field(
        default=0.15,
        metadata=_spec("Sparsity weight", "Weight of the sparse variant's L1 penalty on the code (per digit, "
                       "divided by 784 like the per-pixel reconstruction error).",
                       kind="float", lo=0.0, hi=100.0, log=True, live=True, options=PENALTY_WEIGHTS))
    contractive_weight: float = field(
        default=0.1,
        metadata=_spec("Contractive weight", "Weight of the contractive variant's penalty: the squared Frobenius "
                       "norm of the encoder's Jacobian (per digit, divided by 784).",
                       kind="float", lo=0.0, hi=100.0, log=True, live=True, options=PENALTY_WEIGHTS))
    beta: float = field(
        default=1.0,
        metadata=_spec("β (KL weight)", "Weight of the variational variant's KL term; 1 is the plain VAE, "
                       "other values a β-VAE.", kind="float", lo=0.0, hi=20.0, live=True,
                       options=(0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)))

    def __post_init__(self):
        # Accept lists (JSON, widgets) but store a tuple so the Config stays hashable and frozen.
        if not isinstance(self.hidden, tuple):
            object.__setattr__(self, "hidden", tuple(self.hidden) if isinstance(self.hidden, (list, tuple)) else self.hidden)
        for f in dataclasses.fields(self):
            _check(f, getattr(self, f.name))
        if self.loss == "bce" and self.output_activation != "sigmoid":
            raise ConfigError("Loss bce needs the sigmoid output activation (its outputs must lie in 0..1).")
        if self.tied and self.architecture != "dense":
            raise ConfigError("Tied weights need the dense architecture (a convolution has no transposed "
                              "kernel to share).")
        if self.architecture == "conv" and len(self.hidden) > MAX_CONV_LAYERS:
            raise ConfigError(f"The conv architecture takes 1 to {MAX_CONV_LAYERS} hidden layers (the filters "
                              f"of each stride-2 convolution), got {len(self.hidden)}.")

    # --- derived views -------------------------------------------------------------------------
    @property
    def layer_widths(self) -> tuple[int, ...]:
        """784 → hidden → latent → mirrored hidden → 784."""
        return (784, *self.hidden, self.latent, *reversed(self.hidden), 784)

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    def diff(self, other: "Config") -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ: name -> (self's, other's)."""
        return {f.name: (getattr(self, f.name), getattr(other, f.name))
                for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(other, f.name)}

    def needs_reset(self, other: "Config") -> list[str]:
        """Fields of ``other`` that a running run cannot take without a new network."""
        return [name for name in self.diff(other) if not FIELDS[name].metadata["live"]]

    # --- (de)serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], base: "Config | None" = None) -> "Config":
        unknown = sorted(set(d) - set(FIELDS))
        if unknown:
            raise ConfigError(f"Unknown setting {unknown[0]!r}; known settings are: {', '.join(FIELDS)}.")
        values = (base or cls()).to_dict()
        values.update(d)
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Config":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"The configuration is not valid JSON ({e.msg} at line {e.lineno}).") from None
        if not isinstance(d, dict):
            raise ConfigError("The configuration JSON must be an object of settings.")
        return cls.from_dict(d)

    def to_query(self, base: "Config | None" = None) -> dict[str, str]:
        """URL query parameters; with ``base``, only the fields that differ from it (short links)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if base is not None and value == getattr(base, f.name):
                continue
            out[f.name] = format_value(f.name, value)
        return out

    @classmethod
    def from_query(cls, params: Mapping[str, Any], base: "Config | None" = None) -> "Config":
        """Inverse of :meth:`to_query`; keys that are not settings (``run``, ``preset``...) are ignored."""
        values = {k: parse_value(k, v if isinstance(v, str) else str(v)) for k, v in params.items() if k in FIELDS}
        return cls.from_dict(values, base=base)


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(Config)}
LIVE_FIELDS = tuple(name for name, f in FIELDS.items() if f.metadata["live"])


def spec(name: str) -> dict:
    """The metadata of one field (label, kind, range, choices, log, live)."""
    return FIELDS[name].metadata


def _check(f: dataclasses.Field, value: Any) -> None:
    m = f.metadata
    label = m["label"]
    kind = m["kind"]
    if kind == "widths":
        if not isinstance(value, tuple) or not 1 <= len(value) <= MAX_LAYERS:
            raise ConfigError(f"{label} must list 1 to {MAX_LAYERS} layer widths, got {value!r}.")
        for w in value:
            if isinstance(w, bool) or not isinstance(w, int) or not m["lo"] <= w <= m["hi"]:
                raise ConfigError(f"{label}: each width must be a whole number from {m['lo']} to {m['hi']}, got {w!r}.")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{label} must be a whole number, got {value!r}.")
        if not m["lo"] <= value <= m["hi"]:
            raise ConfigError(f"{label} must be from {m['lo']:,} to {m['hi']:,}, got {value:,}.")
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{label} must be a finite number, got {value!r}.")
        if not m["lo"] <= value <= m["hi"]:
            raise ConfigError(f"{label} must be from {m['lo']:g} to {m['hi']:g}, got {value:g}.")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{label} must be true or false, got {value!r}.")
    elif kind == "choice":
        if value not in m["choices"]:
            raise ConfigError(f"{label} must be one of {', '.join(m['choices'])}; got {value!r}.")


def format_value(name: str, value: Any) -> str:
    """A field's value as text for a URL or a CLI flag (widths as ``256-128``)."""
    if spec(name)["kind"] == "widths":
        return "-".join(str(w) for w in value)
    if spec(name)["kind"] == "bool":
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def parse_value(name: str, text: str) -> Any:
    """Text from a URL, a CLI ``--set`` or a form back to the field's type, with a clear error."""
    if name not in FIELDS:
        raise ConfigError(f"Unknown setting {name!r}; known settings are: {', '.join(FIELDS)}.")
    m = spec(name)
    text = text.strip()
    try:
        if m["kind"] == "widths":
            parts = [p for p in text.replace(",", "-").replace(" ", "-").split("-") if p]
            return tuple(int(p) for p in parts)
        if m["kind"] == "int":
            number = float(text)  # also takes "1e4" or "256.0"
            if not number.is_integer():
                raise ValueError(text)
            return int(number)
        if m["kind"] == "float":
            return float(text)
        if m["kind"] == "bool":
            truth = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False,
                     "off": False}
            return truth[text.lower()]
    except (ValueError, KeyError):
        raise ConfigError(f"{m['label']}: {text!r} is not a valid {_expected(m['kind'])}.") from None
    return text


def _expected(kind: str) -> str:
    return {"widths": "list of widths like 256-128", "bool": "true or false"}.get(kind, "number")


def parse_assignment(item: str) -> tuple[str, Any]:
    """``key=value`` (a CLI ``--set``) to a (field, value) pair."""
    if "=" not in item:
        raise ConfigError(f"--set expects key=value, got {item!r}.")
    key, text = item.split("=", 1)
    key = key.strip().replace("-", "_")
    return key, parse_value(key, text)


# --- presets ---------------------------------------------------------------------------------------
PRESETS: dict[str, Config] = {
    # Exactly the notebook: 784-256-128-256-784, sigmoid, TF1 RMSProp lr 0.01, batch 256, MSE, N(0,1) init.
    "seed": Config(),
    # The app's default: reaches a low error in seconds.
    "fast": Config(hidden=(256,), latent=64, activation="relu", optimizer="adam", learning_rate=1e-3,
                   batch_size=256, initializer="glorot_uniform", steps=3000),
    # Same network trained to clean up Gaussian noise.
    "denoising": Config(hidden=(256,), latent=64, activation="relu", optimizer="adam", learning_rate=1e-3,
                        batch_size=256, initializer="glorot_uniform", noise=0.3, steps=4000),
    # A 2-D code, drawn directly as the latent map.
    "latent2": Config(hidden=(256, 64), latent=2, activation="relu", optimizer="adam", learning_rate=2e-3,
                      batch_size=256, initializer="glorot_uniform", loss="bce", steps=5000),
    # fast's network with an L1 penalty on its code: most code units rest at zero for a given digit.
    "sparse": Config(hidden=(256,), latent=64, activation="relu", optimizer="adam", learning_rate=1e-3,
                     batch_size=256, initializer="glorot_uniform", steps=3000, variant="sparse"),
    # A sigmoid code whose encoder is penalised for reacting to small changes of its input.
    "contractive": Config(hidden=(256,), latent=64, activation="sigmoid", optimizer="adam", learning_rate=2e-3,
                          batch_size=256, initializer="glorot_uniform", steps=3000, variant="contractive"),
    # A variational autoencoder with a 2-D code: the decoded manifold covers the code plane.
    "vae2d": Config(hidden=(512, 256), latent=2, activation="relu", optimizer="adam", learning_rate=1e-3,
                    batch_size=128, initializer="glorot_uniform", loss="bce", steps=3000, variant="variational"),
    # Two stride-2 convolutions (32 and 64 filters) around a 32-number code.
    "conv": Config(hidden=(32, 64), latent=32, activation="relu", optimizer="adam", learning_rate=1e-3,
                   batch_size=128, initializer="glorot_uniform", steps=3000, architecture="conv"),
}
PRESET_BLURBS = {
    "seed": "The reference notebook as written: sigmoid, N(0,1) weights, TF1 RMSProp 0.01; learns slowly.",
    "fast": "ReLU, Glorot init, Adam: a sharp reconstruction within seconds. The default.",
    "denoising": "Learns to remove Gaussian noise (σ 0.3) from its input.",
    "latent2": "A 2-number code: the latent map is the code itself.",
    "sparse": "An L1 penalty on the code: each digit lights up only a few code units.",
    "contractive": "Penalises the encoder's sensitivity (its Jacobian): a code robust to small changes.",
    "vae2d": "A variational autoencoder with a 2-D code: sample new digits from the code plane.",
    "conv": "Convolutions instead of dense layers, around a 32-number code: sharper digits.",
}
DEFAULT_PRESET = "fast"


def preset(name: str) -> Config:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.") from None


def preset_of(cfg: Config) -> str | None:
    """The preset a Config was made from, if any (the step budget and seed may differ)."""
    return next((name for name, p in PRESETS.items() if not set(p.diff(cfg)) - {"steps", "seed"}), None)

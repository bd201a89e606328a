"""Layer health: how each layer's units behave on a fixed batch, in numbers and one plain sentence.

With the notebook's N(0, 1) weights most sigmoid units start saturated (their output pinned near
0 or 1, where the gradient vanishes), which is why its loss falls slowly; ReLU layers can instead
lose units that never fire ("dead"). These pure functions measure both from activations.

A share of dead or saturated units is not a problem by itself: a ReLU network that learns well
commonly has 10-20 % of its units silent on every probe digit, and the output layer sits at 0 on
the black background by design. Only a large share in a hidden layer while the loss has stopped
falling is an alarm (see :func:`verdict`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SATURATION_MARGIN = 0.05   # within 5 % of an output bound counts as saturated
HIST_BINS = 30
BOUNDS = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
RELU_LIKE = ("relu",)
OUTPUT = "reconstruction"  # the output layer's name: its saturation is expected, never an alarm

# Verdict on one layer's share of dead or saturated units.
OK = "ok"                  # a small share, or none to measure
NOTABLE = "notable"        # a large share, but the loss still falls (or it is too early to tell)
ALARM = "alarm"            # a large share and the loss has stopped falling
EXPECTED = "expected"      # the output layer: pinned near 0 on black pixels by design
LARGE_SHARE = 0.5          # half a layer silent or saturated: worth a word
TREND_MIN_WINDOW = 50      # steps in each of the two windows compared by loss_falling
TREND_WINDOWS = 10         # ... or a tenth of the run, whichever is longer
FALLING = 0.99             # the later window's mean loss at most 99 % of the earlier one's


@dataclass(frozen=True)
class LayerHealth:
    name: str                 # "encoder_1", "latent", "decoder_1", "reconstruction" (Keras names)
    activation: str
    units: int
    saturated: float | None   # share of (digit, unit) outputs near a bound (sigmoid/tanh)
    dead: float | None        # share of units silent on every digit of the batch (ReLU)
    grad_norm: float          # L2 norm of the loss gradient w.r.t. the layer's kernel
    hist_counts: np.ndarray   # activation histogram over the batch
    hist_edges: np.ndarray

    @property
    def label(self) -> str:
        return layer_label(self.name)

    @property
    def share(self) -> float | None:
        """The share that matters for this activation: saturated (sigmoid/tanh) or dead (ReLU)."""
        return self.saturated if self.saturated is not None else self.dead


def saturated_share(acts: np.ndarray, activation: str) -> float | None:
    """Share of outputs within SATURATION_MARGIN of the activation's range ends."""
    if activation not in BOUNDS:
        return None
    lo, hi = BOUNDS[activation]
    margin = SATURATION_MARGIN * (hi - lo)
    acts = np.asarray(acts)
    return float(np.mean((acts <= lo + margin) | (acts >= hi - margin)))


def dead_share(acts: np.ndarray, activation: str) -> float | None:
    """Share of ReLU units whose output is zero for every input of the batch."""
    if activation not in RELU_LIKE:
        return None
    acts = np.asarray(acts)
    return float(np.mean(np.all(acts <= 0.0, axis=0)))


def layer_health(name: str, activation: str, acts: np.ndarray, grad_norm: float) -> LayerHealth:
    acts = np.asarray(acts, np.float32)
    lo, hi = BOUNDS.get(activation, (float(acts.min()), float(acts.max()) or 1.0))
    counts, edges = np.histogram(acts, bins=HIST_BINS, range=(lo, hi if hi > lo else lo + 1.0))
    return LayerHealth(name, activation, acts.shape[1], saturated_share(acts, activation),
                       dead_share(acts, activation), float(grad_norm), counts, edges)


def layer_label(name: str) -> str:
    """The one name a layer has on screen: 'encoder_1' -> 'encoder layer 1', 'latent' -> 'latent code',
    'reconstruction' -> 'reconstruction layer'."""
    if name == "latent":
        return "latent code"
    if name == OUTPUT:
        return "reconstruction layer"
    part, _, index = name.rpartition("_")
    return f"{part} layer {index}" if part and index.isdigit() else name


def loss_falling(losses: np.ndarray) -> bool | None:
    """Whether the minibatch loss still falls: the mean over the last window against the window
    before it (each a tenth of the run, at least TREND_MIN_WINDOW steps). None when too short to say."""
    losses = np.asarray(losses, np.float64)
    window = max(TREND_MIN_WINDOW, len(losses) // TREND_WINDOWS)
    if len(losses) < 2 * window:
        return None
    earlier, later = losses[-2 * window:-window].mean(), losses[-window:].mean()
    if not np.isfinite(earlier) or not np.isfinite(later):
        return False
    return bool(later <= FALLING * earlier)


def verdict(h: LayerHealth, falling: bool | None) -> str:
    """OK, NOTABLE, ALARM or EXPECTED for one layer, given whether the loss still falls."""
    if h.name == OUTPUT:
        return EXPECTED
    if h.share is None or h.share < LARGE_SHARE:
        return OK
    return ALARM if falling is False else NOTABLE


def reading(layers: list[LayerHealth], falling: bool | None = None) -> str:
    """One plain sentence about the hidden layers, calm unless something is really wrong: a large
    share of dead or saturated units while the loss has stopped falling (``falling``: see
    :func:`loss_falling`; None when not known yet)."""
    hidden = [h for h in layers if h.name != OUTPUT and h.share is not None]
    if not hidden:
        return "No saturated or dead units to measure for this activation."
    worst = max(hidden, key=lambda h: h.share)
    kind = "saturated" if worst.saturated is not None else "dead"
    if kind == "dead":
        what = (f"{round(worst.dead * worst.units)} of {worst.units} {worst.label} units ({worst.dead:.0%}) "
                "never fire on any probe digit")
    else:
        what = f"{worst.saturated:.0%} of {worst.label} outputs sit near 0 or 1, where the gradient vanishes"
    state = verdict(worst, falling)
    if state == ALARM:
        cure = ("lower the learning rate or use another initializer." if kind == "dead"
                else "use smaller initial weights (Glorot) or ReLU.")
        return f"{what}, and the loss has stopped falling: {cure}"
    if state == NOTABLE:
        if falling is None:
            return what + "; if the loss stops falling, this is why."
        return what + ("; the loss still falls, so the other units carry on." if kind == "dead"
                       else "; the loss still falls, if slowly.")
    things = "units" if kind == "dead" else "outputs"
    if round(100 * worst.share) == 0:
        return f"Healthy: no {kind} {things} in the hidden layers."
    return f"Healthy: at most {worst.share:.0%} of a layer's {things} are {kind} ({worst.label})."

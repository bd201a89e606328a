"""Layer health: how each layer's units behave on a fixed batch, in numbers and one plain sentence.

With the notebook's N(0, 1) weights most sigmoid units start saturated (their output pinned near
0 or 1, where the gradient vanishes), which is why its loss falls slowly; ReLU layers can instead
lose units that never fire ("dead"). These pure functions measure both from activations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SATURATION_MARGIN = 0.05   # within 5 % of an output bound counts as saturated
HIST_BINS = 30
BOUNDS = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
RELU_LIKE = ("relu",)


@dataclass(frozen=True)
class LayerHealth:
    name: str                 # "encoder_1", "latent", "decoder_1", "reconstruction"
    activation: str
    units: int
    saturated: float | None   # share of (digit, unit) outputs near a bound (sigmoid/tanh)
    dead: float | None        # share of units silent on every digit of the batch (ReLU)
    grad_norm: float          # L2 norm of the loss gradient w.r.t. the layer's kernel
    hist_counts: np.ndarray   # activation histogram over the batch
    hist_edges: np.ndarray


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


def pretty_name(name: str) -> str:
    """'encoder_1' -> 'encoder layer 1'."""
    if "_" in name:
        part, index = name.rsplit("_", 1)
        return f"{part} layer {index}"
    return f"the {name} layer" if name == "reconstruction" else f"the {name} code"


def reading(layers: list[LayerHealth]) -> str:
    """One plain sentence about the most telling hidden layer (the output layer is left out:
    black background pixels make its outputs sit near 0 by design)."""
    hidden = [h for h in layers if h.name != "reconstruction"]
    if not hidden:
        return ""
    sat = [h for h in hidden if h.saturated is not None]
    dead = [h for h in hidden if h.dead is not None]
    if sat:
        worst = max(sat, key=lambda h: h.saturated)
        return f"{worst.saturated:.0%} of {pretty_name(worst.name)} units are saturated" + (
            " — their gradients vanish, so learning is slow." if worst.saturated > 0.5 else ".")
    if dead:
        worst = max(dead, key=lambda h: h.dead)
        return f"{worst.dead:.0%} of {pretty_name(worst.name)} units are dead (never fire on this batch)" + (
            "." if worst.dead < 0.2 else " — lower the learning rate or use another initializer.")
    return "No saturated or dead units to report for this activation."

"""Pictures of the network itself: its architecture, its first-layer filters, its layer health.

Pure functions (Config / arrays in, DOT text / image arrays / plotly figures out), like viz.py.
"""
from __future__ import annotations

import numpy as np

from .config import Config
from .health import ALARM, EXPECTED, NOTABLE, OK, OUTPUT, LayerHealth, layer_label, verdict
from .viz import EVENT, SMOOTH, TEST, _layout, digit_grid


def layer_table(cfg: Config) -> list[dict]:
    """One row a weight layer: name (Keras'), label (on screen), inputs, units, activation, parameters
    (weights + biases), and what a variant adds (conv shapes, a Gaussian code, tied kernels)."""
    from .model import layer_table as table

    return [dict(row, label=layer_label(row["name"])) for row in table(cfg)]


VARIANT_NOTES = {"sparse": "L1 penalty on the code", "contractive": "Jacobian penalty on the encoder",
                 "variational": "KL to N(0, I)"}


def architecture_dot(cfg: Config, pending: Config | None = None) -> str:
    """Graphviz DOT of input → encoder → latent → decoder → output, with parameter counts, for
    every kind of network: a convolution shows its feature maps, a variational code its mean and
    log-variance and the sampled z, a tied decoder layer the encoder layer whose kernel it shares,
    and the variant's extra term is a note on the code.
    With ``pending`` (a different Config waiting for Reset) the pending network is drawn instead,
    dashed and labelled, so the diagram follows the sliders at once."""
    shown = pending if pending is not None else cfg
    rows = layer_table(shown)
    colour = EVENT if pending is not None else SMOOTH
    style = "dashed,rounded,filled" if pending is not None else "rounded,filled"
    lines = [
        "digraph autoencoder {",
        '  rankdir=LR; bgcolor="transparent"; nodesep=0.25; ranksep=0.35;',
        f'  node [shape=box, style="{style}", fillcolor="#1f2430", color="{colour}", fontcolor="white",'
        ' fontname="Helvetica", fontsize=14, penwidth=2];',
        '  edge [color="#a0aec0", fontcolor="#a0aec0", fontname="Helvetica", fontsize=11];',
        '  input [label="input\\n784", color="#a0aec0"];',
    ]
    n = len(shown.hidden)
    mirrors = [f"encoder_{n - i}" for i in range(n)]
    previous = "input"
    for row in rows:
        node = row["name"]
        fill = ', fillcolor="#123c3a"' if node == "latent" else ""
        what = str(row["units"])
        if "shape" in row:  # a convolutional network's layer: its feature maps (decoder_1 is dense)
            what = f'{row["shape"]} {"dense" if node == "decoder_1" else "conv"}'

        if node == "latent" and row.get("log_var"):
            what = f'μ, log σ² ({row["units"]} each) → z'
        label = f'{row["label"]}\\n{what} · {row["activation"]}'
        if row.get("tied"):
            index = rows.index(row) - n - 1  # decoder layers in order: latent's, then the encoders' mirrored
            label += f'\\nkernel: {layer_label((["latent"] + mirrors)[index])}, transposed'
        lines.append(f'  {node} [label="{label}"{fill}];')
        lines.append(f'  {previous} -> {node} [label="{row["parameters"]:,}"];')
        previous = node
    note = VARIANT_NOTES.get(shown.variant)
    if note:
        lines.append(f'  variant [label="{shown.variant}: {note}", shape=note, color="{colour}"];')
        lines.append('  latent -> variant [style=dotted, arrowhead=none];')
    total = sum(r["parameters"] for r in rows)
    title = f"{total:,} parameters" + ("  (pending: Reset to apply)" if pending is not None else "")
    lines.append(f'  label="{title}"; labelloc=b; fontcolor="{colour}"; fontname="Helvetica"; fontsize=14;')
    lines.append("}")
    return "\n".join(lines)


def filter_images(kernel: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` units' incoming weights as 28×28 pictures, each scaled on its own so
    that 0 is mid-grey, positive weights light and negative ones dark."""
    w = np.asarray(kernel, np.float32)[:, :count].T  # (count, 784)
    scale = np.abs(w).max(axis=1, keepdims=True)
    return 0.5 + 0.5 * w / np.where(scale > 0, scale, 1.0)


def filter_grid(kernel: np.ndarray, n: int, *, scale: int = 1) -> np.ndarray:
    """n×n first-layer filters as one image (units beyond the layer's width stay black)."""
    return digit_grid(filter_images(kernel, min(n * n, kernel.shape[1])), n, scale=scale)


VERDICT_COLOURS = {OK: TEST, NOTABLE: SMOOTH, ALARM: EVENT, EXPECTED: "#718096"}
GRADIENT = "#a0aec0"


def health_figure(layers: list[LayerHealth] | tuple, *, layer: int = 0, falling: bool | None = None,
                  height: int = 520):
    """On top, the distribution of one chosen layer's outputs (``layer``) on the probe batch; below,
    per layer, its share of dead or saturated units (red only for an alarm, see health.verdict, grey
    for the output layer whose saturation is expected) and the gradient norm reaching its kernel.
    Layer names sit in the left margin, clear of every plot."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    layers = list(layers)
    names = [h.label for h in layers]
    chosen = layers[layer]
    fig = make_subplots(rows=2, cols=2, specs=[[{"colspan": 2}, None], [{}, {}]], vertical_spacing=0.2,
                        horizontal_spacing=0.16, column_widths=[0.55, 0.45], row_heights=[0.45, 0.55],
                        subplot_titles=(f"{chosen.label} outputs", "dead or saturated", "gradient norm"))
    centres = 0.5 * (chosen.hist_edges[:-1] + chosen.hist_edges[1:])
    fig.add_trace(go.Bar(x=centres, y=chosen.hist_counts / max(chosen.hist_counts.sum(), 1), marker_color=TEST,
                         showlegend=False, hovertemplate="output %{x:.2f}: %{y:.1%}<extra></extra>"), row=1, col=1)
    verdicts = [verdict(h, falling) for h in layers]
    kinds = ["saturated" if h.saturated is not None else "dead" if h.dead is not None else "not measured"
             for h in layers]
    notes = [" (expected: black background)" if v == EXPECTED else "" for v in verdicts]
    fig.add_trace(go.Bar(x=[h.share or 0 for h in layers], y=names, orientation="h", showlegend=False,
                         marker_color=[VERDICT_COLOURS[v] for v in verdicts],
                         text=[f"{h.share:.0%}" if h.share is not None else "n/a" for h in layers],
                         textposition="outside", cliponaxis=False, textfont=dict(size=14),
                         customdata=[f"{k}{n}" for k, n in zip(kinds, notes)],
                         hovertemplate="%{y}: %{text} %{customdata}<extra></extra>"), row=2, col=1)
    norms = [h.grad_norm for h in layers]
    fig.add_trace(go.Bar(x=norms, y=names, orientation="h", marker_color=GRADIENT, showlegend=False,
                         hovertemplate="%{y}: %{x:.3g}<extra></extra>"), row=2, col=2)
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    # Room for a full bar's "100%" to the right of it, inside the gap before the next plot.
    fig.update_xaxes(range=[0, 1], tickvals=[0, 0.5, 1], tickformat=".0%", row=2, col=1)
    # A network whose gradients all vanished gets an axis of 0…1, not one of 0…1e-12.
    top = max(norms) if max(norms) > 1e-9 else 1.0
    fig.update_xaxes(range=[0, 1.1 * top], tickformat=".2~g", nticks=4, row=2, col=2)
    fig.update_yaxes(autorange="reversed", automargin=True, row=2, col=1)
    fig.update_yaxes(autorange="reversed", showticklabels=False, row=2, col=2)
    return _layout(fig, "Layer health", height)

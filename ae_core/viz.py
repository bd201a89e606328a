"""Pure functions from arrays to pictures: plotly figures and image grids (no streamlit here).

Colours and type sizes are chosen to read on a projector: thick lines, large fonts, dark theme.
"""
from __future__ import annotations

import numpy as np

from .history import SMOOTHING_SPAN, HistoryView, smooth

MAX_POINTS = 1200   # points a curve sends to the browser; longer histories are thinned (SVG, not WebGL:
                    # without a GPU, WebGL is emulated on the CPU the training needs)
RAW = "rgba(160, 174, 192, 0.35)"
SMOOTH = "#ff9f1c"
TEST = "#2ec4b6"
EVENT = "#e71d36"
FONT = dict(size=16)

BASELINE = "#cbd5e0"
BASELINE_DASH = {"mean digit": "dot"}   # others (PCA-k) dashed
BASELINE_GROUP = "baselines"             # the legend group of the baseline lines (runs' curves have none)

EVENT_LABELS = {"learning_rate": "lr", "batch_size": "batch", "noise": "noise", "steps": "budget",
                "sparsity_weight": "L1 weight", "contractive_weight": "contractive weight", "beta": "β"}
# Curves of a several-term objective (history terms): reconstruction plus the variant's term.
TERM_COLOURS = {"reconstruction": "#8ecae6", "sparsity": "#c77dff", "contraction": "#c77dff", "kl": "#c77dff"}
TERM_LABELS = {"reconstruction": "reconstruction", "sparsity": "L1 term", "contraction": "contractive term",
               "kl": "KL term"}


def event_label(event: dict) -> str:
    """``lr 0.01→0.001`` for a live change, ``fork of RUN`` where a fork branched off."""
    if event["field"] == "fork":
        return f"fork of {event['old']}"
    if isinstance(event["old"], (int, float)):
        return f"{EVENT_LABELS.get(event['field'], event['field'])} {event['old']:g}→{event['new']:g}"
    return f"{event['field']} changed"


def _thin(x: np.ndarray, *ys: np.ndarray, max_points: int = MAX_POINTS):
    """Every k-th point so a curve stays light to draw; the last point is always kept."""
    n = len(x)
    if n <= max_points:
        return (x, *ys)
    idx = np.unique(np.r_[np.linspace(0, n - 1, max_points).astype(np.int64), n - 1])
    return (x[idx], *(y[idx] for y in ys))


def _layout(fig, title: str, height: int):
    fig.update_layout(
        title=dict(text=title, font=dict(size=20)), template="plotly_dark", height=height,
        font=FONT, margin=dict(l=60, r=20, t=50, b=50), legend=dict(orientation="h", y=1.02, x=1, xanchor="right",
                                                                 yanchor="bottom"),
        uirevision="keep",  # keep the user's zoom while the live view refreshes
    )
    return fig


def baseline_lines(fig, baselines: dict[str, float] | None, x_end: float):
    """Flat, labelled lines at each baseline's test MSE (``{"mean digit": 0.067, "PCA-64": 0.009}``)
    from x = 0 to ``x_end``: traces, not shapes, so they sit right on a log axis and have a legend entry."""
    import plotly.graph_objects as go

    x_end = float(x_end) if np.isfinite(x_end) and x_end > 0 else 1.0
    for label, value in (baselines or {}).items():
        if value is None or not np.isfinite(value) or value <= 0:
            continue  # a log axis cannot place zero
        fig.add_trace(go.Scatter(
            x=[0.0, x_end], y=[float(value)] * 2, name=label, legendgroup=BASELINE_GROUP,
            mode="lines+text", text=["", f"{label} "],
            textposition="top left", textfont=dict(color=BASELINE, size=13), hoverinfo="name+y",
            line=dict(color=BASELINE, width=2, dash=BASELINE_DASH.get(label, "dash"))))
    return fig


def loss_figure(view: HistoryView, *, log_y: bool = False, x: str = "step", height: int = 380,
                span: int = SMOOTHING_SPAN, baselines: dict[str, float] | None = None):
    """The live loss chart: raw minibatch loss (faint), its moving average, held-out MSE and
    marks where a hyperparameter changed; ``baselines`` (label -> test MSE) as flat lines."""
    import plotly.graph_objects as go

    fig = go.Figure()
    n = view.steps
    steps = np.arange(n)
    xs = view.elapsed if x == "elapsed" else steps
    if n:
        tx, raw, smoothed = _thin(xs, view.loss, smooth(view.loss, span))
        fig.add_trace(go.Scatter(x=tx, y=raw, name="minibatch", mode="lines", line=dict(color=RAW, width=1)))
        fig.add_trace(go.Scatter(x=tx, y=smoothed, name="smoothed", mode="lines",
                                   line=dict(color=SMOOTH, width=3)))
        _add_terms(fig, view, xs, span)
    if len(view.test_step):
        ok = view.test_step > 0
        t_steps = view.test_step[ok] - 1
        t_x = view.elapsed[np.minimum(t_steps, max(n - 1, 0))] if x == "elapsed" and n else t_steps
        fig.add_trace(go.Scatter(x=t_x, y=view.test_loss[ok], name="test MSE", mode="lines+markers",
                                 line=dict(color=TEST, width=2), marker=dict(size=6)))
    for event in view.events:
        at = event["step"] if x != "elapsed" else event["elapsed"]
        label = event_label(event)
        fig.add_vline(x=at, line=dict(color=EVENT, width=2, dash="dash"))
        fig.add_annotation(x=at, y=1, yref="paper", text=label, showarrow=False, xanchor="left",
                           font=dict(color=EVENT, size=14), bgcolor="rgba(0,0,0,0.5)")
    baseline_lines(fig, baselines, xs[-1] if n else 1.0)
    fig.update_xaxes(title="training seconds" if x == "elapsed" else "step", rangemode="tozero")
    fig.update_yaxes(title="loss", type="log" if log_y else "linear")
    if not n and not np.any(view.test_step > 0):  # an evaluation before any step is not drawn either
        _empty_state(fig, EMPTY_LOSS)
    return _layout(fig, "Loss", height)


EMPTY_LOSS = "The loss curve appears with the first steps."


def _empty_state(fig, message: str) -> None:
    """A chart with nothing to draw yet says so, on bare axes (not an empty log scale of 0.1…10k)."""
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, range=[0, 1])
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, type="linear", range=[0, 1])
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=18, color="#a0aec0"))


def _add_terms(fig, view: HistoryView, xs: np.ndarray, span: int) -> None:
    """Each term of a several-term objective as its own smoothed, dotted curve (the objective,
    drawn above, is their sum)."""
    import plotly.graph_objects as go

    for name, values in view.terms.items():
        tx, ty = _thin(xs, smooth(np.asarray(values, np.float64), span))
        fig.add_trace(go.Scatter(x=tx, y=ty, name=TERM_LABELS.get(name, name), mode="lines",
                                 line=dict(color=TERM_COLOURS.get(name, TEST), width=2, dash="dot")))


def overlay_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], *, x_title: str = "step",
                   log_y: bool = False, height: int = 420, baselines: dict[str, float] | None = None):
    """Several runs' smoothed loss curves on one chart: name -> (x, loss); ``baselines`` as flat lines."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, (xs, ys) in curves.items():
        tx, ty = _thin(np.asarray(xs), np.asarray(ys))
        fig.add_trace(go.Scatter(x=tx, y=ty, name=name, mode="lines", line=dict(width=3)))
    baseline_lines(fig, baselines, max((np.nanmax(xs) for xs, _ in curves.values() if len(xs)), default=1.0))
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title="loss (smoothed)", type="log" if log_y else "linear")
    return _layout(fig, "Loss", height)


def digit_grid(images: np.ndarray, n: int, *, scale: int = 1, side: int = 28) -> np.ndarray:
    """n×n digits (the first n*n rows of ``images``, each 784 pixels) as one (n*28*scale)² image in
    [0, 1], laid out row by row like the notebook's grids. ``scale`` repeats pixels (crisp on screen)."""
    images = np.asarray(images, np.float32)[: n * n].reshape(-1, side, side)
    if len(images) < n * n:
        images = np.concatenate([images, np.zeros((n * n - len(images), side, side), np.float32)])
    grid = images.reshape(n, n, side, side).transpose(0, 2, 1, 3).reshape(n * side, n * side)
    if scale > 1:
        grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    return np.clip(grid, 0.0, 1.0)


def difference_grid(originals: np.ndarray, reconstructions: np.ndarray, n: int, *, scale: int = 1) -> np.ndarray:
    """|original - reconstruction| per pixel as an RGB heat map (black = perfect, yellow = wrong)."""
    diff = digit_grid(np.abs(np.asarray(originals, np.float32) - np.asarray(reconstructions, np.float32)),
                      n, scale=scale)
    # A small 'hot' colour map: black -> red -> yellow.
    return np.stack([np.clip(2 * diff, 0, 1), np.clip(2 * diff - 1, 0, 1), np.zeros_like(diff)], axis=-1)


# --- Explore page: latent map, per-digit error, digit strips ----------------------------------------
DIGIT_COLOURS = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a",
                 "#19d3f3", "#ff6692", "#b6e880", "#ff97ff", "#fecb52")   # digits 0..9, readable on dark
PICKED = "#ffffff"
POSITION = "#ff9f1c"
GRID_TRACE = "position"    # name of the map's invisible trace of clickable empty places


def latent_figure(xy: np.ndarray, labels: np.ndarray, indices: np.ndarray, *, errors: np.ndarray | None = None,
                  grid: np.ndarray | None = None, picked: tuple[float, float] | None = None,
                  position: tuple[float, float] | None = None, axis_titles: tuple[str, str] = ("PC 1", "PC 2"),
                  drawn: tuple[float, float] | None = None, height: int = 600):
    """The latent map: one trace a digit class (legend 0..9); each point's ``customdata`` is
    (test index, reconstruction error).

    ``grid`` are invisible, selectable points covering the empty places (``customdata`` -1), so a
    click anywhere on the map selects either a digit or a position. ``picked`` rings a chosen digit,
    ``position`` crosses the place being decoded, ``drawn`` stars a hand-drawn digit."""
    import plotly.graph_objects as go

    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    labels = np.asarray(labels)
    indices = np.asarray(indices)
    fig = go.Figure()
    if grid is not None and len(grid):
        grid = np.asarray(grid, np.float64)
        fig.add_trace(go.Scatter(x=grid[:, 0], y=grid[:, 1], mode="markers", name=GRID_TRACE, showlegend=False,
                                 customdata=np.full(len(grid), -1), hoverinfo="none",
                                 marker=dict(size=6, opacity=0, color="#000000")))
    classes = [c for c in range(10) if np.any(labels == c)]
    groups = [(str(c), labels == c, DIGIT_COLOURS[c]) for c in classes]
    unlabelled = ~np.isin(labels, classes)
    if unlabelled.any():
        groups.append(("unlabelled", unlabelled, "#a0aec0"))
    for name, mask, colour in groups:
        err = errors[mask] if errors is not None else np.full(int(mask.sum()), np.nan)
        fig.add_trace(go.Scatter(
            x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=name,
            customdata=np.column_stack([indices[mask], err]),
            hovertemplate=f"digit {name}<br>test #%{{customdata[0]}}<br>MSE %{{customdata[1]:.4f}}<extra></extra>",
            marker=dict(size=7, color=colour, opacity=0.8, line=dict(width=0))))
    if picked is not None:
        fig.add_trace(go.Scatter(x=[picked[0]], y=[picked[1]], mode="markers", name="picked", showlegend=False,
                                 hoverinfo="skip", marker=dict(size=22, color="rgba(0,0,0,0)",
                                                               line=dict(width=3, color=PICKED))))
    if position is not None:
        fig.add_trace(go.Scatter(x=[position[0]], y=[position[1]], mode="markers", name="decoded", showlegend=False,
                                 hoverinfo="skip", marker=dict(size=20, symbol="x-thin",
                                                               line=dict(width=4, color=POSITION))))
    if drawn is not None:
        fig.add_trace(go.Scatter(x=[drawn[0]], y=[drawn[1]], mode="markers+text", name="your drawing",
                                 text=["your drawing"], textposition="top center", hoverinfo="skip",
                                 textfont=dict(color="#ffffff", size=16),
                                 marker=dict(size=24, symbol="star", color="#ffffff", line=dict(width=2, color=EVENT))))
    fig.update_xaxes(title=axis_titles[0], zeroline=False)
    fig.update_yaxes(title=axis_titles[1], zeroline=False)
    _layout(fig, "Latent space", height)
    fig.update_layout(hovermode="closest", legend_title_text="digit", legend_itemsizing="constant",
                      clickmode="event+select")
    return fig


def class_error_figure(means: np.ndarray, counts: np.ndarray, *, height: int = 360):
    """Mean reconstruction error per digit class, one bar a class in the map's colours."""
    import plotly.graph_objects as go

    means = np.asarray(means, np.float64)
    counts = np.asarray(counts)
    present = [c for c in range(len(means)) if counts[c] > 0]
    fig = go.Figure(go.Bar(
        x=[str(c) for c in present], y=[means[c] for c in present], customdata=[int(counts[c]) for c in present],
        marker_color=[DIGIT_COLOURS[c % 10] for c in present],
        hovertemplate="digit %{x}<br>mean MSE %{y:.4f}<br>%{customdata} digits<extra></extra>"))
    fig.update_xaxes(title="digit", type="category")
    fig.update_yaxes(title="mean squared error", rangemode="tozero")
    return _layout(fig, "Reconstruction error per digit", height)


def digit_row(images: np.ndarray, *, scale: int = 1, gap: int = 0, side: int = 28) -> np.ndarray:
    """Digits (rows of 784 pixels) side by side in one strip, ``gap`` grey pixels apart (before scaling)."""
    images = np.clip(np.asarray(images, np.float32).reshape(-1, side, side), 0.0, 1.0)
    if gap and len(images) > 1:
        sep = np.full((side, gap), 0.35, np.float32)
        parts = [p for img in images for p in (img, sep)][:-1]
    else:
        parts = list(images)
    strip = np.concatenate(parts, axis=1) if parts else np.zeros((side, 0), np.float32)
    if scale > 1:
        strip = np.repeat(np.repeat(strip, scale, axis=0), scale, axis=1)
    return strip


def png_bytes(pixels: np.ndarray) -> bytes:
    """A grid or strip of pixels in [0, 1] (grey, or RGB in the last axis) as PNG file bytes."""
    import io

    from PIL import Image

    img = Image.fromarray(np.rint(np.clip(pixels, 0.0, 1.0) * 255).astype(np.uint8))
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=False)
    return out.getvalue()

"""Pure functions from arrays to pictures: plotly figures and image grids (no streamlit here).

Colours and type sizes are chosen to read on a projector: thick lines, large fonts, dark theme.
"""
from __future__ import annotations

import numpy as np

from .history import SMOOTHING_SPAN, HistoryView, smooth

MAX_POINTS = 2000   # points a curve sends to the browser; longer histories are thinned
RAW = "rgba(160, 174, 192, 0.35)"
SMOOTH = "#ff9f1c"
TEST = "#2ec4b6"
EVENT = "#e71d36"
FONT = dict(size=16)

EVENT_LABELS = {"learning_rate": "lr", "batch_size": "batch", "noise": "noise", "steps": "budget"}


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


def loss_figure(view: HistoryView, *, log_y: bool = False, x: str = "step", height: int = 380,
                span: int = SMOOTHING_SPAN):
    """The live loss chart: raw minibatch loss (faint), its moving average, held-out MSE and
    marks where a hyperparameter changed."""
    import plotly.graph_objects as go

    fig = go.Figure()
    n = view.steps
    steps = np.arange(n)
    xs = view.elapsed if x == "elapsed" else steps
    if n:
        tx, raw, smoothed = _thin(xs, view.loss, smooth(view.loss, span))
        fig.add_trace(go.Scattergl(x=tx, y=raw, name="minibatch", mode="lines", line=dict(color=RAW, width=1)))
        fig.add_trace(go.Scattergl(x=tx, y=smoothed, name="smoothed", mode="lines",
                                   line=dict(color=SMOOTH, width=3)))
    if len(view.test_step):
        ok = view.test_step > 0
        t_steps = view.test_step[ok] - 1
        t_x = view.elapsed[np.minimum(t_steps, max(n - 1, 0))] if x == "elapsed" and n else t_steps
        fig.add_trace(go.Scatter(x=t_x, y=view.test_loss[ok], name="test MSE", mode="lines+markers",
                                 line=dict(color=TEST, width=2), marker=dict(size=6)))
    for event in view.events:
        at = event["step"] if x != "elapsed" else event["elapsed"]
        label = f"{EVENT_LABELS.get(event['field'], event['field'])} {event['old']:g}→{event['new']:g}" \
            if isinstance(event["old"], (int, float)) else f"{event['field']} changed"
        fig.add_vline(x=at, line=dict(color=EVENT, width=2, dash="dash"))
        fig.add_annotation(x=at, y=1, yref="paper", text=label, showarrow=False, xanchor="left",
                           font=dict(color=EVENT, size=14), bgcolor="rgba(0,0,0,0.5)")
    fig.update_xaxes(title="training seconds" if x == "elapsed" else "step", rangemode="tozero")
    fig.update_yaxes(title="loss", type="log" if log_y else "linear")
    return _layout(fig, "Loss", height)


def overlay_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], *, x_title: str = "step",
                   log_y: bool = False, height: int = 420):
    """Several runs' smoothed loss curves on one chart: name -> (x, loss)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, (xs, ys) in curves.items():
        tx, ty = _thin(np.asarray(xs), np.asarray(ys))
        fig.add_trace(go.Scattergl(x=tx, y=ty, name=name, mode="lines", line=dict(width=3)))
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

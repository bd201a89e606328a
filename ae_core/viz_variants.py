"""Pictures of what each variant adds (pure functions: measurement arrays in, plotly figures or
image arrays out), drawn from ``Snapshot.measurements`` (see each variant's ``inspect``)."""
from __future__ import annotations

import numpy as np

from .viz import SMOOTH, TEST, _layout, digit_grid


def unit_activity_figure(unit_mean: np.ndarray, digit_code: np.ndarray, height: int = 300):
    """Sparse: each code unit's mean |activation| over the probe digits, and one digit's code."""
    import plotly.graph_objects as go

    units = np.arange(len(unit_mean))
    fig = go.Figure()
    fig.add_trace(go.Bar(x=units, y=unit_mean, name="mean over digits", marker_color=SMOOTH))
    fig.add_trace(go.Bar(x=units, y=digit_code, name="one digit", marker_color=TEST))
    fig.update_xaxes(title="code unit")
    fig.update_yaxes(title="|activation|")
    return _layout(fig, "Code unit activity", height)


def kl_per_dimension_figure(kl_per_dim: np.ndarray, height: int = 300):
    """Variational: the KL of each code dimension (nats); a dimension near 0 is unused."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=np.arange(len(kl_per_dim)), y=kl_per_dim, marker_color=SMOOTH))
    fig.update_xaxes(title="code dimension", dtick=1 if len(kl_per_dim) <= 16 else None)
    fig.update_yaxes(title="KL (nats)")
    return _layout(fig, "KL per code dimension", height)


def jacobian_figure(norms: np.ndarray, height: int = 300):
    """Contractive: the distribution of the encoder's Jacobian norm ‖J‖_F over the probe digits."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Histogram(x=norms, nbinsx=20, marker_color=SMOOTH))
    fig.update_xaxes(title="‖J‖_F (Frobenius norm of d code / d pixels)")
    fig.update_yaxes(title="digits")
    return _layout(fig, "Encoder Jacobian norm", height)


def tiles(images: np.ndarray, *, scale: int = 1) -> np.ndarray:
    """Small square images (count × side × side) as one square grid, each scaled to 0..1 on its own
    (filters and feature maps are not pixel intensities)."""
    images = np.asarray(images, np.float32)
    count, side = images.shape[0], images.shape[1]
    lo = images.reshape(count, -1).min(axis=1)[:, None, None]
    hi = images.reshape(count, -1).max(axis=1)[:, None, None]
    images = (images - lo) / np.where(hi > lo, hi - lo, 1.0)
    n = int(np.ceil(np.sqrt(count)))
    return digit_grid(images.reshape(count, side * side), n, scale=scale, side=side)

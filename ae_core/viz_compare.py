"""The Compare page's race chart: several runs' loss curves in one colour each, their live changes
marked in that colour, and the baselines (pure plotly, no streamlit)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .history import smooth
from .viz import _layout, _thin, baseline_lines, event_label

RUN_COLOURS = ("#ff9f1c", "#2ec4b6", "#e71d36", "#a78bfa")   # one a run, at most 4 in a race


@dataclass(frozen=True)
class RaceCurve:
    name: str
    loss: np.ndarray           # minibatch loss per step (the run's whole history)
    test_step: np.ndarray      # completed steps at each held-out evaluation
    test_loss: np.ndarray
    events: tuple = ()
    start: int = 0             # first step drawn: a fork's curve starts where it branched


def race_curve(name: str, history_frame_or_view, events=(), start: int = 0) -> RaceCurve:
    """A RaceCurve from a live HistoryView or a saved run's history DataFrame."""
    h = history_frame_or_view
    if hasattr(h, "test_step"):  # HistoryView
        return RaceCurve(name, np.asarray(h.loss, np.float64), np.asarray(h.test_step), np.asarray(h.test_loss),
                         tuple(h.events), start)
    loss = h["loss"].to_numpy(np.float64) if "loss" in h else np.zeros(0)
    tests = h.dropna(subset=["test_loss"]) if "test_loss" in h else h.iloc[0:0]
    return RaceCurve(name, loss, tests["step"].to_numpy(np.int64) + 1 if len(tests) else np.zeros(0, np.int64),
                     tests["test_loss"].to_numpy(np.float64) if len(tests) else np.zeros(0), tuple(events), start)


def race_figure(curves: list[RaceCurve], *, baselines: dict[str, float] | None = None, log_y: bool = True,
                height: int = 460):
    """One chart titled ``Loss``: per run its smoothed loss (solid) and test MSE (dotted, markers) in
    its colour from ``start`` on, its events as dashed marks in the same colour."""
    import plotly.graph_objects as go

    fig = go.Figure()
    x_end = 1.0
    for i, curve in enumerate(curves):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        n = len(curve.loss)
        start = int(np.clip(curve.start, 0, n))
        if n > start:
            steps = np.arange(n)
            xs, ys = _thin(steps[start:], smooth(curve.loss)[start:])
            fig.add_trace(go.Scatter(x=xs, y=ys, name=curve.name, mode="lines", legendgroup=curve.name,
                                     line=dict(color=colour, width=3)))
            x_end = max(x_end, float(n - 1))
        ok = (curve.test_step > max(start, 0)) if len(curve.test_step) else np.zeros(0, bool)
        if ok.any():
            fig.add_trace(go.Scatter(x=curve.test_step[ok] - 1, y=curve.test_loss[ok], name=f"{curve.name} test MSE",
                                     mode="lines+markers", legendgroup=curve.name, showlegend=False,
                                     line=dict(color=colour, width=1.5, dash="dot"), marker=dict(size=5)))
        for event in curve.events:
            if event.get("step", 0) < start:
                continue  # the parent's changes before the branch: the parent's own curve shows them
            fig.add_vline(x=event["step"], line=dict(color=colour, width=2, dash="dash"))
            fig.add_annotation(x=event["step"], y=1, yref="paper", text=event_label(event), showarrow=False,
                               xanchor="left", yanchor="top", font=dict(color=colour, size=13),
                               bgcolor="rgba(0,0,0,0.5)")
    baseline_lines(fig, baselines, x_end)
    fig.update_xaxes(title="step", rangemode="tozero")
    fig.update_yaxes(title="loss", type="log" if log_y else "linear")
    return _layout(fig, "Loss", height)


def sweep_figure(table, keys: list[str], *, height: int = 380):
    """Parallel coordinates: each swept setting, then the final test MSE; a line a run, coloured by
    its test MSE. Text settings get one tick a value; a learning rate is drawn on a log10 axis."""
    import plotly.graph_objects as go

    from .config import spec

    rows = table.dropna(subset=["test_mse"])
    dimensions = []
    for key in keys:
        values = rows[key].tolist()
        label = spec(key)["label"]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric and spec(key)["log"] and all(v > 0 for v in values):
            dimensions.append(dict(label=f"{label} (log10)", values=np.log10(np.asarray(values, np.float64))))
        elif numeric:
            dimensions.append(dict(label=label, values=np.asarray(values, np.float64)))
        else:
            names = list(dict.fromkeys(str(v) for v in values))
            dimensions.append(dict(label=label, values=[names.index(str(v)) for v in values],
                                   tickvals=list(range(len(names))), ticktext=names))
    mse = rows["test_mse"].to_numpy(np.float64)
    dimensions.append(dict(label="test MSE", values=mse))
    fig = go.Figure(go.Parcoords(dimensions=dimensions, line=dict(color=mse, colorscale="Viridis_r", showscale=True,
                                                                  colorbar=dict(title="test MSE"))))
    _layout(fig, "Sweep: settings against final test MSE", height)
    fig.update_layout(margin=dict(l=80, r=80, t=80, b=30))
    return fig

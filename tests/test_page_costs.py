"""What keeps watching cheap: a live chart is rebuilt only when it has something new to show (at
once for a viewer's option or a status, at most every few seconds for new steps), and a picture is
encoded once and sent as the very same URL while its pixels stay the same."""
import numpy as np
import pytest

from pages import common


@pytest.fixture
def session(monkeypatch):
    state = {}
    monkeypatch.setattr(common.st, "session_state", state)
    return state


@pytest.fixture
def clock(monkeypatch):
    import time

    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    return now


def test_a_live_chart_is_rebuilt_at_once_for_options_and_at_most_every_few_seconds_for_steps(session, clock):
    built = []

    def figure(now, later):
        return common.steady_figure("chart", lambda: built.append((now, later)) or len(built),
                                    now=now, later=later, every_s=2.0)

    assert figure(("log", "running"), (10,)) == 1
    assert figure(("log", "running"), (10,)) == 1          # nothing new: the same figure again
    clock[0] += 0.75
    assert figure(("log", "running"), (50,)) == 1          # new steps, too soon: held
    assert figure(("linear", "running"), (50,)) == 2       # a viewer's option: at once
    clock[0] += 0.75
    assert figure(("linear", "paused"), (60,)) == 3        # a status change: at once
    clock[0] += 0.75
    assert figure(("linear", "paused"), (60,)) == 3
    assert figure(("linear", "paused"), (70,)) == 3
    clock[0] += 2.0
    assert figure(("linear", "paused"), (70,)) == 4        # new steps, after every_s: rebuilt
    assert len(built) == 4


def test_the_same_pixels_are_encoded_once_and_give_the_same_url(monkeypatch):
    from ae_core import viz

    calls = []
    real = viz.png_bytes
    monkeypatch.setattr(viz, "png_bytes", lambda p: calls.append(1) or real(p))
    rng = np.random.default_rng(0)
    grid = rng.random((56, 56)).astype(np.float32)
    first = common.inline_png(grid)
    again = common.inline_png(grid.copy())
    assert again == first and len(calls) == 1
    other = grid.copy()
    other[3, 4] = 1 - other[3, 4]
    assert common.inline_png(other) != first and len(calls) == 2
    assert first.startswith("data:image/png;base64,")

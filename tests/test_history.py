"""history.py: append-only store, read-only views, DataFrame layout, smoothing, round trip."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ae_core.history import History, HistoryView, events_frame, smooth, to_frame

COLUMNS = ["step", "loss", "smoothed_loss", "test_loss", "learning_rate", "batch_size", "elapsed"]


def _filled(n_chunks=3, size=4, capacity=4096) -> History:
    h = History(capacity)
    for c in range(n_chunks):
        losses = np.linspace(1.0, 0.5, size, dtype=np.float32) / (c + 1)
        h.extend(losses, learning_rate=0.01 * (c + 1), batch_size=32 * (c + 1), t0=float(c), t1=float(c + 1))
    return h


def test_extend_appends_with_per_chunk_settings_and_spread_times():
    h = _filled()
    v = h.view()
    assert isinstance(v, HistoryView)
    assert v.steps == h.n == 12
    np.testing.assert_allclose(v.loss[:4], np.linspace(1.0, 0.5, 4), rtol=1e-6)
    np.testing.assert_allclose(v.learning_rate, np.repeat([0.01, 0.02, 0.03], 4), rtol=1e-6)
    np.testing.assert_array_equal(v.batch_size, np.repeat([32, 64, 96], 4))
    # Times are spread evenly over each chunk and end at the chunk's end.
    np.testing.assert_allclose(v.elapsed[:4], [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(v.elapsed[-1], 3.0)
    assert np.all(np.diff(v.elapsed) > 0)
    h.extend(np.zeros(0, np.float32), 1.0, 1, 3.0, 4.0)  # an empty chunk changes nothing
    assert h.n == 12


def test_view_arrays_are_read_only():
    h = _filled()
    h.add_test(4, 0.3)
    h.add_event(4, 1.0, "learning_rate", 0.01, 0.02)
    v = h.view()
    for name in ("loss", "learning_rate", "batch_size", "elapsed", "test_step", "test_loss"):
        arr = getattr(v, name)
        assert not arr.flags.writeable, name
        with pytest.raises(ValueError):
            arr[0] = 123
    # The view's events are copies: editing one does not change the store.
    v.events[0]["new"] = 99
    assert h.events[0]["new"] == 0.02
    with pytest.raises(Exception):
        v.loss = np.zeros(3)  # type: ignore[misc]  (frozen dataclass)


def test_views_never_change_when_history_grows_past_capacity():
    h = History(capacity=8)
    h.extend(np.arange(6, dtype=np.float32), 0.1, 16, 0.0, 1.0)
    v1 = h.view()
    before = v1.loss.copy(), v1.learning_rate.copy(), v1.batch_size.copy(), v1.elapsed.copy()
    h.extend(np.arange(100, 130, dtype=np.float32), 0.5, 64, 1.0, 2.0)  # beyond capacity: grows
    h.extend(np.arange(200, 205, dtype=np.float32), 0.7, 8, 2.0, 3.0)
    assert h.n == 41
    for old, now in zip(before, (v1.loss, v1.learning_rate, v1.batch_size, v1.elapsed)):
        np.testing.assert_array_equal(old, now)
    assert v1.steps == 6
    v2 = h.view()
    np.testing.assert_array_equal(v2.loss[:6], np.arange(6))
    np.testing.assert_array_equal(v2.loss[6:36], np.arange(100, 130))
    np.testing.assert_array_equal(v2.loss[36:], np.arange(200, 205))
    np.testing.assert_array_equal(v2.batch_size[5:7], [16, 64])


def test_add_test_replaces_a_second_evaluation_at_the_same_step():
    h = _filled()
    h.add_test(4, 0.5)
    h.add_test(8, 0.4)
    h.add_test(8, 0.35)
    v = h.view()
    np.testing.assert_array_equal(v.test_step, [4, 8])
    np.testing.assert_allclose(v.test_loss, [0.5, 0.35])


def test_to_frame_columns_and_test_loss_row():
    h = _filled()
    h.add_test(0, 0.9)     # before any step: no row for it
    h.add_test(4, 0.5)     # after 4 completed steps -> row 3
    h.add_test(12, 0.2)    # after all 12 -> last row
    h.add_event(4, 1.0, "learning_rate", 0.01, 0.02)
    f = to_frame(h.view())
    assert list(f.columns) == COLUMNS
    assert len(f) == 12
    np.testing.assert_array_equal(f["step"], np.arange(12))
    assert f["test_loss"].notna().sum() == 2
    assert f.loc[3, "test_loss"] == pytest.approx(0.5)
    assert f.loc[11, "test_loss"] == pytest.approx(0.2)
    assert f.loc[4, "learning_rate"] == pytest.approx(0.02)
    assert f["batch_size"].dtype == np.int64
    np.testing.assert_allclose(f["smoothed_loss"], smooth(h.view().loss))
    ev = events_frame(h.view())
    assert list(ev.columns) == ["step", "elapsed", "field", "old", "new"]
    assert ev.iloc[0].to_dict() == {"step": 4, "elapsed": 1.0, "field": "learning_rate", "old": 0.01, "new": 0.02}


def test_to_frame_of_empty_history():
    f = to_frame(History().view())
    assert list(f.columns) == COLUMNS and len(f) == 0
    assert list(events_frame(History().view()).columns) == ["step", "elapsed", "field", "old", "new"]


def test_smooth_of_a_constant_is_constant():
    for n in (1, 10, 300, 5000):
        np.testing.assert_allclose(smooth(np.full(n, 0.25, np.float32)), 0.25, rtol=1e-12)
    assert len(smooth(np.zeros(0))) == 0


def test_smooth_is_a_bias_corrected_ewm():
    x = np.concatenate([np.ones(300), np.zeros(300)])  # long enough for the full span of 10
    s = smooth(x, span=10)
    assert s.shape == x.shape and s.dtype == np.float64
    assert s[0] == 1.0                       # bias-corrected: starts at the first value, not 0
    assert np.all(np.diff(s[300:]) < 0)      # follows the drop, gradually
    assert 0 < s[300] < 1 and s[-1] < 1e-6
    np.testing.assert_allclose(s, pd.Series(x).ewm(span=10, adjust=True).mean().to_numpy())


def test_smooth_lags_less_on_short_histories():
    # A short history uses a shorter span (a 30th of its length), so the curve keeps up with the loss.
    x = np.concatenate([np.ones(100), np.zeros(100)])
    s = smooth(x, span=50)
    np.testing.assert_allclose(s, pd.Series(x).ewm(span=200 // 30, adjust=True).mean().to_numpy())
    assert s[-1] < pd.Series(x).ewm(span=50, adjust=True).mean().iloc[-1]
    np.testing.assert_allclose(smooth(np.array([3.0, 1.0])), [3.0, 1.0])  # span 1: no smoothing


def test_truncate_forgets_later_steps():
    h = _filled()
    h.truncate(5)
    assert h.view().steps == 5
    h.truncate(50)  # never grows
    assert h.n == 5
    h.extend(np.array([7.0], np.float32), 0.5, 1, 9.0, 10.0)
    v = h.view()
    assert v.steps == 6 and v.loss[-1] == 7.0 and v.learning_rate[-1] == pytest.approx(0.5)


def test_from_frames_round_trip(tmp_path):
    h = _filled(n_chunks=5, size=7)
    h.add_test(7, 0.5)
    h.add_test(21, 0.25)
    h.add_test(35, 0.125)
    h.add_event(7, 1.0, "learning_rate", 0.01, 0.02)
    h.add_event(14, 2.0, "batch_size", 64, 96)
    # Through CSV, as runs.py stores it.
    path = tmp_path / "history.csv"
    to_frame(h.view()).to_csv(path, index=False)
    back = History.from_frames(pd.read_csv(path), [dict(e) for e in h.events])
    a, b = h.view(), back.view()
    assert b.steps == a.steps == 35
    for name in ("loss", "learning_rate", "batch_size", "elapsed", "test_step", "test_loss"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-6, err_msg=name)
    assert b.events == a.events
    pd.testing.assert_frame_equal(to_frame(b), to_frame(a), rtol=1e-6)
    # A restored history keeps growing where it stopped.
    back.extend(np.array([0.1], np.float32), 0.05, 8, 5.0, 6.0)
    assert back.view().steps == 36


def test_from_frames_of_a_long_history_keeps_every_row():
    h = History(capacity=16)
    h.extend(np.linspace(1, 0, 5000, dtype=np.float32), 0.01, 256, 0.0, 10.0)
    back = History.from_frames(to_frame(h.view()), [])
    np.testing.assert_array_equal(back.view().loss, h.view().loss)


def test_quick_changes_of_one_setting_are_one_mark():
    """Four arrow-key presses on the learning-rate slider: one mark from the first value to the last."""
    h = History()
    for i, (old, new) in enumerate([(0.01, 0.02), (0.02, 0.05), (0.05, 0.1), (0.1, 0.2)]):
        h.add_event(10 + i, 1.0 + i / 10, "learning_rate", old, new, now=100.0 + 0.3 * i)
    assert [(e["old"], e["new"], e["step"]) for e in h.view().events] == [(0.01, 0.2, 10)]
    # another setting in the same moment is its own mark
    h.add_event(12, 1.2, "batch_size", 256, 512, now=100.5)
    # a later, separate gesture is a new mark
    h.add_event(40, 3.0, "learning_rate", 0.2, 0.1, now=110.0)
    assert [(e["field"], e["old"], e["new"]) for e in h.view().events] == [
        ("learning_rate", 0.01, 0.2), ("batch_size", 256, 512), ("learning_rate", 0.2, 0.1)]


def test_a_gesture_that_ends_where_it_began_leaves_no_mark():
    h = History()
    h.add_event(5, 0.5, "learning_rate", 0.003, 0.01, now=10.0)   # an earlier, finished change
    h.add_event(20, 2.0, "learning_rate", 0.01, 0.02, now=50.0)
    h.add_event(21, 2.1, "learning_rate", 0.02, 0.01, now=50.4)   # back: the gesture's mark goes
    assert [(e["old"], e["new"]) for e in h.view().events] == [(0.003, 0.01)]
    h.add_event(22, 2.2, "learning_rate", 0.01, 0.05, now=50.8)   # same gesture goes on elsewhere
    assert [(e["old"], e["new"], e["step"]) for e in h.view().events] == [(0.003, 0.01, 5), (0.01, 0.05, 22)]

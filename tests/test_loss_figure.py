"""The live loss chart before and after the first steps."""
import numpy as np

from ae_core.history import History
from ae_core.viz import EMPTY_LOSS, loss_figure


def test_before_the_first_step_the_chart_says_what_will_appear():
    for log_y in (True, False):
        fig = loss_figure(History().view(), log_y=log_y)
        assert fig.layout.title.text == "Loss"
        assert [a.text for a in fig.layout.annotations] == [EMPTY_LOSS]
        # Bare axes, not an empty log scale running 0.1 … 10k.
        assert fig.layout.yaxis.type == "linear" and fig.layout.yaxis.showticklabels is False
        assert fig.layout.xaxis.showticklabels is False and len(fig.data) == 0
    # The network's held-out MSE measured before Start (at step 0) is no point on the curve either.
    h = History()
    h.add_test(0, 0.23)
    assert [a.text for a in loss_figure(h.view(), log_y=True).layout.annotations] == [EMPTY_LOSS]


def test_with_steps_the_chart_draws_them_and_no_empty_note():
    h = History()
    h.extend(np.array([0.3, 0.2, 0.1], np.float32), 1e-3, 256, 0.0, 0.3)
    fig = loss_figure(h.view(), log_y=True)
    assert EMPTY_LOSS not in [a.text for a in fig.layout.annotations]
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.showticklabels is not False
    assert list(fig.data[0].x) == [0, 1, 2] and list(fig.data[0].y) == [np.float32(0.3), np.float32(0.2),
                                                                         np.float32(0.1)]

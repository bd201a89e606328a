"""A shared server (AE_PRESENTER_KEY): the presenter's tab steers, an audience tab watches it live."""
import re

import pytest

from tests.e2e.newcomer import Watch
from tests.e2e.server import launch_browser, streamlit_server
from tests.e2e.test_train_flow import button, step_of, wait_until

KEY = "e2e-presenter-key"
CONTROL_LABELS = ("Start", "Pause", "Resume", "Step", "Reset", "Fork")


@pytest.fixture(scope="module")
def server(tmp_path_factory, mnist_path):
    """A server with a presenter key, its own run store."""
    with streamlit_server(mnist_path, tmp_path_factory.mktemp("runs"), {"AE_PRESENTER_KEY": KEY}) as url:
        yield url


def test_the_audience_watches_the_presenters_run_live_without_any_control(server):
    with launch_browser() as browser:
        presenter = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
        presenter_watch = Watch(presenter, server)
        presenter.goto(f"{server}?key={KEY}")
        start = button(presenter, "Start")
        start.wait_for(timeout=60_000)
        wait_until(lambda: "key=" not in presenter.url, 10, "the key to leave the address bar")
        assert KEY not in presenter.url
        wait_until(lambda: start.is_enabled(), 90, "the network to be ready")
        start.click()
        wait_until(lambda: step_of(presenter) > 0, 60, "the presenter's run to train")

        # The audience link, in a browser of its own (no cookie, no key).
        audience = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
        audience_watch = Watch(audience, server)
        audience.goto(server)
        audience.get_by_text("Watching — read-only").first.wait_for(timeout=60_000)
        wait_until(lambda: step_of(audience) > 0, 60, "the audience to see the run")
        seen = step_of(audience)
        wait_until(lambda: step_of(audience) > seen, 30, "the audience's view to follow the run live")
        assert presenter.url.split("run=")[1][:22] in audience.url   # the same run
        for label in CONTROL_LABELS:
            assert button(audience, label).count() == 0, label
        assert audience.locator('[role="slider"]').filter(has_text=re.compile("Learning rate")).count() == 0
        assert audience.locator('[data-testid="stFileUploader"]').count() == 0
        audience_watch.check("the audience link")

        # The presenter pauses; the audience sees it, and the steps stand still there.
        button(presenter, "Pause").click()
        badges = audience.locator(".stMarkdownBadge")   # the status badge: an icon, then the status
        wait_until(lambda: any(t.split()[-1] == "paused" for t in badges.all_inner_texts()), 30,
                   "the audience to see the run paused")
        paused_at = step_of(audience)
        wait_until(lambda: step_of(presenter) == paused_at, 10, "both to show the same paused step")
        presenter_watch.check("the presenter's tab")
        audience_watch.check("the audience after the pause")

        # A wrong key: one sentence, and the tab watches.
        stranger = browser.new_context().new_page()
        stranger.goto(f"{server}?key=guess")
        stranger.get_by_text("That presenter key is wrong: this page is watch-only.").wait_for(timeout=60_000)
        assert "key=" not in stranger.url and button(stranger, "Resume").count() == 0

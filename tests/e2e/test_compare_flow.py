"""Fork → Compare in a real browser: start a run, fork it mid-run, and both race on the Compare page."""
import re

from tests.e2e.test_train_flow import button, step_of, wait_until


def race_names(page) -> list[str]:
    names = page.locator(".js-plotly-plot .legendtext").all_text_contents()
    return [n for n in names if n != "mean digit" and not n.startswith("PCA-")]


def test_fork_mid_run_opens_a_race_of_parent_and_fork(page, server):
    # A budget no run reaches here: `fast` spends its 3 000 steps in ~10 s on an idle machine, and
    # this test needs the run still training at its end.
    page.goto(server + "?steps=200000")
    start = button(page, "Start")
    start.wait_for(timeout=60_000)
    wait_until(lambda: start.is_enabled(), 90, "the network to be ready")
    start.click()
    wait_until(lambda: step_of(page) > 100, 60, "the run to train a little")
    parent = page.url.split("run=")[1].split("&")[0]

    # The baselines are on the Train page's chart, and so is the sentence about them.
    wait_until(lambda: page.locator(".js-plotly-plot .legendtext", has_text="PCA-64").count() > 0, 30,
               "the PCA-64 line on the Loss chart")
    page.locator(".js-plotly-plot .legendtext", has_text="mean digit").first.wait_for()

    button(page, "Fork").click()
    page.wait_for_url(re.compile(r".*/compare\?runs="), timeout=30_000)
    ids = page.url.split("runs=")[1].split("&")[0].replace("%2C", ",").split(",")
    assert ids[0] == parent and len(ids) == 2 and ids[1] != parent
    page.get_by_role("heading", name="Compare").wait_for(timeout=30_000)
    wait_until(lambda: sorted(race_names(page)) == sorted(ids), 60, "both runs on the race chart")
    wait_until(lambda: page.locator(".js-plotly-plot text", has_text=f"fork of {parent}").count() > 0, 30,
               "the branch marked on the chart")
    # Both train live: the fork was started at once, the parent resumed; each has Pause at hand.
    wait_until(lambda: button(page, "Pause").count() == 2, 60, "both runs running, each with its Pause")
    button(page, "Pause").first.click()
    wait_until(lambda: button(page, "Resume").count() == 1, 30, "one run paused from the Compare page")

"""Reliability in a real browser: many viewers at once, and a server stop that loses nothing."""
import json
import signal
import time

import pytest

from tests.e2e.server import launch_browser, streamlit_server
from tests.e2e.test_train_flow import button, step_of, wait_until


def _open_and_start(browser, url):
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(url)
    start = button(page, "Start")
    start.wait_for(timeout=90_000)
    wait_until(lambda: start.is_enabled(), 120, "the network to be ready")
    start.click()
    return page


def test_four_sessions_train_at_once_and_a_fifth_is_told_why_not(tmp_path, mnist_path):
    with streamlit_server(mnist_path, tmp_path, {"AE_MAX_RUNS": "4"}) as url, launch_browser() as browser:
        pages = [_open_and_start(browser, url + "?preset=fast&hidden=64&latent=16") for _ in range(4)]
        run_ids = {p.url.split("run=")[1].split("&")[0] for p in pages}
        assert len(run_ids) == 4
        for p in pages:
            wait_until(lambda: step_of(p) > 0, 60, "every run to train")
        before = [step_of(p) for p in pages]
        time.sleep(4)
        after = [step_of(p) for p in pages]
        assert all(a > b for a, b in zip(after, before)), (before, after)  # all progress, all refresh

        fifth = browser.new_context().new_page()
        fifth.goto(url)
        fifth.get_by_text("training slots of this server are taken").wait_for(timeout=60_000)


def test_sigterm_saves_running_runs_and_ends_quickly(tmp_path, mnist_path):
    with streamlit_server(mnist_path, tmp_path) as url, launch_browser() as browser:
        page = _open_and_start(browser, url)
        wait_until(lambda: step_of(page) > 50, 60, "some training")
        run_id = page.url.split("run=")[1].split("&")[0]

        # A malformed upload is named in one sentence, and the run goes on undisturbed.
        bad = tmp_path / "ragged.csv"
        bad.write_text("label,1x1,1x2\n5,0,0\n3,0\n")
        page.get_by_text("Your own data").click()
        page.locator('input[type="file"]').set_input_files(str(bad))
        from ae_core.data import DataError, load_upload

        with pytest.raises(DataError) as sentence:
            load_upload(bad.read_bytes(), "ragged.csv")
        page.get_by_text(str(sentence.value)).wait_for(timeout=30_000)
        going = step_of(page)
        wait_until(lambda: step_of(page) > going, 30, "training to go on after the bad upload")
        seen = step_of(page)
        started = time.monotonic()
        url.proc.send_signal(signal.SIGTERM)
        url.proc.wait(30)
        took = time.monotonic() - started
    assert took < 5.0, f"the server took {took:.1f} s to stop"
    meta = json.loads((tmp_path / "runs" / run_id / "config.json").read_text())["run"]
    assert meta["steps"] >= seen  # saved on the way out, not only at the last periodic save
    assert (tmp_path / "runs" / run_id / "model.keras").is_file()

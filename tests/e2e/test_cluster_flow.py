"""Runs outlive the web server (AE_RAY_ADDRESS): a run started in the browser keeps training in its
Ray actor while the Streamlit server is killed outright and started again; its URL then shows it
still training, its Step well past where it was."""
import os
import signal
import time

import pytest

from tests.e2e.server import launch_browser, streamlit_server
from tests.e2e.test_train_flow import button, metric, step_of, wait_until

ray = pytest.importorskip("ray", reason="needs Ray for runs on a cluster: pip install '.[cluster]'")


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray instance (2 CPUs, no Ray dashboard) that the servers connect to."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, namespace="ae_lab", logging_level="ERROR")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def test_a_run_keeps_training_while_the_server_is_killed_and_restarted(ray_address, mnist_path, tmp_path):
    env = {"AE_RAY_ADDRESS": ray_address}
    with launch_browser() as browser:
        page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
        with streamlit_server(mnist_path, tmp_path, env) as first:
            page.goto(first + "?preset=fast&steps=1000000")
            start = button(page, "Start")
            start.wait_for()
            wait_until(lambda: start.is_enabled(), 90, "the run's actor to be ready")
            start.click()
            wait_until(lambda: step_of(page) > 50, 60, "the run to train")
            run_url = page.url
            assert "run=" in run_url
            os.killpg(first.proc.pid, signal.SIGKILL)        # outright: no shutdown hook runs
            first.proc.wait(10)
            killed_at = step_of(page)
        time.sleep(3)
        with streamlit_server(mnist_path, tmp_path, env) as second:
            page.goto(second + run_url.split("/", 3)[3])
            restarted = time.monotonic()
            wait_until(lambda: step_of(page) > killed_at + 200, 60, "the run's Step to be well past the kill")
            print(f"killed at step {killed_at}; {time.monotonic() - restarted:.1f} s after the restarted "
                  f"server's page was opened: step {step_of(page)}")
            assert button(page, "Pause").is_enabled()             # still training: Pause is the live button
            assert float(metric(page, "Loss")) > 0

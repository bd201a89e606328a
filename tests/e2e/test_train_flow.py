"""The main flow in a real browser: Debian's Chromium driven by playwright against `streamlit run app.py`."""
import os
import re
import time

SHOT = os.environ.get("AE_SCREENSHOT")  # where to save a screenshot of the page (e.g. docs/train.png)


def metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(f"^{label}$")))
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def step_of(page) -> int:
    return int(metric(page, "Step").split("/")[0].replace(",", "").strip())


SLACK = float(os.environ.get("AE_E2E_SLACK", "4"))  # timeouts are upper bounds: stretched for busy machines


def wait_until(predicate, timeout=60.0, what="condition"):
    deadline = time.time() + timeout * SLACK
    while time.time() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def animations_in(page, selector: str, samples: int = 20) -> list[str]:
    """Classes of elements within ``selector`` found animating, sampled over ~3 s."""
    moving = []
    for _ in range(samples):
        moving += page.evaluate("""(selector) => document.getAnimations()
            .filter(a => a.playState === 'running' && a.effect && a.effect.target
                    && a.effect.target.closest(selector))
            .map(a => String(a.effect.target.className))""", selector)
        time.sleep(0.15)
    return moving


def button(page, label):
    return page.get_by_role("button", name=label, exact=True)


def test_start_pause_resume_live_lr_and_reload(page, server):
    # A budget no run reaches here: `fast` spends its 3 000 steps in ~10 s on an idle machine, and
    # this test needs the run still training at its end.
    page.goto(server + "?steps=200000")
    start = button(page, "Start")
    start.wait_for(timeout=60_000)
    wait_until(lambda: start.is_enabled(), 90, "the network to be ready")
    start.click()

    # The Step metric, the loss curve and the reconstructions update by themselves.
    wait_until(lambda: step_of(page) > 0, 30, "first steps on screen")
    first = step_of(page)
    wait_until(lambda: step_of(page) > first, 10, "the Step metric to refresh without any click")
    page.get_by_text("Loss", exact=True).first.wait_for()
    assert page.locator(".js-plotly-plot").count() >= 1
    page.get_by_text("Reconstruction", exact=True).wait_for()
    page.get_by_text("Original", exact=True).wait_for()

    # While it refreshes, the live view holds still: no fade, no sliding progress bar. (Without a
    # GPU the browser repaints on the CPU for every animation frame, and training pays for it.)
    moving = animations_in(page, ".st-key-live_view, .st-key-live_charts, .st-key-inside_view")
    assert not moving, moving

    # A learning-rate change mid-run is marked on the curve.
    slider = page.locator('input[type="range"][aria-label="Learning rate"]')
    slider.focus()
    slider.press("ArrowLeft")
    mark = page.locator(".js-plotly-plot text", has_text="lr 0.001→0.0005")
    wait_until(lambda: mark.count() > 0, 20, "the learning-rate mark on the loss curve")

    # Pause holds, Resume continues.
    button(page, "Pause").click()
    wait_until(lambda: page.get_by_text("paused").count() > 0, 10, "paused status")
    # A busy machine may show a refresh from just before the pause: wait for the count to settle,
    # then it must hold (if training went on, it would never settle and this would time out).
    readings = [step_of(page)]

    def settled():
        time.sleep(1.5)
        readings.append(step_of(page))
        return readings[-1] == readings[-2]

    wait_until(settled, 20, "the step count to hold while paused")
    held = readings[-1]
    time.sleep(3.0)
    assert step_of(page) == held, "training went on while paused"
    button(page, "Resume").click()
    wait_until(lambda: step_of(page) > held, 15, "training to resume")

    # Reloading finds the same run still going.
    url = page.url
    assert "run=" in url
    before = step_of(page)
    page.reload()
    button(page, "Start").wait_for(timeout=60_000)
    wait_until(lambda: step_of(page) > before, 30, "the same run, still going, after a reload")
    assert page.url.split("run=")[1].split("&")[0] == url.split("run=")[1].split("&")[0]
    wait_until(lambda: mark.count() > 0, 20, "the history, with its learning-rate mark, after the reload")
    if SHOT:
        page.screenshot(path=SHOT)

"""The Explore page in a real browser: train a short `fast` run, then explore it live and paused."""
import os
import re


from tests.e2e.test_train_flow import animations_in, button, step_of, wait_until

SHOT = os.environ.get("AE_SCREENSHOT_EXPLORE")  # where to save a screenshot of the page (e.g. docs/explore.png)
VIEWPORT_HEIGHT = 2200


def chart(page, title: str):
    """The visible plotly chart with this title (a refresh can leave a hidden copy for a moment)."""
    return page.locator(".js-plotly-plot:visible").filter(has=page.locator(".gtitle", has_text=title)).first


def captions(page) -> list[str]:
    return [c.inner_text() for c in page.locator('[data-testid="stImageCaption"]').all()]


def map_caption(page) -> str:
    return page.get_by_text(re.compile(r"map of step [\d,]+")).inner_text()


def click_point(page, trace: int, k: int) -> None:
    """Click the centre of point ``k`` of the map's ``trace`` (0: the invisible grid, 1..10: digits 0..9)."""
    point = chart(page, "Latent space").locator(".scatterlayer .trace").nth(trace).locator("path.point").nth(k)
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def click_until(page, trace: int, k: int, done, what: str, tries: int = 6) -> None:
    """Click a point until ``done()``: the first click can land while plotly is still settling."""
    for _ in range(tries):
        click_point(page, trace, k)
        try:
            return wait_until(done, 8, what)
        except AssertionError:
            continue
    raise AssertionError(f"clicking never gave {what}")


def test_explore_a_short_fast_run_live_then_paused(page, server):
    # Train: a fast run with a budget it will not reach while the test looks at it.
    page.goto(server + "?preset=fast&steps=200000")
    start = button(page, "Start")
    start.wait_for(timeout=60_000)
    wait_until(lambda: start.is_enabled(), 90, "the network to be ready")
    start.click()
    wait_until(lambda: step_of(page) >= 10, 90, "some training steps")
    run_id = re.search(r"run=([^&]+)", page.url).group(1)

    # Explore it while it trains: ten colours on the map, which refreshes by itself.
    page.goto(server + f"explore?run={run_id}")
    latent_map = chart(page, "Latent space")
    latent_map.wait_for(timeout=90_000)
    wait_until(lambda: latent_map.locator(".legend .traces").count() == 10, 30, "ten digits in the legend")
    assert [t.text_content() for t in latent_map.locator(".legend .legendtext").all()] == [str(d) for d in range(10)]
    chart(page, "Reconstruction error per digit").wait_for(timeout=30_000)
    assert "running" in map_caption(page)
    assert not animations_in(page, ".st-key-explore_view", samples=30)  # refreshes without fading
    first = map_caption(page)
    wait_until(lambda: map_caption(page) != first, 45, "the live map to refresh by itself")
    page.get_by_text(re.compile(r"^10 decoded codes from #0 \(a 7\) to #1 \(a 2\)$")).wait_for(timeout=30_000)
    assert sum("MSE" in c for c in captions(page)) == 12, "the worst-case grid"

    # Pause it on the Train page, then pick on the still map.
    page.goto(server + f"?run={run_id}")
    pause = button(page, "Pause")
    pause.wait_for(timeout=60_000)
    wait_until(lambda: pause.is_enabled(), 30, "the Pause button")
    pause.click()
    wait_until(lambda: page.get_by_text("paused").count() > 0, 30, "paused status")

    page.goto(server + f"explore?run={run_id}")
    latent_map = chart(page, "Latent space")
    latent_map.wait_for(timeout=90_000)
    wait_until(lambda: "paused" in map_caption(page), 30, "the paused run on the Explore page")
    page.get_by_text("Click a digit on the map").wait_for(timeout=30_000)
    if SHOT:
        page.screenshot(path=SHOT.replace(".png", "-before.png"))

    # A digit: it appears beside its reconstruction.
    click_until(page, 4, 0, lambda: any(re.match(r"Test digit #\d+ \(a \d\)$", c) for c in captions(page)),
                "the picked digit")
    assert "Reconstruction" in captions(page)

    # An empty place: a generated digit, decoded from that place of the map.
    before = next(c for c in captions(page) if c.startswith("Generated at"))
    click_until(page, 0, 10, lambda: next(c for c in captions(page) if c.startswith("Generated at")) != before,
                "a digit generated at the clicked place")

    # Draw a digit: a vertical stroke (a "1") on the canvas shows with its reconstruction.
    canvas = page.locator("canvas.upper-canvas")
    canvas.scroll_into_view_if_needed(timeout=30_000)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 140, box["y"] + 40)
    page.mouse.down()
    for k in range(1, 21):
        page.mouse.move(box["x"] + 140, box["y"] + 40 + 10 * k, steps=2)
    page.mouse.up()
    wait_until(lambda: "Its reconstruction" in captions(page), 60, "the drawn digit's reconstruction")
    assert "Your digit, as MNIST would see it" in captions(page)
    assert page.locator(".js-plotly-plot text", has_text="your drawing").count() > 0
    if SHOT:
        page.screenshot(path=SHOT)

"""A talk in a real browser at a projector's 1280×720: a scene played with the → key, the space
bar pausing and resuming, and a page where nothing is cut off and the numbers are large."""
import time

import numpy as np
import pytest

from tests.e2e.newcomer import Watch
from tests.e2e.server import launch_browser
from tests.e2e.test_train_flow import metric, step_of, wait_until

PROJECTOR = {"width": 1280, "height": 720}
MIN_METRIC_PX = 40      # a metric's value is read from the back of a room

# Elements of the page's main part whose content is wider than they are (and so cut off or
# scrolled out of sight); text that ends in "…" on purpose is Streamlit's ellipsis, counted too.
CUT_OFF = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const cut = [];
  for (const e of main.querySelectorAll('*')) {
    if (e.clientWidth < 4 || e.scrollWidth <= e.clientWidth + 1) continue;
    if (getComputedStyle(e).overflowX === 'visible') continue;
    cut.push(`${e.getAttribute('data-testid') || e.tagName} "${e.innerText.slice(0, 40)}" ${e.scrollWidth}>${e.clientWidth}`);
  }
  return cut;
}"""


@pytest.fixture()
def projector(server):
    with launch_browser() as browser:
        context = browser.new_context(viewport=PROJECTOR)
        yield context.new_page()
        context.close()


def status_shown(page, status: str) -> bool:
    return page.locator('.st-key-live_view [data-testid="stBadge"], .st-key-live_view span',
                        has_text=status).count() > 0


def scene_caption(page) -> str:
    return page.locator(".st-key-scene_caption").inner_text()


def test_a_scene_with_the_keyboard_on_a_projector(projector, server, tmp_path):
    page = projector
    watch = Watch(page, server)
    page.goto(server + "?scene=seed_vs_modern")
    page.get_by_text("The 2017 notebook against a modern autoencoder").first.wait_for(timeout=120_000)
    wait_until(lambda: page.get_by_role("button", name="Start").is_enabled(), 120, "the page to be interactive")
    wait_until(lambda: status_shown(page, "ready"), 120, "the network to be ready")

    # → plays step 1: the notebook's network trains until step 1,000.
    press_next(page, "step 1 of 4")
    assert "The notebook as written" in scene_caption(page)
    wait_until(lambda: step_of(page) > 0, 60, "step 1 training")

    # The space bar pauses and resumes.
    page.keyboard.press(" ")
    wait_until(lambda: metric(page, "Steps/s") == "—", 20, "the run to pause")
    held = step_of(page)
    time.sleep(2)
    assert step_of(page) == held and held < 1000
    check_legible(page, tmp_path / "projector.png")   # paused on a seed run: "… / 10,000", the longest Step
    page.keyboard.press(" ")
    wait_until(lambda: step_of(page) > held, 30, "the run to resume")

    # → again: step 2 starts the modern preset as a new run (the URL follows it).
    first_url = page.url
    press_next(page, "step 2 of 4")
    wait_until(lambda: page.url != first_url, 30, "the new run in the address")
    assert "Three modern choices" in scene_caption(page)
    wait_until(lambda: step_of(page) > 100, 120, "step 2 training")
    watch.check("a scene played with the keyboard")


def press_next(page, caption: str) -> None:
    """→ as a presenter presses it, once Next is on the page and enabled (its shortcut bound), until
    the caption says ``caption``. With both cores busy, a key press sometimes went unseen (once in
    CI, twice in about 20 runs here; not traced down: Streamlit binds the shortcut anew at every
    rerun) and once it arrived twice, which the scene now takes as one press. A presenter whose
    press went unseen presses again: so does this, once, after the first showed nothing for a long
    while. The captions asserted after each step would catch a skipped step."""
    next_button = page.locator('.st-key-scene_next [data-testid="stBaseButton-primary"]').first
    for attempt in range(2):
        wait_until(lambda: next_button.is_enabled(), 60, "Next to be enabled")
        page.keyboard.press("ArrowRight")
        try:
            wait_until(lambda: caption in scene_caption(page), 15 if attempt == 0 else 30, caption)
            return
        except AssertionError:
            if attempt == 1:
                raise


def check_legible(page, shot) -> None:
    """At 1280×720: the caption is on screen, nothing in the page is cut off, the metrics are big
    and whole, and a screenshot shows a page (not a blank screen)."""
    caption = page.locator(".st-key-scene_caption")
    box = caption.bounding_box()
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= PROJECTOR["height"], box
    assert float(caption.locator("p").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 24
    cut = page.evaluate(CUT_OFF)
    assert not cut, cut
    values = page.locator('[data-testid="stMetricValue"]')
    values.first.scroll_into_view_if_needed()
    sizes = values.evaluate_all("es => es.map(e => parseFloat(getComputedStyle(e).fontSize))")
    assert len(sizes) == 4 and min(sizes) >= MIN_METRIC_PX, sizes
    for value in values.all():
        bounds = value.bounding_box()
        assert bounds["x"] >= 0 and bounds["x"] + bounds["width"] <= PROJECTOR["width"], bounds

    caption.scroll_into_view_if_needed()
    page.screenshot(path=str(shot))
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), np.float32)
    assert pixels.shape == (PROJECTOR["height"], PROJECTOR["width"])
    assert pixels.std() > 20 and len(np.unique(pixels)) > 50       # a page, not a blank screen

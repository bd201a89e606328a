"""The Runs page in a real browser: two CLI runs, ticked in the table, overlay on one chart."""
import os
import re
import shutil
import time

import pytest

from ae_core import runs
from tests.e2e.test_train_flow import wait_until
from tests.e2e.server import streamlit_server
from tests.test_runs_page import NAMES, make_cli_runs

SHOT = os.environ.get("AE_RUNS_SCREENSHOT")  # where to save a screenshot of the page (e.g. docs/runs.png)
ROW_HEIGHT = 40      # the page's st.dataframe(row_height=40)


@pytest.fixture(scope="module")
def server(tmp_path_factory, mnist_path):
    folder = tmp_path_factory.mktemp("runs-e2e")   # streamlit_server keeps runs in folder/runs
    shutil.copytree(make_cli_runs(tmp_path_factory.getbasetemp(), mnist_path), folder / "runs")
    with streamlit_server(mnist_path, folder) as url:
        url.run_ids = {r.run_id for r in runs.list_runs(folder / "runs")}
        yield url


def legend_names(page) -> list[str]:
    """The runs in the overlay's legend (the baseline lines, ``mean digit`` and ``PCA-k``, left out)."""
    names = page.locator(".js-plotly-plot .legendtext").all_text_contents()
    return sorted(n for n in names if n != "mean digit" and not n.startswith("PCA-"))


def test_tick_two_runs_and_see_them_overlaid(server, page):
    page.goto(server + "runs")  # straight to the page, as a shared link does
    page.get_by_role("heading", name="Runs").wait_for(timeout=60_000)
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(timeout=30_000)
    page.get_by_text("Tick one or more runs").wait_for()
    # The app's own navigation, even on a fresh server's first visit straight to /runs.
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text().split()
    assert nav[-1] == "Compare" and "Runs" in nav

    # The table is a canvas: tick each row's checkbox in the left-most (row marker) column,
    # counting rows up from the table's bottom edge (two rows under a header).
    wait_until(lambda: grid.bounding_box()["height"] >= 2.5 * ROW_HEIGHT, 20, "the table's rows")
    names = page.locator('[data-testid="stDataFrame"] [role="gridcell"]', has_text="lr 0.0")
    wait_until(lambda: names.count() == 2, 20, "both runs' names in the table")
    box = grid.bounding_box()
    bottom = box["y"] + box["height"]
    for row in (0, 1):
        page.mouse.click(box["x"] + 18, bottom - ROW_HEIGHT * (2 - row - 0.5))
        time.sleep(0.3)
    wait_until(lambda: legend_names(page) == sorted(NAMES), 30, "both runs in the overlay's legend")
    assert page.locator(".js-plotly-plot").count() == 1
    assert page.locator(".js-plotly-plot .gtitle").first.text_content() == "Loss"
    # The links open the last ticked run on the Train (the default page) and Explore pages.
    train = page.get_by_role("link", name="Open in Train").get_attribute("href")
    explore = page.get_by_role("link", name="Open in Explore").get_attribute("href")
    picked = re.fullmatch(r"(?:.*/)?\?run=([\w.-]+)", train)  # the app's root, relative or not
    assert picked and picked.group(1) in server.run_ids, train
    assert re.fullmatch(rf"(?:.*/)?explore\?run={picked.group(1)}", explore), explore
    if SHOT:
        page.screenshot(path=SHOT, full_page=True)

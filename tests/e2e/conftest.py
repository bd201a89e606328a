import pytest

from tests.e2e import browser as browsers
from tests.e2e.server import launch_browser, streamlit_server

VIEWPORT_HEIGHT = 1000  # a module may set its own (a taller page shows more at once)


@pytest.fixture(autouse=True, scope="session")
def _a_browser():
    """Every test here drives a browser: without one they are skipped, saying how to get one."""
    if browsers.find() is None:
        pytest.skip(browsers.MISSING)


@pytest.fixture(scope="module")
def server(tmp_path_factory, mnist_path):
    """A fresh `streamlit run app.py` for the module, with its own run store."""
    with streamlit_server(mnist_path, tmp_path_factory.mktemp("runs")) as url:
        yield url


@pytest.fixture()
def page(server, request):
    height = getattr(request.module, "VIEWPORT_HEIGHT", VIEWPORT_HEIGHT)
    with launch_browser() as browser:
        context = browser.new_context(viewport={"width": 1600, "height": height})
        yield context.new_page()
        context.close()

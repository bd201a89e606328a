"""What the pages share: the process-wide run registry, data loading, and how parts of a page
refresh and draw pictures. The settings' widgets are in :mod:`pages.config_widgets`."""
from __future__ import annotations

import functools
import hashlib
import os
import sys
import threading
import traceback
from pathlib import Path

import streamlit as st

from ae_core.status import Status

ASSETS = Path(__file__).resolve().parent.parent / "assets"   # the favicon and the style sheets


# --- process-wide state ---------------------------------------------------------------------------
@st.cache_resource
def shared_registry():
    """Every live run of this server (the server's own use: saving, shutdown, tests)."""
    from ae_core.registry import Registry

    return Registry(save=save_run)


def registry():
    """The live runs as this session may use them: read-only for a watcher (pages/access.py)."""
    from pages import access

    return access.guard(shared_registry())


registry.clear = shared_registry.clear   # a test starts over with `common.registry.clear()`


def new_run_id() -> str:
    from ae_core.registry import new_run_id as make

    return make()


def guarded(part):
    """Run a page, or a part that reruns on its own, so that an unexpected exception shows as one
    sentence with a way on, never as a traceback in front of a room; the traceback goes to the
    server's log. (Streamlit's own stop and rerun signals are not exceptions of this kind.)"""
    @functools.wraps(part)
    def run(*args, **kwargs):
        try:
            return part(*args, **kwargs)
        except Exception as e:
            print(f"ae-lab: unexpected error in {getattr(part, '__name__', 'a page')}:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            st.error(f"Something went wrong here ({type(e).__name__}); the details are in the server's log "
                     f"and training goes on. Reload the page, or open the Runs page.",
                     icon=":material/error:")
            st.page_link("pages/runs.py", label="Runs", icon=":material/folder_open:")
    return run


def save_run(trainer) -> None:
    """Save a live run to the run store (from its training thread, or at shutdown)."""
    from ae_core import runs

    if getattr(trainer, "saves_itself", False):
        return   # a run in a Ray actor writes the run store itself (ae_core.cluster)
    runs.save(trainer.snapshot(), trainer.model(), optimizer_state=trainer.optimizer_state(),
              dataset=trainer.dataset, film=getattr(trainer, "film", None))


class _Job:
    """A load that runs in a thread so the page paints at once; the page polls ``done``."""

    def __init__(self, fn):
        self.done = threading.Event()
        self.result = None
        self.error = None
        threading.Thread(target=self._run, args=(fn,), daemon=True, name="data-loader").start()

    def _run(self, fn):
        try:
            self.result = fn()
        except Exception as e:  # shown on the page as one sentence
            self.error = str(e)
        finally:
            self.done.set()


def _load_default_or_bundled():
    """The default data set; if AE_MNIST_PATH names a file that cannot be used, say why and carry
    on with the bundled digits so the page stays usable. Shared with the server's warm-up, so the
    network warmed up at start is on this very data set."""
    from ae_core import prewarm

    return prewarm.default_data()


@st.cache_resource
def _data_job(path_setting: str | None) -> _Job:
    return _Job(_load_default_or_bundled)


def default_data_job() -> _Job:
    """The background load of the default data set (one per AE_MNIST_PATH value)."""
    return _data_job(os.environ.get("AE_MNIST_PATH"))


@st.cache_resource(show_spinner=False)
def _prewarm(path_setting: str | None):
    from ae_core import prewarm

    return prewarm.begin_default()


def start_prewarm() -> None:
    """On a server's first page: load the default data and make the default preset's network in
    the background (TensorFlow, build, compile), so that the first Start trains at once (``ae-lab``
    and ``make run`` began it when the server started: then this finds it under way)."""
    _prewarm(os.environ.get("AE_MNIST_PATH"))


def dataset_or_wait(loading: str, failed: str):
    """The data set in use; while the default one loads, None with ``loading`` shown and the page
    rerun once it has loaded; if it could not be loaded, None with ``failed: why`` shown."""
    dataset = current_dataset()
    if dataset is not None:
        return dataset
    job = default_data_job()
    if job.done.is_set():
        st.error(f"{failed}: {job.error}")
        return None

    @st.fragment(run_every=0.5)
    def _wait_for_data():
        if default_data_job().done.is_set():
            st.rerun()
        st.info(loading)

    _wait_for_data()
    return None


def saved_run(run_id: str):
    """The run saved on disk under this id, or None."""
    from ae_core import runs

    try:
        return runs.load(run_id)
    except runs.RunError:
        return None


@st.cache_resource
def uploads() -> dict:
    """Uploaded data sets by content hash, shared by the sessions of this server."""
    return {}


def load_upload(file) -> str:
    """Load an uploaded file once; return its key in :func:`uploads` (raises DataError)."""
    from ae_core import data
    from pages import access

    if not access.may_steer():
        raise access.WatchOnly("upload data")
    raw = file.getvalue()
    key = hashlib.sha256(raw).hexdigest()[:16]
    store = uploads()
    if key not in store:
        store[key] = data.load_upload(raw, file.name)
    return key


def current_dataset():
    """The data set this session trains on: an upload it chose, else the default (None while loading)."""
    key = st.session_state.get("dataset_key")
    if key and key in uploads():
        return uploads()[key]
    job = default_data_job()
    return job.result[0] if job.done.is_set() and job.result else None


def data_warning() -> str | None:
    """Why the default data set is not the one asked for, if it is not."""
    job = default_data_job()
    return job.result[1] if job.done.is_set() and job.result else None


@functools.cache
def style(asset: str) -> str:
    """A style sheet from ``assets/`` as an ``st.html`` body, read once per process."""
    return f"<style>{(ASSETS / asset).read_text()}</style>"


STATUS_BADGES = {Status.PREPARING: ("gray", ":material/hourglass_top:"),
                 Status.READY: ("blue", ":material/radio_button_checked:"),
                 Status.RUNNING: ("green", ":material/play_arrow:"),
                 Status.PAUSED: ("orange", ":material/pause:"),
                 Status.DONE: ("violet", ":material/check:"),
                 Status.DIVERGED: ("red", ":material/warning:"),
                 Status.ERROR: ("red", ":material/error:"),
                 Status.STOPPED: ("gray", ":material/stop:")}


def hold_still(*container_keys: str) -> None:
    """Parts of a page that rerun on their own (``st.container(key=...)`` inside a fragment with
    ``run_every``) hold still while they rerun. Streamlit fades a rerunning part's elements and slides
    progress bars; without a GPU the browser repaints every animation frame on the CPU that training
    needs (the Train page's live view kept it repainting ~80 % of the time), and the fade flickers on
    a projector."""
    scoped = ", ".join(f'.st-key-{key} [data-testid="stElementContainer"]' for key in container_keys)
    st.html(f"<style>{scoped} {{ opacity: 1 !important; transition: none !important; }}"
            f'[data-testid="stProgressBarTrack"] * {{ transition: none !important; }}</style>')


def inline_png(pixels) -> str:
    """An image as a ``data:`` URL for ``st.image``. Parts that refresh on their own show their
    pictures inline: a picture Streamlit serves as a file is dropped at the next refresh, and a
    browser that fetched it a moment late got a 404 (a console error and a broken image).

    The same pixels give the very same URL without encoding again (a live view redraws its grids
    every refresh, but they change only at an evaluation): the browser then keeps the picture it
    has instead of decoding it anew."""
    import numpy as np

    pixels = np.ascontiguousarray(pixels)
    key = (pixels.shape, pixels.dtype.str, hashlib.blake2b(pixels.data, digest_size=16).digest())
    cache = _png_cache()
    url = cache.get(key)
    if url is None:
        import base64

        from ae_core.viz import png_bytes

        url = "data:image/png;base64," + base64.b64encode(png_bytes(pixels)).decode("ascii")
        with _png_lock:
            cache[key] = url
            while len(cache) > PNG_CACHE_SIZE:
                cache.pop(next(iter(cache)))
    return url


PNG_CACHE_SIZE = 256   # pictures kept encoded (a few KB each), shared by every session
_png_lock = threading.Lock()


@st.cache_resource(show_spinner=False)
def _png_cache() -> dict:
    return {}


def steady_figure(key: str, build, *, now: tuple, later: tuple, every_s: float):
    """A live chart's figure (or what ``build`` returns with it), rebuilt at once when ``now``
    changed (the viewer's options, a status, a live change) and at most every ``every_s`` seconds
    when only ``later`` changed (new steps). In between the same figure is sent again, which the browser does not redraw: a chart that
    changes with every chunk would otherwise be re-laid out at every refresh of the live view."""
    import time

    slot = f"_steady_{key}"
    held = st.session_state.get(slot)
    t = time.monotonic()
    if held is None or held[0] != now or (held[1] != later and t - held[2] >= every_s):
        held = (now, later, t, build())
        st.session_state[slot] = held
    return held[3]


def status_badge(status: str) -> None:
    colour, icon = STATUS_BADGES.get(status, ("gray", None))
    st.badge(str(status), color=colour, icon=icon)


def leave_mpa_v1() -> None:
    """A folder named ``pages/`` beside app.py makes Streamlit run a fresh server as a v1 multipage
    app until app.py's st.navigation has run once: a first visit straight to /runs would run that
    page's file alone (no page config, a sidebar listing every file). Switch to app.py's navigation."""
    try:
        from streamlit import config
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without it has no v1 emulation to leave
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        # AppTest re-arms the flag before every run; there a rerun would only swallow clicks.
        if not config.get_option("global.appTest"):
            st.rerun()


# --- pictures out ------------------------------------------------------------------------------------
PRESENTING = "presenting"   # session key owning presentation mode (pages/train_state.py sets it)


def presenting() -> bool:
    """Presentation mode (the Train page's toggle, or ?present=1 in the address)."""
    return bool(st.session_state.get(PRESENTING)) or st.query_params.get("present") == "1"


def chart_config(filename: str) -> dict:
    """Plotly's config for every chart: a toolbar with only "Download plot as a PNG" (no plotly
    logo), shown on hover; none in presentation mode, where nothing but the chart belongs on screen."""
    if presenting():
        return {"displayModeBar": False}
    return {"displaylogo": False, "modeBarButtons": [["toImage"]],
            "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2}}


def png_bytes(image) -> bytes:
    """A grid from ae_core.viz ((H, W) grey or (H, W, 3) RGB, values in [0, 1]) as PNG file bytes."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.round(np.clip(np.asarray(image, np.float32), 0.0, 1.0) * 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def grid_download(where, image, filename: str, key: str) -> None:
    """A small "PNG" download button for a digit grid, under it (nothing in presentation mode).
    ``image`` may be a function returning the grid: then it is drawn only when someone clicks
    (live views redraw every second; encoding PNGs nobody asked for would cost training time)."""
    if presenting():
        return
    data = (lambda: png_bytes(image())) if callable(image) else png_bytes(image)
    where.download_button("PNG", data=data, file_name=filename, mime="image/png", key=key,
                          on_click="ignore", icon=":material/download:", help=f"Download {filename}")

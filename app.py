"""The autoencoder lab: `streamlit run app.py`."""
import ae_core  # noqa: F401  (quiets TensorFlow's start-up log before anything imports it)
import streamlit as st

from pages import access, common

# A file of our own: a ":material/…:" page icon makes the browser fetch it from a font server.
FAVICON = common.ASSETS / "favicon.png"


def _keep_keras_state() -> None:
    """After every script run Streamlit calls keras.backend.clear_session(), meant for scripts that
    build a model per run. Here models live in training threads across runs: the call would wipe
    Keras' global state under them and run a full garbage collection at every live-view refresh
    (~0.3 s of CPU each). Switch it off (a private hook; if it moves, nothing breaks)."""
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:
        return
    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = lambda: None


_keep_keras_state()
common.start_prewarm()  # before any page: TensorFlow and the default network get ready meanwhile

# Presentation mode (?present=1, or a talk's ?scene=NAME) starts with the sidebar folded away.
PRESENTING = st.query_params.get("present") == "1" or "scene" in st.query_params
st.set_page_config(page_title="Autoencoder lab", page_icon=FAVICON, layout="wide",
                   initial_sidebar_state="collapsed" if PRESENTING else "auto")

# A presenter's link brings its key once; without AE_PRESENTER_KEY everyone steers.
access.take_key()
access.badge()

page = st.navigation([
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", default=True),
    st.Page("pages/explore.py", title="Explore", icon=":material/scatter_plot:", url_path="explore"),
    st.Page("pages/runs.py", title="Runs", icon=":material/folder_open:", url_path="runs"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
])
common.guarded(page.run)()

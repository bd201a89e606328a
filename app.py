"""The autoencoder lab: `streamlit run app.py`."""
import ae_core  # noqa: F401  (quiets TensorFlow's start-up log before anything imports it)
import streamlit as st

# Presentation mode (?present=1) starts with the sidebar folded away.
st.set_page_config(page_title="Autoencoder lab", page_icon=":material/neurology:", layout="wide",
                   initial_sidebar_state="collapsed" if st.query_params.get("present") == "1" else "auto")

page = st.navigation([
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", default=True),
    st.Page("pages/explore.py", title="Explore", icon=":material/scatter_plot:", url_path="explore"),
    st.Page("pages/runs.py", title="Runs", icon=":material/folder_open:", url_path="runs"),
])
page.run()

"""The autoencoder lab: `streamlit run app.py`."""
import ae_core  # noqa: F401  (quiets TensorFlow's start-up log before anything imports it)
import streamlit as st

st.set_page_config(page_title="Autoencoder lab", page_icon="🧠", layout="wide")

page = st.navigation([
    st.Page("pages/train.py", title="Train", icon="🏋️", default=True),
])
page.run()

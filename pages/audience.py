"""What a room of watchers sees: the presenter's run, followed live, and the link to it.

A watcher's bare audience link (no ``?run=``) shows the run the presenter's Train page shows and
moves along when the presenter starts a new one; a link to a run shows that run while it is live.
"""
from __future__ import annotations

import streamlit as st

from ae_core import share
from pages import access

FOLLOWING = "following_presenter"   # session key: this watcher came without a run and follows the presenter


def follow_presenter() -> None:
    """Point a following watcher's address at the presenter's run (the page then attaches to it)."""
    if FOLLOWING not in st.session_state:
        st.session_state[FOLLOWING] = st.query_params.get("run") is None
    run_id = access.presenter_run()
    if st.session_state[FOLLOWING] and run_id and st.query_params.get("run") != run_id:
        st.query_params["run"] = run_id


def presenter_moved(run_id: str) -> bool:
    """True when this watcher follows the presenter and the presenter now shows another run."""
    if access.may_steer() or not st.session_state.get(FOLLOWING):
        return False
    now = access.presenter_run()
    return now is not None and now != run_id


def watched_run(registry, run_id: str):
    """The live run a watcher asked for; else one sentence, a way on, and the page stops (a watcher
    never brings a saved run back into memory, nor starts one)."""
    trainer = registry.get(run_id)
    if trainer is not None:
        return trainer
    if st.session_state.get(FOLLOWING) and access.presenter_run() is None:
        st.info("The presenter has not started a run yet; this page shows it as soon as they do.")

        @st.fragment(run_every=2.0)
        def wait_for_presenter():
            if access.presenter_run() is not None:
                st.rerun()

        wait_for_presenter()
    else:
        st.info(f"Run {run_id} is not live on this server. Its saved files are on the Runs page.")
        if access.presenter_run():
            st.page_link("pages/train.py", label="Watch the presenter's run", icon=":material/visibility:",
                         query_params={"run": access.presenter_run()})
        st.page_link("pages/runs.py", label="Runs", icon=":material/folder_open:")
    st.stop()


def link_card() -> None:
    """In presentation mode on a shared server: the audience link and its QR code, to scan from the
    projector."""
    url = share.audience_url()
    if not url:
        return
    import segno

    text, code = st.columns([6, 1], vertical_alignment="center")
    text.markdown(f"**Watch on your own screen:** [{url}]({url})")
    code.image(segno.make(url, error="m").png_data_uri(scale=4, border=2, dark="#000", light="#fff"),
               caption="Audience link", width=120)

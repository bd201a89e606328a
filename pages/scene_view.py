"""Scenes on the Train page: a talk's demo played step by step (ae_core.scenes).

``?scene=NAME`` loads ``scenes/NAME.toml`` into presentation mode. The scene's position lives in
a process-wide :class:`~ae_core.scenes.ScenePlays`, keyed by run id, so every viewer of the run
sees the caption, and a viewer of a run the scene has left behind follows it to its new run.
``Next`` (→) and ``Pause / Resume`` (space) are the presenter's, checked with ``may_steer()`` when
they act, not only when they are drawn.
"""
from __future__ import annotations

import streamlit as st

from ae_core import config as cfg_lib
from ae_core import scenes
from pages import common
from pages import config_widgets as widgets
from pages import train_state as state
from pages.access import may_steer

PARAM = "scene"            # ?scene=NAME
PENDING = "scene_pending"  # session key: the run id a Next left for a new run, until that run exists
ERROR = "scene_error"      # session key: why the asked-for scene could not be loaded
PRESENTED = "scene_play"   # session key: the scene this session presents (it follows the session's Reset)
REFRESH_S = 1.0            # how soon a viewer sees the presenter's Next

CSS = """<style>
.st-key-scene_caption p { font-size: 1.7rem !important; line-height: 1.35 !important; }
.st-key-scene_caption [data-testid="stCaptionContainer"] p { font-size: 1.15rem !important; }
</style>"""


@st.cache_resource
def plays() -> scenes.ScenePlays:
    """The scenes playing on this server (shared by every session)."""
    return scenes.ScenePlays()


def scene_panel(trainer) -> None:
    """Load a scene asked for in the URL, start a step's new run once it exists, and show the
    scene's caption and the presenter's keys. Draws nothing when no scene plays on this run."""
    _load_from_url(trainer)
    if st.session_state.get(ERROR):
        st.error(st.session_state[ERROR])
    pending = st.session_state.pop(PENDING, None)
    play = plays().get(pending) if pending else plays().get(trainer.run_id)
    presented = st.session_state.get(PRESENTED)
    if play is None and presented is not None and may_steer() and plays().get(presented.run_id) is presented:
        play = presented                       # the presenter pressed Reset or a preset: the scene goes on
        plays().follow(play, trainer.run_id)
    if play is None:
        return
    if pending:
        plays().follow(play, trainer.run_id)   # the step's new run (or the untouched run, reset)
        play.drive(trainer)
    st.html(CSS)
    with st.container(border=True):
        text, keys = st.columns([5, 1.3])
        with text:
            _caption(trainer.run_id)
        if may_steer():
            keys.button("Next", key="scene_next", type="primary", shortcut="Right", on_click=_on_next,
                        disabled=play.upcoming is None, width="stretch",
                        help="The scene's next step (→)")
            keys.button("Pause / Resume", key="scene_pause", shortcut="Space", on_click=_on_pause_resume,
                        width="stretch", help="Pause or resume the run (space bar)")


def _load_from_url(trainer) -> None:
    name = st.query_params.get(PARAM)
    if not name or st.session_state.get("scene_asked") == name:
        return
    st.session_state["scene_asked"] = name   # the URL loses ?scene= once the page syncs it
    st.session_state.pop(ERROR, None)
    try:
        scene = scenes.load(name)
    except scenes.SceneError as e:
        st.session_state[ERROR] = str(e)
        return
    current = plays().get(trainer.run_id)
    if current is not None and current.scene.name == scene.name:
        return   # a reload: the scene plays on
    if not may_steer():
        st.session_state[ERROR] = "Only the presenter can start a scene; this page shows the run as it plays."
        return
    st.session_state[PRESENTED] = plays().start(scene, trainer.run_id)


@st.fragment(run_every=REFRESH_S)
def _caption(run_id: str) -> None:
    with st.container(key="scene_caption"):
        common.guarded(_caption_text)(run_id)


def _caption_text(run_id: str) -> None:
    play = plays().get(run_id)
    if play is None:
        return
    if play.run_id != run_id:
        # The presenter moved the scene on to a new run: watch that one.
        st.query_params["run"] = play.run_id
        st.rerun(scope="app")
    scene, step = play.scene, play.step
    total = len(scene.steps)
    if step is None:
        st.markdown(f"**{scene.title}**")
        st.caption(f"A scene of {total} steps. Next (→) starts step 1: {scene.steps[0].caption}")
        return
    st.markdown(step.caption)
    trainer = common.registry().get(run_id)
    snap = trainer.snapshot() if trainer is not None else None
    if snap is not None and play.reached(snap):
        where = "the end of the scene" if play.upcoming is None else f"Next (→) goes on to step {play.position + 2}"
        progress = f"done ({step.goal()}); {where}"
    else:
        progress = f"training {step.goal()}"
    st.caption(f"{scene.title} · step {play.position + 1} of {total} · {progress}")


def _on_next() -> None:
    if not may_steer():
        return
    run_id = st.session_state.get("run_id")
    play = plays().get(run_id)
    trainer = common.registry().get(run_id)
    if play is None or trainer is None:
        return
    step = play.next()
    if step is None:
        return
    if step.new_run:
        # As a preset button does: the controls show the step's settings and the page starts a new
        # run with them (the run it leaves stays saved); scene_panel then drives it.
        st.session_state[state.PRESET] = step.preset or cfg_lib.preset_of(step.config) or state.preset_name()
        widgets.set_widgets(step.config)
        st.session_state.start_over = True
        st.session_state[PENDING] = run_id
    else:
        trainer.update(**step.live)
        play.drive(trainer)


def _on_pause_resume() -> None:
    if not may_steer():
        return
    trainer = common.registry().get(st.session_state.get("run_id"))
    if trainer is None:
        return
    if trainer.snapshot().status == "running":
        trainer.pause()
    else:
        trainer.resume()

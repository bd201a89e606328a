"""The Train page's state, with one owner each.

Streamlit forgets a widget's value when the widget is not drawn in a script run (a toggle that
swaps the preset menu for preset buttons, a visit to another page). So what the page is about —
the run, the preset, presentation mode, the data choice, the draft settings — lives in plain
session-state keys owned here; widgets get their own keys, are pointed at the owner before they
are drawn, and write back through callbacks.

A run is immutable lineage: Reset, a preset click or a network change makes a *new* run (new id,
URL updated) and the previous run stays saved and listed; only an untouched run (0 steps) is
replaced in place. The data belongs to the run: every viewer of a run sees the run's data, and a
data set picked in this tab only applies to the next run this tab makes.
"""
from __future__ import annotations

import streamlit as st

from ae_core import config as cfg_lib
from ae_core.config import LIVE_FIELDS
from pages import common
from pages import config_widgets as widgets

PRESET = "preset_name"        # owner keys (never widget keys)
PRESENTING = common.PRESENTING
DATA_CHOICE = "data_choice"   # None: the run's own data; DEFAULT_DATA or an upload's key: the next run's
DEFAULT_DATA = "default"
PRESET_MENU, PRESET_BUTTONS, PRESENT_TOGGLE = "preset_menu", "preset_buttons", "present_toggle"


def init_session() -> None:
    """A new session, a reload, or a link to another run: attach to the run in the URL (live or
    saved), or set up a new one from the URL's settings."""
    from ae_core.runs import RunError, check_run_id

    run_id = st.query_params.get("run")
    try:
        run_id = check_run_id(run_id) if run_id else common.new_run_id()
    except RunError as e:
        note(f"{e} A new run was started instead.")
        run_id = common.new_run_id()
    trainer = common.registry().get(run_id)
    saved = None if trainer is not None else common.saved_run(run_id)
    if trainer is not None or saved is not None:
        config = trainer.config if trainer is not None else saved.config
        preset_name = cfg_lib.preset_of(config) or cfg_lib.DEFAULT_PRESET
    else:
        preset_name, config = widgets.config_from_url()
    st.session_state.run_id = run_id
    if st.session_state.get("notice") and st.session_state.notice[0] is None:
        st.session_state.notice = (run_id, st.session_state.notice[1])
    st.session_state[PRESET] = preset_name
    st.session_state[PRESENTING] = st.query_params.get("present") == "1" or "scene" in st.query_params
    st.session_state[DATA_CHOICE] = None
    st.session_state.last_draft = config
    widgets.set_widgets(config)


def ensure_session() -> None:
    linked = st.query_params.get("run")
    if "run_id" not in st.session_state or (linked and linked != st.session_state.run_id):
        init_session()
    elif widgets.widget_key("learning_rate") not in st.session_state:
        # Back from another page: Streamlit dropped this page's widget values while that page ran.
        widgets.set_widgets(st.session_state.last_draft)


# --- notices: one sentence about the run this tab shows, kept while it shows that run ------------------
def note(text: str, run_id: str | None = None) -> None:
    st.session_state.notice = (run_id, text)


def show_notes() -> None:
    notice = st.session_state.get("notice")
    if notice and notice[0] in (None, st.session_state.get("run_id")):
        st.warning(notice[1])


# --- preset and presentation mode: owned here, shown by whichever widget is on the page ------------
def preset_name() -> str:
    return st.session_state[PRESET]


def presenting() -> bool:
    return bool(st.session_state.get(PRESENTING))   # the owner only: the toggle may switch it off


def point_widgets() -> None:
    """Before drawing: the preset widgets and the toggle show the owners' values."""
    st.session_state[PRESET_MENU] = preset_name()
    st.session_state[PRESET_BUTTONS] = preset_name()
    st.session_state[PRESENT_TOGGLE] = presenting()


def on_present_toggle() -> None:
    st.session_state[PRESENTING] = bool(st.session_state[PRESENT_TOGGLE])


def on_preset_menu() -> None:
    """The sidebar menu loads a configuration into the controls (a network change waits for Reset)."""
    picked = st.session_state.get(PRESET_MENU)
    if picked in cfg_lib.PRESETS:
        st.session_state[PRESET] = picked
        widgets.set_widgets(cfg_lib.PRESETS[picked])


def on_preset_button() -> None:
    """A preset button in presentation mode starts the demo over with that preset."""
    picked = st.session_state.get(PRESET_BUTTONS) or preset_name()  # clicking the lit button again keeps it
    st.session_state[PRESET] = picked
    widgets.set_widgets(cfg_lib.PRESETS[picked])
    st.session_state.start_over = True


# --- other viewers ----------------------------------------------------------------------------------
def follow_other_viewers(trainer) -> None:
    """Another tab may have changed a live setting of this run: show its value in these controls."""
    last = st.session_state.last_draft
    for name, (_, theirs) in last.diff(trainer.config).items():
        if name in LIVE_FIELDS:
            st.session_state[widgets.widget_key(name)] = theirs
            st.session_state.last_draft = st.session_state.last_draft.replace(**{name: theirs})


def others_changed(trainer) -> bool:
    """True when a live setting of the run differs from what these controls last sent."""
    last = st.session_state.get("last_draft")
    return last is not None and any(name in LIVE_FIELDS for name in last.diff(trainer.config))


# --- data ---------------------------------------------------------------------------------------------
def chosen_dataset():
    """The data set picked in this tab for the next run, or None to keep the run's own."""
    choice = st.session_state.get(DATA_CHOICE)
    if choice is None:
        return None
    if choice == DEFAULT_DATA:
        return common.current_dataset()
    return common.uploads().get(choice)


def choose_upload(key: str) -> None:
    st.session_state[DATA_CHOICE] = key


def choose_default() -> None:
    st.session_state[DATA_CHOICE] = DEFAULT_DATA


# --- lineage ----------------------------------------------------------------------------------------
def attach_or_create(registry, run_id: str, draft, default_dataset):
    """The run this session shows: live in the registry, continued from its saved files (on its own
    data, or with one sentence why not), or new. Raises RegistryFull when no slot is free."""
    from ae_core import run_data, runs

    trainer = registry.get(run_id)
    if trainer is not None:
        return trainer
    saved = common.saved_run(run_id)
    if saved is not None:
        dataset, why = run_data.dataset_for(saved.path, saved.meta.get("data"), default_dataset)
        if why:
            note(why, run_id)
        return registry.create(saved.config, dataset, run_id=run_id, on_checkpoint=common.save_run,
                               **runs.resume_kwargs(saved))
    config = draft or cfg_lib.PRESETS[preset_name()]
    return registry.create(config, chosen_dataset() or default_dataset, run_id=run_id,
                           on_checkpoint=common.save_run)


def new_run(trainer, config, dataset):
    """Start over with ``config`` on ``dataset``. A run that has trained is kept: it is saved and
    released, and a new run with a new id takes its place in this tab (and in the URL). A run with
    no steps yet is replaced in place."""
    registry = common.registry()
    if trainer.snapshot().step == 0:
        trainer.reset(config, dataset=dataset)
        return trainer
    st.session_state.pop("notice", None)
    registry.release(trainer.run_id)     # stops its thread at a chunk boundary
    try:
        common.save_run(trainer)
    except Exception as e:  # the new run must not depend on the old one's files
        note(f"The previous run could not be saved ({type(e).__name__}: {e}); its last periodic save stands.")
    run_id = common.new_run_id()
    fresh = registry.create(config, dataset, run_id=run_id, on_checkpoint=common.save_run)
    st.session_state.run_id = run_id
    st.query_params["run"] = run_id   # at once: the next script run must not read the old id from the URL
    st.session_state[DATA_CHOICE] = None
    return fresh

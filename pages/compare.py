"""Compare: 2 to 4 runs racing, live or saved: one Loss chart, the same digits side by side, and
each live run's knobs."""
from __future__ import annotations

import streamlit as st

from ae_core import config as cfg_lib
from ae_core import model_file, race, runs
from ae_core.config import ConfigError
from ae_core.trainer import DIVERGED, DONE, PAUSED, READY, RUNNING
from pages import access, common

REFRESH_S = 1.5   # two to four runs' curves and digits: a little more work than the Train page's refresh
CHART_EVERY_S = 3.0  # ... and redraws the loss chart at most this often while only new steps arrive
SELECT_KEY = "compare_runs"
GRID = 4           # digits a side in each run's grid
LIVE_KNOBS = ("learning_rate", "batch_size")

common.leave_mpa_v1()
st.title("Compare")
st.caption("Runs racing on one chart: pick 2 to 4 runs live on this server or saved in the run store.")


# --- which runs: the link's ?runs=, then the multiselect ----------------------------------------------
def _available() -> dict[str, runs.SavedRun]:
    snapshots = [t.snapshot() for t in common.registry().trainers()]
    return {r.run_id: r for r in runs.with_live(runs.list_runs(), snapshots)}


available = _available()
link = st.query_params.get("runs")
if st.session_state.get("compare_link") != link:  # a new link (or the first visit): it decides the pick
    st.session_state.compare_link = link
    ids, errors = race.parse_run_ids(link)
    for run_id in ids:
        if run_id not in available:
            errors.append(f"Run {run_id} is neither live on this server nor saved in {runs.runs_dir()}.")
    st.session_state.compare_errors = errors
    st.session_state[SELECT_KEY] = [i for i in ids if i in available]
for error in st.session_state.get("compare_errors", []):
    st.error(error)
# A run released or deleted since it was picked leaves the pick quietly.
st.session_state[SELECT_KEY] = [i for i in st.session_state.get(SELECT_KEY, []) if i in available]


def _label(run_id: str) -> str:
    run = available.get(run_id)
    if run is None:
        return run_id
    return f"{run.name} · {run_id}" + (" (live)" if run.meta.get("live") else "")


picked = st.multiselect("Runs", list(available), key=SELECT_KEY, max_selections=race.MAX_RUNS, format_func=_label)
wanted = ",".join(picked) or None
if wanted != link:
    st.session_state.compare_link = wanted
    if wanted:
        st.query_params["runs"] = wanted
    else:
        st.query_params.pop("runs", None)


# --- the race: live part ----------------------------------------------------------------------------
def _set_live(trainer, name: str, key: str) -> None:
    if not access.may_steer():
        return
    try:
        trainer.update(**{name: st.session_state[key]})
    except ConfigError as e:
        st.session_state.compare_flash = str(e)


def _knobs(trainer, container) -> None:
    """Learning rate, batch size and Pause/Resume of one live run (keys of their own per run)."""
    snap = trainer.snapshot()
    for name in LIVE_KNOBS:
        key = f"cmp_{trainer.run_id}_{name}"
        value = getattr(trainer.config, name)
        st.session_state[key] = value  # follows changes made elsewhere (Train page, another tab)
        options = cfg_lib.spec(name)["options"]
        container.select_slider(cfg_lib.spec(name)["label"], sorted(set(options) | {value}), key=key,
                                format_func=lambda v: f"{v:g}", on_change=_set_live, args=(trainer, name, key))
    if snap.status == RUNNING:
        if container.button("Pause", key=f"cmp_{trainer.run_id}_pause", width="stretch"):
            trainer.pause()
            _settle(trainer, lambda s: s.status != RUNNING)
    else:
        can = snap.status in (PAUSED, DIVERGED, READY) or (snap.status == DONE and snap.step < snap.budget)
        if container.button("Resume", key=f"cmp_{trainer.run_id}_resume", disabled=not can, width="stretch"):
            trainer.resume()
            _settle(trainer, lambda s: s.status == RUNNING)


def _settle(trainer, until) -> None:
    try:
        trainer.wait(until, timeout=0.5)
    except (TimeoutError, RuntimeError):
        pass


def _saved_reconstructions(run: runs.SavedRun, images):
    """A saved run's reconstructions of ``images``, read from its model.keras once per save."""
    cache = st.session_state.setdefault("compare_recon", {})
    tag = (run.run_id, run.meta.get("saved"), len(images))
    if tag not in cache:
        try:
            model = runs.load_keras_model(run.model_path) if run.model_path else None
            cache[tag] = model_file.reconstruct(model, images) if model is not None else None
        except runs.RunError:
            cache[tag] = None
    return cache[tag]


@st.fragment(run_every=REFRESH_S)
def race_view(ids: tuple[str, ...]) -> None:
    with st.container(key="race_view"):
        common.guarded(_race_view)(ids)


def _race_view(ids: tuple[str, ...]) -> None:
    from ae_core import viz
    from ae_core.fork import parent_of
    from ae_core.viz_compare import RUN_COLOURS, race_curve, race_figure

    registry = common.registry()
    trainers = {i: registry.get(i) for i in ids}
    saved = {r.run_id: r for r in runs.list_runs()} if not all(trainers.values()) else {}
    members = []  # (run id, name, trainer or None, SavedRun or None)
    for run_id in ids:
        trainer = trainers[run_id]
        run = saved.get(run_id)
        if trainer is None and run is None:
            st.warning(f"Run {run_id} is no longer live or saved.")
            continue
        name = (run.name if run is not None else run_id)
        members.append((run_id, name, trainer, run))
    if not members:
        return

    curves, configs = [], []
    for run_id, name, trainer, run in members:
        history = trainer.snapshot().history if trainer is not None else run.history
        events = history.events if trainer is not None else run.events
        branch = parent_of(events)  # a fork's curve starts where it branched
        curves.append(race_curve(name, history, events, branch[1] if branch else 0))
        configs.append(trainer.config if trainer is not None else run.config)
    dataset = next((t.dataset for _, _, t, _ in members if t is not None), None) or common.current_dataset()
    baselines = None
    if dataset is not None:
        from ae_core import baselines as bl

        baselines = bl.lines_for(dataset, [c.latent for c in configs])
    log_y = st.toggle("Log scale", value=True, key="compare_log")
    # Redrawn at once for a viewer's option, a status or a live change; for new steps every few seconds.
    status = tuple((t.snapshot().status, len(t.snapshot().history.events)) if t is not None else None
                   for _, _, t, _ in members)
    fig = common.steady_figure(
        "race_chart", lambda: race_figure(curves, baselines=baselines, log_y=log_y),
        now=(ids, log_y, status, baselines and tuple(baselines.items())),
        later=tuple(t.snapshot().step if t is not None else None for _, _, t, _ in members), every_s=CHART_EVERY_S)
    st.plotly_chart(fig, key="race_chart", config=common.chart_config("loss"))

    # The same fixed test digits through each run, side by side; live knobs under live runs.
    cols = st.columns(1 + len(members))
    originals = dataset.x_test[: GRID * GRID] if dataset is not None else None
    if originals is not None:
        cols[0].image(common.inline_png(viz.digit_grid(originals, GRID, scale=2)), caption="Original", width="stretch",
                      output_format="PNG")
    for i, (col, (run_id, name, trainer, run)) in enumerate(zip(cols[1:], members)):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        col.markdown(f"<span style='color:{colour}'>■</span> **{name}**", unsafe_allow_html=True)
        if trainer is not None:
            snap = trainer.snapshot()
            with col:
                common.status_badge(snap.status)
            recon = snap.reconstructions[: GRID * GRID] if len(snap.reconstructions) else None
            at = snap.recon_step
            mse = snap.test_loss
        else:
            col.caption(f"saved · {run.meta.get('status', '')}")
            recon = _saved_reconstructions(run, originals) if originals is not None else None
            at = run.meta.get("steps")
            mse = run.meta.get("test_mse")
        if recon is not None:
            col.image(common.inline_png(viz.digit_grid(recon, GRID, scale=2)), caption=f"step {at:,}" if isinstance(at, int) else "",
                      width="stretch", output_format="PNG")
        col.caption(f"Test MSE {mse:.4f}" if isinstance(mse, float) else "Test MSE —")
        if trainer is not None and access.may_steer():
            _knobs(trainer, col)
    if st.session_state.get("compare_flash"):
        st.error(st.session_state.pop("compare_flash"))


if len(picked) >= race.MIN_RUNS:
    common.hold_still("race_view")
    race_view(tuple(picked))
else:
    st.info(f"Pick {race.MIN_RUNS} to {race.MAX_RUNS} runs above, tick runs on the Runs page and press Compare, "
            "Fork a run on the Train page, or start a new race below.")


# --- a new race: the same preset, one setting differing, started together with the same seed ------------
def _new_race() -> None:
    from ae_core.registry import RegistryFull

    st.subheader("New race")
    with st.form("new_race", border=False):
        cols = st.columns([1, 1, 1.4, 1], vertical_alignment="bottom")
        preset = cols[0].selectbox("Preset", list(cfg_lib.PRESETS), index=list(cfg_lib.PRESETS).index(
            cfg_lib.DEFAULT_PRESET), key="race_preset")
        field = cols[1].selectbox("Setting", list(cfg_lib.FIELDS), index=list(cfg_lib.FIELDS).index("learning_rate"),
                                  format_func=lambda f: cfg_lib.spec(f)["label"], key="race_field")
        text = cols[2].text_input("Values", value="0.01, 0.001", key="race_values",
                                  help="2 to 4 values, comma-separated (widths as 256-64)")
        go = cols[3].form_submit_button("New race", type="primary", width="stretch")
    if not go:
        return
    dataset = common.current_dataset()
    if dataset is None:
        st.info("The data set is still loading; try again in a moment.")
        return
    try:
        configs = race.race_configs(cfg_lib.PRESETS[preset], field, race.parse_values(field, text))
    except ConfigError as e:
        st.error(str(e))
        return
    registry = common.registry()
    made = []
    try:
        for config in configs:
            made.append(registry.create(config, dataset, on_checkpoint=common.save_run))
    except RegistryFull as e:
        for trainer in made:
            registry.release(trainer.run_id)
        st.error(str(e))
        return
    for trainer in made:
        trainer.start()  # together: each begins as soon as its network is built
    st.query_params["runs"] = ",".join(t.run_id for t in made)
    st.rerun()


if access.may_steer():
    _new_race()

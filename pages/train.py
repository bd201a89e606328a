"""Train: steer the autoencoder with sliders and watch it learn, live."""
from __future__ import annotations

import streamlit as st

from ae_core import config as cfg_lib
from ae_core.config import LIVE_FIELDS, ConfigError
from ae_core.registry import RegistryFull
from ae_core.status import Status
from pages import access, audience, common, config_widgets as widgets, contrast, scene_view, variant_views
from pages import train_state as state

# Every rerun of a part of the page costs the browser ~50-70 ms of React work for the whole page,
# more with a chart to redraw, on the cores the run trains with. So the page has two parts that
# rerun on their own: the live view (status, metrics, buttons) at just over 1 Hz, and the pictures
# (loss chart, digit grids, film strip, inside the network) together every few seconds.
REFRESH_S = 0.85   # with the rerun itself, ~1.1 Hz
# A watcher steers nothing, so nothing they do waits on the view; every viewer's rerun costs the
# server's CPU that the run trains with, and a room may hold thirty of them.
WATCH_REFRESH_S = 1.5
CHART_REFRESH_S = 3.0
WATCH_CHART_REFRESH_S = 4.0
# Layer health is measured at each evaluation; its three-plot figure is the most costly to redraw on
# the page (~3 000 DOM changes) and changes slowly, so it is redrawn at once for another layer, a new
# status or a layer's verdict (ok, notable, alarm), and otherwise at most this often.
HEALTH_REFRESH_S = 30.0
# How long a pressed button's refresh waits for the command to show (a chunk ends within ~0.1 s);
# Start waits for the first steps, which come later.
EFFECT_WAIT_S = 0.4
FIRST_STEPS_WAIT_S = 1.0
STARTING = (Status.PREPARING, Status.READY, Status.RUNNING)


# --- session: the run in the URL, and this tab's draft ---------------------------------------------
if not access.may_steer():
    audience.follow_presenter()   # a bare audience link shows the presenter's run
state.ensure_session()
registry = common.registry()
trainer = registry.get(st.session_state.run_id)
if trainer is not None:
    state.follow_other_viewers(trainer)
state.point_widgets()
common.hold_still("live_view", "live_charts", "film_view", "inside_view")


# --- controls ----------------------------------------------------------------------------------------
def presentation_controls() -> None:
    """A demo in front of a room: presets as big buttons, the two live knobs on the page, and the
    rest tucked into the sidebar. A preset click starts over with the preset's seed, so the same
    demo repeats itself."""
    st.html(common.style("present.css"))  # large type for a projector (the file says why each rule)
    audience.link_card()
    if not access.may_steer():
        return
    bar = st.columns([2, 1.4, 1.4])
    bar[0].segmented_control("Preset", list(cfg_lib.PRESETS), key=state.PRESET_BUTTONS,
                             on_change=state.on_preset_button)
    bar[0].caption(cfg_lib.PRESET_BLURBS[state.preset_name()])
    widgets.config_widget("learning_rate", container=bar[1])
    widgets.config_widget("batch_size", container=bar[2])
    with st.sidebar.expander("All settings"):
        for name in cfg_lib.FIELDS:
            if name not in ("learning_rate", "batch_size"):
                widgets.config_widget(name)


def sidebar_controls() -> None:
    with st.sidebar:
        st.selectbox("Preset", list(cfg_lib.PRESETS), key=state.PRESET_MENU, on_change=state.on_preset_menu,
                     help="Load a whole configuration; the controls below then fine-tune it.")
        st.caption(cfg_lib.PRESET_BLURBS[state.preset_name()])
        st.subheader("Live", help="These apply to the running run at once and are marked on the loss curve.")
        for name in cfg_lib.FIELDS:
            if name in LIVE_FIELDS:
                widgets.config_widget(name)
        st.subheader("Network", help="Changing these needs a new network: press Reset to start a new run.")
        for name in cfg_lib.FIELDS:
            if name not in LIVE_FIELDS:
                widgets.config_widget(name)


def data_controls(run_dataset) -> None:
    with st.sidebar.expander("Your own data"):
        upload = st.file_uploader("28×28 grayscale digits (NPZ, CSV, gzipped IDX in a zip)",
                                  type=["npz", "csv", "gz", "zip"], key="upload")
        if upload is not None:
            from ae_core.data import DataError

            try:
                key = common.load_upload(upload)
                if common.uploads()[key] is not run_dataset and st.session_state.get("uploaded") != key:
                    state.choose_upload(key)
                st.session_state.uploaded = key
                st.success(f"{upload.name} loaded; the next run (Reset) trains on it.")
            except DataError as e:
                st.error(str(e))
        default, chosen = common.current_dataset(), state.chosen_dataset()
        if run_dataset is not default or (chosen is not None and chosen is not default):
            st.button("Use the built-in MNIST", on_click=state.choose_default,
                      help="The next run (Reset) trains on the server's default data set.")


with st.sidebar:
    st.toggle("Presentation mode", key=state.PRESENT_TOGGLE, on_change=state.on_present_toggle,
              help="Large type, the essentials on the page, the presets one click away, fixed seed.")
if state.presenting():
    presentation_controls()
elif access.may_steer():
    sidebar_controls()

try:
    draft = widgets.draft_config()
except ConfigError as e:
    st.sidebar.error(str(e))
    draft = None

st.title("Watch an autoencoder learn")
default_dataset = common.dataset_or_wait("Loading MNIST… (set AE_MNIST_PATH to use your own file)",
                                         "No data set could be loaded")
if default_dataset is None:
    st.stop()


# --- the run ---------------------------------------------------------------------------------------
def full_server(error) -> None:
    """No slot for a new run: say what would free one, offer the runs there are, and try again on
    its own until a slot is free."""
    st.error(str(error))
    live = registry.trainers()
    if live:
        st.markdown("Watch a run on this server instead:")
        for other in live:
            snap = other.snapshot()
            st.markdown(f"- [{other.run_id}](?run={other.run_id}) · {snap.status} · step {snap.step:,}")
    st.page_link("pages/runs.py", label="See saved runs on the Runs page", icon=":material/folder_open:")

    @st.fragment(run_every=2.0)
    def retry():
        if registry.has_room():
            st.rerun()
        st.caption("Waiting for a free slot; this page starts your run as soon as one frees.")

    retry()
    st.stop()


if access.may_steer():
    try:
        trainer = state.attach_or_create(registry, st.session_state.run_id, draft, default_dataset)
    except RegistryFull as e:
        full_server(e)
else:
    trainer = audience.watched_run(registry, st.session_state.run_id)   # a live run, or a sentence and stop
state.show_notes()
if access.may_steer():
    data_controls(trainer.dataset)
    contrast.sweep_starter(draft, trainer.dataset, container=st.sidebar)

steering = draft is not None and access.may_steer()   # a watcher's draft (widgets, ?preset=...) changes nothing
if steering:
    last = st.session_state.last_draft
    # Push only what this viewer changed: another tab's changes must not be undone by stale widgets.
    live = {k: new for k, (old, new) in trainer.config.diff(draft).items()
            if k in LIVE_FIELDS and getattr(last, k) != new}
    if live:
        trainer.update(**live)
    st.session_state.last_draft = draft
    next_data = state.chosen_dataset()
    data_pending = next_data is not None and next_data is not trainer.dataset
    pending = trainer.config.needs_reset(draft)
    snap = trainer.snapshot()
    start_over = st.session_state.pop("start_over", False)
    if start_over or (pending or data_pending) and snap.step == 0 and snap.status in ("preparing", "ready"):
        trainer = state.new_run(trainer, draft, next_data or trainer.dataset)  # nothing trained yet: at once
        pending, data_pending = [], False
    access.on_air(trainer.run_id)
scene_view.scene_panel(trainer)   # a talk's scene (?scene=NAME): its caption, Next and Pause / Resume


def header(trainer, draft, pending, data_pending, next_data) -> None:
    """What the run is (its network and its data), and what the controls would change on Reset."""
    from ae_core.model import parameter_count

    config = trainer.config
    st.caption(" → ".join(str(w) for w in config.layer_widths)
               + f" · {parameter_count(config):,} parameters · {config.activation}, {config.optimizer}"
               + f" · run {trainer.run_id}")
    st.caption(f"Data: {trainer.dataset.source} · {trainer.dataset.n_train:,} training / "
               f"{trainer.dataset.n_test:,} test digits")
    if pending or data_pending:
        what = [f"{cfg_lib.spec(k)['label'].lower()} {cfg_lib.format_value(k, getattr(config, k))} → "
                f"{cfg_lib.format_value(k, getattr(draft, k))}" for k in pending]
        what += [f"the data set → {next_data.source}"] if data_pending else []
        st.warning("Pending: " + "; ".join(what) + ". **Reset to start a new run with them.**",
                   icon=":material/pan_tool:")


if steering:
    header(trainer, draft, pending, data_pending, next_data)
    widgets.sync_url(trainer.run_id, state.preset_name(), draft, present=state.presenting())
else:
    header(trainer, trainer.config, [], False, None)
if (warning := common.data_warning()) and trainer.dataset is default_dataset:
    st.warning(warning)


# --- live view -------------------------------------------------------------------------------------
def _reset(trainer) -> None:
    try:
        config = widgets.draft_config()
    except ConfigError as e:
        st.error(str(e))
        return
    state.new_run(trainer, config, state.chosen_dataset() or trainer.dataset)
    st.rerun()


def _controls(trainer, snap):
    """The buttons; returns what the snapshot should show once a pressed command took effect, and
    how long to wait for it."""
    status = snap.status
    cols = st.columns([1, 1, 1, 1, 1, 1.4])
    effect, wait_s = None, EFFECT_WAIT_S
    if cols[0].button("Start", type="primary", disabled=status not in ("ready", "preparing"), width="stretch"):
        trainer.start()
        # The first steps, not just "running": on a ready network the first chunk ends a few tenths
        # of a second after Start, and this refresh then shows them instead of the next one.
        effect = lambda s: s.step > snap.step or s.status not in STARTING  # noqa: E731
        wait_s = FIRST_STEPS_WAIT_S
    if cols[1].button("Pause", disabled=status != "running", width="stretch"):
        trainer.pause()
        effect = lambda s: s.status != "running"  # noqa: E731
    can_resume = status in ("paused", "diverged") or (status == "done" and snap.step < trainer.config.steps)
    if cols[2].button("Resume", disabled=not can_resume, width="stretch"):
        trainer.resume()
        effect = lambda s: s.status == "running"  # noqa: E731
    if cols[3].button("Step", disabled=status in ("running", "preparing", "error", "stopped"), width="stretch",
                      help="Train the number of steps on the right, then pause."):
        trainer.step(int(st.session_state.get("step_size", 10)))
        effect = lambda s: s.step > snap.step  # noqa: E731
    if cols[4].button("Reset", width="stretch",
                      help="Start a new run with the settings on the left; this one stays saved on the Runs page."):
        _reset(trainer)
    cols[5].number_input("Steps per Step", 1, 100_000, value=10, key="step_size",
                         help="How many steps one click of Step trains")
    return effect, wait_s


def live_view(run_id: str) -> None:
    with st.container(key="live_view"):
        common.guarded(_live_view)(run_id)


def _live_view(run_id: str) -> None:
    trainer = common.registry().get(run_id)
    if trainer is None:
        st.info("This run was released from memory (its files are saved). Reload the page to continue it, "
                "or find it on the Runs page.")
        st.page_link("pages/runs.py", label="Runs", icon=":material/folder_open:")
        return
    if state.others_changed(trainer) or audience.presenter_moved(run_id):
        st.rerun(scope="app")  # another tab changed a live setting (or the presenter's run): redraw
    effect, wait_s = None, 0.0
    if access.may_steer():
        effect, wait_s = _controls(trainer, trainer.snapshot())
        contrast.fork_button(trainer, trainer.snapshot())
    if effect is not None:
        # Show a command's effect in this very refresh, not the next one.
        try:
            trainer.wait(effect, timeout=wait_s)
        except (TimeoutError, RuntimeError):
            pass
    snap = trainer.snapshot()

    common.status_badge(snap.status)
    if snap.status == "preparing":
        st.caption("Building the network and compiling the training step (TensorFlow)…")
    if snap.message:
        (st.error if snap.status in ("error", "diverged") else st.info)(snap.message)

    budget = snap.config.steps
    m = st.columns(4)
    m[0].metric("Step", f"{snap.step:,} / {budget:,}")
    m[1].metric("Loss", f"{snap.loss:.4f}" if snap.loss is not None else "—")
    m[2].metric("Test MSE", f"{snap.test_loss:.4f}" if snap.test_loss is not None else "—")
    running = snap.status == "running"
    m[3].metric("Steps/s", f"{snap.steps_per_sec:,.0f}" if running else "—")
    speed = f" · {snap.steps_per_sec * snap.config.batch_size:,.0f} digits/s" if running else ""
    st.progress(min(1.0, snap.step / max(budget, 1)), text=f"{snap.elapsed:.1f} s of training{speed}")
    contrast.verdict(trainer, snap)


def _live_charts(run_id: str) -> None:
    from ae_core import viz

    trainer = common.registry().get(run_id)
    if trainer is None:
        return   # the live view above says so
    snap = trainer.snapshot()
    chart, grids = st.columns([3, 2])
    with chart:
        opts = st.columns(2)
        log_y = opts[0].toggle("Log scale", key="log_y", value=True)
        x_axis = opts[1].segmented_control("x axis", ["step", "seconds"], default="step", key="x_axis",
                                           label_visibility="collapsed") or "step"
        baselines = contrast.chart_baselines(trainer)
        fig = common.steady_figure(
            "loss_chart", lambda: viz.loss_figure(snap.history, log_y=log_y, baselines=baselines,
                                                  x="elapsed" if x_axis == "seconds" else "step"),
            now=(run_id, snap.status, log_y, x_axis, baselines and tuple(baselines.items()),
                 len(snap.history.events)),
            later=(snap.step, snap.recon_step), every_s=CHART_REFRESH_S)
        st.plotly_chart(fig, key="loss_chart", config=common.chart_config(f"{run_id}-loss"))
    with grids:
        opts = st.columns(3)
        n = opts[0].select_slider("Grid", [4, 5, 6, 7, 8], value=4, key="grid_n", format_func=lambda k: f"{k}×{k}")
        show_diff = opts[1].toggle("Difference", key="show_diff", help="Where the reconstruction is wrong")
        show_pca = contrast.pca_toggle(opts[2])
        scale = max(1, 224 // (28 * n))
        if len(snap.reconstructions):
            pics = st.columns(2 + show_diff + show_pca)
            pics[0].image(common.inline_png(viz.digit_grid(snap.originals, n, scale=scale)), caption="Original",
                          width="stretch")
            pics[1].image(common.inline_png(viz.digit_grid(snap.reconstructions, n, scale=scale)),
                          caption="Reconstruction", width="stretch")
            common.grid_download(pics[0], lambda: viz.digit_grid(snap.originals, n, scale=4), "original.png",
                                 key="dl_original")
            common.grid_download(pics[1], lambda: viz.digit_grid(snap.reconstructions, n, scale=4),
                                 f"reconstruction-step-{snap.recon_step}.png", key="dl_reconstruction")
            if show_diff:
                pics[2].image(common.inline_png(viz.difference_grid(snap.originals, snap.reconstructions, n, scale=scale)),
                              caption="Difference", width="stretch")
            if show_pca:
                contrast.pca_image(pics[-1], trainer, snap, n, scale)
            st.caption(f"Reconstructions at step {snap.recon_step:,} of the first {n * n} test digits.")
        else:
            st.caption("Reconstructions appear once the network is built.")


def pictures(run_id: str, architecture: str | None) -> None:
    """The parts that change with evaluations, rerun together: the loss chart and grids, the film
    strip, and inside the network (the architecture drawn from the settings of the last full run)."""
    with st.container(key="live_charts"):
        common.guarded(_live_charts)(run_id)
    contrast.film_strip(run_id)
    st.subheader("Inside the network")
    if architecture is not None:
        st.graphviz_chart(architecture)
    with st.container(key="inside_view"):
        common.guarded(_inside_view)(run_id)


def _inside_view(run_id: str) -> None:
    from ae_core import viz_network
    from ae_core.health import layer_label, loss_falling, reading, verdict
    from ae_core.trainer import PROBE_SIZE

    trainer = common.registry().get(run_id)
    snap = trainer.snapshot() if trainer is not None else None
    if snap is None or snap.first_layer is None or not snap.health:
        st.caption("Filters and layer health appear once the network is built.")
        return
    left, right = st.columns([2, 3])
    with left:
        units = snap.first_layer.shape[1]
        options = [k for k in (4, 6, 8, 10, 12, 16) if k * k <= max(units, 16)] or [4]
        n = st.select_slider("Filters shown", options, value=min(8, options[-1]), key="filters_n",
                             format_func=lambda k: f"{min(k * k, units)} of {units}")
        st.image(common.inline_png(viz_network.filter_grid(snap.first_layer, n, scale=max(1, 336 // (28 * n)))),
                 caption="First-layer filters", width="stretch")
        common.grid_download(st, lambda: viz_network.filter_grid(snap.first_layer, n, scale=4),
                             f"filters-step-{snap.recon_step}.png", key="dl_filters")
        st.caption(f"What each {layer_label('encoder_1')} unit looks for: light = positive weight, dark = negative.")
    with right:
        names = [h.name for h in snap.health]
        pick = st.selectbox("Distribution of", names, key="health_layer", format_func=layer_label)
        falling = loss_falling(snap.history.loss)
        verdicts = tuple(verdict(h, falling) for h in snap.health)
        fig, words, step = common.steady_figure(   # the sentence and the step go with the figure
            "health_chart", lambda: (viz_network.health_figure(snap.health, layer=names.index(pick), falling=falling),
                                     reading(list(snap.health), falling), snap.recon_step),
            now=(run_id, pick, snap.status, verdicts), later=(snap.recon_step,), every_s=HEALTH_REFRESH_S)
        st.plotly_chart(fig, key="health_chart", config=common.chart_config(f"{run_id}-layer-health"))
        st.markdown(f"**{words}**")
        st.caption(f"Measured on a fixed batch of {PROBE_SIZE} test digits at step {step:,}.")
    variant_views.live_panel(snap)


st.fragment(live_view, run_every=REFRESH_S if access.may_steer() else WATCH_REFRESH_S)(trainer.run_id)
architecture = None
if draft is not None:
    from ae_core import viz_network

    waiting = draft if steering and trainer.config.needs_reset(draft) else None
    architecture = viz_network.architecture_dot(trainer.config, pending=waiting)
st.fragment(pictures, run_every=CHART_REFRESH_S if access.may_steer() else WATCH_CHART_REFRESH_S)(
    trainer.run_id, architecture)

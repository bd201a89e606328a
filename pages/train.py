"""Train: steer the autoencoder with sliders and watch it learn, live."""
from __future__ import annotations

import streamlit as st

from ae_core import config as cfg_lib
from ae_core.config import LIVE_FIELDS, ConfigError
from pages import common, variant_views

REFRESH_S = 0.75   # the live view reruns on its own this often


# --- session start: attach to the run in the URL, or set up a new one ------------------------------
def _init_session() -> None:
    from ae_core.runs import RunError, check_run_id
    from ae_core.trainer import new_run_id

    run_id = st.query_params.get("run")
    try:
        run_id = check_run_id(run_id) if run_id else new_run_id()
    except RunError as e:
        st.session_state.notice = f"{e} A new run was started instead."
        run_id = new_run_id()
    trainer = common.registry().get(run_id)
    saved = None if trainer is not None else common.saved_run(run_id)
    if trainer is not None or saved is not None:
        config = trainer.config if trainer is not None else saved.config
        preset_name = cfg_lib.preset_of(config) or cfg_lib.DEFAULT_PRESET
    else:
        preset_name, config = common.config_from_url()
    st.session_state.resume = saved
    st.session_state.run_id = run_id
    st.session_state.preset = preset_name
    st.session_state.last_draft = config
    st.session_state.present = st.query_params.get("present") == "1"
    common.set_widgets(config)


def _apply_preset(start_over: bool = False) -> None:
    common.set_widgets(cfg_lib.PRESETS[st.session_state.preset])
    st.session_state.start_over = start_over


def _follow_other_viewers(trainer) -> None:
    """Another tab may have changed a live setting of this run: show its value here too."""
    last = st.session_state.last_draft
    for name, (_, theirs) in last.diff(trainer.config).items():
        if name in LIVE_FIELDS:
            st.session_state[common.widget_key(name)] = theirs
            st.session_state.last_draft = st.session_state.last_draft.replace(**{name: theirs})


_linked = st.query_params.get("run")
if "run_id" not in st.session_state or (_linked and _linked != st.session_state.run_id):
    _init_session()  # a new session, or a link to another run ("Open in Train")
elif common.widget_key("learning_rate") not in st.session_state:
    # Back from another page: Streamlit dropped this page's widget values while that page ran.
    st.session_state.preset = cfg_lib.preset_of(st.session_state.last_draft) or cfg_lib.DEFAULT_PRESET
    common.set_widgets(st.session_state.last_draft)
if st.session_state.get("notice"):
    st.warning(st.session_state.notice)
run_id = st.session_state.run_id
registry = common.registry()
trainer = registry.get(run_id)
if trainer is not None:
    _follow_other_viewers(trainer)

# --- controls ----------------------------------------------------------------------------------------
PRESENT_CSS = """<style>
h1 { font-size: 3.4rem !important; }
[data-testid="stMetricValue"] { font-size: 3.6rem !important; }
[data-testid="stMetricLabel"] p { font-size: 1.5rem !important; }
.stButton button p, [data-testid="stMarkdownContainer"] p { font-size: 1.35rem; }
</style>"""

common.hold_still("live_view", "inside_view")

with st.sidebar:
    present = st.toggle("Presentation mode", key="present",
                        help="Large type, the essentials on the page, the four presets one click away, fixed seed.")

if present:
    # A demo in front of a room: presets as big buttons, the two live knobs on the page, and
    # the rest tucked into the sidebar. A preset click starts over at once with the preset's seed,
    # so the same demo repeats itself.
    st.html(PRESENT_CSS)
    bar = st.columns([2, 1.4, 1.4])
    bar[0].segmented_control("Preset", list(cfg_lib.PRESETS), key="preset", required=True,
                             on_change=_apply_preset, args=(True,))
    bar[0].caption(cfg_lib.PRESET_BLURBS[st.session_state.preset])
    common.config_widget("learning_rate", container=bar[1])
    common.config_widget("batch_size", container=bar[2])
    with st.sidebar.expander("All settings"):
        for name in cfg_lib.FIELDS:
            if name not in ("learning_rate", "batch_size"):
                common.config_widget(name)
else:
    with st.sidebar:
        st.selectbox("Preset", list(cfg_lib.PRESETS), key="preset", on_change=_apply_preset,
                     help="Load a whole configuration; the controls below then fine-tune it.")
        st.caption(cfg_lib.PRESET_BLURBS[st.session_state.preset])
        st.subheader("Live", help="These apply to the running run at once and are marked on the loss curve.")
        for name in cfg_lib.FIELDS:
            if name in LIVE_FIELDS:
                common.config_widget(name)
        st.subheader("Network", help="Changing these needs a new network: press Reset to apply.")
        for name in cfg_lib.FIELDS:
            if name not in LIVE_FIELDS:
                common.config_widget(name)

with st.sidebar.expander("Your own data"):
    upload = st.file_uploader("28×28 grayscale digits (NPZ, CSV, gzipped IDX in a zip)",
                              type=["npz", "csv", "gz", "zip"], key="upload")
    if upload is not None:
        from ae_core.data import DataError

        try:
            st.session_state.dataset_key = common.load_upload(upload)
            st.success(f"{upload.name} loaded; press Reset to train on it.")
        except DataError as e:
            st.error(str(e))
    if st.session_state.get("dataset_key") and st.button("Use the built-in MNIST"):
        st.session_state.dataset_key = None

try:
    draft = common.draft_config()
except ConfigError as e:
    st.sidebar.error(str(e))
    draft = None

# --- header ----------------------------------------------------------------------------------------
st.title("Watch an autoencoder learn")
if draft is not None:
    from ae_core.model import parameter_count

    st.caption(" → ".join(str(w) for w in draft.layer_widths)
               + f" · {parameter_count(draft):,} parameters · {draft.activation}, {draft.optimizer}")

dataset = common.dataset_or_wait("Loading MNIST… (set AE_MNIST_PATH to use your own file)",
                                 "No data set could be loaded")
if dataset is None:
    st.stop()

st.caption(f"Data: {dataset.source} · {dataset.n_train:,} training / {dataset.n_test:,} test digits")
if (warning := common.data_warning()) and not st.session_state.get("dataset_key"):
    st.warning(warning)

# --- the run ---------------------------------------------------------------------------------------
if trainer is None:
    from ae_core import runs
    from ae_core.registry import RegistryFull

    saved = st.session_state.get("resume")
    extra = runs.resume_kwargs(saved) if saved is not None else {}
    try:
        trainer = registry.create(saved.config if saved is not None else (draft or cfg_lib.PRESETS[st.session_state.preset]),
                                  dataset, run_id=run_id, on_checkpoint=common.save_run, **extra)
    except RegistryFull as e:
        st.error(str(e))
        st.stop()
    st.session_state.resume = None

if draft is not None:
    last = st.session_state.last_draft
    # Push only what this viewer changed: another tab's changes must not be undone by stale widgets.
    live = {k: new for k, (old, new) in trainer.config.diff(draft).items()
            if k in LIVE_FIELDS and getattr(last, k) != new}
    if live:
        trainer.update(**live)
    st.session_state.last_draft = draft
    pending = trainer.config.needs_reset(draft)
    data_pending = trainer.dataset is not dataset
    snap = trainer.snapshot()
    start_over = st.session_state.pop("start_over", False)
    if start_over or (pending or data_pending) and snap.step == 0 and snap.status in ("preparing", "ready"):
        trainer.reset(draft, dataset=dataset)  # nothing trained yet: apply at once
        pending, data_pending = [], False
    if pending or data_pending:
        what = [f"{cfg_lib.spec(k)['label'].lower()} {getattr(trainer.config, k)} → {getattr(draft, k)}"
                for k in pending] + (["the data set"] if data_pending else [])
        st.warning("Pending: " + "; ".join(what) + ". **Reset to apply.**", icon="✋")
    common.sync_url(run_id, st.session_state.preset, draft, present=present)


# --- live view -------------------------------------------------------------------------------------
def _controls(trainer, snap):
    """The buttons; returns what the snapshot should show once a pressed command took effect."""
    status = snap.status
    cols = st.columns([1, 1, 1, 1, 1, 1.4])
    effect = None
    if cols[0].button("Start", type="primary", disabled=status not in ("ready", "preparing"), width="stretch"):
        trainer.start()
        effect = lambda s: s.status == "running"  # noqa: E731
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
    if cols[4].button("Reset", width="stretch", help="A new network with the settings on the left."):
        try:
            trainer.reset(common.draft_config(), dataset=common.current_dataset() or trainer.dataset)
        except ConfigError as e:
            st.error(str(e))
        st.rerun()
    cols[5].number_input("Steps per Step", 1, 100_000, value=10, key="step_size", label_visibility="collapsed",
                         help="Steps per click of Step")
    return effect


@st.fragment(run_every=REFRESH_S)
def live_view(run_id: str) -> None:
    with st.container(key="live_view"):
        _live_view(run_id)


def _live_view(run_id: str) -> None:
    from ae_core import viz

    trainer = common.registry().get(run_id)
    if trainer is None:
        st.info("This run was released from memory; its saved files are on the Runs page. Reload to start anew.")
        return
    effect = _controls(trainer, trainer.snapshot())
    if effect is not None:
        # Show a command's effect in this very refresh (a chunk ends within ~0.1 s), not the next one.
        try:
            trainer.wait(effect, timeout=0.4)
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
    m[3].metric("Steps/s", f"{snap.steps_per_sec:,.0f}" if snap.status == "running" else "—")
    st.progress(min(1.0, snap.step / max(budget, 1)), text=f"{snap.elapsed:.1f} s of training")

    chart, grids = st.columns([3, 2])
    with chart:
        opts = st.columns(2)
        log_y = opts[0].toggle("Log scale", key="log_y", value=True)
        x_axis = opts[1].segmented_control("x axis", ["step", "seconds"], default="step", key="x_axis",
                                           label_visibility="collapsed") or "step"
        fig = viz.loss_figure(snap.history, log_y=log_y, x="elapsed" if x_axis == "seconds" else "step")
        st.plotly_chart(fig, key="loss_chart", config={"displayModeBar": False})
    with grids:
        opts = st.columns(2)
        n = opts[0].select_slider("Grid", [4, 5, 6, 7, 8], value=4, key="grid_n", format_func=lambda k: f"{k}×{k}")
        show_diff = opts[1].toggle("Difference", key="show_diff", help="Where the reconstruction is wrong")
        scale = max(1, 224 // (28 * n))
        if len(snap.reconstructions):
            pics = st.columns(3 if show_diff else 2)
            pics[0].image(viz.digit_grid(snap.originals, n, scale=scale), caption="Original", width="stretch",
                          output_format="PNG")
            pics[1].image(viz.digit_grid(snap.reconstructions, n, scale=scale), caption="Reconstruction",
                          width="stretch", output_format="PNG")
            if show_diff:
                pics[2].image(viz.difference_grid(snap.originals, snap.reconstructions, n, scale=scale),
                              caption="Difference", width="stretch", output_format="PNG")
            st.caption(f"Reconstructions at step {snap.recon_step:,} of the first {n * n} test digits.")
        else:
            st.caption("Reconstructions appear once the network is built.")


@st.fragment(run_every=2.0)
def inside_view(run_id: str) -> None:
    """First-layer filters and layer health, refreshed every 2 s (they change slowly)."""
    with st.container(key="inside_view"):
        _inside_view(run_id)


def _inside_view(run_id: str) -> None:
    from ae_core import viz_network
    from ae_core.health import reading
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
        st.image(viz_network.filter_grid(snap.first_layer, n, scale=max(1, 336 // (28 * n))),
                 caption="First-layer filters", width="stretch", output_format="PNG")
        st.caption("What each encoder_1 unit looks for: light = positive weight, dark = negative.")
    with right:
        names = [h.name for h in snap.health]
        pick = st.selectbox("Distribution of", names, key="health_layer")
        st.plotly_chart(viz_network.health_figure(snap.health, layer=names.index(pick)), key="health_chart",
                        config={"displayModeBar": False})
        st.markdown(f"**{reading(list(snap.health))}**")
        st.caption(f"Measured on a fixed batch of {PROBE_SIZE} test digits at step {snap.recon_step:,}.")
    variant_views.live_panel(snap)


live_view(run_id)

st.subheader("Inside the network")
if draft is not None:
    from ae_core import viz_network

    waiting = draft if trainer.config.needs_reset(draft) else None
    st.graphviz_chart(viz_network.architecture_dot(trainer.config, pending=waiting))
inside_view(run_id)

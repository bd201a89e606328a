"""Contrast on the pages, as functions the page scripts call in one line each:

- Train: baselines on the Loss chart, the verdict sentence, the PCA column, Fork, the film strip,
  a sweep over one setting;
- Explore: the film strip;
- Runs: baselines on the overlay, the Compare link for ticked runs, a sweep's runs grouped.
"""
from __future__ import annotations

import streamlit as st

from ae_core import baselines as bl
from pages import common
from pages import config_widgets as widgets


def baselines_of(trainer):
    """The mean-digit and PCA baselines of this run's data set and code size (None for the
    second or so while they are first computed, in a background thread)."""
    return bl.baselines_soon(trainer.dataset, trainer.config.latent)


def chart_baselines(trainer) -> dict | None:
    """Label -> test MSE for ``viz.loss_figure(baselines=...)``."""
    base = baselines_of(trainer)
    return base.lines() if base is not None else None


def verdict(trainer, snap) -> None:
    """One plain sentence: worse than the mean digit, or since when it beats PCA."""
    text = bl.verdict(snap.history, baselines_of(trainer))
    if text:
        st.markdown(f"**{text}**")


def pca_toggle(container) -> bool:
    return container.toggle("PCA", key="show_pca",
                            help="Beside the network: what PCA with the same code size makes of these digits")


def pca_image(container, trainer, snap, n: int, scale: int) -> None:
    """The same digits through PCA with k = the code size (clipped only for display)."""
    from ae_core import viz

    base = baselines_of(trainer)
    if base is None:
        container.caption("PCA is being computed…")
        return
    k = trainer.config.latent
    recon = bl.spectrum(trainer.dataset).reconstruct(snap.originals[: n * n], k)
    container.image(common.inline_png(viz.digit_grid(recon, n, scale=scale)), caption=f"PCA ({bl.pca_label(k)})", width="stretch",
                    output_format="PNG")


def overlay_baselines(picked_runs) -> dict | None:
    """Baselines for an overlay of runs (saved or live): on the data set this server uses, PCA-k for
    each code size among them."""
    from pages import common

    dataset = common.current_dataset()
    if dataset is None or not picked_runs:
        return None
    return bl.lines_for(dataset, [r.config.latent for r in picked_runs])


def fork_button(trainer, snap, container=st) -> None:
    """``Fork``: a new run from this one's weights, optimizer state and history at this step, with the
    settings now on the sliders; it starts at once and both open in the Compare page."""
    from ae_core.config import ConfigError
    from ae_core.fork import ForkError, fork
    from ae_core.registry import RegistryFull
    from pages import common

    from ae_core.trainer import ERROR, PREPARING, STOPPED

    ready = snap.status not in (PREPARING, ERROR, STOPPED) and len(snap.reconstructions) > 0
    if not container.button("Fork", disabled=not ready, key="fork", icon=":material/call_split:",
                            help="A new run that goes on from this step with the settings on the left; "
                                 "both race on the Compare page."):
        return
    try:
        child = fork(trainer, widgets.draft_config(),
                     lambda *a, **kw: common.registry().create(*a, on_checkpoint=common.save_run, **kw))
    except (ForkError, ConfigError, RegistryFull) as e:
        st.error(str(e))
        return
    st.switch_page("pages/compare.py", query_params={"runs": f"{trainer.run_id},{child.run_id}"})


def compare_link(picked_runs) -> None:
    """A ``Compare`` link for 2 to 4 ticked runs on the Runs page (the race view)."""
    from ae_core.race import MAX_RUNS, MIN_RUNS

    ids = [r.run_id for r in picked_runs]
    if MIN_RUNS <= len(ids) <= MAX_RUNS:
        st.page_link("pages/compare.py", label="Compare", icon=":material/compare_arrows:",
                     query_params={"runs": ",".join(ids)}, help="Race these runs on one chart, live")
    elif len(ids) > MAX_RUNS:
        st.caption(f"Tick at most {MAX_RUNS} runs to compare them on the Compare page.")


# --- the film strip: scrub back through a run's recorded frames while it trains ------------------------
def _strip_of(run_id: str):
    """The live run's film strip, else the saved run's frames.npz (None if there is none)."""
    from ae_core import runs
    from ae_core.frames import FilmStrip
    from pages import common

    trainer = common.registry().get(run_id)
    if trainer is not None:
        return getattr(trainer, "film", None)
    try:
        path = runs.run_path(run_id) / runs.FRAMES_FILE
        return FilmStrip.load(path) if path.is_file() else None
    except (runs.RunError, ValueError):
        return None


def film_strip(run_id: str, key: str = "film") -> None:
    """A step slider over the run's frames (log-spaced steps and live changes), the digits then,
    the latent points of a 2-D code, and ``Download GIF``. Drawn inside the page's part that reruns
    on its own with the other pictures (one rerun, not one more); the page holds ``{key}_view`` still."""
    from pages import common

    with st.container(key=f"{key}_view"):
        common.guarded(_film_strip)(run_id, key)


def _film_strip(run_id: str, key: str) -> None:
    from ae_core import viz
    from ae_core.gif import film_gif

    strip = _strip_of(run_id)
    frames = strip.frames() if strip is not None else []
    st.subheader("Film strip", help="The first 16 test digits at steps 0, 10, 20, 50, 100, 200, 500, … "
                                    "and at every live change, recorded while the run trains.")
    if not frames or strip.originals is None:
        st.caption("Frames appear once the network is built.")
        return
    labels = [f"{f.step:,}" + (" *" if f.reason else "") for f in frames]
    slider, last_key = f"{key}_step", f"{key}_last"
    # At the newest frame the slider follows new frames; moved back, it stays where it was put.
    if st.session_state.get(slider) not in range(len(frames)) or st.session_state.get(slider) == st.session_state.get(last_key):
        st.session_state[slider] = len(frames) - 1
    st.session_state[last_key] = len(frames) - 1
    if len(frames) > 1:
        index = st.select_slider("Film strip step", options=list(range(len(frames))), key=slider,
                                 format_func=lambda i: labels[i], help="* = a live change")
    else:
        index = 0
    frame = frames[index]
    cols = st.columns([1, 1, 2] if frame.latent is not None else [1, 1, 1])
    originals = strip.originals.astype("float32") / 255
    # Not captioned "Original": that names the live grid above.
    cols[0].image(common.inline_png(viz.digit_grid(originals, 4, scale=2)), caption="Test digits", width="stretch", output_format="PNG")
    cols[1].image(common.inline_png(viz.digit_grid(frame.reconstructions, 4, scale=2)), caption=f"Reconstruction at step {frame.step:,}",
                  width="stretch", output_format="PNG")
    if frame.latent is not None and strip.labels is not None:
        import numpy as np

        n = min(len(frame.latent), len(strip.labels))
        fig = viz.latent_figure(frame.latent[:n], strip.labels[:n], np.arange(n), height=320,
                                axis_titles=("code 1", "code 2"))
        fig.update_layout(title_text=f"Codes at step {frame.step:,}", uirevision=None)  # not the live map
        cols[2].plotly_chart(fig, key=f"{key}_latent", config=common.chart_config("loss"))
    with cols[-1]:
        if frame.reason:
            st.caption(f"Live change: {frame.reason}")
        st.download_button("Download GIF", data=lambda: film_gif(strip), file_name=f"{run_id}-film.gif",
                           mime="image/gif", key=f"{key}_gif", on_click="ignore", icon=":material/movie:",
                           help="Originals beside reconstructions, one frame per recorded step, for slides")


# --- the Runs page: a sweep's runs together ------------------------------------------------------------
def sweep_groups(all_runs) -> None:
    """For each sweep in the store: its runs' overlay, a table of swept settings and final test MSE
    (best first) and a parallel-coordinates plot of the two."""
    from ae_core import run_table, sweep, viz
    from ae_core.viz_compare import sweep_figure

    groups = sweep.groups(all_runs)
    if not groups:
        return
    st.subheader("Sweeps", help="Runs trained together by `python -m ae_core sweep` or the Train page's sweep")
    for sweep_id, group in groups.items():
        keys = sweep.swept_keys(group)
        table = sweep.sweep_table(group)
        best = table["name"].iloc[0] if len(table) and table["test_mse"].notna().iloc[0] else None
        title = f"{sweep_id} · {len(group)} runs over {', '.join(keys) or '—'}" + (f" · best: {best}" if best else "")
        with st.expander(title, expanded=sweep_id == next(iter(groups))):
            curves = run_table.overlay_curves(group)
            if curves:
                st.plotly_chart(viz.overlay_figure(curves, log_y=True, baselines=overlay_baselines(group)),
                                key=f"sweep_overlay_{sweep_id}", config=common.chart_config("loss"))
            st.dataframe(table, hide_index=True, key=f"sweep_table_{sweep_id}", column_order=[
                "name", *keys, "steps", "test_mse", "status"], column_config={
                "test_mse": st.column_config.NumberColumn("Test MSE", format="%.5f"),
                "steps": st.column_config.NumberColumn("Steps", format="localized")})
            if keys and table["test_mse"].notna().sum() >= 2:
                st.plotly_chart(sweep_figure(table, keys), key=f"sweep_parcoords_{sweep_id}",
                                config=common.chart_config("loss"))
            ids = table["run_id"].tolist()[:4]
            if len(ids) >= 2:
                st.page_link("pages/compare.py", label="Compare the best runs", icon=":material/compare_arrows:",
                             query_params={"runs": ",".join(ids)})


# --- the Train page: a sweep over one setting, from the configuration on the sliders -------------------
def sweep_starter(draft, dataset, container=st) -> None:
    """``Start sweep``: 2 to 4 live runs of the current configuration, one setting differing, started
    together with the same seed and raced on the Compare page (saved as one sweep)."""
    from ae_core import config as cfg_lib
    from ae_core import race, runs, sweep
    from ae_core.config import ConfigError
    from ae_core.registry import RegistryFull
    from pages import common

    with container.expander("Sweep one setting"):
        with st.form("train_sweep", border=False):
            field = st.selectbox("Setting", list(cfg_lib.FIELDS), index=list(cfg_lib.FIELDS).index("learning_rate"),
                                 format_func=lambda f: cfg_lib.spec(f)["label"], key="sweep_field")
            text = st.text_input("Values", value="0.01, 0.001", key="sweep_values",
                                 help="2 to 4 values, comma-separated (widths as 256-64)")
            go = st.form_submit_button("Start sweep", disabled=draft is None or dataset is None,
                                       help="Runs of the settings above, this one setting differing, raced live")
    if not go:
        return
    try:
        values = race.parse_values(field, text)
        configs = race.race_configs(draft, field, values)
    except ConfigError as e:
        st.sidebar.error(str(e))
        return
    sweep_id = sweep.new_sweep_id()
    registry, made = common.registry(), []
    try:
        for value, config in zip(values, configs):
            extra = {sweep.SWEEP_KEY: sweep_id, sweep.SWEPT_KEY: {field: list(value) if isinstance(value, tuple)
                                                                  else value}}
            name = sweep.run_name({field: value})

            def save(trainer, extra=extra, name=name):
                runs.save(trainer.snapshot(), trainer.model(), name=name, optimizer_state=trainer.optimizer_state(),
                          film=trainer.film, extra_meta=extra)
            made.append(registry.create(config, dataset, on_checkpoint=save,
                                        save_as={"name": name, "extra_meta": extra}))  # a Ray actor's own save
    except RegistryFull as e:
        for trainer in made:
            registry.release(trainer.run_id)
        st.sidebar.error(str(e))
        return
    for trainer in made:
        trainer.start()
    st.switch_page("pages/compare.py", query_params={"runs": ",".join(t.run_id for t in made)})

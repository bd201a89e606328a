"""Runs: compare saved and live runs, overlay their loss curves, rename, delete, export, inspect a model."""
from __future__ import annotations

import hashlib

import streamlit as st

from ae_core import model_file, run_table, runs, viz
from ae_core.runs import RunError
from pages import access, common, contrast

TABLE_KEY = "runs_table"


common.leave_mpa_v1()


def _checked(run_id) -> str | None:
    """Every run id that reaches the store from this page passes here (URL, table, select box)."""
    try:
        return runs.check_run_id(run_id)
    except RunError as e:
        st.error(str(e))
        return None


# --- the runs: saved ones from disk, live ones from this server's registry --------------------------
st.title("Runs")
st.caption(f"Saved runs in `{runs.runs_dir()}` and the runs live on this server. "
           "Tick rows to overlay their loss curves.")

wanted = st.query_params.get("run")
if wanted is not None and _checked(wanted) is None:
    wanted = None

all_runs = runs.with_live(runs.list_runs(), [t.snapshot() for t in common.registry().trainers()])
if not all_runs:
    st.info("No runs yet. Train one on the Train page (a run is saved when it pauses or finishes), or from "
            "a terminal: `python -m ae_core train --preset fast --steps 500`.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
else:
    ids = [r.run_id for r in all_runs]
    by_id = dict(zip(ids, all_runs))

    # Keep the ticked runs ticked when the table's rows move (a new run, a deleted one).
    previous = st.session_state.get("runs_table_ids")
    if previous is not None and previous != ids and TABLE_KEY in st.session_state:
        kept = [previous[i] for i in st.session_state[TABLE_KEY]["selection"]["rows"] if i < len(previous)]
        st.session_state[TABLE_KEY] = {"selection": {"rows": [ids.index(i) for i in kept if i in by_id],
                                                     "columns": [], "cells": []}}
    st.session_state.runs_table_ids = ids

    table = run_table.summary_table(all_runs)
    default = {"selection": {"rows": [ids.index(wanted)] if wanted in by_id else []}}
    event = st.dataframe(
        table, key=TABLE_KEY, on_select="rerun", selection_mode="multi-row", selection_default=default,
        hide_index=True, row_height=40, placeholder="—",
        column_order=["name", "live", "preset", "settings", "steps", "loss", "test_mse", "elapsed", "status",
                      "data", "parent", "saved"],
        column_config={
            "name": st.column_config.TextColumn("Name", width="medium"),
            "live": st.column_config.CheckboxColumn("Live", help="Held in memory by this server right now",
                                                    width="small"),
            "preset": st.column_config.TextColumn("Preset", width="small"),
            "settings": st.column_config.TextColumn(
                "Settings", width="medium",
                help="Hyperparameters that differ from the preset, or between runs of the same preset"),
            "steps": st.column_config.NumberColumn("Steps", format="localized"),
            "loss": st.column_config.NumberColumn("Final loss", format="%.4f",
                                                  help="Smoothed minibatch loss at the last step"),
            "test_mse": st.column_config.NumberColumn("Test MSE", format="%.4f"),
            "elapsed": st.column_config.NumberColumn("Time", format="%.1f s", help="Training seconds, pauses excluded"),
            "status": st.column_config.TextColumn("Status"),
            "data": st.column_config.TextColumn("Data", help="What the run trained on: file · training / test digits"),
            "parent": st.column_config.TextColumn("Parent", help="The run this one was forked from"),
            "saved": st.column_config.DatetimeColumn("Saved", format="YYYY-MM-DD HH:mm"),
        })
    picked = [all_runs[i] for i in sorted(event.selection.rows) if i < len(all_runs)]  # in table order
    if any(r.meta.get("live") for r in all_runs):
        st.button("Refresh", icon=":material/refresh:", help="Read the live runs' progress again")

    # --- overlay of the ticked runs' loss curves ---------------------------------------------------
    opts = st.columns([1, 1, 4])
    x_axis = opts[0].segmented_control("x axis", ["steps", "seconds"], default="steps", key="overlay_x") or "steps"
    log_y = opts[1].toggle("Log scale", value=True, key="overlay_log")
    if picked:
        x = "elapsed" if x_axis == "seconds" else "step"
        curves = run_table.overlay_curves(picked, x)
        if curves:
            fig = viz.overlay_figure(curves, x_title="training seconds" if x == "elapsed" else "step", log_y=log_y,
                                     baselines=contrast.overlay_baselines(picked))
            st.plotly_chart(fig, key="overlay", config=common.chart_config("loss-curves"))
        contrast.compare_link(picked)
        empty = [r.name for r in picked if not len(r.history)]
        if empty:
            st.caption("No steps yet: " + ", ".join(empty))
    else:
        st.caption("Tick one or more runs in the table to overlay their smoothed loss curves.")

    contrast.sweep_groups(all_runs)

    # --- one run: open, rename, delete, download ---------------------------------------------------
    st.subheader("Manage a run")
    focus = picked[-1].run_id if picked else (wanted if wanted in by_id else ids[0])
    run_id = _checked(st.selectbox("Run", ids, index=ids.index(focus),
                                   format_func=lambda i: f"{by_id[i].name}  ·  {i}"))
    run = by_id.get(run_id)
    if run is not None:
        live = bool(run.meta.get("live"))
        links = st.columns(4)
        links[0].page_link("pages/train.py", label="Open in Train", icon=":material/model_training:",
                           query_params={"run": run_id}, help="Continue training this run")
        links[1].page_link("pages/explore.py", label="Open in Explore", icon=":material/scatter_plot:",
                           query_params={"run": run_id}, help="Latent map, interpolations, worst digits")

        files = runs.exports(run)
        cols = st.columns(4)
        cols[3].download_button("Download the run (.zip)", data=lambda: runs.archive(run), mime="application/zip",
                                file_name=f"{run_id}.zip", key="dl_zip", on_click="ignore", width="stretch",
                                disabled=not files, help="The whole run folder: every file the run store holds for it"
                                if files else "Not saved yet")
        for col, (name, mime) in zip(cols, runs.EXPORTS.items()):
            path = files.get(name)
            col.download_button(f"Download {name}", data=path.read_bytes if path else b"", mime=mime,
                                file_name=f"{run_id}-{name}", disabled=path is None, key=f"dl_{name}",
                                on_click="ignore", width="stretch",
                                help=None if path else "Not saved yet")

    if run is not None and access.may_steer():   # a watcher sees and downloads runs, never changes them
        with st.form("rename", border=False):
            cols = st.columns([3, 1], vertical_alignment="bottom")
            new_name = cols[0].text_input("New name", value=run.name, max_chars=80)
            if cols[1].form_submit_button("Rename", width="stretch"):
                try:
                    runs.rename(run_id, new_name)
                    st.session_state.runs_flash = f"Renamed to “{new_name.strip() or run_id}”."
                    st.rerun()
                except (RunError, OSError) as e:
                    st.error(f"Could not rename: {e}")

        running = live and run.meta.get("status") == "running"
        if st.session_state.get("runs_confirm_delete") != run_id:
            if st.button("Delete…", disabled=running,
                         help="Pause it on the Train page first" if running else "Delete this run's files"):
                st.session_state.runs_confirm_delete = run_id
                st.rerun()
        else:
            st.warning(f"Delete **{run.name}** and its files for good?"
                       + (" It is live on this server and will be stopped." if live else ""))
            cols = st.columns([1, 1, 4])
            if cols[0].button("Yes, delete", type="primary"):
                st.session_state.pop("runs_confirm_delete", None)
                try:
                    if live:
                        common.registry().release(run_id)
                    runs.delete(run_id)
                    st.session_state.runs_flash = f"Deleted {run.name}."
                except (RunError, OSError) as e:
                    st.session_state.runs_flash = f"Could not delete {run.name}: {e}"
                st.rerun()
            if cols[1].button("Cancel"):
                st.session_state.pop("runs_confirm_delete", None)
                st.rerun()

if st.session_state.get("runs_flash"):
    st.toast(st.session_state.pop("runs_flash"))


# --- inspect any .keras file -------------------------------------------------------------------------
upload = None
if access.may_steer():   # no uploads from a watcher
    st.subheader("Inspect a model file")
    upload = st.file_uploader("A .keras model (loaded in safe mode: no code in it runs)", type=["keras"],
                              key="keras_upload")
if upload is not None:
    raw = upload.getvalue()
    digest = hashlib.sha256(raw).hexdigest()[:16]
    cached = st.session_state.get("runs_inspected")
    if cached is None or cached["digest"] != digest:
        with st.spinner("Loading the model…"):
            try:
                model = model_file.load_keras_bytes(raw, upload.name)
                cached = {"digest": digest, "error": None, "summary": model_file.model_summary(model),
                          "params": int(model.count_params()), "model": model if model_file.is_autoencoder(model) else None}
            except RunError as e:
                cached = {"digest": digest, "error": str(e)}
            except Exception as e:  # anything else Keras raises: still one sentence, and the page goes on
                cached = {"digest": digest, "error": f"{upload.name} cannot be inspected ({type(e).__name__})."}
        st.session_state.runs_inspected = cached
    if cached["error"]:
        st.error(cached["error"])
    else:
        st.caption(f"{upload.name}: {len(cached['summary'])} layers, {cached['params']:,} parameters")
        st.dataframe(cached["summary"], hide_index=True,
                     column_config={"parameters": st.column_config.NumberColumn("parameters", format="localized")})
        if cached["model"] is None:
            st.caption("Not a 784 → 784 autoencoder, so there are no reconstructions to draw.")
        else:
            dataset = common.dataset_or_wait("Loading MNIST for the reconstructions…",
                                             "No test digits to reconstruct")
            if dataset is not None:
                originals = dataset.x_test[:16]
                try:
                    if cached.get("recon_of") is not dataset:  # once per model and data set
                        cached.update(recon=model_file.reconstruct(cached["model"], originals), recon_of=dataset)
                    recon = cached["recon"]
                    pics = st.columns([1, 1, 2])
                    stem = model_file.safe_filename(upload.name).removesuffix(".keras")
                    for col, images, caption in ((pics[0], originals, "Original"), (pics[1], recon, "Reconstruction")):
                        grid = viz.digit_grid(images, 4, scale=2)
                        col.image(grid, caption=caption, width="stretch")
                        common.grid_download(col, grid, f"{stem}-{caption.lower()}.png", key=f"dl_inspect_{caption}")
                    mse = float(((recon - originals) ** 2).mean())
                    pics[2].metric("MSE on these 16 test digits", f"{mse:.4f}")
                except Exception as e:
                    st.error(f"The model could not reconstruct the test digits ({type(e).__name__}).")
else:
    st.session_state.pop("runs_inspected", None)

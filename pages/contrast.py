"""The Train page's contrast parts: baselines on the chart, the verdict sentence, the PCA column
(and further down, Fork and the film strip). Functions called from pages/train.py."""
from __future__ import annotations

import streamlit as st

from ae_core import baselines as bl


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
    container.image(viz.digit_grid(recon, n, scale=scale), caption=f"PCA ({bl.pca_label(k)})", width="stretch",
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

    ready = snap.status not in ("preparing", "error", "stopped") and len(snap.reconstructions) > 0
    if not container.button("Fork", disabled=not ready, key="fork", icon=":material/call_split:",
                            help="A new run that goes on from this step with the settings on the left; "
                                 "both race on the Compare page."):
        return
    try:
        child = fork(trainer, common.draft_config(),
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

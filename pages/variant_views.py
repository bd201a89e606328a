"""The Train page's view of what the run's variant adds, refreshed with the inside view.

One function per variant or architecture, each drawing that kind's live measurements
(``Snapshot.measurements``, measured on the probe digits at ``snap.recon_step``).
"""
from __future__ import annotations

import streamlit as st

from ae_core import viz
from ae_core import viz_variants as vv


def _sparse(m) -> None:
    st.metric("Silent code units", f"{float(m['silent_share']):.0%}",
              help="Share of (digit, code unit) pairs whose activation is near zero on the probe digits.")
    st.plotly_chart(vv.unit_activity_figure(m["unit_mean"], m["digit_code"]), key="variant_units",
                    config={"displayModeBar": False})


def _contractive(m) -> None:
    norms = m["jacobian_norm"]
    st.metric("Jacobian norm", f"{float(norms.mean()):.3f}",
              help="Mean Frobenius norm of the encoder's Jacobian on the probe digits: how much the code "
                   "moves when a digit's pixels move. The contractive term pushes it down.")
    st.plotly_chart(vv.jacobian_figure(norms), key="variant_jacobian", config={"displayModeBar": False})


def _variational(m) -> None:
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(vv.kl_per_dimension_figure(m["kl_per_dim"]), key="variant_kl",
                        config={"displayModeBar": False})
        used = int((m["kl_per_dim"] > 0.1).sum())
        st.caption(f"{used} of {len(m['kl_per_dim'])} code dimensions in use (KL above 0.1 nats).")
    with right:
        st.image(viz.digit_grid(m["prior_samples"], 4, scale=2), caption="Samples from the prior",
                 width="stretch", output_format="PNG")
        st.caption("Codes drawn from N(0, I), decoded: new digits, not reconstructions.")


def _conv(m) -> None:
    left, right = st.columns(2)
    left.image(vv.tiles(m["filters"], scale=12), caption="First-layer filters", width="stretch",
               output_format="PNG")
    right.image(vv.tiles(m["feature_maps"], scale=4), caption="Feature maps of one digit", width="stretch",
                output_format="PNG")


VIEWS = {"sparse": _sparse, "contractive": _contractive, "variational": _variational}


def live_panel(snap) -> None:
    """What the run's variant and architecture add, if anything (nothing for the plain dense one)."""
    if snap is None or not snap.measurements:
        return
    m = snap.measurements
    view = VIEWS.get(snap.config.variant)
    title = snap.config.variant if view else None
    if snap.config.architecture == "conv":
        title = f"{title} · conv" if title else "conv"
    with st.container(key="variant_view"):
        st.markdown(f"**What the {title} network adds** · step {snap.recon_step:,}")
        if view:
            view(m)
        if "filters" in m:
            _conv(m)

"""What each variant shows: the Train page's variant panel (AppTest, one per new preset, on the
measurements of a real network), the loss chart's term curves, the architecture diagram, and
Explore's decoded manifold for a 2-D variational run."""
from __future__ import annotations

import json
import types

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ae_core.config import PRESETS
from ae_core.history import History
from ae_core.viz import loss_figure
from ae_core.viz_network import architecture_dot
from tests.test_explore_page import _captions, _explore, _train, env  # noqa: F401  (env is a fixture)

# Snapshots the panel script reads (AppTest runs the script in this process).
PANEL_SNAPSHOTS: dict = {}


@pytest.fixture(scope="module")
def measured(small_mnist):
    """Each new preset's live measurements on a freshly built (untrained) network."""
    from ae_core.engine import Engine

    for name in ("sparse", "contractive", "vae2d", "conv"):
        cfg = PRESETS[name]
        engine = Engine(cfg, small_mnist, 64)
        PANEL_SNAPSHOTS[name] = types.SimpleNamespace(config=cfg, measurements=engine.inspect(), recon_step=0)
    return PANEL_SNAPSHOTS


def _panel(name: str) -> AppTest:
    def script(name):
        from pages import variant_views
        from tests.test_variant_pages import PANEL_SNAPSHOTS

        variant_views.live_panel(PANEL_SNAPSHOTS[name])

    at = AppTest.from_function(script, args=(name,), default_timeout=60)
    return at.run()


def _chart_titles(at) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def test_sparse_panel_shows_silent_units_and_unit_activity(measured):
    at = _panel("sparse")
    assert not at.exception
    share = float(measured["sparse"].measurements["silent_share"])
    assert [(m.label, m.value) for m in at.metric] == [("Silent code units", f"{share:.0%}")]
    assert _chart_titles(at) == ["Code unit activity"]


def test_contractive_panel_shows_the_jacobian_norm(measured):
    at = _panel("contractive")
    assert not at.exception
    norms = measured["contractive"].measurements["jacobian_norm"]
    assert len(norms) == 64 and (norms > 0).all()
    assert [(m.label, m.value) for m in at.metric] == [("Jacobian norm", f"{float(norms.mean()):.3f}")]
    assert _chart_titles(at) == ["Encoder Jacobian norm"]


def test_variational_panel_shows_kl_per_dimension_and_prior_samples(measured):
    at = _panel("vae2d")
    assert not at.exception
    m = measured["vae2d"].measurements
    assert m["kl_per_dim"].shape == (2,) and m["prior_samples"].shape == (16, 784)
    assert _chart_titles(at) == ["KL per code dimension"]
    assert "Samples from the prior" in [c for el in at.get("image") for c in el.captions]


def test_conv_panel_shows_filters_and_feature_maps(measured):
    at = _panel("conv")
    assert not at.exception
    m = measured["conv"].measurements
    assert m["filters"].shape == (32, 3, 3) and m["feature_maps"].shape == (32, 14, 14)
    captions = [c for el in at.get("image") for c in el.captions]
    assert captions == ["First-layer filters", "Feature maps of one digit"]


def test_the_loss_chart_draws_each_term_of_the_objective():
    h = History()
    recon, kl = np.linspace(0.3, 0.1, 50), np.full(50, 0.02)
    h.extend(recon + kl, 1e-3, 128, 0.0, 1.0, terms={"reconstruction": recon, "kl": kl})
    names = [t.name for t in loss_figure(h.view()).data]
    assert names == ["minibatch", "smoothed", "reconstruction", "KL term"]
    plain = History()
    plain.extend(recon, 1e-3, 128, 0.0, 1.0)
    assert [t.name for t in loss_figure(plain.view()).data] == ["minibatch", "smoothed"]


def test_the_diagram_draws_every_variant():
    conv = architecture_dot(PRESETS["conv"])
    assert "encoder layer 1\\n14×14×32 conv" in conv and "reconstruction layer\\n28×28×1 conv" in conv
    vae = architecture_dot(PRESETS["vae2d"])
    assert "μ, log σ² (2 each) → z" in vae and "KL to N(0, I)" in vae
    tied = architecture_dot(PRESETS["fast"].replace(tied=True))
    assert "kernel: encoder layer 1, transposed" in tied and "kernel: latent code, transposed" in tied
    assert "L1 penalty on the code" in architecture_dot(PRESETS["sparse"])
    assert "Jacobian penalty" in architecture_dot(PRESETS["contractive"])


def test_explore_shows_the_decoded_manifold_of_a_2d_variational_run(env, small_mnist):  # noqa: F811
    from pages import common

    trainer = _train(PRESETS["vae2d"].replace(hidden=(128,)), small_mnist, 40)
    try:
        at = _explore(query={"run": trainer.run_id})
        assert not at.exception
        captions = _captions(at)
        assert "Decoded manifold" in captions
        # Decode a place, interpolate, per-digit error: the usual sections work on the code's mean.
        assert not at.exception and any("raw 2-number code" in c.value for c in at.caption)
    finally:
        common.registry().release(trainer.run_id)


def test_train_page_vae2d_shows_its_view_pending_variant_and_a_marked_beta(monkeypatch, tmp_path, mnist_path):
    """The vae2d preset from a link trains on the Train page and shows its own view; a variant
    change waits for Reset, a β change applies at once and is marked on the curve."""
    from tests.test_train_page import _app, _button, _trainer, _wait

    monkeypatch.setenv("AE_MNIST_PATH", str(mnist_path))
    monkeypatch.setenv("AE_RUNS_DIR", str(tmp_path / "runs"))
    from pages import common

    try:
        at = _app({"preset": "vae2d"})
        trainer = _trainer(at)
        assert trainer.config.variant == "variational" and trainer.config.latent == 2
        _wait(lambda: trainer.snapshot().status == "ready", 120)
        at.run()
        _button(at, "Step").click().run()
        _wait(lambda: trainer.snapshot().status == "paused" and trainer.snapshot().step >= 10, 120)
        at.run()
        assert "Samples from the prior" in [c for img in at.get("image") for c in img.captions]
        assert "KL per code dimension" in _chart_titles(at)
        next(s for s in at.select_slider if s.label == "β (KL weight)").set_value(4.0).run()
        assert trainer.config.beta == 4.0
        next(s for s in at.selectbox if s.label == "Variant").set_value("sparse").run()
        assert any("variant variational → sparse" in w.value for w in at.warning)
        assert trainer.config.variant == "variational"  # pending until Reset
        _button(at, "Step").click().run()
        _wait(lambda: trainer.snapshot().status == "paused" and trainer.snapshot().step >= 20, 120)
        events = trainer.snapshot().history.events
        assert any(e["field"] == "beta" and e["new"] == 4.0 for e in events)
    finally:
        common.registry().stop_all()

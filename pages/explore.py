"""Explore: what the autoencoder has learnt — its latent map, generated digits, interpolations and
errors — for the run being watched (live, running or paused) or a saved run."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import streamlit as st

from ae_core import latent, viz
from pages import common, contrast

# A live run's map is recomputed at most this often (a few % of training time). Each redraw of its
# ~3 600 markers costs the browser ~0.1 s of CPU, on the cores the run trains with.
REFRESH_S = 5.0
MAP = "latent_map"  # the map's widget key; its selection lands in st.session_state[MAP]
SCALE = 5           # one digit shown at 140 px
N_WORST = 12


class Source(NamedTuple):
    run_id: str
    encoder: object
    decoder: object
    dataset: object
    step: int
    status: str
    config: object
    key: tuple      # identifies the weights (a Reset or a re-save makes a new key)


@st.cache_resource
def _analyses() -> latent.AnalysisCache:
    return latent.AnalysisCache(min_age_s=REFRESH_S - 0.5)


@st.cache_resource(max_entries=4, show_spinner="Loading the saved model…")
def _saved_nets(path: str, mtime: float):
    from ae_core import runs

    return latent.split(runs.load_keras_model(path))


def _run_id() -> str | None:
    from ae_core.runs import RunError, check_run_id

    run_id = st.query_params.get("run") or st.session_state.get("run_id")
    try:
        return check_run_id(run_id) if run_id else None
    except RunError as e:
        st.warning(str(e))
        return None


def _saved(run_id: str):
    """The saved run, if it has a model to explore."""
    run = common.saved_run(run_id)
    return run if run is not None and run.model_path is not None else None


def _source(run_id: str, saved=None) -> Source | None:
    """The live run's nets, else the saved run's (``saved`` if the page has read it already); None
    (after saying why) while something loads."""
    trainer = common.registry().get(run_id)
    if trainer is not None:
        snap = trainer.snapshot()
        nets = trainer.model()
        if nets is None:
            st.info(f"Run {run_id} is {snap.status}: its network is being built. "
                    "The map appears as soon as it exists.")
            return None
        return Source(run_id, nets.encoder, nets.decoder, trainer.dataset, snap.step, snap.status, snap.config,
                      ("live", run_id, id(nets.autoencoder)))
    run = saved or _saved(run_id)
    if run is None:
        st.info(f"Run {run_id} is no longer in memory and has no saved model.")
        return None
    dataset = common.current_dataset()
    if dataset is None:
        st.info("Loading MNIST… (the saved run's digits come from it)")
        return None
    mtime = run.model_path.stat().st_mtime
    encoder, decoder = _saved_nets(str(run.model_path), mtime)
    return Source(run_id, encoder, decoder, dataset, int(run.meta.get("steps") or 0), "saved", run.config,
                  ("saved", str(run.model_path), mtime, id(dataset)))


# --- callbacks (run before the rerun they trigger) ----------------------------------------------------
def _on_pick() -> None:
    """A click on the map: a digit point picks that test digit, an empty place moves the decoded position."""
    state = st.session_state.get(MAP) or {}
    points = (state.get("selection") or {}).get("points") or []
    if not points:
        return
    point = points[0]
    custom = point.get("customdata")
    # A digit's customdata is (test index, error): a list, or from a typed array {"0": index, "1": error}.
    if isinstance(custom, dict):
        custom = custom.get("0")
    elif isinstance(custom, (list, tuple)):
        custom = custom[0] if custom else None
    if isinstance(custom, (int, float)) and custom >= 0:
        st.session_state.picked = int(custom)
    elif point.get("x") is not None and point.get("y") is not None:
        st.session_state.pos_x = float(point["x"])
        st.session_state.pos_y = float(point["y"])


def _use_as(end: str, index: int) -> None:
    st.session_state[f"interp_{end}"] = index


def _digit(image, scale: int = SCALE):
    return common.inline_png(viz.digit_grid(np.reshape(image, (1, -1)), 1, scale=scale))


def _figure(name: str, key: tuple, build):
    """A figure rebuilt only when its inputs changed: building a plotly figure costs tens of ms of
    CPU, and a live page refreshes every few seconds beside a training run."""
    cached = st.session_state.get(f"_fig_{name}")
    if cached is None or cached[0] != key:
        cached = st.session_state[f"_fig_{name}"] = (key, build())
    return cached[1]


def _map_figure(a: latent.Analysis, row: int | None, position: tuple[float, float], drawn):
    return _figure("map", (id(a), a.seconds, row, position, drawn), lambda: viz.latent_figure(
        a.xy, a.labels, a.indices, errors=a.errors, grid=latent.empty_positions(a.xy),
        picked=tuple(a.xy[row]) if row is not None else None, position=position,
        axis_titles=a.projection.axis_titles, drawn=drawn))


def _drawn_point(src: Source, a: latent.Analysis):
    """Where the hand-drawn digit lands on the map (None when nothing is drawn)."""
    pixels = st.session_state.get("drawn_digit")
    if pixels is None:
        return None
    xy = a.projection.project(latent.encode(src.encoder, pixels[None]))[0]
    return float(xy[0]), float(xy[1])


# --- sections ---------------------------------------------------------------------------------------
def _latent_section(src: Source, a: latent.Analysis) -> None:
    x_test, y_test = src.dataset.x_test, src.dataset.y_test
    if "pos_x" not in st.session_state:
        st.session_state.pos_x, st.session_state.pos_y = (float(v) for v in np.round(a.xy.mean(axis=0), 3))
    picked = st.session_state.get("picked")
    if picked is not None and not 0 <= picked < len(x_test):
        picked = None
    row = a.row_of(picked) if picked is not None else None
    position = (st.session_state.pos_x, st.session_state.pos_y)

    left, right = st.columns([3, 2], gap="large")
    with left:
        fig = _map_figure(a, row, position, _drawn_point(src, a))
        st.plotly_chart(fig, key=MAP, on_select=_on_pick, selection_mode="points",
                        config=common.chart_config(f"{src.run_id}-latent-map"))
        what = ("the raw 2-number code" if a.projection.kind == "raw" and a.projection.latent_dim == 2 else
                "the raw 1-number code" if a.projection.kind == "raw" else
                f"the first two principal components of the {a.projection.latent_dim}-number code")
        st.caption(f"{len(a.indices):,} test digits, drawn by {what}; weights at step {a.step:,}. "
                   "Click a digit to see its reconstruction, or an empty place to decode it.")
    with right:
        st.markdown("**Picked digit**")
        if picked is None:
            st.caption("Click a digit on the map to see it beside its reconstruction.")
        else:
            original = x_test[picked]
            recon = a.reconstructions[row] if row is not None else \
                latent.decode(src.decoder, latent.encode(src.encoder, original[None]))[0]
            error = float(latent.reconstruction_errors(original[None], recon[None])[0])
            label = f"a {int(y_test[picked])}" if y_test[picked] >= 0 else "unlabelled"
            st.image([_digit(original), _digit(recon)], caption=[f"Test digit #{picked} ({label})", "Reconstruction"],
                     output_format="PNG")
            st.caption(f"Reconstruction error (MSE) {error:.4f}")
            b = st.columns(2)
            b[0].button("Interpolate from it", on_click=_use_as, args=("a", picked), width="stretch")
            b[1].button("Interpolate to it", on_click=_use_as, args=("b", picked), width="stretch")

        st.markdown("**Decode a place on the map**")
        span = float(np.ptp(a.xy, axis=0).max()) or 1.0
        c = st.columns(2)
        c[0].number_input("Map x", key="pos_x", step=round(span / 40, 4) or 0.01, format="%.3f")
        c[1].number_input("Map y", key="pos_y", step=round(span / 40, 4) or 0.01, format="%.3f")
        generated = latent.decode_positions(src.decoder, a.projection, [[st.session_state.pos_x,
                                                                         st.session_state.pos_y]])[0]
        st.image(_digit(generated), caption=f"Generated at ({st.session_state.pos_x:.2f}, "
                                            f"{st.session_state.pos_y:.2f})", output_format="PNG")


def _manifold_section(src: Source, a: latent.Analysis) -> None:
    """A variational run's 2-D code plane decoded on a grid, over the same extent as the map of
    the test digits' means: what the decoder makes of every place, digits or not."""
    from ae_core.variants.variational import manifold

    lo, hi = a.xy.min(axis=0), a.xy.max(axis=0)
    n = st.select_slider("Manifold grid", [9, 12, 15, 20], value=15, key="manifold_n",
                         format_func=lambda k: f"{k}×{k}")
    images = _figure("manifold", (src.key, src.step, n, tuple(lo), tuple(hi)),
                     lambda: manifold(src.decoder, (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])), n))
    left, right = st.columns([3, 2], gap="large")
    left.image(viz.digit_grid(images, n, scale=max(1, 420 // (28 * n))), caption="Decoded manifold",
               width="stretch", output_format="PNG")
    right.caption(f"The code plane from ({lo[0]:.2f}, {lo[1]:.2f}) to ({hi[0]:.2f}, {hi[1]:.2f}), the map's extent, "
                  f"decoded on a {n}×{n} grid: top right here is top right on the map above.")


def _drawing_section(src: Source) -> None:
    """The digit drawn on the canvas (below), made MNIST-like, beside its reconstruction."""
    pixels = st.session_state.get("drawn_digit")
    if pixels is None:
        return
    st.subheader("Your drawing")
    recon = latent.decode(src.decoder, latent.encode(src.encoder, pixels[None]))[0]
    error = float(latent.reconstruction_errors(pixels[None], recon[None])[0])
    st.image([_digit(pixels), _digit(recon)], caption=["Your digit, as MNIST would see it", "Its reconstruction"],
             output_format="PNG")
    st.caption(f"Reconstruction error (MSE) {error:.4f} · the white star on the map is where it lands.")


def _canvas() -> None:
    """A drawing canvas outside the refreshing part of the page, so strokes are never interrupted."""
    from ae_core.drawing import to_mnist

    st.subheader("Draw a digit")
    left, right = st.columns([1, 2])
    with left:
        try:
            from streamlit_drawable_canvas import st_canvas
        except Exception as e:  # the canvas component is optional: the rest of the page works without it
            st.info(f"The drawing canvas is not available here ({type(e).__name__}).")
            return
        result = st_canvas(stroke_width=22, stroke_color="#ffffff", background_color="#000000", height=280,
                           width=280, drawing_mode="freedraw", key="canvas", return_image_data=True)
    with right:
        st.caption("Draw one digit with the mouse, large and in the middle. It is cropped, scaled to 20×20 "
                   "and centred by its centre of mass, as MNIST's digits were, then fed to the network; it "
                   "shows with its reconstruction above the interpolation, and as a star on the map.")
        if st.button("Clear the drawing", key="clear_drawing"):
            st.session_state.drawn_digit = None
    image = None if result is None else result.image_data
    pixels = to_mnist(image) if image is not None else None
    previous = st.session_state.get("drawn_digit")
    if pixels is not None and (previous is None or not np.array_equal(pixels, previous)):
        st.session_state.drawn_digit = pixels
        st.rerun()  # the map and the reconstruction above were drawn before this stroke arrived


def _interpolation_section(src: Source) -> None:
    st.subheader("Interpolation")
    x_test, y_test = src.dataset.x_test, src.dataset.y_test
    n = len(x_test)
    for key, default in (("interp_a", 0), ("interp_b", min(1, n - 1))):
        if not 0 <= st.session_state.get(key, -1) < n:  # unset, or from a run with more test digits
            st.session_state[key] = default
    c = st.columns([1, 1, 2])
    a = int(c[0].number_input("From test digit #", 0, n - 1, key="interp_a"))
    b = int(c[1].number_input("To test digit #", 0, n - 1, key="interp_b"))
    steps = c[2].slider("Steps", 3, 20, 10, key="interp_steps",
                        help="Codes evenly spaced on the straight line between the two digits' codes.")
    images = latent.interpolate(src.encoder, src.decoder, x_test[a], x_test[b], steps)

    def name(i):
        return f"#{i} (a {int(y_test[i])})" if y_test[i] >= 0 else f"#{i}"

    cols = st.columns([1, 8, 1], vertical_alignment="center")
    cols[0].image(_digit(x_test[a], 3), caption=f"From {name(a)}", output_format="PNG")
    row = viz.digit_row(images, scale=3, gap=1)
    cols[1].image(common.inline_png(row), width="stretch", caption=f"{steps} decoded codes from {name(a)} to {name(b)}")
    common.grid_download(cols[1], row, f"interpolation-{a}-{b}.png", key="dl_interpolation")
    cols[2].image(_digit(x_test[b], 3), caption=f"To {name(b)}", output_format="PNG")


def _error_section(a: latent.Analysis, x_test) -> None:
    means, counts = a.class_errors()
    left, right = st.columns([2, 3], gap="large")
    with left:
        if counts.sum():
            fig = _figure("errors", (id(a), a.seconds), lambda: viz.class_error_figure(means, counts))
            st.plotly_chart(fig, key="class_errors", config=common.chart_config("error-per-digit"))
        else:
            st.info("This data set has no labels, so there is no error per digit class.")
    with right:
        st.markdown(f"**Worst reconstructed** of the {len(a.indices):,} digits (original │ reconstruction)")
        rows = latent.worst(a.errors, N_WORST)
        st.image([common.inline_png(viz.digit_row([x_test[a.indices[r]], a.reconstructions[r]], scale=3, gap=1))
                  for r in rows],
                 caption=[f"#{a.indices[r]}" + (f" · a {int(a.labels[r])}" if a.labels[r] >= 0 else "")
                          + f" · MSE {a.errors[r]:.3f}" for r in rows], output_format="PNG")


def _denoising_section(src: Source) -> None:
    st.subheader("Denoising")
    clean = src.dataset.x_test[:16]
    noisy = latent.corrupt(clean, src.config.noise, seed=src.config.seed)
    recon = latent.decode(src.decoder, latent.encode(src.encoder, noisy))
    cols = st.columns(3)
    for col, images, caption in zip(cols, (noisy, recon, clean), ("Noisy input", "Reconstruction", "Original")):
        grid = viz.digit_grid(images, 4, scale=2)
        col.image(common.inline_png(grid), caption=caption, width="stretch")
        common.grid_download(col, grid, f"denoising-{caption.lower().replace(' ', '-')}.png",
                             key=f"dl_denoise_{caption}")
    st.caption(f"Gaussian noise of stddev {src.config.noise:g} added to the first 16 test digits, clipped "
               "to 0..1, as in training.")


def explore(run_id: str, waiting: bool = False, saved=None) -> None:
    with st.container(key="explore_view"):
        _explore(run_id, waiting, saved)


def _explore(run_id: str, waiting: bool, saved) -> None:
    src = _source(run_id, saved)
    if src is None:
        return
    if waiting:
        st.rerun()  # the digits have loaded: redraw the page without the polling
    x_test, y_test = src.dataset.x_test, src.dataset.y_test
    try:
        a = _analyses().get(src.key, src.step,
                            lambda: latent.analyse(src.encoder, src.decoder, x_test, y_test, step=src.step))
    except latent.LatentError as e:
        st.error(str(e))
        return
    st.caption(f"Run `{run_id}` · {src.status} · step {src.step:,} · "
               f"map of step {a.step:,} computed in {a.seconds * 1000:.0f} ms")
    _latent_section(src, a)
    if src.config.variant == "variational" and src.config.latent == 2:
        _manifold_section(src, a)
    _drawing_section(src)
    _interpolation_section(src)
    _error_section(a, x_test)
    if src.config.noise > 0:
        _denoising_section(src)


# --- page -------------------------------------------------------------------------------------------
common.leave_mpa_v1()
st.title("What the autoencoder has learnt")
run_id = _run_id()
live = run_id is not None and common.registry().get(run_id) is not None
saved = None if live or run_id is None else _saved(run_id)  # read once a page run, not at every refresh
if run_id is None or not (live or saved):
    st.info((f"Run {run_id} is neither training on this server nor saved. " if run_id else
             "No run to explore yet. ") + "Start one on the Train page, then come back here.")
    st.page_link("pages/train.py", label="Go to the Train page", icon=":material/model_training:")
    st.stop()
if st.query_params.get("run") != run_id:
    st.query_params["run"] = run_id  # a reload or a shared link comes back to this run
st.page_link("pages/train.py", label="Back to training this run", icon=":material/model_training:", query_params={"run": run_id})

common.hold_still("explore_view", "explore_film_view")


def explore_and_film(run_id: str, waiting: bool, saved) -> None:
    common.guarded(explore)(run_id, waiting, saved)
    contrast.film_strip(run_id, key="explore_film")


# A live run refreshes on its own (the map and the film strip in one rerun); a saved run only while
# its digits are still loading.
waiting = not live and common.current_dataset() is None
st.fragment(explore_and_film, run_every=REFRESH_S if live else 1.0 if waiting else None)(run_id, waiting, saved)
_canvas()

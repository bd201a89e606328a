"""The settings' widgets, generated from the Config fields' metadata (label, kind, range, choices),
so adding a hyperparameter to ``ae_core.config`` adds its control here without re-listing it; and
the draft they describe, to and from the page's address."""
from __future__ import annotations

import streamlit as st

from ae_core import config as cfg_lib
from ae_core.config import Config, ConfigError


def widget_key(name: str) -> str:
    return f"cfg_{name}"


def set_widgets(config: Config) -> None:
    """Point every config widget at ``config`` (before the widgets are drawn, or in a callback)."""
    for name in cfg_lib.FIELDS:
        value = getattr(config, name)
        if name == "hidden":
            st.session_state["cfg_layers"] = len(value)
            for i, width in enumerate(value):
                st.session_state[f"cfg_width_{i}"] = width
        else:
            st.session_state[widget_key(name)] = value


def _fmt_number(v: float) -> str:
    return f"{v:g}"


def _drafted(name: str):
    """The field's value in the draft this tab last sent (the field's default before there is one)."""
    draft = st.session_state.get("last_draft")
    return getattr(draft, name) if draft is not None else cfg_lib.FIELDS[name].default


def _shown(key: str, name: str):
    """The value a config widget shows: its own state, else the draft this tab last sent."""
    return st.session_state[key] if key in st.session_state else _drafted(name)


def config_widget(name: str, *, container=st, disabled: bool = False, help_suffix: str = "") -> None:
    """One control for one Config field, chosen from its metadata alone: widths get a slider per
    layer, fields with ``options`` a select-slider, fields with a ``step`` a slider, choices a
    select box, switches a toggle, and the rest a number input, all bounded by ``lo``..``hi``.

    Each widget's own default is the value it shows. Should the browser ever draw it afresh without
    its state, it then keeps that value instead of falling back to its minimum (a Step budget of 1
    ends a running run)."""
    m = cfg_lib.spec(name)
    key = widget_key(name)
    help_text = m["help"] + help_suffix
    if m["kind"] == "widths":
        shown_layers = st.session_state.get("cfg_layers") or len(_drafted(name))
        layers = container.slider("Hidden layers", 1, cfg_lib.MAX_LAYERS, value=int(shown_layers), key="cfg_layers",
                                  disabled=disabled, help=m["help"])
        for i in range(layers):
            k = f"cfg_width_{i}"
            if k not in st.session_state:
                st.session_state[k] = max(m["lo"], 256 // (2 ** i))
            container.slider(f"Layer {i + 1} width", m["lo"], m["hi"], step=m["step"], key=k, disabled=disabled,
                             value=int(st.session_state[k]),
                             help="Units in this encoder layer (the decoder mirrors it).")
        return
    shown = _shown(key, name)
    if m["options"]:
        options = sorted(set(m["options"]) | {shown})
        container.select_slider(m["label"], options=options, value=shown, format_func=_fmt_number, key=key,
                                disabled=disabled, help=help_text + (" Log scale." if m["log"] else ""))
    elif m["kind"] == "choice":
        choices = list(m["choices"])
        container.selectbox(m["label"], choices, index=choices.index(shown) if shown in choices else 0, key=key,
                            disabled=disabled, help=help_text)
    elif m["kind"] == "bool":
        container.toggle(m["label"], value=bool(shown), key=key, disabled=disabled, help=help_text)
    elif m["step"] is not None:
        number = float if m["kind"] == "float" else int
        container.slider(m["label"], number(m["lo"]), number(m["hi"]), value=number(shown), step=number(m["step"]),
                         key=key, disabled=disabled, help=help_text)
    elif m["kind"] == "int":
        container.number_input(m["label"], min_value=m["lo"], max_value=m["hi"], value=int(shown), step=1,
                               key=key, disabled=disabled, help=help_text)
    else:
        container.number_input(m["label"], min_value=float(m["lo"]), max_value=float(m["hi"]), value=float(shown),
                               key=key, disabled=disabled, help=help_text, format="%g")


def draft_config() -> Config:
    """The Config the widgets currently describe (raises ConfigError when they disagree)."""
    values = {}
    for name in cfg_lib.FIELDS:
        if name == "hidden":
            layers = st.session_state.get("cfg_layers", 1)
            values[name] = tuple(int(st.session_state[f"cfg_width_{i}"]) for i in range(layers))
        else:
            values[name] = st.session_state[widget_key(name)]
    return Config.from_dict(values)


def config_from_url() -> tuple[str, Config]:
    """Preset name and Config from the query string (?preset=fast&learning_rate=0.003...)."""
    params = st.query_params.to_dict()
    name = params.get("preset", cfg_lib.DEFAULT_PRESET)
    if name not in cfg_lib.PRESETS:
        name = cfg_lib.DEFAULT_PRESET
    try:
        return name, Config.from_query(params, base=cfg_lib.PRESETS[name])
    except ConfigError as e:
        st.warning(f"The link's settings were not used: {e}")
        return name, cfg_lib.PRESETS[name]


def sync_url(run_id: str, preset_name: str, config: Config, present: bool = False) -> None:
    """Keep the address bar a shareable link to this run and configuration."""
    wanted = {"run": run_id, "preset": preset_name,
              **config.to_query(base=cfg_lib.PRESETS.get(preset_name, cfg_lib.PRESETS[cfg_lib.DEFAULT_PRESET]))}
    if present:
        wanted["present"] = "1"
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)

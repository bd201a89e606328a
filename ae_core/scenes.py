"""Scenes: a demo for a talk, written down as a TOML file in ``scenes/`` and played step by step.

A scene is a title and a list of ``[[step]]`` tables. Each step sets up the run (a ``preset``,
``settings`` on top of it or on the previous step), trains until a condition (``until_step``: the
run's step count; ``until_loss``: the loss averaged over the last ``LOSS_WINDOW`` steps; whichever
comes first; neither: the run's step budget) and shows a ``caption``::

    title = "What a learning rate does"

    [[step]]
    preset = "fast"
    until_step = 1000
    caption = "The default network, trained with Adam at 0.001."

    [[step]]
    settings = { learning_rate = 0.01 }
    until_step = 2000
    caption = "Now watch what a 10x learning rate does."

A step that names a preset, or changes a setting that needs a new network, starts a new run; a
step that changes only live settings (learning rate, batch size, noise, ...) goes on with the run
and the change is marked on its loss curve. Every setting is a ``Config`` field, validated by it.

:class:`ScenePlay` is one playing of a scene, shared by everyone who watches its run (the position
lives here, not in a browser session). It moves on only when told (:meth:`ScenePlay.next`); the
page turns a step into runs and commands. Nothing here imports streamlit.
"""
from __future__ import annotations

import math
import re
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import config as cfg_lib
from .config import LIVE_FIELDS, Config, ConfigError


def _scenes_dir() -> Path:
    """``scenes/`` beside app.py: this checkout's, or the installed dashboard's (package ae_lab)."""
    checkout = Path(__file__).resolve().parents[1] / "scenes"
    if checkout.is_dir():
        return checkout
    import importlib.util

    spec = importlib.util.find_spec("ae_lab")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "scenes").is_dir():
            return Path(location) / "scenes"
    return checkout


SCENES_DIR = _scenes_dir()   # read at call time: tests point it elsewhere
NAME_PATTERN = re.compile(r"[a-z0-9_-]{1,64}")
STEP_KEYS = ("preset", "settings", "until_step", "until_loss", "caption")
LOSS_WINDOW = 50   # steps: ``until_loss`` compares the mean minibatch loss over these (one batch is noisy)


class SceneError(ValueError):
    """A scene that cannot be played, in one plain sentence."""


@dataclass(frozen=True)
class SceneStep:
    caption: str
    config: Config                 # the whole configuration in force during this step
    new_run: bool                  # True: start a new run with ``config``; False: change live settings
    live: dict = field(default_factory=dict)   # for a continuing run: the live settings that change
    preset: str | None = None
    until_step: int | None = None
    until_loss: float | None = None

    def reached(self, step: int, recent_loss: float | None) -> bool:
        """Whether a run at ``step`` with ``recent_loss`` (see :func:`recent_loss`) has done this step."""
        if self.until_step is not None and step >= self.until_step:
            return True
        if self.until_loss is not None and recent_loss is not None and recent_loss <= self.until_loss:
            return True
        return self.until_step is None and self.until_loss is None and step >= self.config.steps

    def goal(self) -> str:
        """The step's condition in words ("until step 1,000 or a loss of 0.02")."""
        parts = []
        if self.until_step is not None:
            parts.append(f"step {self.until_step:,}")
        if self.until_loss is not None:
            parts.append(f"a loss of {self.until_loss:g}")
        return "until " + (" or ".join(parts) if parts else f"the step budget ({self.config.steps:,})")


@dataclass(frozen=True)
class Scene:
    name: str
    title: str
    steps: tuple[SceneStep, ...]


def recent_loss(losses) -> float | None:
    """The mean minibatch loss over the last ``LOSS_WINDOW`` steps (None before the first step)."""
    losses = np.asarray(losses)
    if len(losses) == 0:
        return None
    return float(np.mean(losses[-LOSS_WINDOW:]))


# --- reading -------------------------------------------------------------------------------------
def check_name(name: Any) -> str:
    """A scene name is a file name in ``scenes/`` without its ``.toml``: never a path."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise SceneError(f"A scene name is 1 to 64 lower-case letters, digits, '-' and '_', so {str(name)[:80]!r} "
                         f"is not one.")
    return name


def available(directory: Path | None = None) -> list[str]:
    """The scenes there are (names of ``scenes/*.toml``)."""
    folder = Path(directory or SCENES_DIR)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.toml") if NAME_PATTERN.fullmatch(p.stem))


def load(name: Any, directory: Path | None = None) -> Scene:
    """Read and check ``scenes/NAME.toml``; raises SceneError with one sentence."""
    name = check_name(name)
    folder = Path(directory or SCENES_DIR)
    path = folder / f"{name}.toml"
    if not path.is_file():
        there = available(folder)
        raise SceneError(f"There is no scene {name!r}; "
                         + (f"the scenes are: {', '.join(there)}." if there else f"{folder} holds none."))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SceneError(f"Scene file {path.name} could not be read ({type(e).__name__}).") from None
    return parse(text, name)


def parse(text: str, name: str = "scene") -> Scene:
    where = f"Scene file {name}.toml"
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SceneError(f"{where} is not valid TOML: {e}.") from None
    unknown = sorted(set(doc) - {"title", "step"})
    if unknown:
        raise SceneError(f"{where} has an unknown key {unknown[0]!r}; it takes a title and [[step]] tables.")
    title = doc.get("title", name)
    if not isinstance(title, str):
        raise SceneError(f"{where}: the title must be text.")
    raw_steps = doc.get("step")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise SceneError(f"{where} has no steps: write each one as a [[step]] table.")
    steps, previous = [], None
    for i, raw in enumerate(raw_steps, 1):
        try:
            step = _step(raw, previous)
        except (SceneError, ConfigError) as e:
            raise SceneError(f"{where}, step {i}: {_sentence(str(e))}") from None
        steps.append(step)
        previous = step.config
    return Scene(name=name, title=title, steps=tuple(steps))


def _sentence(text: str) -> str:
    """A message from Config (which starts with a capital and ends with a full stop) inside ours."""
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _step(raw: Any, previous: Config | None) -> SceneStep:
    if not isinstance(raw, dict):
        raise SceneError("a step must be a table of keys.")
    unknown = sorted(set(raw) - set(STEP_KEYS))
    if unknown:
        raise SceneError(f"unknown key {unknown[0]!r}; a step takes {', '.join(STEP_KEYS)}.")
    caption = raw.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        raise SceneError("every step needs a caption (the text shown to the room).")
    preset = raw.get("preset")
    if preset is not None and not isinstance(preset, str):
        raise SceneError("preset must be the name of a preset, in quotes.")
    if preset is None and previous is None:
        raise SceneError(f"the first step must name a preset to start from ({', '.join(cfg_lib.PRESETS)}).")
    base = cfg_lib.preset(preset) if preset is not None else previous   # ConfigError names the presets
    settings = raw.get("settings", {})
    if not isinstance(settings, dict):
        raise SceneError("settings must be a table, like settings = { learning_rate = 0.01 }.")
    values = {key: _value(key, value) for key, value in settings.items()}
    config = Config.from_dict(values, base=base)
    until_step = _until_step(raw.get("until_step"))
    until_loss = _until_loss(raw.get("until_loss"))
    if until_step is not None and until_step > config.steps:
        config = config.replace(steps=until_step)   # "run until step N" means the budget allows N
    new_run = previous is None or preset is not None or bool(previous.needs_reset(config))
    live = {} if new_run else {k: new for k, (_, new) in previous.diff(config).items() if k in LIVE_FIELDS}
    return SceneStep(caption=caption.strip(), config=config, new_run=new_run, live=live, preset=preset,
                     until_step=until_step, until_loss=until_loss)


def _value(key: Any, value: Any) -> Any:
    """A setting as TOML gives it; text is read like a URL value ("256-128", "0.01")."""
    if key not in cfg_lib.FIELDS:
        raise ConfigError(f"Unknown setting {key!r}; known settings are: {', '.join(cfg_lib.FIELDS)}.")
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, str) and cfg_lib.spec(key)["kind"] != "choice":
        return cfg_lib.parse_value(key, value)
    return value


def _until_step(value: Any) -> int | None:
    if value is None:
        return None
    hi = cfg_lib.spec("steps")["hi"]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
        raise SceneError(f"until_step must be a whole number of steps from 1 to {hi:,}, got {value!r}.")
    return value


def _until_loss(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise SceneError(f"until_loss must be a positive number, got {value!r}.")
    return float(value)


# --- playing -------------------------------------------------------------------------------------
class ScenePlay:
    """One playing of a scene: which step it is at and which run shows it, shared by every viewer.

    ``position`` is -1 before the first step; :meth:`next` moves on and returns the step to carry
    out. :meth:`drive` then trains the run of that step until the step's condition and pauses it.
    """

    # A key held down repeats, and a press can reach the server twice while the page swaps its
    # elements: a Next this soon after the last one is taken as the same press.
    REPEAT_S = 1.0

    def __init__(self, scene: Scene, run_id: str):
        self.scene = scene
        self.run_id = run_id          # the run the scene plays on now (a step may start a new one)
        self.position = -1
        self._lock = threading.Lock()
        self._generation = 0          # bumped at every step: a loss watcher of an earlier step ends
        self._moved_at = -float("inf")  # time.monotonic() of the last step taken

    @property
    def step(self) -> SceneStep | None:
        return self.scene.steps[self.position] if self.position >= 0 else None

    @property
    def upcoming(self) -> SceneStep | None:
        nxt = self.position + 1
        return self.scene.steps[nxt] if nxt < len(self.scene.steps) else None

    @property
    def finished(self) -> bool:
        return self.position == len(self.scene.steps) - 1

    def next(self, now: float | None = None) -> SceneStep | None:
        """Move to the next step and return it (None after the last one, and for a repeat of the
        last Next within ``REPEAT_S``)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self.upcoming is None or now - self._moved_at < self.REPEAT_S:
                return None
            self._moved_at = now
            self.position += 1
            self._generation += 1
            return self.step

    def reached(self, snapshot) -> bool:
        """Whether the run in ``snapshot`` has done the current step."""
        step = self.step
        return step is not None and step.reached(snapshot.step, recent_loss(snapshot.history.loss))

    def drive(self, trainer) -> None:
        """Train ``trainer`` (the current step's run, its live settings already applied) until the
        step's condition, then pause it. A step count is exact (the trainer's step quota); a loss is
        watched by a small thread that pauses the run within one chunk of reaching it."""
        step = self.step
        if step is None:
            return
        if step.until_step is not None:
            left = step.until_step - trainer.snapshot().step
            if left > 0:
                trainer.step(left)
            else:
                trainer.pause()       # already there (the presenter let it run on): hold still
        else:
            trainer.start()
        if step.until_loss is not None:
            generation = self._generation
            threading.Thread(target=self._pause_at_loss, args=(trainer, step, generation), daemon=True,
                             name=f"scene-{self.scene.name}-{self.position}").start()

    def _pause_at_loss(self, trainer, step: SceneStep, generation: int) -> None:
        def done(snap) -> bool:
            return self._generation != generation or step.reached(snap.step, recent_loss(snap.history.loss))

        while self._generation == generation:
            try:
                trainer.wait(done, timeout=5.0)
            except TimeoutError:
                continue
            except RuntimeError:      # the run's thread ended (released, reset): nothing to pause
                return
            if self._generation == generation:
                trainer.pause()
            return


class ScenePlays:
    """The scenes playing on this server, found by any run id they have played on (a viewer of a
    run the scene has left behind is pointed to the run it plays on now)."""

    MAX_KEPT = 200

    def __init__(self):
        self._by_run: dict[str, ScenePlay] = {}
        self._lock = threading.Lock()

    def start(self, scene: Scene, run_id: str) -> ScenePlay:
        play = ScenePlay(scene, run_id)
        self.follow(play, run_id)
        return play

    def follow(self, play: ScenePlay, run_id: str) -> None:
        """The scene now plays on ``run_id`` (a step started a new run)."""
        with self._lock:
            play.run_id = run_id
            self._by_run[run_id] = play
            while len(self._by_run) > self.MAX_KEPT:
                self._by_run.pop(next(iter(self._by_run)))

    def get(self, run_id: str | None) -> ScenePlay | None:
        with self._lock:
            return self._by_run.get(run_id)


# --- the CLI: `python -m ae_core scene NAME` --------------------------------------------------------
def summary(scene: Scene) -> dict:
    """A scene as JSON: each step's caption, whether it starts a new run, and what it changes."""
    steps, previous = [], None
    for step in scene.steps:
        base = cfg_lib.PRESETS[step.preset] if step.preset else previous
        steps.append({"caption": step.caption, "new_run": step.new_run, "preset": step.preset,
                      "changes": step.config.to_query(base=base),   # settings as in a URL or --set
                      "until_step": step.until_step, "until_loss": step.until_loss})
        previous = step.config
    return {"scene": scene.name, "title": scene.title, "steps": steps}


def cmd_scene(args) -> int:
    """Check a scene (a name in scenes/, or the path of a .toml file) and print it as JSON."""
    import json
    import sys

    try:
        path = Path(args.name)
        if args.name.endswith(".toml") and path.is_file():
            scene = parse(path.read_text(encoding="utf-8"), path.stem)
        else:
            scene = load(args.name)
    except (SceneError, OSError, UnicodeDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary(scene), ensure_ascii=False, indent=2))
    return 0


def add_parser(sub) -> None:
    s = sub.add_parser("scene", help="check a scene for talks (scenes/NAME.toml, or a .toml file) and print it")
    s.add_argument("name", help="a scene in scenes/ (e.g. seed_vs_modern) or the path of a .toml file")
    s.set_defaults(func=cmd_scene)

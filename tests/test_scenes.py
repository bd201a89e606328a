"""Scenes (ae_core.scenes): the shipped scenes parse, a bad scene is one sentence, and a play
trains each step until its condition."""
import numpy as np
import pytest

from ae_core import scenes
from ae_core.config import PRESETS
from ae_core.scenes import SceneError


def _write(tmp_path, text, name="talk"):
    (tmp_path / f"{name}.toml").write_text(text, encoding="utf-8")
    return name


GOOD = '''
title = "A talk"
[[step]]
preset = "fast"
until_step = 30
caption = "First."
[[step]]
settings = { learning_rate = 0.01, batch_size = "128" }
until_step = 60
caption = "Second."
[[step]]
settings = { hidden = [128, 64] }
until_loss = 0.05
caption = "Third."
'''


def test_the_shipped_scenes_parse_and_say_what_changes():
    assert {"seed_vs_modern", "denoising"} <= set(scenes.available())
    seed = scenes.load("seed_vs_modern")
    first, second, faster = seed.steps[:3]
    assert first.new_run and first.preset == "seed" and first.config.replace(steps=10_000) == PRESETS["seed"]
    assert second.new_run and second.preset == "fast" and not set(PRESETS["fast"].diff(second.config)) - {"steps"}
    assert not faster.new_run and faster.live == {"learning_rate": 0.01}     # 10x, on the same run
    assert faster.config.learning_rate == 10 * second.config.learning_rate
    denoising = scenes.load("denoising")
    assert [s.new_run for s in denoising.steps] == [True, False, False, False]
    assert [s.config.noise for s in denoising.steps] == [0.0, 0.3, 0.6, 0.0]
    for scene in (seed, denoising):
        assert scene.title and all(s.caption and s.until_step for s in scene.steps)
        steps = [s.until_step for s in scene.steps if not s.new_run]
        assert steps == sorted(steps)                # a continuing run's targets only go up
        assert all(s.until_step <= s.config.steps for s in scene.steps)


def test_settings_chain_and_a_network_change_starts_a_new_run(tmp_path):
    scene = scenes.load(_write(tmp_path, GOOD), directory=tmp_path)
    one, two, three = scene.steps
    assert one.new_run and one.config == PRESETS["fast"]
    assert not two.new_run and two.live == {"learning_rate": 0.01, "batch_size": 128}
    assert three.new_run and three.config.hidden == (128, 64) and three.config.learning_rate == 0.01
    assert three.until_loss == 0.05 and three.until_step is None


BAD = {
    "syntax": ('title = "x"\n[[step]\ncaption = "a"', "is not valid TOML"),
    "no steps": ('title = "x"', "has no steps"),
    "top key": ('titel = "x"\n[[step]]\npreset = "fast"\ncaption = "a"', "unknown key 'titel'"),
    "unknown setting": ('[[step]]\npreset = "fast"\nsettings = { lr = 0.1 }\ncaption = "a"', "unknown setting 'lr'"),
    "bad value": ('[[step]]\npreset = "fast"\nsettings = { learning_rate = 99.0 }\ncaption = "a"',
                  "learning rate must be from"),
    "bad text value": ('[[step]]\npreset = "fast"\nsettings = { batch_size = "many" }\ncaption = "a"',
                       "'many' is not a valid number"),
    "bad choice": ('[[step]]\npreset = "fast"\nsettings = { activation = "swish" }\ncaption = "a"',
                   "activation must be one of"),
    "unknown preset": ('[[step]]\npreset = "fastest"\ncaption = "a"', "unknown preset 'fastest'"),
    "no preset first": ('[[step]]\nsettings = { noise = 0.1 }\ncaption = "a"', "first step must name a preset"),
    "no caption": ('[[step]]\npreset = "fast"', "needs a caption"),
    "step key": ('[[step]]\npreset = "fast"\nuntil = 5\ncaption = "a"', "unknown key 'until'"),
    "until_step": ('[[step]]\npreset = "fast"\nuntil_step = 0\ncaption = "a"', "until_step must be"),
    "until_step text": ('[[step]]\npreset = "fast"\nuntil_step = "10"\ncaption = "a"', "until_step must be"),
    "until_loss": ('[[step]]\npreset = "fast"\nuntil_loss = -1\ncaption = "a"', "until_loss must be"),
    "settings type": ('[[step]]\npreset = "fast"\nsettings = 3\ncaption = "a"', "settings must be a table"),
    "conflict": ('[[step]]\npreset = "fast"\nsettings = { loss = "bce", output_activation = "linear" }\n'
                 'caption = "a"', "needs the sigmoid output"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_scene_file_is_one_sentence_naming_the_file(tmp_path, case):
    text, says = BAD[case]
    with pytest.raises(SceneError) as caught:
        scenes.load(_write(tmp_path, text), directory=tmp_path)
    message = str(caught.value)
    assert says in message, message
    assert message.startswith("Scene file talk.toml") and "\n" not in message and message.endswith(".")


@pytest.mark.parametrize("name", ["../scenes/denoising", "/etc/passwd", "a/b", "Denoising", "", "..",
                                  "denoising.toml", "x" * 65, None, "a b", "é"])
def test_a_crafted_scene_name_is_refused_before_any_file_is_touched(name):
    with pytest.raises(SceneError, match="is not one"):
        scenes.load(name)


def test_a_missing_scene_lists_the_scenes_there_are(tmp_path):
    _write(tmp_path, GOOD, "other")
    with pytest.raises(SceneError, match=r"There is no scene 'gone'; the scenes are: other\.$"):
        scenes.load("gone", directory=tmp_path)


def test_the_cli_checks_a_scene_and_prints_it_or_says_why_not(tmp_path, capsys):
    import json

    from ae_core.__main__ import main

    assert main(["scene", "seed_vs_modern"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scene"] == "seed_vs_modern" and len(out["steps"]) == 4
    assert out["steps"][2]["changes"] == {"learning_rate": "0.01"} and not out["steps"][2]["new_run"]
    assert main(["scene", "../seed_vs_modern"]) == 2
    assert capsys.readouterr().err.startswith("error: A scene name is")
    bad = tmp_path / "mine.toml"
    bad.write_text('[[step]]\npreset = "fast"\nsettings = { lr = 1 }\ncaption = "a"\n')
    assert main(["scene", str(bad)]) == 2
    assert "Scene file mine.toml, step 1: unknown setting 'lr'" in capsys.readouterr().err


def test_run_until_a_step_or_a_loss_whichever_comes_first():
    step = scenes.SceneStep(caption="c", config=PRESETS["fast"], new_run=True, until_step=100, until_loss=0.05)
    assert not step.reached(99, 0.06) and step.reached(100, 0.06) and step.reached(10, 0.05)
    only_loss = scenes.SceneStep(caption="c", config=PRESETS["fast"], new_run=True, until_loss=0.05)
    assert not only_loss.reached(10_000, None) and only_loss.reached(1, 0.049)
    budget = scenes.SceneStep(caption="c", config=PRESETS["fast"], new_run=True)
    assert not budget.reached(2999, 0.0) and budget.reached(3000, 1.0)
    assert budget.goal() == "until the step budget (3,000)" and step.goal() == "until step 100 or a loss of 0.05"


def test_the_recent_loss_is_the_mean_of_the_last_window():
    losses = np.random.default_rng(0).random(300)
    assert scenes.recent_loss(losses) == pytest.approx(losses[-50:].sum() / 50)
    assert scenes.recent_loss(losses[:7]) == pytest.approx(losses[:7].sum() / 7)
    assert scenes.recent_loss([]) is None


def test_a_play_trains_to_each_condition_and_is_found_by_every_run_it_played_on(tmp_path, small_mnist):
    from ae_core.trainer import Trainer

    scene = scenes.parse('''
[[step]]
preset = "fast"
until_step = 40
caption = "one"
[[step]]
settings = { learning_rate = 0.003 }
until_loss = 0.035
caption = "two"
''', "quick")
    plays = scenes.ScenePlays()
    play = plays.start(scene, "run-a")
    assert play.step is None and play.upcoming is scene.steps[0]

    step = play.next(now=0.0)
    trainer = Trainer(step.config, small_mnist, run_id="run-b")
    plays.follow(play, trainer.run_id)        # the step's new run
    assert plays.get("run-a") is play and plays.get("run-b") is play and play.run_id == "run-b"
    try:
        play.drive(trainer)
        snap = trainer.wait(lambda s: s.status == "paused", 120)
        assert snap.step == 40 and play.reached(snap)        # a step count is exact

        step = play.next(now=10.0)
        trainer.update(**step.live)
        play.drive(trainer)                                   # no step count: trains until the loss
        snap = trainer.wait(lambda s: s.status == "paused" and s.step > 40, 120)
        losses = np.asarray(snap.history.loss)
        window = [losses[max(0, k - 50):k].mean() for k in range(1, len(losses) + 1)]
        first = next(k for k, v in enumerate(window, 1) if v <= 0.035)
        assert first > 40 and first <= snap.step < first + 400   # paused once the loss got there
        assert snap.config.learning_rate == 0.003 and play.finished and play.next(now=20.0) is None
    finally:
        trainer.stop()


def test_a_next_repeated_within_a_second_is_the_same_press():
    """A held → key repeats, and a press may reach the server twice: the scene moves on once."""
    scene = scenes.parse('''
[[step]]
preset = "fast"
caption = "one"
[[step]]
settings = { learning_rate = 0.003 }
caption = "two"
''', "quick")
    play = scenes.ScenePlay(scene, "run-a")
    assert play.next(now=100.0) is scene.steps[0] and play.position == 0
    assert play.next(now=100.0 + scenes.ScenePlay.REPEAT_S / 2) is None and play.position == 0
    assert play.next(now=100.0 + scenes.ScenePlay.REPEAT_S * 1.1) is scene.steps[1] and play.position == 1

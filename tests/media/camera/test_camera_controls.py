"""media.camera.controls: the preview keys change the processor live."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from segblur.cli.main import main
from segblur.media.camera import KEYS, KEYS_HELP, Controls, handle_key
from segblur.media.camera.controls import MESSAGE_SECONDS
from segblur.runtime.pipeline import Pipeline


def test_keys_change_the_pipeline_live(model_path: Path) -> None:
    pipe = Pipeline(model_path, effect="blur", temporal=True)
    bg = np.zeros((8, 8, 3), np.uint8)
    c = Controls(backgrounds=(bg, bg + 50), color=(1, 2, 3))
    assert handle_key(ord("e"), c, pipe) == "effect box" and pipe.effect.name == "box"
    assert handle_key(ord("E"), c, pipe) == "effect blur" and pipe.effect.name == "blur"
    handle_key(ord("E"), c, pipe)  # blur is first: back wraps to the last, image (there are backgrounds)
    assert pipe.effect.name == "image"
    handle_key(ord("E"), c, pipe)
    assert pipe.effect.name == "color" and pipe.effect.color == (1, 2, 3)
    s = pipe.effect.strength
    handle_key(ord("+"), c, pipe)
    assert pipe.effect.strength == pytest.approx(min(1.0, s + 0.1)) and pipe.effect.name == "color"
    for _ in range(15):
        handle_key(ord("-"), c, pipe)
    assert pipe.effect.strength == 0.0
    for _ in range(15):
        handle_key(ord("="), c, pipe)
    assert pipe.effect.strength == 1.0
    assert handle_key(ord("b"), c, pipe) == "background 2/2"
    assert pipe.effect.name == "image" and int(pipe.effect.image.max()) == 50
    assert handle_key(ord("m"), c, pipe) == "mask view" and pipe.view == "mask"
    assert handle_key(ord("m"), c, pipe) == "effect view" and pipe.view == "effect"
    assert handle_key(ord("t"), c, pipe) == "smoothing off" and pipe.temporal is None
    assert handle_key(ord("t"), c, pipe) == "smoothing on" and pipe.temporal is not None
    assert "smoothing" not in c.describe(pipe)
    assert handle_key(ord("x"), c, pipe) is None and not c.quit
    assert handle_key(27, c, pipe) == "quit" and c.quit
    c2 = Controls()
    assert handle_key(ord("b"), c2, pipe).startswith("no background")
    assert "image" not in c2.cycle()
    assert handle_key(ord("q"), c2, pipe) == "quit" and c2.quit


def test_key_message_shows_for_a_moment(model_path: Path) -> None:
    """What a key did is shown in the overlay for MESSAGE_SECONDS, then dropped."""
    c = Controls()
    assert c.recent_message() == ""
    assert handle_key(ord("m"), c, Pipeline(model_path)) == "mask view"
    assert c.recent_message() == "mask view"
    assert c.recent_message(now=c.message_at + MESSAGE_SECONDS + 0.1) == ""


def test_every_key_is_in_the_overlay_help_and_in_camera_help(model_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The keys handle_key acts on are the ones the overlay and ``segblur camera --help`` document."""
    with pytest.raises(SystemExit):
        main(["camera", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    documented = re.search(r"Preview keys: (.*?)\. ", help_text).group(1).split(", ")
    assert [entry.split()[0] for entry in documented] == [keys for keys, _ in KEYS]
    assert documented[-1] == "q or Esc quit"
    pipe = Pipeline(model_path)
    for keys, what in KEYS:
        assert f"{keys} {what}" in KEYS_HELP
        for key in keys.split("/"):
            assert handle_key(ord(key), Controls(), pipe) is not None, key
    assert handle_key(27, Controls(), pipe) == "quit"

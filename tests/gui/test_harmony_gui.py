"""The harmony rows in the app (gui/harmony_panel.py): with the plain debug model (no harmony control) they say
so and nothing is sent; with the harmony debug model a chord played on a real virtual JACK MIDI port shows as
waiting for its bar line and then as the target, with its pitch classes lit; the settings are saved in presets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.harmony import key_progression
from engine.vocabulary import KEY_TONICS, SCALES
from gui.harmony_panel import NO_HARMONY_CONTROL
from tests.gui.conftest import make_window
from instrument.presets import PresetInfo

ON = 0x90
SHOTS = Path("/tmp/harmony_shots")


def harmony_window(qtbot: object, user_dir: Path) -> object:
    """The app playing the harmony debug model (debug_generator(harmony=True)) to a software clock."""
    return make_window(qtbot, user_dir, autoplay=True, harmony=True)


@pytest.fixture()
def playing_harmony_window(qtbot: object, user_dir: Path) -> Iterator[object]:
    window = harmony_window(qtbot, user_dir)
    yield window
    window.close()


def _open_port(window: object, qtbot: object) -> None:
    window.instrument.open_midi("Ctl:knobs").result(timeout=10)
    qtbot.waitUntil(lambda: window.instrument.midi_port_name == "Ctl:knobs", timeout=5000)


def test_a_model_without_the_control_says_so_and_is_sent_nothing(playing_window: object, qtbot: object,
                                                                  virtual_out: object) -> None:
    window = playing_window
    panel = window.harmony_panel
    qtbot.waitUntil(lambda: window.instrument.playing, timeout=10000)
    qtbot.waitUntil(lambda: panel.status_label.text() == NO_HARMONY_CONTROL, timeout=3000)
    _open_port(window, qtbot)
    for note in (57, 60, 64):
        virtual_out.send_message([ON, note, 100])
    qtbot.waitUntil(lambda: window.instrument.held_notes.chord().name == "Am", timeout=3000)
    qtbot.wait(300)
    assert panel.status_label.text() == NO_HARMONY_CONTROL and panel.chord_label.text() == "–"
    assert max(panel.strip.weights) == 0.0, "nothing shown as a target: none is sent"
    session = window.instrument.session
    assert session.harmony is None
    assert all(r.request is None or r.request.get("chroma") is None for r in session.engine.records)


def test_a_held_chord_waits_for_its_bar_line_then_is_the_target(playing_harmony_window: object, qtbot: object,
                                                                virtual_out: object) -> None:
    window = playing_harmony_window
    panel = window.harmony_panel
    qtbot.waitUntil(lambda: window.instrument.playing and window.instrument.session.first_sound_played,
                    timeout=10000)
    window.store.set("tempo_bpm", 60.0, "gui")  # a bar is 4 s: the chord waits long enough to be seen waiting
    qtbot.waitUntil(lambda: panel.status_label.text() == "play a chord on the keyboard", timeout=3000)
    _open_port(window, qtbot)
    for note in (57, 60, 64):
        virtual_out.send_message([ON, note, 100])
    qtbot.waitUntil(lambda: panel.status_label.text().startswith("next: Am in"), timeout=3000)
    # until it lands, the panel shows what the key gives now: one of its chords, a bar at a time
    key, scale = KEY_TONICS[int(window.store.get("key"))], SCALES[int(window.store.get("scale"))]
    assert panel.chord_label.text() in {chord.symbol for chord in key_progression(key, scale)}
    SHOTS.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(SHOTS / "harmony-pending.png"))
    follower = window.instrument.session.harmony

    def lit() -> set[int]:
        return {index for index, weight in enumerate(panel.strip.weights) if weight > 0}

    # the held Am: its three tones only (the key's Am, if the key's bar shows one, lights the scale around it)
    qtbot.waitUntil(lambda: follower.display().current is not None and panel.chord_label.text() == "Am"
                    and lit() == {0, 4, 9}, timeout=6000)
    assert not panel.status_label.text().startswith("next:")
    assert panel.strip.weights[9] == 1.0, "the bass, the loudest"
    window.grab().save(str(SHOTS / "harmony-target.png"))
    records = window.instrument.session.engine.records
    assert any(r.request and r.request.get("chroma") is not None for r in records)


def test_the_harmony_settings_are_saved_in_a_preset(window: object, qtbot: object, user_dir: Path) -> None:
    store = window.store
    window.controls["harmony_quantise"].set_by_player(1.0)  # beat
    window.controls["harmony_release"].set_by_player(2.0)  # free
    window.controls["harmony_follow"].set_by_player(0.0)
    window.controls["harmony_channel"].set_by_player(3)
    window.controls["key_harmony"].set_by_player(1.0)  # scale
    path = window.save_preset_as("Chordless")
    saved = json.loads(path.read_text())["parameters"]
    assert (saved["harmony_quantise"], saved["harmony_release"], saved["harmony_follow"], saved["harmony_channel"]) \
        == ("beat", "free", False, 3)
    assert saved["key_harmony"] == "scale"
    assert window.instrument.held_notes.channel == 2, "channel 3 on screen is MIDI channel index 2"
    window.load_preset(next(i for i in window.instrument.presets() if i.name == "Default"))
    assert store.get("harmony_quantise") == 0.0 and store.get("harmony_follow") == 1.0
    assert window.instrument.held_notes.channel is None
    assert window.load_preset(PresetInfo("Chordless", path, False))
    assert (store.get("harmony_quantise"), store.get("harmony_release"), store.get("harmony_follow"),
            store.get("harmony_channel")) == (1.0, 2.0, 0.0, 3.0)
    qtbot.waitUntil(lambda: window.controls["harmony_release"].currentText() == "free", timeout=2000)

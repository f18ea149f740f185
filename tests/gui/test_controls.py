"""Every control reaches the parameter store, and every store change (from any thread) reaches the control."""

from __future__ import annotations

import threading

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication

from engine.vocabulary import DESCRIPTORS, KEY_TONICS, N_PROMPT_SLOTS
from instrument.parameters import PARAMETER_SPECS, ParameterSpec


def _other_value(spec: ParameterSpec, current: float, position: float) -> float:
    """A valid value different from `current` (for a choice/bool: the next label / the other state)."""
    if spec.kind == "choice":
        return float((int(current) + 1) % len(spec.choices))
    if spec.kind == "bool":
        return 0.0 if current >= 0.5 else 1.0
    value = spec.from_normalised(position)
    return value if value != current else spec.from_normalised(1.0 - position)


def _from_another_thread(function: object, *args: object) -> None:
    # The MIDI thread (or any other) writes the store; the window must pick it up on its own timer.
    thread = threading.Thread(target=function, args=args)
    thread.start()
    thread.join()


def test_every_parameter_round_trips_between_widget_and_store(window: object, qtbot: object) -> None:
    store = window.store
    names = {spec.name for spec in PARAMETER_SPECS} - {"xy_x", "xy_y"}
    assert names <= set(window.controls), f"parameters without a control: {names - set(window.controls)}"
    for spec in PARAMETER_SPECS:
        if spec.name in ("xy_x", "xy_y"):
            continue
        control = window.controls[spec.name]
        target = _other_value(spec, store.get(spec.name), 0.73)
        control.set_by_player(target)  # what a drag, a pick or a click ends in
        assert store.get(spec.name) == spec.clamp(target), spec.name
        back = _other_value(spec, target, 0.21)
        _from_another_thread(store.set, spec.name, back, "midi")
        qtbot.waitUntil(lambda: control.value == spec.clamp(back), timeout=2000)


def test_every_control_is_labelled_from_its_spec(window: object) -> None:
    """The window prints each spec's label; only a descriptor's target knob (beside its labelled switch) and a
    prompt's weight knob (beside its numbered chip) say less."""
    shorter = {d.parameter: "Target" for d in DESCRIPTORS}
    shorter.update({f"prompt_{slot + 1}_weight": "Weight" for slot in range(N_PROMPT_SLOTS)})
    for name, control in window.controls.items():
        spec = next(spec for spec in PARAMETER_SPECS if spec.name == name)
        assert control.label == shorter.get(name, spec.label), name
    assert window.controls["cfg_scale"].label == "CFG" and window.controls["density_enabled"].label == "Density"


def test_xy_pad_and_prompt_texts_round_trip(window: object, qtbot: object) -> None:
    store = window.store
    store.set_prompt_text(1, "solo cello")
    window.xy_pad.set_by_player(0.25, 0.75)
    assert (store.get("xy_x"), store.get("xy_y")) == (0.25, 0.75)
    _from_another_thread(store.set_many, {"xy_x": 1.0, "xy_y": 0.0}, None, "midi")
    qtbot.waitUntil(lambda: (window.xy_pad.x_value, window.xy_pad.y_value) == (1.0, 0.0), timeout=2000)
    assert window.xy_pad.corner_weights[1] == 1.0  # the pad shows prompt 2 taking the whole blend

    for slot in range(N_PROMPT_SLOTS):
        edit = window.prompt_edits[slot]
        edit.setFocus()
        edit.selectAll()
        qtbot.keyClicks(edit, f"slot {slot} text")
        qtbot.keyClick(edit, Qt.Key_Return)
        assert store.prompt_texts()[slot] == f"slot {slot} text"
    # Slot 4 still has the keyboard focus but nothing typed since Enter: a preset's text replaces it ...
    assert window.prompt_edits[3].hasFocus()
    _from_another_thread(store.set_prompt_text, 3, "from a preset", "preset")
    qtbot.waitUntil(lambda: window.prompt_edits[3].text() == "from a preset", timeout=2000)
    # ... and leaving the field does not write the old text back over it.
    window.prompt_edits[0].setFocus()
    qtbot.wait(100)
    assert store.prompt_texts()[3] == "from a preset"
    # Text being typed is the player's: a store change does not yank it away mid-word.
    qtbot.keyClicks(window.prompt_edits[0], " more")
    _from_another_thread(store.set_prompt_text, 0, "elsewhere", "midi")
    qtbot.wait(150)
    assert window.prompt_edits[0].text().endswith(" more")


def test_mouse_drag_wheel_keys_and_double_click_on_a_knob(window: object, qtbot: object) -> None:
    store = window.store
    knob = window.controls["cfg_scale"]
    store.set("cfg_scale", 4.0)
    qtbot.waitUntil(lambda: knob.value == 4.0, timeout=2000)
    centre = knob.rect().center()
    qtbot.mousePress(knob, Qt.LeftButton, pos=centre)
    qtbot.mouseMove(knob, QPoint(centre.x(), centre.y() - 60))
    qtbot.mouseRelease(knob, Qt.LeftButton, pos=QPoint(centre.x(), centre.y() - 60))
    dragged = store.get("cfg_scale")
    assert dragged > 4.0 + 2.0  # a 60-pixel drag up moves a third of the range (11 units)
    qtbot.keyClick(knob, Qt.Key_Down)
    assert store.get("cfg_scale") < dragged
    qtbot.mouseDClick(knob, Qt.LeftButton, pos=centre)
    assert store.get("cfg_scale") == 4.0  # the spec's default
    steps = window.controls["steps"]
    before = store.get("steps")
    qtbot.keyClick(steps, Qt.Key_Up)
    assert store.get("steps") == before + 1  # int parameters step by one


def test_choice_box_and_toggle_by_mouse_and_keyboard(window: object, qtbot: object) -> None:
    store = window.store
    limiter = window.controls["fx_limiter_enabled"]
    before = store.get("fx_limiter_enabled")
    qtbot.mouseClick(limiter, Qt.LeftButton)
    assert store.get("fx_limiter_enabled") == 1.0 - before
    key = window.controls["key"]
    key.setFocus()
    index = key.currentIndex()
    qtbot.keyClick(key, Qt.Key_Down)
    assert store.get("key") == float(index + 1)


def test_right_click_opens_the_midi_menu_with_reset(window: object, qtbot: object) -> None:
    store = window.store
    knob = window.controls["fx_reverb_mix"]
    store.set("fx_reverb_mix", 0.9)
    event = QContextMenuEvent(QContextMenuEvent.Mouse, QPoint(5, 5), knob.mapToGlobal(QPoint(5, 5)))
    QApplication.sendEvent(knob, event)
    menu = window.last_midi_menu
    assert menu is not None and menu.isVisible()
    names = [action.objectName() for action in menu.actions() if action.objectName()]
    assert names == ["learn", "cancel", "forget", "reset"]
    next(a for a in menu.actions() if a.objectName() == "reset").trigger()
    assert store.get("fx_reverb_mix") == 0.15
    menu.close()


def test_drawn_curve_drives_its_parameter(window: object, qtbot: object) -> None:
    store = window.store
    lane = window.curves["brightness_hz"]
    lane.resize(200, 40)
    qtbot.mousePress(lane, Qt.LeftButton, pos=QPoint(1, 1))  # top-left: the maximum, and drawing turns it on
    for x in range(1, 200, 10):
        qtbot.mouseMove(lane, QPoint(x, 1))
    qtbot.mouseRelease(lane, Qt.LeftButton, pos=QPoint(199, 1))
    assert lane.active and store.get("brightness_hz_enabled") == 1.0
    qtbot.waitUntil(lambda: store.get("brightness_hz") > 7000.0, timeout=3000)
    window.curve_buttons["brightness_hz"].setChecked(False)
    assert not lane.active
    store.set("brightness_hz", 500.0)
    qtbot.wait(200)
    assert store.get("brightness_hz") == 500.0  # a stopped curve no longer writes


def test_xy_pad_mouse_drag(window: object, qtbot: object) -> None:
    pad = window.xy_pad
    pad.resize(300, 300)
    target = pad.point_of(1.0, 1.0)
    qtbot.mousePress(pad, Qt.LeftButton, pos=target.toPoint())
    assert window.store.get("xy_x") > 0.95 and window.store.get("xy_y") > 0.95
    qtbot.mouseRelease(pad, Qt.LeftButton, pos=target.toPoint())
    assert pad.position_at(QPointF(-50, 10_000)) == (0.0, 0.0)  # off the pad clamps to the corner


def test_a_playing_curve_writes_at_most_once_a_second(window: object, qtbot: object) -> None:
    # Every write is a regeneration for the engine: a curve that moves all the time must not flood it.
    store = window.store
    lane = window.curves["noisiness"]
    lane.values = [float(i % 2) for i in range(lane.STEPS)]  # jumps between the extremes at every step
    lane.drawn = True
    version = store.version
    window.set_curve_active("noisiness", True)
    qtbot.wait(2600)
    writes = [c for c in store.changes_since(version) if c.name == "noisiness" and c.source == "curve"]
    assert 2 <= len(writes) <= 3, writes
    gaps = [b.time_monotonic_s - a.time_monotonic_s for a, b in zip(writes, writes[1:])]
    assert all(gap >= 0.99 for gap in gaps), gaps


def test_typing_r_and_space_in_a_prompt_types_them(window: object, qtbot: object) -> None:
    # Space and R are the transport's shortcuts, but never while a text field has the keyboard.
    edit = window.prompt_edits[1]
    edit.setFocus()
    qtbot.keyClicks(edit, "Rock r n roll")
    assert edit.text().endswith("Rock r n roll")
    qtbot.wait(100)
    assert not window.instrument.recording and not window.instrument.playing
    window.controls["cfg_scale"].setFocus()
    qtbot.keyClick(window.controls["cfg_scale"], Qt.Key_Space)  # on a knob: the shortcut
    qtbot.waitUntil(lambda: window.instrument.playing, timeout=20000)
    qtbot.keyClick(window.controls["cfg_scale"], Qt.Key_Space)
    qtbot.waitUntil(lambda: not window.instrument.playing, timeout=20000)


def test_typed_prompt_words_show_beside_the_prompt_and_move_the_knobs_as_it_is_morphed_in(window: object,
                                                                                          qtbot: object) -> None:
    store = window.store
    tempo_before = store.get("tempo_bpm")
    edit, label = window.prompt_edits[2], window.prompt_word_labels[2]
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "dub techno at 118 bpm in F# minor")
    qtbot.keyClick(edit, Qt.Key_Return)
    qtbot.waitUntil(lambda: label.isVisible() and label.text() == "reads 118 BPM · F# min", timeout=2000)
    assert store.get("tempo_bpm") == tempo_before  # prompt 3 does not sound yet: it keeps its words for later
    window.xy_pad.set_by_player(0.0, 1.0)  # the pad's prompt-3 corner
    assert store.get("tempo_bpm") == 118.0 and KEY_TONICS[int(store.get("key"))] == "F#"
    qtbot.waitUntil(lambda: window.controls["tempo_bpm"].value == 118.0, timeout=2000)
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "dub techno at 112 bpm")  # typed into the prompt that sounds: at once
    qtbot.keyClick(edit, Qt.Key_Return)
    assert store.get("tempo_bpm") == 112.0
    # a preset's text shows its reading too, but does not move the knobs (it brings its own settings)
    _from_another_thread(store.set_prompt_text, 2, "warm pads, 70 bpm", "preset")
    qtbot.waitUntil(lambda: label.text() == "reads 70 BPM", timeout=2000)
    assert store.get("tempo_bpm") == 112.0
    _from_another_thread(store.set_prompt_text, 2, "strings", "preset")
    qtbot.waitUntil(lambda: not label.isVisible(), timeout=2000)
    # a tempo the rules do not read (no genre beside it), the trained words reader does (marked "*")
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "a warm groove at about 124")
    qtbot.keyClick(edit, Qt.Key_Return)
    assert store.get("tempo_bpm") == 124.0
    qtbot.waitUntil(lambda: label.text() == "reads 124 BPM*", timeout=5000)
    assert "*: read by the trained words reader" in label.toolTip() and "tempo read by the model, p" in label.toolTip()
    # a change by some BPM is no tempo: the knob holds, and the label says what was refused
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "house, speed it up by 20 bpm")
    qtbot.keyClick(edit, Qt.Key_Return)
    qtbot.waitUntil(lambda: label.isVisible() and label.text() == "ignored 'by 20 bpm'", timeout=5000)
    assert store.get("tempo_bpm") == 124.0 and "a change of tempo, not a tempo" in label.toolTip()

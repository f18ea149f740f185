"""MIDI in the app over a real virtual JACK MIDI port: a CC moves the knob on screen, MIDI learn from the
right-click menu, the mapping view, controller presets."""

from __future__ import annotations


import pytest
from PySide6.QtCore import QPoint
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication

CC = 0xB0


@pytest.fixture()
def controller(virtual_out: object) -> object:
    """A virtual controller: the JACK MIDI output port "Ctl:knobs" (tests/conftest.py) the app can open."""
    return virtual_out


def _open_port(window: object, qtbot: object) -> None:
    window.instrument.refresh_midi_ports().result(timeout=10)
    qtbot.waitUntil(lambda: window.midi_port_box.findText("Ctl:knobs") > 0, timeout=3000)
    window.midi_port_box.setCurrentIndex(window.midi_port_box.findText("Ctl:knobs"))
    window.midi_port_box.activated.emit(window.midi_port_box.currentIndex())  # what picking it in the list does
    qtbot.waitUntil(lambda: window.instrument.midi_port_name == "Ctl:knobs", timeout=5000)


def test_a_cc_moves_the_knob_on_screen(window: object, qtbot: object, controller: object) -> None:
    _open_port(window, qtbot)
    knob = window.controls["cfg_scale"]  # generic-8-knobs: CC 21 -> CFG
    assert knob.mapping_text == "CC21"
    controller.send_message([CC, 21, 127])
    qtbot.waitUntil(lambda: knob.value == 12.0, timeout=3000)
    controller.send_message([CC, 21, 0])
    qtbot.waitUntil(lambda: knob.value == 1.0, timeout=3000)
    assert window.store.get("cfg_scale") == 1.0
    assert "Ctl:knobs" in window.status_label.text()


def test_midi_learn_from_the_right_click_menu(window: object, qtbot: object, controller: object) -> None:
    _open_port(window, qtbot)
    knob = window.controls["fx_delay_mix"]
    QApplication.sendEvent(knob, QContextMenuEvent(QContextMenuEvent.Mouse, QPoint(4, 4), knob.mapToGlobal(QPoint(4, 4))))
    learn = next(a for a in window.last_midi_menu.actions() if a.objectName() == "learn")
    learn.trigger()
    window.last_midi_menu.close()
    qtbot.waitUntil(lambda: knob.learning, timeout=2000)  # the knob shows it waits for a controller
    assert "Learning" in window.learn_label.text()
    controller.send_message([CC | 4, 50, 127])  # CC 50 on channel 5
    qtbot.waitUntil(lambda: knob.value == 1.0, timeout=3000)
    qtbot.waitUntil(lambda: not knob.learning and knob.mapping_text == "CC50 ch5", timeout=2000)
    rows = [(window.mapping_table.item(r, 0).text(), window.mapping_table.item(r, 1).text())
            for r in range(window.mapping_table.rowCount())]
    assert ("CC50 ch5", "Delay") in rows
    assert "MIDI learn: CC 50" in window.banner.text
    controller.send_message([CC | 4, 50, 0])
    qtbot.waitUntil(lambda: knob.value == 0.0, timeout=3000)
    # The same CC on another channel is not this mapping.
    controller.send_message([CC | 5, 50, 127])
    qtbot.wait(200)
    assert window.store.get("fx_delay_mix") == 0.0

    # Forget it from the menu: the CC no longer moves the knob, the mapping view drops the row.
    menu = window.build_midi_menu("fx_delay_mix")
    next(a for a in menu.actions() if a.objectName() == "forget").trigger()
    qtbot.waitUntil(lambda: knob.mapping_text == "", timeout=2000)
    controller.send_message([CC | 4, 50, 127])
    qtbot.wait(200)
    assert window.store.get("fx_delay_mix") == 0.0


def test_learn_the_xy_pad_and_cancel(window: object, qtbot: object, controller: object) -> None:
    _open_port(window, qtbot)
    window.build_midi_menu("xy_y").actions()[0].trigger()
    qtbot.waitUntil(lambda: window.xy_pad.learning == "xy_y", timeout=2000)
    controller.send_message([CC, 60, 127])
    qtbot.waitUntil(lambda: window.xy_pad.y_value == 1.0, timeout=3000)
    window.build_midi_menu("cfg_scale").actions()[0].trigger()
    cancel = next(a for a in window.build_midi_menu("cfg_scale").actions() if a.objectName() == "cancel")
    assert cancel.isEnabled()
    cancel.trigger()
    qtbot.waitUntil(lambda: not window.controls["cfg_scale"].learning, timeout=2000)
    assert window.instrument.mapper.learning is None


def test_controller_presets_and_the_mapping_view(window: object, qtbot: object, user_dir: object) -> None:
    box = window.controller_box
    names = [box.itemText(i) for i in range(box.count())]
    assert {"generic-8-knobs", "korg-nanokontrol2", "akai-mpk-mini"} <= set(names)
    index = box.findText("korg-nanokontrol2")
    box.setCurrentIndex(index)
    box.activated.emit(index)
    qtbot.waitUntil(lambda: window.instrument.controller_preset == "korg-nanokontrol2", timeout=2000)
    qtbot.waitUntil(lambda: window.mapping_table.rowCount() == len(window.instrument.mapper.mappings), timeout=2000)
    assert window.mapping_table.rowCount() > 0
    before = window.mapping_table.rowCount()
    window.mapping_table.selectRow(0)
    window.remove_selected_mapping()
    qtbot.waitUntil(lambda: window.mapping_table.rowCount() == before - 1, timeout=2000)
    path = window.instrument.save_controller_preset("My Korg")
    assert path.exists() and path.parent == user_dir / "midi"
    assert any(name == "my-korg (user)" for name, _ in window.instrument.controller_presets())
    # A broken controller preset is refused with a banner; the mappings stay.
    broken = user_dir / "midi" / "broken.json"
    broken.write_text("{not json")
    mappings = window.instrument.mapper.mappings
    assert not window.instrument.load_controller_preset("broken (user)")
    qtbot.waitUntil(lambda: "cannot read MIDI mapping" in window.banner.text, timeout=2000)
    assert window.instrument.mapper.mappings == mappings


def test_a_missing_port_is_an_error_on_the_banner(window: object, qtbot: object) -> None:
    window.instrument.open_midi("no-such-controller").result(timeout=10)
    qtbot.waitUntil(lambda: "no MIDI input port matches" in window.banner.text, timeout=2000)
    assert window.instrument.midi_input is None and window.banner.level == "error"


def _send_clock(out: object, bpm: float, ticks: int) -> None:
    """A drum machine's clock: start, then `ticks` 0xF8 at `bpm` on absolute deadlines (as tests/instrument)."""
    import time

    interval_s = 60.0 / (bpm * 24)
    out.send_message([0xFA])
    start_s = time.monotonic()
    for i in range(ticks):
        delay_s = start_s + i * interval_s - time.monotonic()
        if delay_s > 0:
            time.sleep(delay_s)
        out.send_message([0xF8])


def _shown_tempo(window: object) -> float | None:
    import re

    match = re.search(r"<b>([\d.]+) BPM</b>", window.clock_label.text())
    return None if match is None else float(match.group(1))


def test_the_midi_clock_is_shown(window: object, qtbot: object, controller: object) -> None:
    import threading

    _open_port(window, qtbot)
    qtbot.wait(100)
    assert window.clock_label.text() == "" and not window.clock_label.isVisible()  # no clock yet: nothing shown
    # 121 ticks after start: positions 0..120 = 5 beats = bar 2, beat 2 (4/4), at 130 BPM (~2.3 s).
    sender = threading.Thread(target=_send_clock, args=(controller, 130.0, 121))
    sender.start()
    try:
        qtbot.waitUntil(lambda: "running" in window.clock_label.text() and _shown_tempo(window) is not None,
                        timeout=5000)
        assert sender.is_alive(), "shown while the clock runs"
        assert window.clock_label.isVisible()
    finally:
        sender.join(10)
    clock = window.instrument.clock
    qtbot.waitUntil(lambda: clock.tick_count >= 121, timeout=3000)
    qtbot.waitUntil(lambda: "bar 2 · beat 2" in window.clock_label.text(), timeout=2000)
    assert _shown_tempo(window) == pytest.approx(130.0, abs=2.0)
    assert window.controls["tempo_bpm"].value == pytest.approx(130.0, abs=2.0)  # the clock sets the tempo knob
    controller.send_message([0xFC])  # stop
    qtbot.waitUntil(lambda: "stopped" in window.clock_label.text(), timeout=3000)
    assert "bar 2 · beat 2" in window.clock_label.text() and _shown_tempo(window) == pytest.approx(130.0, abs=2.0)
    controller.send_message([0xFB])  # continue, but the ticks never come: the label says so
    qtbot.waitUntil(lambda: "no ticks" in window.clock_label.text(), timeout=4000)

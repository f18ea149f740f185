"""The preset browser: factory and user presets, save, save as, revert; a broken preset changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from instrument.presets import PresetInfo


def _tree_entries(window: object) -> dict[str, list[str]]:
    tree = window.preset_tree
    return {tree.topLevelItem(i).text(0): [tree.topLevelItem(i).child(j).text(0)
                                           for j in range(tree.topLevelItem(i).childCount())]
            for i in range(tree.topLevelItemCount())}


def _item(window: object, group: str, name: str) -> object:
    tree = window.preset_tree
    for i in range(tree.topLevelItemCount()):
        top = tree.topLevelItem(i)
        if top.text(0) == group:
            for j in range(top.childCount()):
                if top.child(j).text(0) == name:
                    return top.child(j)
    raise AssertionError(f"{group}/{name} not in the browser: {_tree_entries(window)}")


def test_browser_lists_factory_presets_and_loads_one(window: object, qtbot: object) -> None:
    entries = _tree_entries(window)
    assert {"Default", "Ambient Drift", "Techno Drive"} <= set(entries["Factory"])
    assert window.preset_label.text() == "Default (factory)"
    window.preset_tree.setCurrentItem(_item(window, "Factory", "Techno Drive"))
    window._load_preset_item(window.preset_tree.currentItem())  # the Load button / double-click
    assert window.instrument.current_preset.name == "Techno Drive"
    qtbot.waitUntil(lambda: window.preset_label.text() == "Techno Drive (factory)", timeout=2000)
    techno = json.loads((Path(window.instrument.current_preset.path)).read_text())
    qtbot.waitUntil(lambda: window.controls["tempo_bpm"].value == float(techno["parameters"]["tempo_bpm"]),
                    timeout=2000)
    assert window.prompt_edits[0].text() == techno["prompts"][0]


def test_save_as_modify_revert_and_reload(window: object, qtbot: object, user_dir: Path) -> None:
    store = window.store
    window.controls["cfg_scale"].set_by_player(7.5)
    store.set_prompt_text(1, "glassy pads")
    qtbot.waitUntil(lambda: window.preset_label.text().endswith("*"), timeout=2000)  # modified marker
    assert window.revert_button.isEnabled()
    path = window.save_preset_as("My Sound")
    assert path == user_dir / "presets" / "my-sound.json" and path.exists()
    assert "My Sound" in _tree_entries(window)["User"]
    qtbot.waitUntil(lambda: window.preset_label.text() == "My Sound", timeout=2000)

    window.controls["cfg_scale"].set_by_player(2.0)
    qtbot.waitUntil(lambda: window.preset_label.text() == "My Sound *", timeout=2000)
    qtbot.mouseClick(window.revert_button, Qt.LeftButton)
    assert store.get("cfg_scale") == 7.5
    qtbot.waitUntil(lambda: window.controls["cfg_scale"].value == 7.5, timeout=2000)

    window.controls["cfg_scale"].set_by_player(9.0)
    qtbot.mouseClick(window.save_button, Qt.LeftButton)  # Save overwrites the user preset
    assert json.loads(path.read_text())["parameters"]["cfg_scale"] == 9.0

    window.load_preset(next(i for i in window.instrument.presets() if i.name == "Ambient Drift"))
    assert store.get("cfg_scale") != 9.0
    assert window.load_preset(PresetInfo("My Sound", path, False))
    assert store.get("cfg_scale") == 9.0 and store.prompt_texts()[1] == "glassy pads"
    qtbot.waitUntil(lambda: window.prompt_edits[1].text() == "glassy pads", timeout=2000)


def test_saving_a_factory_preset_makes_a_user_copy(window: object, qtbot: object, user_dir: Path) -> None:
    factory = window.instrument.current_preset.path
    before = factory.read_text()
    window.controls["variation"].set_by_player(0.5)
    path = window.save_preset()
    assert path is not None and path.parent == user_dir / "presets"
    assert factory.read_text() == before  # factory presets are never written


def test_a_broken_preset_shows_an_error_and_keeps_the_sound(window: object, qtbot: object, user_dir: Path) -> None:
    folder = user_dir / "presets"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.json").write_text('{"format": "cascade-preset", "version": 1, "parameters": {"cfg_scale": ')
    window.refresh_presets()
    item = _item(window, "User", "broken.json (broken)")
    assert "broken.json" in item.toolTip(0)
    snapshot = window.store.snapshot()
    assert not window.load_preset(PresetInfo("broken", folder / "broken.json", False))
    assert window.banner.isVisible() and window.banner.level == "error" and "broken.json" in window.banner.text
    assert window.store.snapshot().values == snapshot.values
    assert window.instrument.current_preset.name == "Default"
    assert window.save_preset_as("   ") is None and "needs a name" in window.banner.text


# --- drawn curves in presets ------------------------------------------------------------------------------


def _draw(lane: object, qtbot: object, y_of_x: object) -> None:
    """Draw on a lane with the mouse, left to right, y = y_of_x(x) in pixels."""
    from PySide6.QtCore import QPoint

    lane.resize(200, 40)
    qtbot.mousePress(lane, Qt.LeftButton, pos=QPoint(0, y_of_x(0)))
    for x in range(0, 200, 3):
        qtbot.mouseMove(lane, QPoint(x, y_of_x(x)))
    qtbot.mouseRelease(lane, Qt.LeftButton, pos=QPoint(199, y_of_x(199)))


def test_drawn_curves_are_saved_in_the_preset_and_restored(window: object, qtbot: object, user_dir: Path) -> None:
    bright, loud = window.curves["brightness_hz"], window.curves["loudness_db"]
    _draw(bright, qtbot, lambda x: 39 - x // 5)  # a rising ramp, playing once drawn
    _draw(loud, qtbot, lambda x: 5 if (x // 25) % 2 else 35)  # a square wave ...
    window.curve_buttons["loudness_db"].setChecked(False)  # ... that does not play
    drawn_bright, drawn_loud = list(bright.values), list(loud.values)
    assert drawn_bright[0] < 0.1 and drawn_bright[-1] > 0.9 and len(set(drawn_loud)) == 2
    qtbot.waitUntil(lambda: window.preset_label.text().endswith("*"), timeout=2000)

    path = window.save_preset_as("Curves")
    saved = json.loads(path.read_text())
    assert saved["version"] == 2
    assert set(saved["curves"]) == {"brightness_hz", "loudness_db"}
    assert saved["curves"]["brightness_hz"]["playing"] is True and saved["curves"]["loudness_db"]["playing"] is False
    spec = bright.spec
    assert saved["curves"]["brightness_hz"]["points"] == [spec.from_normalised(v) for v in drawn_bright]
    assert all(-40.0 <= p <= 0.0 for p in saved["curves"]["loudness_db"]["points"])  # dB, not 0..1
    qtbot.waitUntil(lambda: window.preset_label.text() == "Curves", timeout=2000)

    # Another preset (no curves) clears the lanes; loading ours brings them back, playing as saved.
    assert window.load_preset(next(i for i in window.instrument.presets() if i.name == "Ambient Drift"))
    qtbot.waitUntil(lambda: not bright.drawn and not loud.drawn, timeout=2000)
    assert not bright.active and not window.curve_buttons["brightness_hz"].isChecked()
    assert window.load_preset(PresetInfo("Curves", path, False))
    qtbot.waitUntil(lambda: bright.drawn and loud.drawn, timeout=2000)
    assert bright.values == pytest.approx(drawn_bright, abs=1e-9) and loud.values == pytest.approx(drawn_loud, abs=1e-9)
    assert bright.active and window.curve_buttons["brightness_hz"].isChecked()
    assert not loud.active and not window.curve_buttons["loudness_db"].isChecked()
    qtbot.waitUntil(lambda: window.preset_label.text() == "Curves", timeout=2000)  # loading is not a change
    qtbot.waitUntil(lambda: window.store.get("brightness_hz_enabled") == 1.0, timeout=2000)
    version = window.store.version
    qtbot.wait(1300)  # the playing curve writes its parameter: that is the preset playing, not a change
    assert any(c.source == "curve" for c in window.store.changes_since(version))
    assert window.preset_label.text() == "Curves" and not window.revert_button.isEnabled()

    # Redrawing marks the preset modified; Revert puts the saved curve back.
    _draw(bright, qtbot, lambda x: 20)
    qtbot.waitUntil(lambda: window.preset_label.text() == "Curves *", timeout=2000)
    qtbot.mouseClick(window.revert_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: bright.values == pytest.approx(drawn_bright, abs=1e-9), timeout=2000)


def test_a_broken_curve_in_a_preset_is_an_error_and_keeps_the_state(window: object, qtbot: object,
                                                                      user_dir: Path) -> None:
    lane = window.curves["noisiness"]
    _draw(lane, qtbot, lambda x: 30)
    window.curve_buttons["noisiness"].setChecked(False)  # drawn, not playing (a playing curve moves the store)
    drawn = list(lane.values)
    window.controls["cfg_scale"].set_by_player(7.5)
    folder = user_dir / "presets"
    folder.mkdir(parents=True, exist_ok=True)
    points = [0.5] * 64
    points[9] = "loud"
    (folder / "bad-curve.json").write_text(json.dumps({
        "format": "cascade-preset", "version": 2, "name": "Bad curve", "parameters": {"cfg_scale": 2.0},
        "prompts": ["x"], "curves": {"noisiness": {"points": points, "playing": True}}}))
    window.refresh_presets()
    assert "curve noisiness, point 10" in _item(window, "User", "bad-curve.json (broken)").toolTip(0)
    snapshot = window.store.snapshot()
    assert not window.load_preset(PresetInfo("Bad curve", folder / "bad-curve.json", False))
    assert window.banner.level == "error"
    assert "Preset not loaded" in window.banner.text and "curve noisiness, point 10: 'loud' is not a finite number" \
        in window.banner.text
    qtbot.wait(100)  # a few display ticks: nothing of the broken preset reaches the store or the lanes
    assert window.store.snapshot().values == snapshot.values and window.store.get("cfg_scale") == 7.5
    assert lane.drawn and lane.values == drawn and not lane.active
    assert window.instrument.curves["noisiness"]["playing"] is False  # what a save would keep
    assert window.instrument.current_preset.name == "Default"


def test_a_presets_problems_all_reach_the_banner_and_the_valid_rest_applies(window: object, qtbot: object,
                                                                            user_dir: Path) -> None:
    """Wrong types, unknown keys and out-of-range values loaded silently (issue 17); the banner shows one
    message at a time, so every problem is in that one message."""
    folder = user_dir / "presets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "wild.json"
    path.write_text(json.dumps({"format": "cascade-preset", "version": 1, "name": "Wild", "colour": "red",
                                "parameters": {"cfg_scale": "loud", "master_gain_db": 1e6, "variation": 0.25},
                                "prompts": ["glass"]}))
    assert window.load_preset(PresetInfo("Wild", path, False))
    qtbot.waitUntil(lambda: window.banner.level == "warning", timeout=2000)
    text = window.banner.text
    assert "3 problems" in text and "'colour'" in text and "'loud'" in text and "master_gain_db" in text
    assert window.store.get("variation") == 0.25 and window.store.get("master_gain_db") == 6.0


def test_the_start_preset_by_name_prefers_the_users_copy_and_factory_reaches_the_other(window: object, qtbot: object,
                                                                                       user_dir: Path) -> None:
    window.controls["variation"].set_by_player(0.5)
    window.save_preset()  # a user copy of the factory Default
    window.instrument.load_preset_named("Default")
    assert not window.instrument.current_preset.is_factory and window.store.get("variation") == 0.5
    qtbot.waitUntil(lambda: window.banner.level == "info" and "factory:Default" in window.banner.text, timeout=2000)
    window.instrument.load_preset_named("factory:Default")
    assert window.instrument.current_preset.is_factory and window.store.get("variation") == 0.0

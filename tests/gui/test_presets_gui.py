"""The preset browser: factory and user presets, save, save as, revert; a broken preset changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

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

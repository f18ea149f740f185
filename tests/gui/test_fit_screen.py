"""The window fits the screen it opens on: the real `cascade app` under a real X server (Xvfb) at a laptop's
1366x768 and at 1920x1080, and its layout report (gui/layout_report.py) read back: the window's frame inside
the screen's available area, nothing scrolled away, every key control (the output panel, Save as...) fully
shown. On a screen smaller than the window's minimum it still fits the screen and scrolls to the rest."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("xvfb-run") is None,
                                reason="xvfb-run is not installed (apt-get install xvfb; scripts/setup.sh does)")


def run_app_on_screen(size: str, tmp_path: Path) -> dict:
    """`cascade app` (debug model, no audio device) on an Xvfb screen of `size`; its layout report."""
    report = tmp_path / f"layout-{size}.json"
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env |= {"QT_QPA_PLATFORM": "xcb", "CASCADE_USER_DIR": str(tmp_path / "user"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(["xvfb-run", "-a", "-s", f"-screen 0 {size}x24", sys.executable, "-m", "gui.cli",
                             "app", "--debug-model", "--output", "none", "--threads", "1", "--quit-after", "1",
                             "--screenshot-after", "1", "--layout-report", str(report)],
                            capture_output=True, text=True, timeout=180, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return json.loads(report.read_text())


@pytest.mark.parametrize("size", ["1366x768", "1920x1080"])
def test_the_window_fits_the_screen_and_shows_every_key_control(size: str, tmp_path: Path) -> None:
    report = run_app_on_screen(size, tmp_path)
    width, height = (int(value) for value in size.split("x"))
    assert report["screen"][2:] == [width, height]
    assert report["frame_inside_available"], report
    assert report["scrollbars"] == {"horizontal": False, "vertical": False}, "it scrolls: something did not fit"
    hidden = {name: control["shown"] for name, control in report["controls"].items() if control["shown"] < 1.0}
    assert hidden == {}, f"cut off or scrolled away: {hidden}"
    for name in ("output", "save_as", "reopen", "effects", "xy_pad"):
        assert report["controls"][name]["shown"] == 1.0
    if size == "1920x1080":  # room to spare: not maximised, most of the screen, centred
        frame = report["frame"]
        assert 1560 <= frame[2] < width and 960 <= frame[3] < height


def test_a_smaller_screen_scrolls_instead_of_cutting_off(tmp_path: Path) -> None:
    report = run_app_on_screen("1024x600", tmp_path)
    assert report["frame_inside_available"], report
    assert report["scrollbars"]["horizontal"] and report["scrollbars"]["vertical"]
    assert report["controls"]["play"]["shown"] == 1.0  # the top left stays in view

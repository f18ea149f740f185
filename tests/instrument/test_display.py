"""`cascade` on a machine with no display (an ssh session, a server): one clear line before anything loads, how
to play headless, no traceback, no process left behind; the set-up script's final start ends cleanly there; a
Qt platform plugin that cannot load names the missing library. Real processes, a real Xvfb, a real dlopen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from instrument.display import display_problem, platform_plugin_problem, qt_plugin_path

ROOT = Path(__file__).resolve().parents[2]
CASCADE = [sys.executable, "-m", "instrument.cli"]
APP = [sys.executable, "-m", "gui.cli"]  # `cascade` (the console script): the app is its default command


def headless_env(**extra: str) -> dict[str, str]:
    """This environment as an ssh session on a server has it: no display of any kind."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    return env | extra


def processes_with(marker: str) -> list[int]:
    """Processes whose environment carries `marker` (our children inherit it, so it finds any orphan)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_cascade_without_a_display_says_so_in_one_line_before_loading_anything() -> None:
    marker = f"CASCADE_PROBE_{uuid.uuid4().hex}"
    started_s = time.monotonic()
    result = subprocess.run(APP, capture_output=True, text=True, timeout=60, cwd=ROOT,
                            env=headless_env(**{marker: "1"}))
    elapsed_s = time.monotonic() - started_s
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and result.stdout == ""
    assert len(lines) == 1, result.stderr
    assert "no display" in lines[0] and "cascade play --headless" in lines[0] and "xvfb-run" in lines[0]
    assert "Traceback" not in result.stderr and "xcb-cursor" not in result.stderr and "Reinstall" not in result.stderr
    assert elapsed_s < 10.0, "it loaded the model first (the check must come before anything loads)"
    assert processes_with(marker) == [], "a process (the output child?) was left behind"
    # `cascade app` is the same command.
    app = subprocess.run([*APP, "app", "--debug-model"], capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env=headless_env())
    assert app.returncode == 2 and "cascade play --headless" in app.stderr and "Traceback" not in app.stderr


def test_the_check_follows_qt_platform_choice() -> None:
    assert display_problem({}) is not None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}) is None  # chosen on purpose: no display needed
    assert "WAYLAND_DISPLAY" in display_problem({"QT_QPA_PLATFORM": "wayland", "WAYLAND_DISPLAY": "nowhere-0",
                                                  "XDG_RUNTIME_DIR": "/nonexistent"})
    dead = display_problem({"DISPLAY": ":187"})  # nothing listens there
    assert dead is not None and "cannot connect to the X display ':187'" in dead


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (apt-get install xvfb)")
def test_a_real_x_server_passes_the_check() -> None:
    result = subprocess.run(["xvfb-run", "-a", sys.executable, "-m", "instrument.display"], capture_output=True,
                            text=True, timeout=60, cwd=ROOT, env=headless_env())
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_platform_plugin_missing_a_library_names_it(tmp_path: Path) -> None:
    """Qt's own words would be "Reinstalling the application may fix this problem"; ours name the library.
    A copy of the real xcb plugin whose dependency on libxcb-cursor points at a library that is not there."""
    plugin = qt_plugin_path("xcb")
    assert plugin is not None and platform_plugin_problem("xcb") is None
    data = plugin.read_bytes()
    assert b"libxcb-cursor.so.0" in data
    # PySide6's layout (the plugin finds Qt's own libraries at $ORIGIN/../../lib), with a plugin whose
    # dependency is renamed in place: the same length keeps the ELF string table intact, and no
    # "libxcb-cursorX.so." exists anywhere.
    (tmp_path / "Qt" / "plugins" / "platforms").mkdir(parents=True)
    (tmp_path / "Qt" / "lib").symlink_to(plugin.parents[2] / "lib")
    broken = tmp_path / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    broken.write_bytes(data.replace(b"libxcb-cursor.so.0", b"libxcb-cursorX.so."))
    problem = platform_plugin_problem("xcb", plugin=broken)
    assert problem is not None and "libxcb-cursorX.so." in problem and "not installed" in problem


def test_setup_scripts_final_start_ends_cleanly_without_a_display() -> None:
    result = subprocess.run(["bash", "scripts/setup.sh", "--only", "start"], capture_output=True, text=True,
                            timeout=60, cwd=ROOT, env=headless_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("installed; not starting the app: there is no display")
    assert "cascade play --headless" in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_doctor_reports_the_display_and_the_qt_platform() -> None:
    result = subprocess.run([*CASCADE, "doctor"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                            env=headless_env())
    lines = {line.split("  ")[1].strip() if "  " in line else line: line for line in result.stdout.splitlines()}
    platform = next(line for line in result.stdout.splitlines() if "Qt xcb platform" in line)
    display = next(line for line in result.stdout.splitlines() if " display " in line)
    assert platform.startswith("ok") and display.startswith("none") and "cascade play --headless" in display
    assert lines and "Traceback" not in result.stderr


def test_a_closed_pipe_is_no_traceback() -> None:
    result = subprocess.run(f"{sys.executable} -m instrument.cli status | head -1", shell=True, capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    assert result.stdout.startswith("Cascade") and "Traceback" not in result.stderr, result.stderr

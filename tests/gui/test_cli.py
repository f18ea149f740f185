"""`cascade`, the console script (gui.cli): the app is the default command, every instrument command is there in
the same order, and the headless commands never import Qt through it."""

from __future__ import annotations

import subprocess
import sys

COMMANDS = ["app", "status", "doctor", "dataset", "train", "render", "play", "devices", "rerender", "takes",
            "reconstruct"]


def test_no_arguments_means_the_app() -> None:
    from gui.cli import _cmd_app, build_parser

    assert build_parser().parse_args([]).func is _cmd_app
    assert build_parser().parse_args(["app"]).func is _cmd_app
    assert build_parser().parse_args(["status"]).func.__name__ == "_cmd_status"


def test_help_lists_every_command_in_order() -> None:
    result = subprocess.run([sys.executable, "-m", "gui.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "{" + ",".join(COMMANDS) + "}" in result.stdout
    headless = subprocess.run([sys.executable, "-m", "instrument.cli", "--help"], capture_output=True, text=True,
                              timeout=60)
    assert headless.returncode == 0 and "{" + ",".join(COMMANDS[1:]) + "}" in headless.stdout


def test_the_console_script_runs_headless_commands_without_qt() -> None:
    result = subprocess.run([sys.executable, "-c", "import sys; from gui.cli import main; code = main(['status']);"
                             " assert not any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules),"
                             " sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph')));"
                             " sys.exit(code)"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "cascade render" in result.stdout and "cascade app" in result.stdout


def test_the_console_script_points_at_gui_cli() -> None:
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"] == {"cascade": "gui.cli:main"}

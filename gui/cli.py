"""`cascade`, the console script: every command of instrument/cli.py plus the desktop app (`cascade app`, and
`cascade` with no arguments). It lives in gui/ because the app is the window; instrument never imports gui.
Qt is imported inside the app command only, so every headless command stays Qt-free.

    python -m gui.cli [COMMAND ...]    (the same as the `cascade` console script)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.read_words import DEFAULT_READ_WORDS, READ_WORDS_MODES
from instrument import cli
from instrument.arguments import SECONDS_PER_WEEK, number_in, thread_count
from instrument.commands.play import PRESET_HELP


def _cmd_app(args: argparse.Namespace) -> int:
    """The desktop app. Qt is imported here only, so every headless command stays Qt-free."""
    from instrument.app_start import start_app_instrument
    from instrument.display import HEADLESS_HINT, display_problem

    problem = display_problem()  # before anything loads: Qt would abort the process seconds later
    if problem is not None:
        print(f"cascade: cannot open the window: {problem}; {HEADLESS_HINT}", file=sys.stderr)
        return 2
    instrument, preload = start_app_instrument(_app_config_fields(args))
    try:
        from gui.app import run_app
    except ImportError as error:  # PySide6/pyqtgraph or their system libraries missing
        instrument.shutdown()
        print(f"error: cannot start the desktop app: {error}. `cascade doctor` checks the packages; "
              "`cascade play --headless` plays without a window.", file=sys.stderr)
        return 2
    preload.imports_done()
    screenshot = getattr(args, "screenshot", None)
    layout_report = getattr(args, "layout_report", None)
    return run_app(instrument, quit_after_seconds=getattr(args, "quit_after", None),
                   screenshot=Path(screenshot) if screenshot else None,
                   screenshot_after_seconds=getattr(args, "screenshot_after", 8.0),
                   layout_report_path=Path(layout_report) if layout_report else None)


def _app_config_fields(args: argparse.Namespace) -> dict[str, Any]:
    """instrument.controller.AppConfig's fields from `cascade app`'s options (`cascade` alone has none: the
    defaults)."""
    return {"preset": getattr(args, "preset", "default"), "output": getattr(args, "output", None) or "auto",
            "debug_model": getattr(args, "debug_model", False), "weights": getattr(args, "weights", None),
            "threads": getattr(args, "threads", 0), "midi": getattr(args, "midi", None),
            "midi_map": getattr(args, "midi_map", None) or "generic-8-knobs",
            "takes_dir": Path(args.takes) if getattr(args, "takes", None) else None,
            "eager": getattr(args, "eager", False),
            "read_words": getattr(args, "read_words", DEFAULT_READ_WORDS)}


def add_app_command(commands: argparse._SubParsersAction) -> cli.Command:
    """Register `cascade app` (the hidden options are for tests, benchmarks and docs); returns its handler."""
    app = commands.add_parser("app", help="the desktop app (the default command)")
    app.add_argument("--preset", default="default", help=PRESET_HELP)
    app.add_argument("--output", default=None, help="audio device index or name; 'none': no device (a software "
                     "clock; recording still works). Default: JACK if a server runs, else the default device")
    app.add_argument("--midi", nargs="?", const="", default=None,
                     help="open this MIDI input at start (name, substring or index; no value: the first port)")
    app.add_argument("--midi-map", default=None, help="controller preset (default: generic-8-knobs)")
    app.add_argument("--takes", default=None, metavar="DIR", help="where takes go (default: the user data folder)")
    app.add_argument("--debug-model", action="store_true", help="random debug-size weights (no trained model)")
    app.add_argument("--weights", default=None, help="diffusion .safetensors (default: shipped)")
    app.add_argument("--threads", type=thread_count, default=0,
                     help="torch CPU threads (0: one fewer than the CPUs: a core is left to the audio)")
    app.add_argument("--eager", action="store_true", help="run the U-Net eagerly (no TorchScript)")
    app.add_argument("--read-words", choices=READ_WORDS_MODES, default=DEFAULT_READ_WORDS,
                     help="what reads tempo/key/scale from the prompts' words (as in `cascade render`): both (the "
                          "default), rules, model, off")
    app.add_argument("--quit-after", type=number_in(0.0, SECONDS_PER_WEEK, above_minimum=True), default=None,
                     metavar="SECONDS", help=argparse.SUPPRESS)
    app.add_argument("--screenshot", default=None, metavar="PNG", help=argparse.SUPPRESS)
    app.add_argument("--layout-report", default=None, metavar="JSON", help=argparse.SUPPRESS)  # gui/layout_report.py
    app.add_argument("--screenshot-after", type=number_in(0.0, 3600.0), default=8.0, help=argparse.SUPPRESS)
    app.set_defaults(func=_cmd_app)
    return _cmd_app


def build_parser() -> argparse.ArgumentParser:
    """`cascade`'s parser: instrument's commands with the app first (and the app when no command is given)."""
    return cli.build_parser(add_app_command)


def main(argv: list[str] | None = None) -> int:
    return cli.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())

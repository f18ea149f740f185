"""The `cascade` command line: its parser and its dispatch. Each sub-command lives in instrument/commands/, one
module per group; the desktop app's `app` command is registered by gui/cli.py (the console script's entry point:
instrument never imports gui), so `python -m instrument.cli` runs every command but the app.

Heavy imports (torch, music21, essentia) happen inside the subcommands, so `cascade --help` and the status
screen answer at once."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from engine.allocator import keep_freed_memory
from instrument.commands import dataset, play, render, system, takes, train

Command = Callable[[argparse.Namespace], int]
# Registers a command on the sub-command parsers and returns its handler (gui.cli.add_app_command).
AddCommand = Callable[[argparse._SubParsersAction], Command]


def build_parser(add_app_command: AddCommand | None = None) -> argparse.ArgumentParser:
    """Every `cascade` command, in the order `--help` lists them. add_app_command: registers the desktop app's
    command first; its handler also runs when no command is given (`cascade` alone opens the app). Without it,
    no command is a usage error."""
    parser = argparse.ArgumentParser(prog="cascade", description="Cascade: a real-time latent-diffusion instrument")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(title="commands")
    if add_app_command is not None:
        parser.set_defaults(func=add_app_command(commands))  # `cascade` with no arguments opens the desktop app
    else:
        parser.set_defaults(func=_no_command(parser))
    system.add_status(commands)
    system.add_doctor(commands)
    dataset.add_dataset(commands)
    train.add_train(commands)
    render.add_render(commands)
    play.add_play(commands)
    system.add_devices(commands)
    takes.add_rerender(commands)
    takes.add_takes(commands)
    render.add_reconstruct(commands)
    return parser


def _no_command(parser: argparse.ArgumentParser) -> Command:
    def refuse(_: argparse.Namespace) -> int:
        parser.print_usage(sys.stderr)
        print("cascade: error: no command given (the desktop app: `cascade` or `python -m gui.cli`)", file=sys.stderr)
        return 2

    return refuse


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse argv (default: sys.argv) with `parser` and run the chosen command; returns its exit code."""
    args = parser.parse_args(argv)
    keep_freed_memory()  # the decoder's large tensors reused, not faulted in afresh on every call (engine/allocator.py)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "workers", None) is None and hasattr(args, "workers"):
        args.workers = max(1, os.cpu_count() or 1)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `cascade status | head -1`: the reader left; no traceback into the terminal
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the exit's flush of stdout would raise again
        return 141  # what a shell reports for a command killed by SIGPIPE


def main(argv: list[str] | None = None) -> int:
    """Every command but the desktop app (gui.cli.main is `cascade`, with it)."""
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())

"""`cascade rerender` and `cascade takes list|repair`: a recorded take re-rendered offline at more steps, and the
takes in a folder listed, or repaired after a crash."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.limits import STEPS_RANGE
from instrument.arguments import integer_in, thread_count
from instrument.live_setup import GeneratorOptions, load_live_generator


def _cmd_rerender(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from instrument.session import TakeError, rerender_take

    try:
        generator = load_live_generator(GeneratorOptions(debug_model=args.debug_model, weights=args.weights,
                                                         threads=args.threads, live=False))
    except Exception as error:  # noqa: BLE001
        print(f"error: {error}", file=sys.stderr)
        return 2
    output = Path(args.output) if args.output else Path(args.take).with_name(Path(args.take).stem + f"-{args.steps}steps.flac")
    try:
        with tqdm(total=1, unit="chunk", desc="rerender", disable=args.no_progress) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            summary = rerender_take(Path(args.take), generator, output, steps=args.steps, progress=progress)
    except TakeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


def _takes_folder(args: argparse.Namespace) -> Path | None:
    """`cascade takes ... DIR`'s folder, or None after saying why it is not one."""
    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"error: {folder} is not a folder", file=sys.stderr)
        return None
    return folder


def _cmd_takes_list(args: argparse.Namespace) -> int:
    from instrument.take_folder import format_table, list_folder

    folder = _takes_folder(args)
    if folder is None:
        return 2
    infos = list_folder(folder)
    print(format_table(infos) if infos else f"no takes in {folder}")
    return 0


def _cmd_takes_repair(args: argparse.Namespace) -> int:
    from instrument.take_folder import list_folder, repair_folder

    folder = _takes_folder(args)
    if folder is None:
        return 2
    results = repair_folder(folder)
    for result in results:
        print(result.line())
    if not results:
        count = len(list_folder(folder))
        print(f"nothing to repair in {folder} ({count} take{'' if count == 1 else 's'})")
    return 1 if any(result.error for result in results) else 0


def add_rerender(commands: argparse._SubParsersAction) -> None:
    rerender = commands.add_parser("rerender", help="re-render a recorded take offline at more steps")
    rerender.add_argument("take", help="the take's JSON sidecar (TAKE.json)")
    rerender.add_argument("-o", "--output", default=None, help="output file (default: TAKE-<steps>steps.flac)")
    rerender.add_argument("--steps", type=integer_in(*STEPS_RANGE), default=32, help="sampler steps per chunk")
    rerender.add_argument("--debug-model", action="store_true", help="random debug-size weights (a debug take)")
    rerender.add_argument("--weights", default=None, help="diffusion .safetensors (default: shipped)")
    rerender.add_argument("--threads", type=thread_count, default=0, help="torch CPU threads (0: default)")
    rerender.add_argument("--no-progress", action="store_true")
    rerender.set_defaults(func=_cmd_rerender)


def add_takes(commands: argparse._SubParsersAction) -> None:
    takes = commands.add_parser("takes", help="list recorded takes; repair those a crash left")
    takes_commands = takes.add_subparsers(title="takes commands", required=True)
    takes_list = takes_commands.add_parser("list", help="each take in DIR: name, state, seconds, prompt")
    takes_list.add_argument("folder", metavar="DIR")
    takes_list.set_defaults(func=_cmd_takes_list)
    takes_repair = takes_commands.add_parser("repair", help="make the takes a crash left in DIR readable "
                                             "(`cascade play --record DIR` and the app do it at start)")
    takes_repair.add_argument("folder", metavar="DIR")
    takes_repair.set_defaults(func=_cmd_takes_repair)

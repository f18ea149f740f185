"""`cascade dataset build` and `cascade dataset check`: the training set (MIDI -> FluidSynth -> FLAC with a
JSON-lines manifest) and its check against an independent estimator (essentia)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from instrument.arguments import integer_in, number_in, seed, worker_count


def _cmd_dataset_build(args: argparse.Namespace) -> int:
    from engine.dataset.builder import BuildConfig, DatasetConfigError, DiskFullError, build_dataset, summary_dict
    from engine.dataset.render import SoundfontMissingError

    config = BuildConfig(out_dir=Path(args.out), hours=args.hours, seed=args.seed,
                         workers=args.workers, soundfont=args.soundfont, soundfonts=args.soundfonts,
                         progress=not args.no_progress)
    try:
        summary = build_dataset(config)
    except (SoundfontMissingError, DatasetConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except DiskFullError as error:
        print(f"error: {error.strerror}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("\ninterrupted: the manifest holds every completed piece; run the same command to resume.",
              file=sys.stderr)
        return 130
    print(json.dumps(summary_dict(summary), indent=2))
    return 0


def _cmd_dataset_check(args: argparse.Namespace) -> int:
    from engine.dataset.validate import check_dataset, write_report

    report = check_dataset(Path(args.dataset), sample_size=args.sample, seed=args.seed, workers=args.workers)
    print(json.dumps(report["agreement"], indent=2))
    if args.report:
        write_report(report, Path(args.report), Path(args.dataset))
        print(f"report written to {args.report}")
    return 0


def _training_soundfont(value: str) -> str:
    """`dataset build --soundfont`: any file but a held-out one (the CLI builds training sets)."""
    from engine.dataset.render import is_held_out

    if is_held_out(value):
        raise argparse.ArgumentTypeError(
            f"{value} is held out from training (the autoencoder benchmark's unseen soundfont)")
    return value


def add_dataset(commands: argparse._SubParsersAction) -> None:
    dataset = commands.add_parser("dataset", help="build and check the training set")
    dataset_commands = dataset.add_subparsers(title="dataset commands", required=True)
    build = dataset_commands.add_parser("build", help="render MIDI into FLAC clips with a JSON-lines manifest")
    build.add_argument("--hours", type=number_in(0.0, 100_000.0, above_minimum=True), required=True,
                       help="hours of audio to build (e.g. 0.05 or 10)")
    build.add_argument("--out", required=True, help="output folder (an existing build there is resumed)")
    build.add_argument("--seed", type=seed, default=0, help="same seed, same dataset")
    build.add_argument("--workers", type=worker_count, default=None, help="processes (default: all cores)")
    fonts = build.add_mutually_exclusive_group()
    fonts.add_argument("--soundfonts", default=None, metavar="all|NAME,...",
                       help="soundfont pool, one chosen per piece from the seed: 'all' (default: every installed "
                            "training soundfont) or comma-separated names (FluidR3_GM, MuseScore_General_Lite, ...) "
                            "or .sf2/.sf3 paths; TimGM6mb is held out")
    fonts.add_argument("--soundfont", default=None, type=_training_soundfont,
                       help="one fixed GM .sf2/.sf3 file for every piece (also CASCADE_SOUNDFONT)")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.set_defaults(func=_cmd_dataset_build)

    check = dataset_commands.add_parser("check", help="compare the manifest with essentia's tempo and key estimates")
    check.add_argument("dataset", help="dataset folder")
    check.add_argument("--sample", type=integer_in(1, 10_000_000), default=200, help="clips to check (random sample)")
    check.add_argument("--seed", type=seed, default=0)
    check.add_argument("--workers", type=worker_count, default=None)
    check.add_argument("--report", default=None, help="write a Markdown report (and plots) here")
    check.set_defaults(func=_cmd_dataset_check)

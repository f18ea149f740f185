"""Replay the hostile-probe cases (issue 17) against the real program and print a table.

    .venv/bin/python benchmarks/probe.py [--only SUBSTRING]

Each case runs the real `cascade` entry points (subprocesses, a real tmpfs, a real JACK dummy server, real
virtual MIDI ports, an offscreen Qt) and says what it saw and whether that is what a user must get. The
cases live one module an area under benchmarks/probe/; every module exports `CASES: list[Case]`.
Exit status 1 when any case fails.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchmarks.probe as probe_package  # noqa: E402
from benchmarks.probe.case import Case, Outcome  # noqa: E402


def all_cases() -> list[tuple[str, Case]]:
    cases = []
    for module_info in sorted(pkgutil.iter_modules(probe_package.__path__), key=lambda m: m.name):
        if module_info.name == "case":
            continue
        module = importlib.import_module(f"benchmarks.probe.{module_info.name}")
        cases.extend((module_info.name, case) for case in getattr(module, "CASES", []))
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="run the cases whose area or description contains this")
    args = parser.parse_args()
    rows = []
    for area, (description, run) in all_cases():
        if args.only and args.only not in area and args.only not in description:
            continue
        started = time.monotonic()
        try:
            outcome = run()
        except Exception as error:  # a case that crashes is a failed case, reported, not a crashed table
            outcome = Outcome(f"probe crashed: {type(error).__name__}: {error}", False)
            traceback.print_exc()
        rows.append((area, description, outcome, time.monotonic() - started))
        print(f"{'PASS' if outcome.passed else 'FAIL'}  {area}: {description}", file=sys.stderr, flush=True)
    width = max((len(d) for _, d, _, _ in rows), default=10)
    print("| area | case | outcome | result | seconds |\n|---|---|---|---|---|")
    for area, description, outcome, seconds in rows:
        print(f"| {area} | {description:<{width}} | {outcome.seen} | {'PASS' if outcome.passed else 'FAIL'} | "
              f"{seconds:.1f} |")
    failed = sum(not outcome.passed for _, _, outcome, _ in rows)
    print(f"\n{len(rows) - failed} of {len(rows)} cases pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

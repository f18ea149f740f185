"""Checked number types for the `cascade` command line: every numeric option of every sub-command parses through
one of these, so NaN, inf and out-of-range values stop at parse time with argparse's usage line and a message
that names the range ("argument --cfg: must be a number in 0..30, got 1e9"), before any model loads.

Cheap to import (no torch): `cascade --help` builds every sub-command's parser."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable

from engine.vocabulary import GUIDED_CONTROLS


def _parse_number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


def _shown(bound: float) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def _range_text(minimum: float, maximum: float, above_minimum: bool, unit: str) -> str:
    unit_text = f" {unit}" if unit else ""
    if above_minimum:
        return f"above {_shown(minimum)} and at most {_shown(maximum)}{unit_text}"
    return f"in {_shown(minimum)}..{_shown(maximum)}{unit_text}"


def number_in(minimum: float, maximum: float, *, above_minimum: bool = False,
              unit: str = "") -> Callable[[str], float]:
    """An argparse `type`: a finite float in [minimum, maximum] (or (minimum, maximum] with above_minimum)."""

    def parse(text: str) -> float:
        value = _parse_number(text)
        too_low = value <= minimum if above_minimum else value < minimum
        if not math.isfinite(value) or too_low or value > maximum:
            raise argparse.ArgumentTypeError(
                f"must be a number {_range_text(minimum, maximum, above_minimum, unit)}, got {text}")
        return value

    parse.__name__ = "number"  # argparse names the type in some messages
    return parse


def integer_in(minimum: int, maximum: int, *, unit: str = "") -> Callable[[str], int]:
    """An argparse `type`: an integer in [minimum, maximum] (decimal digits only: no 1e3, no 2.5)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number {_range_text(minimum, maximum, False, unit)}, "
                                             f"got {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"must be a whole number {_range_text(minimum, maximum, False, unit)}, got {text}")
        return value

    parse.__name__ = "integer"
    return parse


def cpu_count() -> int:
    """The CPUs this machine has (the cap of --threads and --workers)."""
    return max(1, os.cpu_count() or 1)


def thread_count(text: str) -> int:
    """`--threads`: 0 (torch's default) or 1..the CPU count. More threads than CPUs only slows torch down, and
    libgomp crashes (SIGSEGV) when asked for 100,000; a negative count made torch raise a traceback."""
    return integer_in(0, cpu_count(), unit="(0: default; at most this machine's CPU count)")(text)


def worker_count(text: str) -> int:
    """`--workers` (processes): 1..4 per CPU; past that the workers only wait for each other."""
    return integer_in(1, 4 * cpu_count(), unit="(at most 4 per CPU)")(text)


# Seeds: the instrument's seed knob range, so a render's seed can be played live and back.
seed = integer_in(0, 2**31 - 1)


SECONDS_PER_WEEK = 7 * 24 * 3600.0  # `play --seconds` at most; a longer run leaves it out and stops with Ctrl-C


def knob_range(parameter: str) -> Callable[[str], float]:
    """An argparse `type` with the range of the instrument's knob `parameter`: a render's descriptor targets
    stay where the model was trained and where a live player can set them."""
    from instrument.parameters import PARAMETER_SPECS

    spec = next(spec for spec in PARAMETER_SPECS if spec.name == parameter)
    return number_in(spec.minimum, spec.maximum, unit=spec.unit)


def guided_control_names(text: str) -> tuple[str, ...]:
    """An argparse `type`: "none" or comma-separated distinct names from GUIDED_CONTROLS, in that order."""
    names = [] if text.strip().lower() == "none" else [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in GUIDED_CONTROLS]
    if unknown or not names and text.strip().lower() != "none":
        raise argparse.ArgumentTypeError(f"must be none or names from {','.join(GUIDED_CONTROLS)}, got {text!r}")
    return tuple(name for name in GUIDED_CONTROLS if name in names)

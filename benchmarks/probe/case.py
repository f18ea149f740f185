"""What every probe case returns, and how a module lists its cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Outcome:
    """What a case saw (one line, in words) and whether that is what a user must get."""

    seen: str
    passed: bool


Case = tuple[str, Callable[[], Outcome]]  # (what is tried, in words; the function that tries it)

"""The before/after table of a change from benchmarks/before_after.sh's reports. Prints a markdown table.

    .venv/bin/python benchmarks/before_after_table.py docs/refactor
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

LATENCY = {  # column -> pattern in benchmarks/latency.py's report
    "knob ms med / p95 (n=12)": r"knob-to-sound latency[^\n]*?\s(\d+ / \d+) ms",
    "control ms med / p95 under traffic": r"control latency under that traffic[^\n]*?\s(\d+ / \d+) ms",
    "effect ms med / p95": r"effect-parameter latency, median / p95 \(goal[^\n]*?\s(\d+ / \d+) ms",
    "underruns in 1 min": r"underruns in 1 min[^\n]*?\s(\d+) \(output",
    "RTF": r"real-time factor \(compute / audio\), median\s+([\d.]+)",
    "first sound": r"start to first sound[^\n]*?\s([\d.]+ s)",
    "steal": r"stolen by the hypervisor[^\n]*?\s([\d.]+ s)",
}
TIMER = r"timer lateness \(ms\)\s+\d+\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)"
GUI = {  # column -> (pattern, group) in benchmarks/gui_stall.py's report
    "GUI timer p99 ms": (TIMER, 2), "GUI timer max ms": (TIMER, 3), "late > 50 ms": (TIMER, 4),
    "display tick p99 ms": (r"display tick \(ms\)\s+\d+\s+([\d.]+)\s+([\d.]+)", 2),
    "app underruns output + dry": (r"underruns output (\d+ \+ dry \d+)", 1),
    "app first sound": (r"first sound ([\d.]+ s);", 1),
    "GUI run-queue wait": (r"had both cores\): (\d+ ms)", 1),
}


def _find(pattern: str, text: str, group: int = 1) -> str:
    match = re.search(pattern, text)
    return match.group(group) if match else "?"


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    labels = sorted({path.stem.split("_", 1)[1] for path in folder.glob("latency_*.txt")},
                    key=lambda label: (label[-1], not label.startswith("before")))  # rounds in order, before first
    columns = ["run", *LATENCY, *GUI]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for label in labels:
        latency = (folder / f"latency_{label}.txt").read_text()
        gui_path = folder / f"gui_{label}.txt"
        gui = gui_path.read_text() if gui_path.exists() else ""
        cells = [label, *(_find(p, latency) for p in LATENCY.values()), *(_find(p, gui, g) for p, g in GUI.values())]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

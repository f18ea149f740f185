"""Time a dataset build and print one table: hours built, wall time, real-time factor, size, clips.

    .venv/bin/python benchmarks/dataset_build.py --hours 10 --out data/ds10h      # the docs/dataset.md figure
    .venv/bin/python benchmarks/dataset_build.py --hours 0.2                      # quick look (temp folder)

An existing --out folder is resumed, so time a fresh folder for a fair figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

from engine.dataset.builder import BuildConfig, build_dataset, disk_usage_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=0.2)
    parser.add_argument("--out", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(args.out) if args.out else Path(scratch) / "ds"
        summary = build_dataset(BuildConfig(out_dir=out, hours=args.hours, seed=args.seed, workers=args.workers))
        size_gib = disk_usage_bytes(out) / 2**30
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, workers={args.workers}")
    print("| hours built | clips | pieces | wall min | x real time | size GiB | skipped corpus works |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {summary.seconds / 3600:.2f} | {summary.clips} | {summary.pieces} | {summary.wall_seconds / 60:.1f} | "
          f"{summary.seconds / summary.wall_seconds:.0f} | {size_gib:.2f} | {len(summary.skipped)} |")


if __name__ == "__main__":
    main()

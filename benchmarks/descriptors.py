"""Time the numba descriptor kernels on 10 s stereo clips; prints a table (median/best/p90 over 50 runs)."""

from __future__ import annotations

import time

import numpy as np

from engine.dataset.descriptors import frame_descriptors, warm_up


def main() -> None:
    started = time.perf_counter()
    warm_up()
    warm_up_seconds = time.perf_counter() - started
    rng = np.random.default_rng(0)
    signals = {
        "noise": (0.1 * rng.standard_normal((2, 441000))).astype(np.float32),
        "silence": np.zeros((2, 441000), np.float32),
    }
    print(f"warm_up(): {warm_up_seconds * 1000:.0f} ms (compile or cache load)")
    print("| 10 s stereo clip | median ms | best ms | p90 ms |")
    print("|---|---|---|---|")
    for name, audio in signals.items():
        timings = []
        for _ in range(50):
            start = time.perf_counter()
            frame_descriptors(audio)
            timings.append((time.perf_counter() - start) * 1000)
        print(f"| {name} | {np.median(timings):.1f} | {min(timings):.1f} | {np.percentile(timings, 90):.1f} |")


if __name__ == "__main__":
    main()

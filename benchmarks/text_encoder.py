"""Prompt-encoder speed: load time, ms per prompt uncached (1 thread) and cached. Prints a table.

    .venv/bin/python benchmarks/text_encoder.py [--repeats 20] [--max-tokens 64]

Load time is measured in this fresh process (import of engine.diffusion.text included); the weights
file may already sit in the OS page cache from an earlier run, which is the normal case at play time.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

PROMPTS = [
    "Genre: house | Instruments: drum kit, synth bass | BPM: 124 | Key: A minor",
    "a melancholic lo-fi beat with electric piano at 80 bpm",
    "Dark ambient drone, cello and granular textures, no drums",
    "fast breakbeat with amen break, reese bass and rave stabs, 174 bpm",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the instrument encodes on one worker thread beside the audio

    start_s = time.perf_counter()
    from engine.diffusion.text import PromptEncoder
    encoder = PromptEncoder(max_tokens=args.max_tokens)
    load_s = time.perf_counter() - start_s

    encoder.encode("warm-up")  # first call allocates; not what a player waits for afterwards
    uncached_ms: list[float] = []
    for i in range(args.repeats):
        encoder.cache_clear()
        t = time.perf_counter()
        encoder.encode(PROMPTS[i % len(PROMPTS)])
        uncached_ms.append(1e3 * (time.perf_counter() - t))
    long_prompt = "warm analog synth pads with a driving kick, 128 bpm, minor key; " * 160  # ~10,000 chars
    long_ms: list[float] = []
    for _ in range(max(3, args.repeats // 4)):
        encoder.cache_clear()
        t = time.perf_counter()
        encoder.encode(long_prompt)
        long_ms.append(1e3 * (time.perf_counter() - t))
    cached_ms: list[float] = []
    for i in range(args.repeats * 10):
        t = time.perf_counter()
        encoder.encode(PROMPTS[i % len(PROMPTS)])
        cached_ms.append(1e3 * (time.perf_counter() - t))

    rows = [
        ("load (module import + weights + tokenizer; torch already imported)", f"{load_s:.3f} s"),
        ("encode, uncached, 1 thread (median)", f"{statistics.median(uncached_ms):.2f} ms"),
        (f"encode, uncached, {len(long_prompt)} chars -> {args.max_tokens} tokens", f"{statistics.median(long_ms):.2f} ms"),
        ("encode, cached (median)", f"{1e3 * statistics.median(cached_ms):.1f} us"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  value   (torch {torch.__version__}, max_tokens {args.max_tokens})")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()

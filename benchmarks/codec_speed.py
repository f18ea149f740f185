"""Where the codec's time goes, on the CPU: encode, and decode split into its parts. Prints a table.

    .venv/bin/python benchmarks/codec_speed.py [--weights W] [--seconds 10] [--repeats 9] [--threads 2]

The input is 10 s of stereo noise (every bin busy: the phase integration's worst case; music leaves quiet
bins that it settles at once), encoded once; each part is timed `repeats` times after a warm-up call and the
median is reported, with the CPU time the hypervisor stole during the run (/proc/stat) so a noisy run can
be told apart. This VM's speed drifts by 10-20 % from hour to hour: compare two trees by alternating runs
(`git worktree add /tmp/before HEAD~1; python /tmp/before/benchmarks/codec_speed.py; python
benchmarks/codec_speed.py; ...`), each run imports its own tree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.latency import stolen_seconds  # noqa: E402
from benchmarks.timing import median_seconds  # noqa: E402
from engine.allocator import keep_freed_memory  # noqa: E402
from engine.codec.checkpoint import DEFAULT_WEIGHTS, load_autoencoder  # noqa: E402
from engine.vocabulary import SAMPLE_RATE  # noqa: E402


def median_ms(call: Callable[[], object], repeats: int) -> float:
    return median_seconds(call, repeats) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as every `cascade` command does (engine/allocator.py)
    model = load_autoencoder(args.weights).float().eval()
    decoder = model.decoder
    samples = int(args.seconds * SAMPLE_RATE) // model.config.hop_frames * model.config.hop_frames
    audio = torch.randn(1, 2, samples, generator=torch.Generator().manual_seed(0)) * 0.1
    stolen_before = stolen_seconds()
    with torch.no_grad():
        latent = model.encode(audio)
        log_magnitude = decoder.log_magnitude(latent)

        def phase() -> torch.Tensor:
            if hasattr(decoder, "frequency_corrections"):  # trees from session 14 on
                corrections = decoder.frequency_corrections(latent, 0, log_magnitude)
                return decoder.spectral_frames(log_magnitude, corrections=corrections)[0]
            return decoder.spectral_frames(log_magnitude)[0]

        frames = phase()
        parts = {
            "encode": median_ms(lambda: model.encode(audio), args.repeats),
            "decode: network (log-magnitude)": median_ms(lambda: decoder.log_magnitude(latent), args.repeats),
            "decode: phase integration + polar": median_ms(phase, args.repeats),
            "decode: overlap-add iSTFT": median_ms(lambda: decoder.istft(frames), args.repeats),
            "decode: whole": median_ms(lambda: model.decode(latent), args.repeats),
        }
    audio_seconds = samples / SAMPLE_RATE
    print(f"weights {args.weights}; {audio_seconds:.1f} s of stereo noise; {args.threads} threads; median of "
          f"{args.repeats}; {stolen_seconds() - stolen_before:.2f} s stolen by the hypervisor during the run")
    print("| part | ms | x real time |")
    print("|---|---|---|")
    for name, ms in parts.items():
        print(f"| {name} | {ms:.1f} | {audio_seconds * 1000.0 / ms:.0f} |")


if __name__ == "__main__":
    main()

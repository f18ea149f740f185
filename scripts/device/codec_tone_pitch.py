"""Pitch of the evaluation's tone set through one or more autoencoder files, side by side: the same tones,
round trip and f0 estimator as benchmarks/autoencoder.py's pitch section (engine/codec/evaluation.py), for a
quick before/after of a decoder fine-tune without the benchmark's clips and cadences.

    python scripts/device/codec_tone_pitch.py --weights engine/weights/autoencoder.safetensors RUN/autoencoder.safetensors [--lowest 4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.codec.checkpoint import load_autoencoder  # noqa: E402
from engine.codec.evaluation import SAMPLE_RATE, TONE_SET, cents, estimate_f0_hz, harmonic_tone  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, nargs="+", required=True)
    parser.add_argument("--lowest", type=int, default=len(TONE_SET), help="only the N lowest tones (default all 21)")
    parser.add_argument("--seconds", type=float, default=3.0, help="tone length (the benchmark's default 3)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    samples = int(args.seconds * SAMPLE_RATE) // 1024 * 1024
    tones = TONE_SET[:args.lowest]
    inputs = [harmonic_tone(f0, timbre, samples / SAMPLE_RATE) for f0, timbre in tones]
    errors = {}
    for path in args.weights:
        model = load_autoencoder(path)
        row = []
        for (f0, _), audio in zip(tones, inputs):
            with torch.no_grad():
                out = model.decode(model.encode(torch.from_numpy(audio)[None]))[0].numpy()
            error = cents(estimate_f0_hz(out, SAMPLE_RATE, f0), f0)
            row.append(abs(error) if np.isfinite(error) else float("inf"))
        errors[str(path)] = row
    names = list(errors)
    print("| tone | " + " | ".join(f"|error| cents: {n}" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for i, tone in enumerate(tones):
        print(f"| {tone.name} {tone.f0_hz:.2f} Hz {tone.timbre} | " + " | ".join(f"{errors[n][i]:.1f}" for n in names) + " |")
    print("| median / worst | " + " | ".join(f"{np.median(errors[n]):.1f} / {np.max(errors[n]):.1f}" for n in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

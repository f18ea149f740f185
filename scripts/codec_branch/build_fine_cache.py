"""Targets for training the decoder's fine low band (engine/codec/fine_low_band.py) alone, computed once.

With the encoder frozen the fine band learns latent -> the input's 8192-point low-band log-magnitude, so each
training segment is stored as its latent and that target: a step then costs ~0.1 s at batch 32 on 2 CPU
threads. Segments come from build_cache.Segments (same kinds and generators as the frequency branch's cache):

    .venv/bin/python scripts/codec_branch/build_fine_cache.py OUT.pt KIND COUNT SEED [--dataset DIR]

KIND: tones, families, notes (GM notes rendered with the training soundfonts, never TimGM6mb), music (dataset
segments; needs --dataset). Stored: latent (count, 32, 48) fp16 and fine{n_fft} (count, 2, 48, bins) fp16, the
band's target as the engine computes it (engine/codec/fine_low_band.fine_band_target: frame t centred at sample
t * 1024, zeros beyond the segment). The caches of session 14 (docs/autoencoder.md) held the same values
bins-major with one more frame, and a 4096-point target the shipped band does not use.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_cache import Segments, segment_arguments  # noqa: E402
from engine.codec.checkpoint import load_autoencoder  # noqa: E402
from engine.codec.fine_low_band import fine_band_target  # noqa: E402

SAMPLE_RATE = 44100
MAX_HZ = 350.0
HOP_FRAMES = 1024  # one fine frame per latent frame


def main() -> int:
    # one thread by default: the shipped band's caches were built so (the encoder's fp16 latent differs in its
    # last bits between thread counts)
    parser = segment_arguments(__doc__.split("\n")[0], threads=1)
    parser.add_argument("--n-fft", type=int, default=8192)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_autoencoder(args.weights).float().eval()
    segments = Segments(args.kind, args.seed, args.dataset)
    bins = int(MAX_HZ * args.n_fft / SAMPLE_RATE) + 1
    parts: dict[str, list[torch.Tensor]] = {"latent": [], f"fine{args.n_fft}": []}
    started = time.monotonic()
    for done in range(0, args.count, 32):
        audio = torch.from_numpy(np.stack([segments.next() for _ in range(min(32, args.count - done))]))
        with torch.no_grad():
            parts["latent"].append(model.encode(audio).half())
        parts[f"fine{args.n_fft}"].append(fine_band_target(audio, args.n_fft, HOP_FRAMES, bins).half())
        if done % 640 == 0:
            print(f"{args.kind} {done} segments, {time.monotonic() - started:.0f} s", flush=True)
    torch.save({name: torch.cat(values) for name, values in parts.items()}, args.out)
    print(f"wrote {args.out}: {args.count} {args.kind} segments in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

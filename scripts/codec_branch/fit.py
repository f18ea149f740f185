"""Train the low-bin frequency branch on caches from build_cache.py and write an autoencoder file with it
(session 13 research; nothing it writes ships without benchmarks/autoencoder.py and
benchmarks/codec_bass_notes.py).

    .venv/bin/python scripts/codec_branch/fit.py --caches A.pt B.pt --mix 0.5 0.5 --steps 8000 --out ae.safetensors

The loss is LowBinFrequencyLoss's, on the cached targets: weighted RMS cents of (correction - target). Prints
the validation RMS per cache (2 % held out) and the tone set's errors with the trained branch.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.codec.checkpoint import DEFAULT_WEIGHTS, load_autoencoder, read_metadata, save_autoencoder  # noqa: E402
from engine.codec.evaluation import TONE_SET, cents, estimate_f0_hz, harmonic_tone  # noqa: E402
from engine.codec.model import MagnitudeAutoencoder  # noqa: E402
from engine.codec.spectral import CENTS_PER_OCTAVE_LN2  # noqa: E402

BINS = 16


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--caches", type=Path, nargs="+", required=True)
    parser.add_argument("--mix", type=float, nargs="+", required=True, help="share of each batch per cache")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--dim", type=int, default=192)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--init", type=Path, default=None, help="an autoencoder file whose branch to start from")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if len(args.mix) != len(args.caches):
        raise SystemExit("one --mix share per cache")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shipped = load_autoencoder(args.weights).float().eval()
    config = replace(shipped.config, decoder_frequency_bins=BINS, decoder_frequency_dim=args.dim,
                     decoder_frequency_blocks=args.blocks)
    model = MagnitudeAutoencoder(config)
    model.load_state_dict(shipped.state_dict(), strict=False)  # everything but the branch
    branch = model.decoder.frequency
    if args.init:
        branch.load_state_dict(load_autoencoder(args.init).decoder.frequency.state_dict())
    cents_per_bin = torch.where(torch.arange(BINS) > 0, CENTS_PER_OCTAVE_LN2 / torch.arange(BINS).clamp_min(1).float(),
                                torch.zeros(BINS))
    train, valid = [], []
    for path in args.caches:
        cache = torch.load(path)
        held = max(8, cache["latent"].shape[0] // 50)
        valid.append({k: v[:held] for k, v in cache.items()})
        train.append({k: v[held:] for k, v in cache.items()})

    def sums(cache: dict, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        error = (branch(cache["latent"][index].float()) - cache["target"][index].float()) * cents_per_bin
        weight = cache["weight"][index].float()
        return (weight * error.square()).sum(), weight.sum()

    def validation() -> list[float]:
        with torch.no_grad():
            return [round(float(torch.sqrt(s / w)), 1) for s, w in
                    (sums(c, torch.arange(c["latent"].shape[0])) for c in valid)]

    print("validation RMS cents at the start:", validation(), flush=True)
    optimiser = torch.optim.AdamW(branch.parameters(), args.lr, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    mix = np.array(args.mix) / sum(args.mix)
    started = time.monotonic()
    for step in range(args.steps):
        cosine = 0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * step / args.steps))
        for group in optimiser.param_groups:
            group["lr"] = args.lr * min(1.0, (step + 1) / 200) * cosine
        total, weight = torch.zeros(()), torch.zeros(())
        for cache, count in zip(train, rng.multinomial(args.batch, mix)):
            if count:
                s, w = sums(cache, torch.from_numpy(rng.integers(0, cache["latent"].shape[0], count)))
                total, weight = total + s, weight + w
        loss = torch.sqrt(total / weight.clamp_min(1e-6) + 1e-6)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(branch.parameters(), 1.0)
        optimiser.step()
        if step % 1000 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.1f} validation {validation()} {time.monotonic() - started:.0f} s",
                  flush=True)
    extra = dict(read_metadata(args.weights).get("extra", {}))
    extra["frequency_branch"] = {"steps": args.steps, "batch": args.batch, "caches": [p.name for p in args.caches],
                                 "mix": list(args.mix)}
    save_autoencoder(model.eval(), args.out, extra=extra)
    errors = []
    for tone in TONE_SET:
        audio = harmonic_tone(tone.f0_hz, tone.timbre, 3.0)
        audio = np.ascontiguousarray(audio[:, :audio.shape[1] // 1024 * 1024])
        with torch.no_grad():
            out = model.decode(model.encode(torch.from_numpy(audio)[None]))[0].numpy()
        errors.append(abs(cents(estimate_f0_hz(out, 44100, tone.f0_hz), tone.f0_hz)))
    print("tone set |cents|:", [round(e) for e in errors], f"median {np.median(errors):.1f} worst {max(errors):.0f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

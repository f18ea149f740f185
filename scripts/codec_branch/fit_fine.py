"""Train the decoder's fine low band (engine/codec/fine_low_band.py) on cached targets and write a codec file.

    .venv/bin/python scripts/codec_branch/fit_fine.py --caches A.pt B.pt ... --out autoencoder.safetensors
        [--steps 16000 --dim 256 --blocks 4 --bins 16]

Caches come from build_fine_cache.py. Everything but the fine band is the --weights file's, bit for bit
(encoder, latent statistics, magnitude decoder: the diffusion model's latent and the output's levels cannot
move). The validation L1 (2 % of the segments, natural-log magnitude) is printed every 500 steps; the file's
metadata records the steps, caches and final losses.
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
from engine.codec.fine_low_band import FINE_FLOOR_LOG, fine_band_loss, valid_fine_frames  # noqa: E402
from engine.codec.model import MagnitudeAutoencoder  # noqa: E402

WARMUP_FRAMES = 6  # a segment's first frames lack the causal context they have in a stream


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--caches", type=Path, nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--n-fft", type=int, default=8192)
    parser.add_argument("--bins", type=int, default=16, help="decoder bins 1..bins-1 take the fine band's frequency")
    parser.add_argument("--steps", type=int, default=16000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--slope-weight", type=float, default=0.5)
    parser.add_argument("--init", type=Path, default=None, help="a codec file whose fine band to start from")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    latent, target = [], []
    for path in args.caches:
        cache = torch.load(path)
        latent.append(cache["latent"].float())
        target.append(cache[f"fine{args.n_fft}"].float())
    latent = torch.cat(latent)
    target = torch.cat(target).clamp_min(FINE_FLOOR_LOG)  # (segments, channels, frames, bins)
    order = torch.randperm(len(latent))
    held_out = max(min(64, len(latent) // 4), len(latent) // 50)
    valid_index, train_index = order[:held_out], order[held_out:]
    shipped = load_autoencoder(args.weights).float().eval()
    config = replace(shipped.config, decoder_frequency_bins=args.bins, decoder_fine_n_fft=args.n_fft,
                     decoder_fine_bins=target.shape[-1], decoder_frequency_dim=args.dim,
                     decoder_frequency_blocks=args.blocks)
    model = MagnitudeAutoencoder(config)
    # everything but a fine band (a --weights file that has one, e.g. the shipped v2.3, gives the rest only:
    # the band starts fresh unless --init names one)
    rest = {name: tensor for name, tensor in shipped.state_dict().items() if not name.startswith("decoder.fine.")}
    missing = model.load_state_dict(rest, strict=False).missing_keys
    assert missing and all(name.startswith("decoder.fine.") for name in missing), missing
    band = model.decoder.fine
    if args.init is not None:
        band.load_state_dict(load_autoencoder(args.init).decoder.fine.state_dict())
    valid = valid_fine_frames(latent.shape[-1], args.n_fft, config.hop_frames, WARMUP_FRAMES)
    print(f"{len(latent)} segments, {target.shape[-1]} fine bins, {sum(p.numel() for p in band.parameters())} "
          "parameters", flush=True)
    optimiser = torch.optim.AdamW(band.parameters(), args.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, args.lr, total_steps=args.steps, pct_start=0.05)

    def validation() -> float:
        with torch.no_grad():
            return float(np.mean([fine_band_loss(band(latent[valid_index[i:i + 64]]), target[valid_index[i:i + 64]],
                                                 valid, args.slope_weight)[1].item() for i in range(0, held_out, 64)]))

    started = time.monotonic()
    log = []
    for step in range(args.steps):
        pick = train_index[torch.randint(len(train_index), (args.batch,))]
        loss, l1 = fine_band_loss(band(latent[pick]), target[pick], valid, args.slope_weight)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 500 == 0 or step == args.steps - 1:
            log.append({"step": step, "train_l1": round(l1.item(), 4), "valid_l1": round(validation(), 4),
                        "seconds": round(time.monotonic() - started)})
            print(log[-1], flush=True)
    extra = dict(read_metadata(args.weights).get("extra", {}))
    if args.init is not None:  # the earlier stage's record, so the file tells its whole history
        extra["fine_band_init"] = read_metadata(args.init).get("extra", {}).get("fine_band")
    extra["fine_band"] = {"init": args.init.name if args.init else None, "steps": args.steps, "batch": args.batch,
                          "segments": len(latent),
                          "caches": [path.name for path in args.caches], "final": log[-1],
                          "script": "scripts/codec_branch/fit_fine.py"}
    save_autoencoder(model.eval(), args.out, extra=extra)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

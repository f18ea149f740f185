"""DEVICE side, called by diffusion_v2.sh (runbook: scripts/device/diffusion_v2.md): rebuild the latent cache from
the pack's parts (token embeddings recomputed on the GPU), then train the diffusion U-Net on it for MINUTES of wall
clock, batches built on the device, and export the EMA weights (fp16, shipped format) as the trainer does.

    python scripts/device/train_diffusion_v2.py --parts /tmp/dev16 --run /tmp/dev16_run --minutes 8 [--init FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from engine.diffusion.cache_pack import unpack_latent_cache
from engine.diffusion.train import DiffusionTrainConfig, train_diffusion


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", type=Path, nargs="+", required=True, help="folders holding the pack's parts")
    parser.add_argument("--run", type=Path, required=True, help="run folder (train state, log, export)")
    parser.add_argument("--minutes", type=float, required=True, help="training wall clock (unpacking not counted)")
    parser.add_argument("--init", type=Path, default=None, help="start from this diffusion file (else from scratch)")
    parser.add_argument("--model", default="small")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--warmup-steps", type=int, default=300)
    parser.add_argument("--window-frames", type=int, default=128)
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    started = time.monotonic()
    cache = args.run.parent / f"{args.run.name}_cache.safetensors"
    if not cache.exists():
        unpack_latent_cache(args.parts, cache, device=args.device)
    print(json.dumps({"unpacked_seconds": round(time.monotonic() - started, 1), "cache": str(cache)}), flush=True)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    config = DiffusionTrainConfig(cache=cache, out_dir=args.run, model=args.model, steps=10_000_000,
                                  batch_size=args.batch_size, window_frames=args.window_frames,
                                  learning_rate=args.learning_rate,
                                  warmup_steps=args.warmup_steps, checkpoint_every=args.checkpoint_every,
                                  harmony=True, batches="device",  # also on the CPU, where it was tested
                                  init_from=args.init, max_minutes=args.minutes)
    result = train_diffusion(config)
    print(json.dumps({"steps": result["steps"], "train_seconds": round(result["seconds"], 1),
                      "windows_per_second": round(result["steps"] * args.batch_size / max(result["seconds"], 1e-9)),
                      "export": str(args.run / "diffusion.safetensors")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How fast training batches are built: CacheBatches (a Python loop per window) against DeviceBatches (tensor
ops on the device), on a latent cache of realistic size filled with random numbers (the builders' cost does
not depend on the values). Prints a table of windows per second; on a CUDA host it adds the GPU.

    python benchmarks/diffusion_batches.py [--clips 2000] [--batch 1024] [--threads 2]

The small U-Net trains at ~13,600 windows/s on an H200 (batch 1024, bf16): a builder slower than that starves it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import median_seconds  # noqa: E402
from engine.diffusion.device_batches import DeviceBatches  # noqa: E402
from engine.diffusion.latents import LatentCache  # noqa: E402
from engine.diffusion.train import CacheBatches, DiffusionTrainConfig  # noqa: E402


def synthetic_cache(clips: int, clip_frames: int, captions_per_clip: int, tokens_per_caption: int,
                    latent_channels: int = 32) -> LatentCache:
    generator = torch.Generator().manual_seed(0)
    frames = clips * clip_frames
    captions = clips * captions_per_clip
    arrays = {
        "latents": torch.randn(frames, latent_channels, generator=generator).half(),
        "descriptors": torch.rand(frames, 4, generator=generator) * torch.tensor([10.0, 4000.0, 0.5, 6.0]) - torch.tensor([30.0, 0, 0, 0]),
        "clip_offsets": torch.arange(clips + 1, dtype=torch.int64) * clip_frames,
        "tempo_bpm": 60 + 100 * torch.rand(clips, generator=generator),
        "key": torch.randint(0, 12, (clips,), generator=generator),
        "scale": torch.randint(0, 4, (clips,), generator=generator),
        "beats_per_bar": torch.full((clips,), 4),
        "seconds_start": torch.zeros(clips),
        "seconds_total": torch.full((clips,), clip_frames * 1024 / 44100),
        "split": torch.zeros(clips, dtype=torch.int64),
        "style": torch.zeros(clips, dtype=torch.int64),
        "tokens": torch.randn(captions * tokens_per_caption, 384, generator=generator).half(),
        "token_offsets": torch.arange(captions + 1, dtype=torch.int64) * tokens_per_caption,
        "pooled": torch.randn(captions, 384, generator=generator).half(),
        "caption_clip": torch.arange(clips, dtype=torch.int64).repeat_interleave(captions_per_clip),
    }
    return LatentCache(arrays=arrays, metadata={})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--clip-frames", type=int, default=430)  # 10 s
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = synthetic_cache(args.clips, args.clip_frames, 5, 40)
    config = DiffusionTrainConfig(cache=Path("synthetic"), out_dir=Path("unused"))
    rows = []
    builders = [("CacheBatches", "cpu", lambda: CacheBatches(cache, "train", config, 0)),
                ("DeviceBatches", "cpu", lambda: DeviceBatches(cache, "train", config, 0, "cpu"))]
    if torch.cuda.is_available():
        builders.append(("DeviceBatches", "cuda", lambda: DeviceBatches(cache, "train", config, 0, "cuda")))
    for name, device, make in builders:
        batches = make()

        def one_batch() -> None:
            x0, _ = batches.batch(args.batch, 32)
            if x0.is_cuda:
                torch.cuda.synchronize()

        seconds = median_seconds(one_batch, repeats=3)
        rows.append((name, device, seconds, args.batch / seconds))
    print(f"batch {args.batch} windows of {config.window_frames} frames, {args.clips} clips, "
          f"torch threads {args.threads}, {torch.__version__}")
    print("| builder | device | seconds a batch | windows / s |")
    print("|---|---|---|---|")
    for name, device, seconds, rate in rows:
        print(f"| {name} | {device} | {seconds:.3f} | {rate:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Real-time factor of generate + decode with CFG, on the shipped models. Prints a table.

    .venv/bin/python benchmarks/realtime.py [--threads 2] [--repeats 5] [--weights PATH]

For each inference path (eager fp32; eager with bf16 autocast; TorchScript trace + freeze, as offline
rendering runs it; TorchScript trace with the 256-token bucket, not frozen, as the live engine runs it;
freeze at that bucket, for comparison) and each step count (4, 8, 16), one chunk is generated repeatedly through `Generator.generate_chunk` (CFG batch 2,
DPM-Solver++(2M)) and decoded; the real-time factor is compute seconds per second of NEW audio in the
chunk (window minus context). Two chunk shapes: the offline render's (128-frame window, 32 context ->
2.23 s new) and the live engine's (64-frame window, 16 context -> 1.11 s new). Peak memory is the process's
maximum resident set size. On CUDA (when present) the same runs on the GPU.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time
from pathlib import Path

import torch

from engine.allocator import keep_freed_memory
from engine.diffusion.checkpoint import DEFAULT_DIFFUSION_WEIGHTS
from engine.generate import Generator
from engine.request import GenerationRequest
from engine.optimise import LIVE_TOKEN_BUCKET, TracedNetwork

REQUEST = GenerationRequest(prompts=("deep house groove with a warm pad and 808 drums, 122 bpm, A minor",),
                            cfg_scale=3.0, tempo_bpm=122.0, key="A", scale="minor",
                            descriptors={"loudness": -20.0, "brightness": 2500.0})


def time_chunk(generator: Generator, steps: int, window: int, context_frames: int, repeats: int,
               autocast: bool) -> tuple[float, float, float]:
    """Median seconds for (generate, decode) of one chunk, and per-step milliseconds."""
    request = REQUEST.__class__(**{**REQUEST.__dict__, "steps": steps})
    context = torch.zeros(generator.latent_channels, context_frames)
    generate_times, decode_times = [], []
    for repeat in range(repeats + 1):
        started = time.perf_counter()
        with torch.autocast(generator.device.type, dtype=torch.bfloat16, enabled=autocast):
            result = generator.generate_chunk(request, window, context=context, start_frame=repeat * window,
                                              chunk_index=repeat)
        middle = time.perf_counter()
        generator.decode(result.latent[:, -result.new_frames:].float())
        ended = time.perf_counter()
        if repeat:  # the first run warms caches and the allocator
            generate_times.append(middle - started)
            decode_times.append(ended - middle)
    generate = statistics.median(generate_times)
    return generate, statistics.median(decode_times), 1000 * generate / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=DEFAULT_DIFFUSION_WEIGHTS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as every `cascade` command does (engine/allocator.py)
    generator = Generator.load(args.weights, device=args.device)
    eager_network = generator.network
    print(f"model {generator.model_id}, {sum(p.numel() for p in eager_network.parameters()) / 1e6:.1f} M parameters; "
          f"{platform.machine()}, torch {torch.__version__}, {args.threads} threads, device {args.device}")
    print()
    print("| path | window / context | steps | generate ms | per step ms | decode ms | RTF (compute s / audio s) |")
    print("|---|---|---|---|---|---|---|")
    both, live = ((128, 32), (64, 16)), ((64, 16),)
    paths = [("eager fp32", False, lambda: eager_network, both),
             ("eager bf16 autocast", True, lambda: eager_network, both),
             ("TorchScript freeze fp32 (offline)", False, lambda: TracedNetwork(eager_network), both),
             # What the live engine runs: its token bucket, traced and not frozen (engine/optimise.py says why).
             ("TorchScript trace fp32 (live)", False,
              lambda: TracedNetwork(eager_network, background=True, token_bucket=LIVE_TOKEN_BUCKET), live),
             ("TorchScript freeze fp32 (live bucket, for comparison)", False,
              lambda: TracedNetwork(eager_network, token_bucket=LIVE_TOKEN_BUCKET), live)]
    best: dict[tuple[int, int], tuple[float, str]] = {}
    for name, autocast, network, shapes in paths:
        generator.network = network()
        generator.denoiser.network = generator.network
        for window, context_frames in shapes:
            new_seconds = (window - context_frames) * generator.frame_seconds
            for steps in (4, 8, 16):
                generate, decode, per_step = time_chunk(generator, steps, window, context_frames, args.repeats, autocast)
                rtf = (generate + decode) / new_seconds
                key = (window, steps)
                if key not in best or rtf < best[key][0]:
                    best[key] = (rtf, name)
                print(f"| {name} | {window} / {context_frames} | {steps} | {generate * 1000:.0f} | {per_step:.1f} | "
                      f"{decode * 1000:.0f} | {rtf:.3f} |", flush=True)
    generator.network = eager_network
    generator.denoiser.network = eager_network
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(f"peak resident memory: {peak_mib:.0f} MiB (models, prompt encoder and all runs above)")
    for (window, steps), (rtf, name) in sorted(best.items()):
        print(f"best at window {window}, {steps} steps: {name}, RTF {rtf:.3f}" + ("  (target <= 0.25)" if steps == 8 else ""))


if __name__ == "__main__":
    main()

"""Stage-1 benchmark: our autoencoder against two references on the same audio, plus speed. Prints tables.

    .venv/bin/python benchmarks/autoencoder.py --dataset data/ds10h [--weights engine/weights/autoencoder.safetensors]

Audio: held-out test-split clips of the dataset, and clips rendered with TimGM6mb.sf2 (shipped by
pretty_midi), a soundfont we never train on. Methods:
  (1) ours: decode(encode(x)), 64x compression;
  (2) the same 64x budget spent on a plain representation: 32 mel bands per channel at hop 1024 (from a
      4096-point STFT), mapped back to linear magnitude with the filterbank's pseudo-inverse, 64 iterations
      of Griffin-Lim;
  (3) Griffin-Lim, 32 iterations, from the TRUE full STFT magnitude (2048-point, hop 512): no compression
      (the Riffusion route).
Metrics: multi-resolution log-spectral L1 in dB (windows 256-4096, hop a quarter), log-mel L1 (128 mels,
natural log), |LUFS difference|. Speed: seconds of stereo audio per second of compute, on 2 threads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile
import torch

from engine.codec.checkpoint import DEFAULT_WEIGHTS, load_autoencoder
from engine.codec.spectral import (griffin_lim, log_mel_distance, log_spectral_distance_db,
                                   mel_budget_griffin_lim, stft_magnitude)

SAMPLE_RATE = 44100
EXCERPT_SAMPLES = 1024 * 344  # ~8 s


def _excerpt(audio: np.ndarray) -> np.ndarray:
    """(samples, channels) as read -> (channels, samples), at most EXCERPT_SAMPLES, a multiple of 1024."""
    audio = audio.T[:, :EXCERPT_SAMPLES]
    return audio[:, : audio.shape[1] // 1024 * 1024]


def load_clips(dataset: Path, split: str, count: int, seed: int) -> list[np.ndarray]:
    rows = [json.loads(line) for line in (dataset / "manifest.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["split"] == split]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(rows), size=min(count, len(rows)), replace=False)
    clips = []
    for index in sorted(chosen.tolist()):
        audio, _ = soundfile.read(str(dataset / rows[index]["path"]), dtype="float32", always_2d=True)
        clips.append(_excerpt(audio))
    return clips


def unseen_soundfont_clips(count: int, seed: int) -> list[np.ndarray]:
    """Render a small dataset with TimGM6mb.sf2 (never trained on) and return its clips."""
    import pretty_midi

    from engine.dataset.builder import BuildConfig, build_dataset

    soundfont = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "unseen"
        build_dataset(BuildConfig(out_dir=out, hours=count * 9.0 / 3600, seed=seed + 999, workers=2,
                                  soundfont=str(soundfont), progress=False))
        rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
        clips = []
        for row in rows[:count]:
            audio, _ = soundfile.read(str(out / row["path"]), dtype="float32", always_2d=True)
            clips.append(_excerpt(audio))
    return clips


def true_magnitude_griffin_lim(audio: torch.Tensor) -> torch.Tensor:
    """Reference (3): Griffin-Lim 32 from the true 2048-point magnitude (hop 512)."""
    n_fft, hop = 2048, 512
    return griffin_lim(stft_magnitude(audio, n_fft, hop), n_fft, hop, 32, audio.shape[-1])


def lufs(audio: np.ndarray) -> float:
    return float(pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(audio.T.astype(np.float64)))


def evaluate(clips: list[np.ndarray], methods: dict) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, list[float]]] = {name: {"lsd": [], "mel": [], "lufs": [], "seconds": [],
                                                          "audio_seconds": []} for name in methods}
    for clip in clips:
        reference = torch.from_numpy(clip)
        for name, method in methods.items():
            started = time.perf_counter()
            with torch.no_grad():
                estimate = method(reference).float()
            results[name]["seconds"].append(time.perf_counter() - started)
            results[name]["audio_seconds"].append(clip.shape[1] / SAMPLE_RATE)
            estimate = torch.nan_to_num(estimate)
            results[name]["lsd"].append(log_spectral_distance_db(reference, estimate))
            results[name]["mel"].append(log_mel_distance(reference, estimate))
            results[name]["lufs"].append(abs(lufs(clip) - lufs(estimate.numpy())))
    summary = {}
    for name, metrics in results.items():
        summary[name] = {k: float(np.mean(metrics[k])) for k in ("lsd", "mel", "lufs")}
        summary[name]["x_real_time"] = float(np.sum(metrics["audio_seconds"]) / np.sum(metrics["seconds"]))
    return summary


def speed(model, seconds: float = 10.0, repeats: int = 5) -> tuple[float, float]:
    samples = int(seconds * SAMPLE_RATE) // 1024 * 1024
    audio = torch.randn(1, 2, samples) * 0.1
    with torch.no_grad():
        latent = model.encode(audio)
        model.decode(latent)
        encode_times, decode_times = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            latent = model.encode(audio)
            encode_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            model.decode(latent)
            decode_times.append(time.perf_counter() - start)
    audio_seconds = samples / SAMPLE_RATE
    return audio_seconds / float(np.median(encode_times)), audio_seconds / float(np.median(decode_times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--test-clips", type=int, default=50)
    parser.add_argument("--unseen-clips", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_autoencoder(args.weights)

    def ours(audio: torch.Tensor) -> torch.Tensor:
        return model.decode(model.encode(audio[None]))[0]

    methods = {"(1) Cascade autoencoder, 64x": ours,
               "(2) 32 mels/ch at hop 1024 + Griffin-Lim 64, 64x": mel_budget_griffin_lim,
               "(3) Griffin-Lim 32 from the true magnitude, 1x": true_magnitude_griffin_lim}
    sets = {f"test split ({args.test_clips} clips, FluidR3)": load_clips(args.dataset, "test", args.test_clips, args.seed),
            f"unseen soundfont ({args.unseen_clips} clips, TimGM6mb)": unseen_soundfont_clips(args.unseen_clips, args.seed)}
    print(f"weights: {args.weights}; machine: {platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}")
    print("| audio | method | log-spectral L1 (dB) | log-mel L1 | |ΔLUFS| (LU) | round trip x real time |")
    print("|---|---|---|---|---|---|")
    for set_name, clips in sets.items():
        for method, metrics in evaluate(clips, methods).items():
            print(f"| {set_name} | {method} | {metrics['lsd']:.2f} | {metrics['mel']:.3f} | {metrics['lufs']:.2f} | {metrics['x_real_time']:.1f} |")
    encode_x, decode_x = speed(model)
    print()
    print("| speed (10 s stereo, median of 5) | x real time | target |")
    print("|---|---|---|")
    print(f"| encode, {args.threads} CPU threads, fp32 | {encode_x:.0f} | ≥ 100 |")
    print(f"| decode, {args.threads} CPU threads, fp32 | {decode_x:.0f} | ≥ 50 |")


if __name__ == "__main__":
    main()

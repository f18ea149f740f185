"""Where the codec's log-spectral L1 comes from: the decoder's magnitude, its phase, or the metric's own floor.

    .venv/bin/python benchmarks/codec_error_budget.py --dataset DS [--clips 8] [--unseen-clips 8] [--threads 2]

The issue's codec metric (`engine.codec.spectral.log_spectral_distance_db`: 256-4096-point STFTs, log magnitudes
floored 80 dB under the clip's peak) on the same clips, for resyntheses that each swap one part for the truth:

* shipped: decode(encode(x)), the decoder's magnitude with the phase integrated from it (RTPGHI + the fine band);
* decoder magnitude alone: the decoder's log-magnitude against the input's own STFT on the decoder's grid
  (2048 / 256), no synthesis: how far the magnitude is, before any phase;
* decoder magnitude + fast Griffin-Lim K: the same magnitude, its phase refined by K iterations (momentum 0.99)
  starting from the shipped phase: what a better phase for this magnitude would give;
* true magnitude + RTPGHI: the input's magnitude with the decoder's phase integration (no fine band): the phase
  method's own cost, with a perfect magnitude;
* true magnitude + RTPGHI + Griffin-Lim 16: the same, refined.

Then the shipped output's L1 per STFT size, per frequency band and per input level (2048-point), to show where the
decibels are. Test clips: `--dataset`'s test split (never trained on); unseen: rendered here with TimGM6mb.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.autoencoder import load_clips, unseen_soundfont_clips  # noqa: E402
from benchmarks.latency import stolen_seconds  # noqa: E402
from engine.codec.checkpoint import DEFAULT_WEIGHTS, load_autoencoder  # noqa: E402
from engine.codec.spectral import (MULTI_RESOLUTION_WINDOWS, griffin_lim, log_spectral_distance_db,  # noqa: E402
                                   multi_resolution_log_l1, stft_magnitude)
from engine.vocabulary import SAMPLE_RATE  # noqa: E402

DB_PER_NEPER = 20.0 / math.log(10.0)
FLOOR_DB = -80.0
GRIFFIN_LIM_ITERATIONS = (4, 16)
BANDS_HZ = ((0, 100), (100, 300), (300, 1000), (1000, 3000), (3000, 8000), (8000, 22050))
LEVELS_DB = ((-80.0, -60.0), (-60.0, -40.0), (-40.0, -20.0), (-20.0, 0.0))


class Resynthesis:
    """One model's STFT of the decoder grid: stft (channels, samples) -> (channels, bins, frames) and back."""

    def __init__(self, model) -> None:
        self.decoder = model.decoder
        self.n_fft, self.hop = model.config.decoder_n_fft, model.config.decoder_hop
        self.window = torch.hann_window(self.n_fft)

    def stft(self, audio: torch.Tensor) -> torch.Tensor:
        return torch.stft(audio, self.n_fft, self.hop, window=self.window, center=True, return_complex=True)

    def istft(self, spectrum: torch.Tensor, samples: int) -> torch.Tensor:
        return torch.istft(spectrum, self.n_fft, self.hop, window=self.window, center=True, length=samples)

    def griffin_lim(self, frames: torch.Tensor, iterations: int, samples: int) -> torch.Tensor:
        """`spectral.griffin_lim` from the phase of complex frames (channels, bins, frames) -> audio."""
        return griffin_lim(frames.abs(), self.n_fft, self.hop, iterations, samples, initial_phase=torch.angle(frames))


def floored_log(magnitude: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
    return torch.log(torch.maximum(magnitude, peak * 10.0 ** (FLOOR_DB / 20.0) + 1e-12))


def clip_rows(model, synth: Resynthesis, clip: np.ndarray) -> tuple[dict[str, float], torch.Tensor, torch.Tensor]:
    """-> ({row: L1 dB}, the input (channels, samples), the shipped output)."""
    x = torch.from_numpy(clip)
    samples = x.shape[-1]
    rows: dict[str, float] = {}
    with torch.no_grad():
        latent = model.encode(x[None])
        log_magnitude = synth.decoder.log_magnitude(latent)
        corrections = synth.decoder.frequency_corrections(latent, 0, log_magnitude)
        frames, _, _ = synth.decoder.spectral_frames(log_magnitude, corrections=corrections)
        shipped = synth.decoder.istft(frames).reshape(x.shape[0], -1)[..., :samples]
        rows["shipped (decoder magnitude + its phase)"] = log_spectral_distance_db(x, shipped)
        true = synth.stft(x)
        n = min(true.shape[-1], log_magnitude.shape[-1])
        peak = true.abs().amax()
        rows["decoder magnitude alone, 2048/256 grid (no synthesis)"] = float(
            (floored_log(true.abs()[..., :n], peak) - floored_log(log_magnitude[0, ..., :n].exp(), peak)).abs().mean()
        ) * DB_PER_NEPER
        for iterations in GRIFFIN_LIM_ITERATIONS:
            refined = synth.griffin_lim(frames, iterations, samples)
            rows[f"decoder magnitude + Griffin-Lim {iterations} from its phase"] = log_spectral_distance_db(x, refined)
        true_log = torch.log(true.abs().clamp_min(1e-7))[None, ..., :log_magnitude.shape[-1]]
        true_frames, _, _ = synth.decoder.spectral_frames(true_log)
        rows["true magnitude + RTPGHI"] = log_spectral_distance_db(x, synth.istft(true_frames, samples))
        rows["true magnitude + RTPGHI + Griffin-Lim 16"] = log_spectral_distance_db(
            x, synth.griffin_lim(true_frames, 16, samples))
    return rows, x, shipped


def where(x: torch.Tensor, y: torch.Tensor, totals: dict[str, list[float]]) -> None:
    """The shipped output's L1 per STFT size, band and input level, added to `totals` ([sum, count] each)."""
    for n_fft in MULTI_RESOLUTION_WINDOWS:
        totals.setdefault(f"STFT {n_fft}", [0.0, 0.0])
        totals[f"STFT {n_fft}"][0] += float(multi_resolution_log_l1(x[None], y[None], (n_fft,))) * DB_PER_NEPER
        totals[f"STFT {n_fft}"][1] += 1
    ref, est = stft_magnitude(x, 2048), stft_magnitude(y, 2048)
    peak = ref.amax()
    error = (floored_log(ref, peak) - floored_log(est, peak)).abs() * DB_PER_NEPER  # (channels, bins, frames)
    frequencies = torch.arange(ref.shape[-2]) * SAMPLE_RATE / 2048
    for low, high in BANDS_HZ:
        chosen = error[:, (frequencies >= low) & (frequencies < high)]
        total = totals.setdefault(f"{low}-{high} Hz", [0.0, 0.0])
        total[0], total[1] = total[0] + float(chosen.sum()), total[1] + chosen.numel()
    level = 20.0 * torch.log10(torch.maximum(ref, peak * 1e-4) / peak)
    for low, high in LEVELS_DB:
        chosen = error[(level >= low) & (level < high + (0.01 if high == 0.0 else 0.0))]
        total = totals.setdefault(f"input {low:+.0f}..{high:+.0f} dB", [0.0, 0.0])
        total[0], total[1] = total[0] + float(chosen.sum()), total[1] + chosen.numel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=None, help="a `cascade dataset build` folder (its test split)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--unseen-clips", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_autoencoder(args.weights).eval()
    synth = Resynthesis(model)
    sets: dict[str, list[np.ndarray]] = {}
    if args.dataset:
        sets[f"test split ({args.clips} clips)"] = load_clips(args.dataset, "test", args.clips, args.seed)
    if args.unseen_clips > 0:  # the benchmark's own renders, the first of them
        sets[f"unseen soundfont ({args.unseen_clips} clips)"] = unseen_soundfont_clips(20, args.seed)[:args.unseen_clips]
    stolen_before = stolen_seconds()
    print(f"weights: {args.weights}; machine: {platform.machine()}, torch threads {args.threads}")
    print()
    results: dict[str, dict[str, float]] = {}
    totals: dict[str, dict[str, list[float]]] = {}
    for name, clips in sets.items():
        per_clip: dict[str, list[float]] = {}
        totals[name] = {}
        for clip in clips:
            rows, x, shipped = clip_rows(model, synth, clip)
            for row, value in rows.items():
                per_clip.setdefault(row, []).append(value)
            where(x, shipped, totals[name])
        results[name] = {row: float(np.mean(values)) for row, values in per_clip.items()}
    names = list(sets)
    print("| resynthesis | " + " | ".join(f"L1 (dB), {n}" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for row in results[names[0]]:
        print(f"| {row} | " + " | ".join(f"{results[n][row]:.2f}" for n in names) + " |")
    print()
    print("| the shipped output's L1 (dB) per part | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for part in totals[names[0]]:
        print(f"| {part} | " + " | ".join(f"{totals[n][part][0] / max(totals[n][part][1], 1):.2f}" for n in names) + " |")
    print()
    print(f"CPU time stolen by the hypervisor meanwhile: {stolen_seconds() - stolen_before:.1f} s")


if __name__ == "__main__":
    main()

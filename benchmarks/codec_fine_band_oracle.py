"""Why the low band is read at 8192 points: pitch of low notes when the low band comes from true or degraded
magnitudes at three STFT sizes. Prints a table.

    .venv/bin/python benchmarks/codec_fine_band_oracle.py [--crossover-hz 200 300]

Each input (the tone set's 10 lowest tones, 41-233 Hz, and the 48 TimGM6mb bass notes of codec_bass_notes.py)
is resynthesised as: the shipped decoder's output above the crossover (its 2048-point magnitude, phase
integrated from it, bins under the crossover faded out) plus a low band synthesised by phase integration from
the input's own N-point magnitude (N = 2048, 4096, 8192, hop N / 8) faded in under the crossover, either as
it is ("true"), blurred over three frames and across three bins ("blurred", what a network's estimate looks
like), or blurred with 0.3 nats of noise added ("blurred+noise"). The last rows keep the decoder's own
magnitude everywhere and only take the low bins' frequency from the true 8192- or 4096-point magnitude
(engine/codec/fine_low_band.py, the route the codec ships). f0 error in cents against the input's f0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pretty_midi
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.codec_bass_notes import PITCHES, PROGRAMS, render_note, steady  # noqa: E402
from engine.codec.checkpoint import DEFAULT_WEIGHTS, load_autoencoder  # noqa: E402
from engine.codec.evaluation import TONE_SET, cents, estimate_f0_hz, harmonic_tone  # noqa: E402
from engine.codec.fine_low_band import low_bin_corrections  # noqa: E402
from engine.codec.phase import rtpghi_phase  # noqa: E402
from engine.dataset.render import FluidRenderer  # noqa: E402
from engine.vocabulary import SAMPLE_RATE  # noqa: E402

LOW_BINS = 16


def _taper(n_fft: int, crossover_hz: tuple[float, float]) -> torch.Tensor:
    """0 under the crossover, 1 above it, a raised-cosine between (amplitude-complementary with 1 - taper)."""
    f = np.arange(n_fft // 2 + 1) * SAMPLE_RATE / n_fft
    g = np.clip((f - crossover_hz[0]) / (crossover_hz[1] - crossover_hz[0]), 0, 1)
    return torch.from_numpy(np.sin(0.5 * np.pi * g) ** 2)


def _degrade(log_magnitude: torch.Tensor, kind: str, rng: np.random.Generator) -> torch.Tensor:
    m = log_magnitude.clone()
    if "blurred" in kind:
        linear = m.exp()
        linear = (linear + torch.roll(linear, 1, -1) + torch.roll(linear, -1, -1)) / 3
        linear = 0.25 * torch.roll(linear, 1, -2) + 0.5 * linear + 0.25 * torch.roll(linear, -1, -2)
        m = linear.clamp_min(1e-7).log()
    if "noise" in kind:
        m = m + torch.from_numpy(rng.normal(0, 0.3, m.shape))
    return m


def _low_band(x: torch.Tensor, n_fft: int, kind: str, rng: np.random.Generator, crossover_hz: tuple[float, float]
              ) -> torch.Tensor:
    hop = n_fft // 8
    window = torch.hann_window(n_fft, dtype=torch.float64)
    spec = torch.stft(x.double(), n_fft, hop, window=window, center=True, return_complex=True)
    log_magnitude = _degrade(torch.log(spec.abs().clamp_min(1e-7)), kind, rng)
    log_magnitude = log_magnitude + torch.log((1 - _taper(n_fft, crossover_hz)).clamp_min(1e-9))[:, None]
    phase, _, _ = rtpghi_phase(log_magnitude.numpy(), n_fft, hop)
    z = torch.polar(log_magnitude.exp(), torch.from_numpy(phase))
    return torch.istft(z, n_fft, hop, window=window, center=True, length=x.shape[-1]).float()


def resyntheses(model, audio: np.ndarray, rng: np.random.Generator, crossover_hz: tuple[float, float]
                ) -> dict[str, np.ndarray]:
    decoder = model.decoder
    x = torch.from_numpy(np.ascontiguousarray(audio))
    samples = x.shape[-1]
    with torch.no_grad():
        latent = model.encode(x[None])
        log_magnitude = decoder.log_magnitude(latent)
        out = {"shipped decoder": decoder(latent)[0].numpy()}
        high = decoder.synthesise(log_magnitude + torch.log(_taper(2048, crossover_hz).float().clamp_min(1e-9))[:, None]
                                  )[0][..., :samples]
        for n_fft in (2048, 4096, 8192):
            for kind in ("true", "blurred", "blurred+noise"):
                out[f"low band from the {kind} {n_fft}-point magnitude"] = \
                    (high + _low_band(x, n_fft, kind, rng, crossover_hz)).numpy()
        frame_major = log_magnitude[0].permute(0, 2, 1).double().numpy()
        for n_fft in (8192, 4096):
            fine = torch.log(torch.stft(x, n_fft, 1024, window=torch.hann_window(n_fft), center=True,
                                        return_complex=True).abs().clamp_min(1e-6))[:, :n_fft // 64 + 8]
            fine = fine[..., :samples // 1024].transpose(1, 2).double().numpy()
            fine = np.concatenate([fine[:, :1], fine], axis=1)  # the frame before the first: itself
            corrections = low_bin_corrections(fine, frame_major, 2048, n_fft, LOW_BINS)
            out[f"decoder magnitude, low bins' frequency from the true {n_fft}-point magnitude"] = \
                decoder.synthesise(log_magnitude, torch.from_numpy(corrections).float()[None])[0].numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--crossover-hz", type=float, nargs=2, default=(200.0, 300.0))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_autoencoder(args.weights).float().eval()
    rng = np.random.default_rng(0)
    crossover = tuple(args.crossover_hz)
    tones: dict[str, list[float]] = {}
    notes: dict[str, list[float]] = {}
    for tone in TONE_SET[:10]:
        audio = harmonic_tone(tone.f0_hz, tone.timbre, 3.0)
        audio = audio[:, :audio.shape[1] // 1024 * 1024]
        for name, out in resyntheses(model, audio, rng, crossover).items():
            tones.setdefault(name, []).append(abs(cents(estimate_f0_hz(out, SAMPLE_RATE, tone.f0_hz), tone.f0_hz)))
    renderer = FluidRenderer(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")
    for program in PROGRAMS.values():
        for pitch in PITCHES:
            audio = render_note(renderer, program, pitch)
            f_in = estimate_f0_hz(steady(audio), SAMPLE_RATE, 440.0 * 2 ** ((pitch - 69) / 12))
            for name, out in resyntheses(model, audio, rng, crossover).items():
                notes.setdefault(name, []).append(abs(cents(estimate_f0_hz(steady(out), SAMPLE_RATE, f_in), f_in)))
    print(f"weights {args.weights.name}; crossover {crossover[0]:.0f}-{crossover[1]:.0f} Hz; |cents|")
    print("| low band | tone set, 10 lowest: median / worst | bass notes (48): median / within 25 c / worst |")
    print("|---|---|---|")
    for name in tones:
        t, n = np.array(tones[name]), np.array(notes[name])
        print(f"| {name} | {np.median(t):.1f} / {t.max():.0f} | {np.median(n):.1f} / {int((n <= 25).sum())} / "
              f"{n.max():.0f} |")


if __name__ == "__main__":
    main()

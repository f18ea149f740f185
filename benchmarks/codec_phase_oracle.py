"""Where the codec loses the pitch of low notes: the decoder's magnitude with phases of known quality.

    .venv/bin/python benchmarks/codec_phase_oracle.py [--weights engine/weights/autoencoder.safetensors]

For each tone of the tone set (engine/codec/evaluation.py: 21 harmonic tones, 41-1970 Hz, three timbres,
every f0 off the 43.07 Hz lines), the f0 error in cents of five resyntheses:

* shipped: decode(encode(x)): the decoder's magnitude, phase integrated from it (RTPGHI, engine/codec/phase.py);
* true IF < K bins: the same magnitude and integration, but bins 1..K-1 advance at the input's own
  instantaneous frequency (engine/codec/spectral.py: instantaneous_frequency_offsets) instead of the one
  read off the decoder's peak shapes (given as the correction true - read, phase.magnitude_frequency_offsets),
  for K = 4, 8, 16, 32 (86 Hz .. 689 Hz);
* true phase: the decoder's magnitude with the input's STFT phase;
* true magnitude: the input's own magnitude, phase integrated from it (the phase integration alone).

A table: median / worst / within 10 cents over the set, and the errors of the six lowest tones. If the
"true IF" rows are right where "shipped" is not, the pitch is lost in the low bins' instantaneous frequency:
at 21.5 Hz bins (2048-point STFT) the partials of a 41-90 Hz tone are 2-4 bins apart, inside each other's
main lobes, and the decoder's magnitude does not carry their beating exactly enough to read them off.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.codec.checkpoint import DEFAULT_WEIGHTS, load_autoencoder  # noqa: E402
from engine.codec.evaluation import TONE_SET, cents, estimate_f0_hz, harmonic_tone  # noqa: E402
from engine.codec.model import polar_from_log  # noqa: E402
from engine.codec.phase import magnitude_frequency_offsets, rtpghi_phase  # noqa: E402
from engine.codec.spectral import instantaneous_frequency_offsets  # noqa: E402
from engine.vocabulary import SAMPLE_RATE  # noqa: E402

ORACLE_BINS = (4, 8, 16, 32)
TONE_SECONDS = 3.0


def resyntheses(model, audio: np.ndarray) -> dict[str, np.ndarray]:
    """audio (2, samples), samples a multiple of the latent hop -> {method: (2, samples)}."""
    decoder = model.decoder
    n_fft, hop = decoder.config.decoder_n_fft, decoder.config.decoder_hop
    x = torch.from_numpy(audio)
    with torch.no_grad():
        log_magnitude = decoder.log_magnitude(model.encode(x[None]))[0].double()  # (2, bins, frames)
    frames = log_magnitude.shape[-1]
    window = torch.hann_window(n_fft)
    true_spec = torch.stft(x, n_fft, hop, window=window, center=True, return_complex=True)[..., :frames]

    def from_phase(magnitude_log: torch.Tensor, phase: np.ndarray) -> np.ndarray:
        return decoder.istft(polar_from_log(magnitude_log.float(), torch.from_numpy(phase).float())).numpy()

    out = {"shipped": decoder(model.encode(x[None]))[0].detach().numpy()}
    read = magnitude_frequency_offsets(log_magnitude.transpose(1, 2).numpy(), n_fft, max(ORACLE_BINS))
    for bins in ORACLE_BINS:
        true = instantaneous_frequency_offsets(x, n_fft, hop, bins, frames).double().numpy()
        phase, _, _ = rtpghi_phase(log_magnitude.numpy(), n_fft, hop, frequency_corrections_bins=true - read[..., :bins])
        out[f"true IF < {bins} bins"] = from_phase(log_magnitude, phase)
    out["true phase"] = from_phase(log_magnitude, true_spec.angle().double().numpy())
    true_log = torch.log(true_spec.abs().clamp_min(1e-7)).double()
    phase, _, _ = rtpghi_phase(true_log.numpy(), n_fft, hop)
    out["true magnitude, RTPGHI"] = from_phase(true_log, phase)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_autoencoder(args.weights).float().eval()
    hop_frames = model.config.hop_frames
    errors: dict[str, list[float]] = {}
    for tone in TONE_SET:
        audio = harmonic_tone(tone.f0_hz, tone.timbre, TONE_SECONDS)
        audio = np.ascontiguousarray(audio[:, :audio.shape[1] // hop_frames * hop_frames])
        for method, decoded in resyntheses(model, audio).items():
            estimate = estimate_f0_hz(decoded, SAMPLE_RATE, tone.f0_hz)
            errors.setdefault(method, []).append(abs(cents(estimate, tone.f0_hz)))
    lowest = ", ".join(f"{tone.name} {tone.timbre}" for tone in TONE_SET[:6])
    print(f"weights: {args.weights}; tone set {len(TONE_SET)} tones, {TONE_SECONDS:.0f} s each; |cents| of f0")
    print(f"| phase | median | worst | within 10 c | six lowest ({lowest}) |")
    print("|---|---|---|---|---|")
    for method, values in errors.items():
        e = np.array(values)
        low = " / ".join(f"{v:.0f}" for v in e[:6])
        print(f"| {method} | {np.median(e):.1f} | {e.max():.0f} | {int((e <= 10).sum())}/{len(e)} | {low} |")


if __name__ == "__main__":
    main()

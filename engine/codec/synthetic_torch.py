"""Random harmonic tones in torch, a whole batch at once on any device: the family of
engine/codec/synthetic.py's HarmonicToneSource (1-3 voices, random harmonic spectra that darken over the
note, attack/decay/sustain envelopes, onsets, stereo gains, a little noise), ported so the adversarial
fine-tune makes its tones on the GPU (engine/codec/adversarial.py) instead of in numpy on the host.

One change of distribution: a share `low_fraction` of the tones has its root drawn log-uniformly from
40-200 Hz instead of 40-2000 Hz, where the codec's pitch is worst (docs/autoencoder.md, "Not met yet").

Shapes: `ToneBatch.sample(count, samples)` -> float32 (count, 2, samples) on the source's device.
Deterministic given the torch.Generator it draws from.
"""

from __future__ import annotations

import math

import torch

TABLE_SIZE = 8192
MAX_PARTIAL_HZ = 12000.0
MAX_VOICES = 3
INTERVALS = (3, 4, 5, 7, 8, 9, 12)  # semitones above the root


class ToneBatch:
    """Random tone segments drawn from `generator` (whose device is where they are made)."""

    def __init__(self, generator: torch.Generator, sample_rate: int = 44100, low_fraction: float = 0.5,
                 low_range_hz: tuple[float, float] = (40.0, 200.0),
                 range_hz: tuple[float, float] = (40.0, 2000.0)) -> None:
        self.generator = generator
        self.device = generator.device
        self.sample_rate = sample_rate
        self.low_fraction = low_fraction
        self.low_range_hz = low_range_hz
        self.range_hz = range_hz
        self.max_harmonics = int(MAX_PARTIAL_HZ // min(low_range_hz[0], range_hz[0]))

    def _uniform(self, shape: tuple[int, ...], low: float, high: float, dtype=torch.float32) -> torch.Tensor:
        return low + (high - low) * torch.rand(shape, generator=self.generator, device=self.device, dtype=dtype)

    def _normal(self, shape: tuple[int, ...], std: float) -> torch.Tensor:
        return std * torch.randn(shape, generator=self.generator, device=self.device)

    def _log_uniform(self, shape: tuple[int, ...], low: float, high: float) -> torch.Tensor:
        return torch.exp(self._uniform(shape, math.log(low), math.log(high)))

    def _tables(self, f0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """f0 (n,) -> a bright and a dull wavetable (n, TABLE_SIZE + 1) each (wrap-around sample appended)."""
        n, harmonics = f0.shape[0], self.max_harmonics
        k = torch.arange(1, harmonics + 1, device=self.device, dtype=torch.float32)[None, :]
        tilt = self._uniform((n, 1), 0.5, 2.0)
        bright = k ** -tilt * torch.exp(self._normal((n, harmonics), 0.35))
        odd = self._uniform((n, 1), 0.0, 1.0) < 0.3
        even = (k % 2 == 0)
        bright = torch.where(odd & even, bright * self._uniform((n, harmonics), 0.0, 0.3), bright)
        bright = bright * (k * f0[:, None] <= MAX_PARTIAL_HZ)  # nothing above 12 kHz (f0 <= 3 kHz: k = 1 stays)
        dull = bright * torch.exp(-(k - 1) * self._uniform((n, 1), 0.05, 0.6))
        phases = self._uniform((n, harmonics), 0.0, 2 * math.pi)
        tables = []
        for amplitudes in (bright, dull):
            spectrum = torch.zeros(n, TABLE_SIZE // 2 + 1, dtype=torch.complex64, device=self.device)
            spectrum[:, 1:harmonics + 1] = torch.polar(amplitudes, phases)
            period = torch.fft.irfft(spectrum, TABLE_SIZE) * (TABLE_SIZE / 2)
            tables.append(torch.cat([period, period[:, :1]], dim=1))
        return tables[0], tables[1]

    def _tones(self, f0: torch.Tensor, samples: int) -> torch.Tensor:
        """f0 (n,) in Hz -> one voice each, (n, samples) float32, peak 1."""
        n = f0.shape[0]
        bright, dull = self._tables(f0)
        start = self._uniform((n, 1), 0.0, 1.0, torch.float64)
        index = torch.arange(samples, device=self.device, dtype=torch.float64)[None, :]
        position = torch.remainder(start + index * (f0.double()[:, None] / self.sample_rate), 1.0) * TABLE_SIZE
        whole = position.floor().long().clamp(max=TABLE_SIZE - 1)
        frac = (position - whole).float()
        voices = [torch.gather(t, 1, whole) * (1 - frac) + torch.gather(t, 1, whole + 1) * frac
                  for t in (bright, dull)]
        t = index.float() / self.sample_rate
        darken = 1.0 - torch.exp(-t * self._uniform((n, 1), 0.2, 8.0))
        wave = voices[0] * (1 - darken) + voices[1] * darken
        attack = self._uniform((n, 1), 0.002, 0.08)
        delayed = self._uniform((n, 1), 0.0, 1.0) < 0.5
        onset = torch.where(delayed, (self._uniform((n, 1), 0.0, 0.3) * samples).floor(), torch.zeros_like(attack))
        since = (t - onset / self.sample_rate).clamp_min(0.0)
        envelope = torch.clamp(since / attack, max=1.0) * (
            self._uniform((n, 1), 0.2, 1.0) + self._uniform((n, 1), 0.0, 0.8) * torch.exp(-since * self._uniform((n, 1), 0.5, 6.0)))
        envelope = envelope * (index >= onset)
        return wave * envelope / (wave.abs().amax(dim=1, keepdim=True) + 1e-9)

    def sample(self, count: int, samples: int) -> torch.Tensor:
        """-> (count, 2, samples) float32: each row 1-3 voices (root, then up to two intervals above it)."""
        low = self._uniform((count,), 0.0, 1.0) < self.low_fraction
        root = torch.where(low, self._log_uniform((count,), *self.low_range_hz),
                           self._log_uniform((count,), *self.range_hz))
        voices = 1 + torch.multinomial(torch.tensor([0.5, 0.25, 0.25], device=self.device).expand(count, 3), 1,
                                       generator=self.generator)[:, 0]
        # two distinct intervals per row, the smaller first (a random permutation's first two, sorted)
        order = torch.argsort(self._uniform((count, len(INTERVALS)), 0.0, 1.0), dim=1)[:, :MAX_VOICES - 1]
        chosen = torch.tensor(INTERVALS, device=self.device, dtype=torch.float32)[order].sort(dim=1).values
        semitones = torch.cat([torch.zeros(count, 1, device=self.device), chosen], dim=1)  # (count, 3)
        f0 = (root[:, None] * 2 ** ((semitones + self._normal((count, MAX_VOICES), 0.1)) / 12)).clamp(max=3000.0)
        waves = self._tones(f0.reshape(-1), samples).reshape(count, MAX_VOICES, samples)
        active = (torch.arange(MAX_VOICES, device=self.device)[None, :] < voices[:, None]).float()
        pan = self._uniform((count, MAX_VOICES), 0.2, 0.8)
        gain = self._uniform((count, MAX_VOICES), 0.3, 1.0) * active
        left = (waves * (gain * torch.sqrt(1 - pan))[..., None]).sum(1)
        right = (waves * (gain * torch.sqrt(pan))[..., None]).sum(1)
        audio = torch.stack([left, right], dim=1)
        noise_level = 10 ** self._uniform((count, 1, 1), -5.0, -2.5)
        audio = audio + noise_level * torch.randn(audio.shape, generator=self.generator, device=self.device)
        peak = audio.abs().amax(dim=(1, 2), keepdim=True) + 1e-9
        return audio * (10 ** self._uniform((count, 1, 1), -1.5, -0.3)) / peak


# The four lowest tones of engine/codec/evaluation.py's TONE_SET, where the shipped codec is 79-465 cents off.
LOW_TONES: tuple[tuple[float, str], ...] = ((41.20, "saw"), (55.00, "pluck"), (60.67, "odd"), (73.21, "saw"))


def reference_tone(f0_hz: float, timbre: str, samples: int, sample_rate: int = 44100,
                   device: torch.device | str = "cpu", seed: int = 0) -> torch.Tensor:
    """A steady test tone in the manner of evaluation.harmonic_tone, (2, samples) float32, peak 0.3: "saw"
    (every harmonic, 1/k), "odd" (odd harmonics, 1/k) or "pluck" (every harmonic 1/k, a 3 ms attack and a
    decay of 0.6 + 2.5 k f0 / 1 kHz per second); partials up to 10 kHz, random start phases from `seed`, the
    right channel 8 % different in its spectral envelope. For the trainer's fixed validation set."""
    generator = torch.Generator().manual_seed(seed)
    k = torch.arange(1, int(10000.0 // f0_hz) + 1, dtype=torch.float64)
    if timbre == "odd":
        k = k[k % 2 == 1]
    elif timbre not in ("saw", "pluck"):
        raise ValueError(f"timbre must be saw, pluck or odd, not {timbre!r}")
    phases = torch.rand((2, k.numel()), generator=generator, dtype=torch.float64) * 2 * math.pi
    gains = torch.stack([torch.ones_like(k), 1.0 + 0.08 * torch.sin(1.7 * k)]) / k  # (2, P)
    t = torch.arange(samples, dtype=torch.float64) / sample_rate
    out = torch.zeros(2, samples, dtype=torch.float64)
    for i in range(k.numel()):  # one partial at a time: (2, samples) working memory
        partial = torch.sin(2 * math.pi * k[i] * f0_hz * t[None, :] + phases[:, i:i + 1]) * gains[:, i:i + 1]
        if timbre == "pluck":
            partial = partial * torch.exp(-2.5 * f0_hz / 1000.0 * k[i] * t)[None, :]
        out += partial
    fade = min(samples // 2, int(0.005 * sample_rate))
    ramp = 0.5 - 0.5 * torch.cos(math.pi * torch.arange(fade, dtype=torch.float64) / fade)
    if timbre == "pluck":
        out *= torch.exp(-0.6 * t) * (1.0 - torch.exp(-t / 0.003))
    else:
        out[:, :fade] *= ramp
    out[:, samples - fade:] *= ramp.flip(0)
    return (out * 0.3 / out.abs().max()).float().to(device)

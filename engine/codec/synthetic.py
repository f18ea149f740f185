"""Random harmonic tones for training the codec: steady pitches anywhere in 40-2000 Hz, not only the
equal-tempered notes of the MIDI renders, so the decoder learns to put a partial where the latent says
and not on the nearest note or bin.

Each segment holds 1-3 tones (a note, an interval or a triad at random, possibly detuned), each a wavetable
oscillator with a random harmonic spectrum (spectral tilt, odd/even balance, random per-harmonic jitter)
that darkens over the note (a crossfade between a bright and a dull table), under an attack/decay/sustain
envelope, at random stereo gains, plus a little noise. The evaluation tones (engine/codec/evaluation.py)
are drawn from fixed recipes and fixed pitches; these are random draws of a broader family.

Shapes: `segment(samples)` -> float32 (2, samples).
"""

from __future__ import annotations

import numpy as np

TABLE_SIZE = 8192
MAX_PARTIAL_HZ = 12000.0


def _table(amplitudes: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """One period (TABLE_SIZE + 1 samples, wrap-around sample appended) with harmonics 1..len(amplitudes)."""
    spectrum = np.zeros(TABLE_SIZE // 2 + 1, np.complex128)
    spectrum[1:len(amplitudes) + 1] = amplitudes * np.exp(1j * phases)
    period = np.fft.irfft(spectrum, TABLE_SIZE) * TABLE_SIZE / 2
    return np.append(period, period[0])


class HarmonicToneSource:
    """Random tone segments from its own generator (seeded: deterministic)."""

    def __init__(self, seed: int, sample_rate: int = 44100) -> None:
        self.rng = np.random.default_rng(seed)
        self.sample_rate = sample_rate

    def _tone(self, f0_hz: float, samples: int) -> np.ndarray:
        rng = self.rng
        count = max(1, min(int(MAX_PARTIAL_HZ / f0_hz), TABLE_SIZE // 2 - 1))
        k = np.arange(1, count + 1, dtype=np.float64)
        tilt = rng.uniform(0.5, 2.0)
        bright = k ** -tilt * np.exp(rng.normal(0.0, 0.35, count))
        if rng.random() < 0.3:
            bright[1::2] *= rng.uniform(0.0, 0.3)  # mostly odd harmonics
        dull = bright * np.exp(-(k - 1) * rng.uniform(0.05, 0.6))
        phases = rng.uniform(0, 2 * np.pi, count)
        tables = _table(bright, phases), _table(dull, phases)
        position = (rng.random() + np.arange(samples) * f0_hz / self.sample_rate) % 1.0 * TABLE_SIZE
        index = position.astype(np.int64)
        frac = position - index
        voices = [t[index] * (1 - frac) + t[index + 1] * frac for t in tables]
        t = np.arange(samples) / self.sample_rate
        darken = 1.0 - np.exp(-t * rng.uniform(0.2, 8.0))
        wave = voices[0] * (1 - darken) + voices[1] * darken
        attack = rng.uniform(0.002, 0.08)
        envelope = np.minimum(1.0, t / attack) * (rng.uniform(0.2, 1.0)
                                                  + rng.uniform(0.0, 0.8) * np.exp(-t * rng.uniform(0.5, 6.0)))
        onset = int(rng.uniform(0.0, 0.3) * samples) if rng.random() < 0.5 else 0
        envelope = np.roll(envelope, onset)
        envelope[:onset] = 0.0
        return wave * envelope / (np.abs(wave).max() + 1e-9)

    def segment(self, samples: int, root_range_hz: tuple[float, float] = (40.0, 2000.0)) -> np.ndarray:
        rng = self.rng
        root_hz = float(np.exp(rng.uniform(np.log(root_range_hz[0]), np.log(root_range_hz[1]))))
        voices = rng.choice([1, 2, 3], p=[0.5, 0.25, 0.25])
        intervals = [0.0] + sorted(rng.choice([3, 4, 5, 7, 8, 9, 12], size=voices - 1, replace=False).tolist())
        audio = np.zeros((2, samples))
        for semitones in intervals:
            f0_hz = min(root_hz * 2 ** ((semitones + rng.normal(0.0, 0.1)) / 12), 3000.0)
            tone = self._tone(f0_hz, samples)
            pan = rng.uniform(0.2, 0.8)
            audio += np.stack([tone * np.sqrt(1 - pan), tone * np.sqrt(pan)]) * rng.uniform(0.3, 1.0)
        audio += rng.normal(0.0, 10 ** rng.uniform(-5, -2.5), audio.shape)
        peak = np.abs(audio).max() + 1e-9
        return (audio * 10 ** rng.uniform(-1.5, -0.3) / peak).astype(np.float32)

"""The style judge of benchmarks/quality.py: which of the dataset's styles a piece of audio sounds like.

A multinomial logistic regression over fixed features of the audio, fitted on real (rendered-MIDI) clips of the
training and validation splits; its own accuracy on the test split, whose pieces it never heard, says how far a
render's score can be trusted. Two feature sets:

  "log-mel"  the mean and spread of 64 log-mel bands (2048-point frames, hop 1024): timbre only. The judge of
             sessions 13-18; it gets ~0.6 of real test audio right.
  "full"     log-mel mean and spread (hop 1024); how hard each band's level rises, frame to frame (mean |delta|
             and the spread of the rises, hop 512: attacks, drums); the periodicity of the onsets in three bands
             (lows: kick and bass, mids, highs: hats), 32 log-spaced bins 0.5-16 Hz of each band's onset
             envelope's spectrum (tempo and groove: a four-on-the-floor and a one-drop differ there); and the
             interval content of the mean chroma (its circular autocorrelation at 1-6 semitones, the sorted
             profile, how much it moves over ~0.5 s): key-free harmony. ~0.86 of real test audio.

Every feature ignores the key, so a render in another key than its training clips is judged by its style.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.codec.spectral import mel_filterbank

SAMPLE_RATE = 44100
FRAME_SAMPLES = 2048
FEATURE_SETS = ("log-mel", "full")
ONSET_BANDS_MEL = ((0, 12), (12, 36), (36, 64))  # mel band ranges: below ~250 Hz, to ~2.5 kHz, above
PERIODICITY_EDGES_HZ = np.geomspace(0.5, 16.0, 33)
PERIODICITY_FFT = 4096
CHROMA_LOW_HZ, CHROMA_HIGH_HZ = 60.0, 2000.0
CHROMA_MOVE_FRAMES = 20  # at hop 1024: ~0.46 s


class StyleJudge:
    """Fit on features of labelled clips, then predict style indices (into `styles`) of other audio."""

    def __init__(self, styles: list[str], feature_set: str = "full") -> None:
        if feature_set not in FEATURE_SETS:
            raise ValueError(f"feature_set must be one of {FEATURE_SETS}, got {feature_set!r}")
        self.styles = styles
        self.feature_set = feature_set
        self.filterbank = mel_filterbank(FRAME_SAMPLES, 64, SAMPLE_RATE).numpy()
        self.window = np.hanning(FRAME_SAMPLES).astype(np.float32)
        frequencies = np.fft.rfftfreq(FRAME_SAMPLES, 1.0 / SAMPLE_RATE)
        self.chroma_bins = (frequencies > CHROMA_LOW_HZ) & (frequencies < CHROMA_HIGH_HZ)
        self.chroma_class = (np.round(12 * np.log2(frequencies[self.chroma_bins] / 440.0)) % 12).astype(int)
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.weights: torch.Tensor | None = None

    def _spectra(self, mono: np.ndarray, hop: int) -> np.ndarray:
        """(frames, 1025) magnitude spectra of Hann-windowed 2048-sample frames."""
        frames = max(1, (mono.size - FRAME_SAMPLES) // hop)
        if mono.size < FRAME_SAMPLES:
            mono = np.pad(mono, (0, FRAME_SAMPLES - mono.size))
        stacked = np.lib.stride_tricks.sliding_window_view(mono, FRAME_SAMPLES)[::hop][:frames] * self.window
        return np.abs(np.fft.rfft(stacked, axis=1))

    def features(self, audio: np.ndarray) -> np.ndarray:
        """(channels, samples) at 44.1 kHz -> one feature vector (its length depends on the feature set only)."""
        mono = np.asarray(audio, dtype=np.float32).mean(axis=0)
        if self.feature_set == "log-mel":
            log_mel = np.log(self._spectra(mono, 1024) @ self.filterbank.T + 1e-5)
            return np.concatenate([log_mel.mean(0), log_mel.std(0)])
        magnitude = self._spectra(mono, 512)
        log_mel = np.log(magnitude @ self.filterbank.T + 1e-5)
        coarse = log_mel[::2]  # hop 1024, as the log-mel set
        rises = np.diff(log_mel, axis=0) if len(log_mel) > 1 else np.zeros((1, log_mel.shape[1]))
        parts = [coarse.mean(0), coarse.std(0), np.abs(rises).mean(0), np.maximum(rises, 0).std(0)]
        frequencies = np.fft.rfftfreq(PERIODICITY_FFT, 512 / SAMPLE_RATE)
        for low, high in ONSET_BANDS_MEL:
            envelope = np.maximum(rises[:, low:high], 0).sum(1)
            envelope = (envelope - envelope.mean()) * np.hanning(envelope.size)
            spectrum = np.abs(np.fft.rfft(envelope, PERIODICITY_FFT))
            parts.append(np.log([spectrum[(frequencies >= a) & (frequencies < b)].mean() + 1e-6
                                 for a, b in zip(PERIODICITY_EDGES_HZ[:-1], PERIODICITY_EDGES_HZ[1:])]))
        power = magnitude[::2][:, self.chroma_bins] ** 2
        chroma = np.stack([power[:, self.chroma_class == k].sum(1) for k in range(12)], axis=1)
        profile = chroma.mean(0) / (chroma.mean(0).sum() + 1e-12)
        intervals = np.array([profile @ np.roll(profile, k) for k in range(1, 7)]) / (profile @ profile + 1e-12)
        unit = chroma / (np.linalg.norm(chroma, axis=1, keepdims=True) + 1e-12)
        lag = min(CHROMA_MOVE_FRAMES, max(1, len(unit) - 1))
        movement = 1.0 - (unit[:-lag] * unit[lag:]).sum(1) if len(unit) > lag else np.zeros(1)
        parts += [intervals, np.sort(profile)[::-1], [movement.mean(), movement.std()]]
        return np.concatenate(parts).astype(np.float64)

    def fit(self, features: np.ndarray, labels: np.ndarray, l2: float = 1e-3) -> None:
        """features (clips, dims), labels (clips,) style indices: standardise, then L2-penalised L-BFGS."""
        self.mean, self.scale = features.mean(0), features.std(0) + 1e-6
        x = torch.from_numpy((features - self.mean) / self.scale).float()
        y = torch.from_numpy(labels).long()
        w = torch.zeros(x.shape[1] + 1, len(self.styles), requires_grad=True)
        optimiser = torch.optim.LBFGS([w], max_iter=500, line_search_fn="strong_wolfe")
        xb = torch.cat([x, torch.ones(len(x), 1)], 1)

        def closure() -> torch.Tensor:
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(xb @ w, y) + l2 * w[:-1].pow(2).sum()
            loss.backward()
            return loss

        optimiser.step(closure)
        self.weights = w.detach()

    def predict(self, features: np.ndarray) -> np.ndarray:
        """features (clips, dims) -> style indices (clips,)."""
        if self.weights is None or self.mean is None or self.scale is None:
            raise RuntimeError("fit the judge before predicting")
        x = torch.from_numpy((features - self.mean) / self.scale).float()
        return (torch.cat([x, torch.ones(len(x), 1)], 1) @ self.weights).argmax(1).numpy()

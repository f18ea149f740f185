"""The low bins' frequencies, read off a predicted fine-frequency magnitude of the low band (codec v2.3).

At the decoder's 2048-point STFT (21.5 Hz bins) the partials of a 41-90 Hz note sit 2-4 bins apart, inside
each other's main lobes; the phase integration reads each bin's frequency off the peak shapes of the
decoder's magnitude, which do not carry them within cents (docs/autoencoder.md, sessions 12-14). An
8192-point STFT resolves them (5.4 Hz bins: a 41 Hz saw's partials 7.7 bins apart) and a blurred estimate
of it still places them: measured on the 48 TimGM6mb bass notes of benchmarks/codec_bass_notes.py, the true
8192-point magnitude blurred over three frames and across frequency keeps every note within 11 cents, the
2048-point one blurred alike 29 of 48 within 25 cents (session 14). So a small latent-rate network
(`FineLowBand`) predicts the low band's 8192-point log-magnitude, one frame per latent frame, and each low
bin of the decoder's STFT advances at the frequency of the strongest fine-band peak within its main lobe
(`low_bin_corrections`). The decoder's magnitude, its synthesis, its latency and the latent are unchanged:
only where the phase integration takes the low bins' frequency from.

Shapes: fine log-magnitude (batch, audio_channels, latent_frames, fine_bins), frame-major; the fine frame of
latent frame t is the centred `fine_n_fft`-point Hann STFT frame at sample t * hop_frames, natural log.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import nn

from engine.codec.layers import ConvNeXtBlock
from engine.codec.phase import DEFAULT_TOLERANCE_NATS, magnitude_frequency_offsets

# A fine peak this far under the frame's loudest fine bin is not a partial (the same 60 dB as the phase
# integration's random-phase floor).
FINE_PEAK_FLOOR_NATS = DEFAULT_TOLERANCE_NATS
# The decoder's Hann main lobe spans +-2 of its bins: a partial further away does not steer a bin's phase.
MAIN_LOBE_BINS = 2.0
# Fine log-magnitudes below this (natural log; a full-scale sine peaks near log(2048) = 7.6 at 8192 points)
# are noise floor: the loss floors prediction and target here so the network spends itself on the partials.
FINE_FLOOR_LOG = -3.0


class FineLowBand(nn.Module):
    """latent (batch, latent_channels, T) -> fine log-magnitude (batch, audio_channels, T - from_frame,
    fine_bins) of latent frames [from_frame, T). Causal latent-rate ConvNeXt blocks (the decoder's frequency
    branch width and depth) and a linear head."""

    def __init__(self, latent_channels: int, audio_channels: int, fine_bins: int, dim: int, blocks: int,
                 kernel_size: int) -> None:
        super().__init__()
        self.audio_channels = audio_channels
        self.fine_bins = fine_bins
        self.input = nn.Conv1d(latent_channels, dim, 1)
        self.blocks = nn.ModuleList([ConvNeXtBlock(dim, kernel_size, causal=True) for _ in range(blocks)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, audio_channels * fine_bins)
        self.receptive_field_frames = blocks * (kernel_size - 1) + 1

    def forward(self, latent: torch.Tensor, from_frame: int = 0) -> torch.Tensor:
        h = self.input(latent)
        for block in self.blocks:
            h = block(h)
        y = self.head(self.norm(h[..., from_frame:].transpose(1, 2)))  # (batch, T', channels * bins)
        return y.reshape(y.shape[0], y.shape[1], self.audio_channels, self.fine_bins).transpose(1, 2)


@numba.njit(cache=True)
def _main_lobe_log(distance_bins: float) -> float:
    """log of the Hann window's amplitude response at `distance_bins` (< 2) from its centre, in its own bins."""
    if distance_bins < 1e-9:
        return 0.0
    if abs(distance_bins - 1.0) < 1e-6:
        return np.log(0.5)
    x = np.pi * distance_bins
    return np.log(max(abs(np.sin(x) / x / (1.0 - distance_bins * distance_bins)), 1e-12))


@numba.njit(cache=True)
def _row_peaks(s: np.ndarray, floor: float, fine_per_bin: int, highest: int, peak_bins: np.ndarray,
               peak_level: np.ndarray, peak_fine_bin: np.ndarray) -> int:
    """The peaks of the fine row `s` at fine bins 1..highest-1 above `floor`, ascending: their frequency in
    decoder bins, level and fine bin, written from index 0; returns how many."""
    peaks = 0
    for b in range(1, highest):
        if s[b] < s[b - 1] or s[b] < s[b + 1] or s[b] <= floor:
            continue
        curvature = s[b - 1] - 2.0 * s[b] + s[b + 1]
        offset = 0.0
        level = s[b]
        if curvature < -1e-9:  # the vertex of the parabola through the peak: where the partial is
            offset = min(0.5, max(-0.5, 0.5 * (s[b - 1] - s[b + 1]) / curvature))
            level = s[b] - 0.25 * (s[b - 1] - s[b + 1]) * offset
        peak_bins[peaks] = (b + offset) / fine_per_bin
        peak_level[peaks] = level
        peak_fine_bin[peaks] = b
        peaks += 1
    return peaks


@numba.njit(cache=True)
def _low_bin_targets(fine: np.ndarray, frames_per_latent: int, fine_per_bin: int, bins: int,
                     floor_nats: float, out: np.ndarray) -> None:
    """fine (1 + latent_frames, fine_bins): the fine frame before the first latent frame, then one per latent
    frame -> out (latent_frames * frames_per_latent, bins): the frequency, in decoder bins, each decoder bin
    1..bins-1 should advance at (NaN: no partial within its main lobe). STFT frame j of latent frame t reads
    the fine frames t - 1 and t mixed (j + 1) / frames_per_latent of the way to t, as the decoder's causal
    upsampler does: causal, and a partial's frequency glides across the latent frame instead of stepping at
    its boundary (a step every 1024 samples is a modulation at 43 Hz)."""
    fine_bins = fine.shape[1]
    latent_frames = fine.shape[0] - 1
    s = np.empty(fine_bins)
    # each row's peaks found once (not once per decoder bin whose window holds them): their frequency in decoder
    # bins and their level, in ascending frequency, the order the per-bin choice below has always visited them
    peak_bins, peak_level = np.empty(fine_bins), np.empty(fine_bins)
    peak_fine_bin = np.empty(fine_bins, np.int64)
    highest_wanted = min(fine_bins - 1, int((bins - 1 + MAIN_LOBE_BINS) * fine_per_bin) + 1)
    for row in range(latent_frames * frames_per_latent):
        t = row // frames_per_latent
        w = (row % frames_per_latent + 1) / frames_per_latent
        for b in range(fine_bins):
            s[b] = (1.0 - w) * fine[t, b] + w * fine[t + 1, b]
        peaks = _row_peaks(s, s.max() - floor_nats, fine_per_bin, highest_wanted, peak_bins, peak_level,
                           peak_fine_bin)
        out[row, 0] = np.nan
        first = 0  # the first peak that can still reach bin k (peaks and bins both ascend)
        for k in range(1, bins):
            best_score = -1e300
            best_bins = np.nan
            # the fine bins whose peaks may sit within the main lobe of bin k (as the scan always took them)
            lowest = max(1, int((k - MAIN_LOBE_BINS) * fine_per_bin))
            highest = min(fine_bins - 1, int((k + MAIN_LOBE_BINS) * fine_per_bin) + 1)
            for p in range(first, peaks):
                b = peak_fine_bin[p]
                if b < lowest:
                    first = p + 1
                    continue
                if b >= highest:
                    break
                distance = abs(peak_bins[p] - k)
                if distance >= MAIN_LOBE_BINS:
                    continue
                # the partial that dominates bin k is the loudest after the decoder window's main lobe
                score = peak_level[p] + _main_lobe_log(distance)
                if score > best_score:
                    best_score = score
                    best_bins = peak_bins[p]
            out[row, k] = best_bins


def low_bin_corrections(fine: np.ndarray, log_magnitude: np.ndarray, n_fft: int, fine_n_fft: int, bins: int,
                        ) -> np.ndarray:
    """fine (signals, 1 + latent_frames, fine_bins): the fine frame before the first latent frame (at a stream's
    start: the first frame again), then one per latent frame; the decoder's log-magnitude (signals, frames,
    n_fft // 2 + 1), frames = latent_frames * frames_per_latent, both frame-major -> the corrections
    `rtpghi_phase` takes (signals, frames, bins): bins 1..bins-1 then advance at the fine band's partial
    frequencies; a bin with no fine partial within its main lobe keeps the frequency read off the decoder's
    magnitude (correction 0)."""
    signals, latent_frames, _ = fine.shape
    latent_frames -= 1
    frames = log_magnitude.shape[1]
    if latent_frames == 0 or frames % latent_frames:
        raise ValueError(f"{frames} STFT frames are not a whole number of frames for {latent_frames} latent frames")
    targets = np.empty((signals, frames, bins))
    for i in range(signals):
        _low_bin_targets(np.ascontiguousarray(fine[i], dtype=np.float64), frames // latent_frames,
                         fine_n_fft // n_fft, bins, FINE_PEAK_FLOOR_NATS, targets[i])
    corrections = targets - np.arange(bins) - magnitude_frequency_offsets(log_magnitude, n_fft, bins)
    corrections[np.isnan(corrections)] = 0.0
    corrections[..., 0] = 0.0  # DC does not rotate
    return corrections


def fine_band_target(audio: torch.Tensor, fine_n_fft: int, hop_frames: int, fine_bins: int) -> torch.Tensor:
    """audio (batch, channels, samples) -> the fine log-magnitude FineLowBand learns (batch, channels, frames,
    fine_bins), frame t centred at sample t * hop_frames (zeros beyond the ends: frames whose window leaves
    the audio are not meaningful targets; `valid_fine_frames` says which are)."""
    batch, channels, samples = audio.shape
    spec = torch.stft(audio.reshape(-1, samples), fine_n_fft, hop_frames, window=torch.hann_window(
        fine_n_fft, device=audio.device), center=True, pad_mode="constant", return_complex=True)[:, :fine_bins]
    log_magnitude = torch.log(spec.abs().clamp_min(1e-6))
    return log_magnitude.reshape(batch, channels, fine_bins, -1)[..., :samples // hop_frames].transpose(2, 3)


def valid_fine_frames(latent_frames: int, fine_n_fft: int, hop_frames: int, warmup_frames: int) -> torch.Tensor:
    """Boolean (latent_frames,): fine frames whose window lies inside a segment of latent_frames frames and that
    follow `warmup_frames` of causal context (a segment's first frames lack the left context they have in a
    stream)."""
    centre = torch.arange(latent_frames) * hop_frames
    half = fine_n_fft // 2
    return (centre >= half) & (centre <= latent_frames * hop_frames - half) & (torch.arange(latent_frames) >= warmup_frames)


def fine_band_loss(prediction: torch.Tensor, target: torch.Tensor, valid: torch.Tensor,
                   slope_weight: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """prediction, target (batch, channels, frames, fine_bins), valid (frames,) -> (loss, its L1 part): the L1
    of the log-magnitudes floored at FINE_FLOOR_LOG, plus slope_weight x the L1 of their slope across
    frequency (a peak's position is where its slope changes sign: the slope term keeps peaks sharp)."""
    p = prediction[:, :, valid].clamp_min(FINE_FLOOR_LOG)
    t = target[:, :, valid].clamp_min(FINE_FLOOR_LOG)
    l1 = (p - t).abs().mean()
    slope = (p.diff(dim=-1) - t.diff(dim=-1)).abs().mean()
    return l1 + slope_weight * slope, l1

"""Spectral tools shared by the autoencoder's losses, its benchmark and its baselines: mel filterbanks,
multi-resolution log spectra, and Griffin-Lim. Plain torch, no torchaudio (its PyPI wheel is a CUDA build
that fails to import beside the CPU torch)."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch.nn import functional as F

from engine.codec.phase import HANN_GAUSSIAN_LAMBDA_PER_N2, magnitude_frequency_offsets

MULTI_RESOLUTION_WINDOWS: tuple[int, ...] = (256, 512, 1024, 2048, 4096)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@functools.lru_cache(maxsize=16)
def mel_filterbank(n_fft: int, n_mels: int, sample_rate: int = 44100, f_min: float = 0.0,
                   f_max: float | None = None) -> torch.Tensor:
    """Triangular HTK-mel filters (n_mels, n_fft // 2 + 1), area-normalised (Slaney style)."""
    f_max = f_max or sample_rate / 2.0
    bins = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(f_min)), _hz_to_mel(np.array(f_max)), n_mels + 2))
    filters = np.zeros((n_mels, len(bins)))
    for m in range(n_mels):
        low, centre, high = edges[m], edges[m + 1], edges[m + 2]
        rising = (bins - low) / max(centre - low, 1e-9)
        falling = (high - bins) / max(high - centre, 1e-9)
        filters[m] = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (high - low))
    return torch.from_numpy(filters.astype(np.float32))


def stft_magnitude(audio: torch.Tensor, n_fft: int, hop: int | None = None) -> torch.Tensor:
    """(..., samples) -> magnitude (..., n_fft // 2 + 1, frames), Hann window, centred."""
    hop = hop or n_fft // 4
    shape = audio.shape
    flat = audio.reshape(-1, shape[-1])
    spec = torch.stft(flat, n_fft, hop, window=torch.hann_window(n_fft, device=audio.device), center=True,
                      return_complex=True)
    return spec.abs().reshape(*shape[:-1], spec.shape[-2], spec.shape[-1])


def instantaneous_frequency_offsets(audio: torch.Tensor, n_fft: int, hop: int, bins: int,
                                    frames: int | None = None) -> torch.Tensor:
    """The true instantaneous frequency of bins 0..bins-1, as offsets from each bin's centre in bins: audio
    (..., samples) -> (..., frames, bins), frame-major (less `phase.magnitude_frequency_offsets`, it is the
    correction `rtpghi_phase`'s `frequency_corrections_bins` takes, in the same layout). From the phase
    advance of the centred Hann STFT between consecutive frames (frame 0 takes frame 1's), unambiguous within
    +-n_fft / (2 hop) bins: a partial within a bin's main lobe reads as that partial's frequency, wherever it
    sits between bin centres."""
    shape = audio.shape
    spec = torch.stft(audio.reshape(-1, shape[-1]), n_fft, hop, window=torch.hann_window(n_fft, device=audio.device),
                      center=True, return_complex=True)[:, :bins, :frames]
    expected = 2.0 * math.pi * hop / n_fft * torch.arange(bins, device=audio.device, dtype=torch.float64)[:, None]
    advance = torch.diff(spec.angle().double(), dim=-1) - expected
    advance = torch.remainder(advance + math.pi, 2.0 * math.pi) - math.pi
    offsets = advance * n_fft / (2.0 * math.pi * hop)
    offsets = torch.cat([offsets[..., :1], offsets], dim=-1).float()
    return offsets.reshape(*shape[:-1], bins, offsets.shape[-1]).transpose(-1, -2)


CENTS_PER_OCTAVE_LN2 = 1200.0 / math.log(2.0)  # cents of a small frequency ratio 1 + e: ~1731 e


class LowBinFrequencyLoss(torch.nn.Module):
    """Root-mean-square cents error of the low bins' frequency, as the phase integration will read it from the
    decoder's magnitude plus the predicted corrections, against the input's own instantaneous frequency.

    reference audio (batch, channels, samples); corrections (batch, channels, frames, K) in bins; the decoder's
    log-magnitude (batch, channels, bins, frames) -> weighted RMS cents (a scalar tensor, differentiable in the
    corrections). The target is the input's frequency minus what the integration reads off the decoder's
    magnitude (`phase.magnitude_frequency_offsets`). Squared, not absolute: the phase is the running sum of
    the frequency, so the integration needs the mean frequency over frames, and where partials closer than
    a main lobe beat, a bin's instantaneous frequency swings from frame to frame (an L1 fit finds the median,
    which put a 41 Hz saw 375 cents off where the mean over 16 frames keeps it within 1 cent). An error of d
    bins at bin k moves a partial by ~1731 d / k cents. Within a frame the bins weigh by their share of the
    low band's power in the decoder's magnitude: its peaks are the bins the integration advances in time (the
    rest of a lobe follows them across frequency). Frames whose low band is more than `gate_db` under the
    segment's loudest bin count for nothing; DC is left out (a real signal's DC bin does not rotate)."""

    def __init__(self, n_fft: int, hop: int, gate_db: float = 60.0) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop = hop
        self.gate_nats = gate_db / 20.0 * math.log(10.0)

    def targets(self, reference: torch.Tensor, log_magnitude: torch.Tensor, frames: int,
                bins: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The corrections the loss wants and their weights, both (batch, channels, frames, bins) float32: what
        the loss compares its corrections with (a branch trained alone can have them computed once)."""
        batch, channels = log_magnitude.shape[:2]
        true = instantaneous_frequency_offsets(reference, self.n_fft, self.hop, bins, frames)
        decoded = log_magnitude.detach().float()[..., :frames].transpose(-1, -2)  # (batch, channels, frames, bins)
        read = magnitude_frequency_offsets(decoded.reshape(batch * channels, frames, -1).cpu().numpy(), self.n_fft, bins)
        target = true - torch.from_numpy(read).to(true).reshape(batch, channels, frames, bins)
        low = decoded[..., :bins]
        share = torch.softmax(2.0 * low, dim=-1)  # power share within the low band
        loudest = decoded.flatten(-2).amax(dim=-1)[..., None, None]
        gated = (low.amax(dim=-1, keepdim=True) > loudest - self.gate_nats).to(share.dtype)
        return target, share * gated

    def forward(self, reference: torch.Tensor, corrections: torch.Tensor,
                log_magnitude: torch.Tensor) -> torch.Tensor:
        _, _, frames, bins = corrections.shape
        target, weight = self.targets(reference, log_magnitude, frames, bins)
        bin_index = torch.arange(bins, device=corrections.device, dtype=corrections.dtype)
        cents_per_bin = torch.where(bin_index > 0, CENTS_PER_OCTAVE_LN2 / bin_index.clamp_min(1.0), 0.0)
        weight = weight.to(corrections.dtype)
        error = (corrections - target.to(corrections.dtype)) * cents_per_bin
        mean_square = (weight * error.square()).sum() / (weight[..., 1:].sum()).clamp_min(1e-6)
        return torch.sqrt(mean_square + 1e-6)


def multi_resolution_log_l1(reference: torch.Tensor, estimate: torch.Tensor,
                            windows: tuple[int, ...] = MULTI_RESOLUTION_WINDOWS, floor_db: float = -80.0) -> torch.Tensor:
    """Mean absolute difference of natural-log STFT magnitudes, averaged over windows (hop = window / 4):
    reference, estimate (batch, ..., samples) -> scalar tensor (differentiable in `estimate`). Magnitudes are
    floored `floor_db` under each item's reference peak, so silent bins do not dominate.

    The codec's metric (`log_spectral_distance_db`) and its training loss on decoded audio (codec/train.py):
    the phase integrated from a magnitude is not exactly consistent with it, so overlap-add cancels part of
    the energy (v2.1: the loud bins of its output 3.5-5.7 dB under its own predicted magnitude); trained
    through the inverse STFT with the phase held fixed, the magnitude learns what the integration makes of it."""
    ratio = 10.0 ** (floor_db / 20.0)
    total = estimate.new_zeros(())
    for n_fft in windows:
        ref = stft_magnitude(reference, n_fft)
        est = stft_magnitude(estimate, n_fft)
        peak = ref.flatten(1).amax(dim=1).reshape(-1, *([1] * (ref.dim() - 1)))
        floor = peak * ratio + 1e-12
        total = total + (torch.log(torch.maximum(ref, floor)) - torch.log(torch.maximum(est, floor))).abs().mean()
    return total / len(windows)


def log_spectral_distance_db(reference: torch.Tensor, estimate: torch.Tensor,
                             windows: tuple[int, ...] = MULTI_RESOLUTION_WINDOWS, floor_db: float = -80.0) -> float:
    """`multi_resolution_log_l1` of one clip (channels, samples) in dB (20 log10 magnitudes)."""
    nats = multi_resolution_log_l1(reference[None], estimate[None], windows, floor_db)
    return float(nats) * 20.0 / math.log(10.0)


def log_mel_distance(reference: torch.Tensor, estimate: torch.Tensor, n_fft: int = 2048, n_mels: int = 128,
                     sample_rate: int = 44100) -> float:
    """Mean absolute difference of natural-log mel magnitudes (floor 1e-5)."""
    filters = mel_filterbank(n_fft, n_mels, sample_rate)
    ref = torch.matmul(filters, stft_magnitude(reference, n_fft))
    est = torch.matmul(filters, stft_magnitude(estimate, n_fft))
    return float((torch.log(ref.clamp_min(1e-5)) - torch.log(est.clamp_min(1e-5))).abs().mean())


def griffin_lim(magnitude: torch.Tensor, n_fft: int, hop: int, iterations: int, length: int,
                seed: int = 0, initial_phase: torch.Tensor | None = None) -> torch.Tensor:
    """Phase reconstruction (fast Griffin-Lim, momentum 0.99) of magnitude (..., bins, frames) -> (..., length),
    from random phases or from `initial_phase` (the magnitude's shape, radians). The magnitude may lack the
    centred STFT's last frame (a decoder's grid: frames = length / hop): the re-analysis is cut to its frames."""
    generator = torch.Generator().manual_seed(seed)
    shape = magnitude.shape
    mag = magnitude.reshape(-1, shape[-2], shape[-1])
    window = torch.hann_window(n_fft)
    angles = (torch.exp(2j * torch.pi * torch.rand(mag.shape, generator=generator)) if initial_phase is None
              else torch.exp(1j * initial_phase.reshape(mag.shape)))
    previous = torch.zeros_like(mag, dtype=torch.complex64)
    momentum = 0.99
    for _ in range(iterations):
        audio = torch.istft(mag * angles, n_fft, hop, window=window, center=True, length=length)
        rebuilt = torch.stft(audio, n_fft, hop, window=window, center=True, return_complex=True)[..., :mag.shape[-1]]
        accelerated = rebuilt - (momentum / (1 + momentum)) * previous
        previous = rebuilt
        angles = accelerated / accelerated.abs().clamp_min(1e-8)
    audio = torch.istft(mag * angles, n_fft, hop, window=window, center=True, length=length)
    return audio.reshape(*shape[:-2], length)


def mel_budget_griffin_lim(audio: torch.Tensor, n_mels: int = 32, n_fft: int = 4096, hop: int = 1024,
                           iterations: int = 64, sample_rate: int = 44100) -> torch.Tensor:
    """The autoencoder's reference at the same 64x budget: n_mels mel bands per channel at hop 1024, mapped
    back to linear magnitude with the filterbank's pseudo-inverse, phase by Griffin-Lim. (..., samples) in/out."""
    magnitude = stft_magnitude(audio, n_fft, hop)
    filters = mel_filterbank(n_fft, n_mels, sample_rate)
    linear = torch.matmul(torch.linalg.pinv(filters), torch.matmul(filters, magnitude)).clamp_min(0.0)
    return griffin_lim(linear, n_fft, hop, iterations, audio.shape[-1])


def _local_maxima(log_magnitude: torch.Tensor) -> torch.Tensor:
    """(.., bins, frames) -> bool (.., bins - 2, frames): bins 1 .. bins - 2 at least as loud as both neighbours."""
    inner = log_magnitude[..., 1:-1, :]
    return (inner >= log_magnitude[..., :-2, :]) & (inner >= log_magnitude[..., 2:, :])


class DecoderMagnitudeLoss(torch.nn.Module):
    """The decoder's predicted log-magnitude against the input's own STFT (the decoder's n_fft and hop,
    Hann, centred): log-magnitude L1 (both floored at `floor`, so the noise floor is not fitted), spectral
    convergence (weights the loud partials), and L1 on the log-magnitude's gradients across frequency and
    time within `gradient_range_db` of each frame's peak. The phase integration reads the instantaneous
    frequency off the frequency gradient (s[k+1] - s[k-1]) and the group delay off the time gradient: a
    blurred, symmetric peak puts a partial on its bin's centre (a multiple of 21.5 Hz) and a per-latent-frame
    ripple in time modulates it at 43 Hz, both of which the plain L1 barely sees.

    reference audio (batch, channels, samples); predicted (batch, channels, bins, frames) natural log.
    """

    def __init__(self, n_fft: int, hop: int, floor: float = 1e-3, gradient_range_db: float = 40.0) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop = hop
        self.log_floor = float(np.log(floor))
        self.gradient_range = gradient_range_db / 20.0 * float(np.log(10.0))

    def forward(self, reference: torch.Tensor, predicted: torch.Tensor) -> dict[str, torch.Tensor]:
        target = stft_magnitude(reference, self.n_fft, self.hop)[..., :predicted.shape[-1]]
        log_target = torch.log(target.clamp_min(1e-12)).clamp_min(self.log_floor)
        floored = predicted.clamp_min(self.log_floor)
        log_l1 = F.l1_loss(floored, log_target)
        convergence = torch.linalg.norm(target - torch.exp(predicted)) / torch.linalg.norm(target).clamp_min(1e-6)
        loud = (log_target > log_target.amax(dim=2, keepdim=True) - self.gradient_range).float()
        weight = loud[..., 1:-1, :]
        frequency = (floored[..., 2:, :] - floored[..., :-2, :]) - (log_target[..., 2:, :] - log_target[..., :-2, :])
        frequency_l1 = (weight * frequency.abs()).sum() / weight.sum().clamp_min(1.0)
        weight = loud[..., 1:] * loud[..., :-1]
        time = (floored[..., 1:] - floored[..., :-1]) - (log_target[..., 1:] - log_target[..., :-1])
        time_l1 = (weight * time.abs()).sum() / weight.sum().clamp_min(1.0)
        return {"magnitude_log_l1": log_l1, "magnitude_convergence": convergence,
                "frequency_gradient_l1": frequency_l1, "time_gradient_l1": time_l1,
                "peak_pitch_cents": self._peak_pitch_cents(log_target, floored, loud, frequency)}

    def _peak_pitch_cents(self, log_target: torch.Tensor, predicted: torch.Tensor, loud: torch.Tensor,
                          slope_error: torch.Tensor) -> torch.Tensor:
        """Mean pitch error, in hundreds of cents, that the phase integration would give the target's spectral
        peaks from the predicted magnitude: it reads a partial's frequency as bin k + if_bins * (s[k+1] -
        s[k-1]) (engine/codec/phase.py), so a slope error of d nats moves it by if_bins * d bins, which is
        1731 * if_bins * d / k cents, at the target's peaks and at the prediction's (where the phase integration
        starts and the ear hears a partial). The same slope error costs 50 times more cents at 43 Hz than at 2 kHz:
        the plain gradient L1 weighs every bin alike, which is why low notes came back hundreds of cents off.

        log_target, predicted (batch, channels, bins, frames); loud the same shape; slope_error (.., bins - 2, frames)
        for bins 1 .. bins - 2."""
        peak = (_local_maxima(log_target) | _local_maxima(predicted.detach())) & (loud[..., 1:-1, :] > 0)
        bins = torch.arange(1, log_target.shape[-2] - 1, device=log_target.device, dtype=log_target.dtype)
        if_bins = 1.0 / (4.0 * math.pi * HANN_GAUSSIAN_LAMBDA_PER_N2)  # IF in bins per nat of s[k+1] - s[k-1]
        cents_per_nat = 1200.0 / math.log(2.0) * if_bins / bins[:, None]
        weight = peak.to(slope_error.dtype)
        return (weight * cents_per_nat * slope_error.abs()).sum() / weight.sum().clamp_min(1.0) / 100.0


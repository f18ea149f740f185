"""The fine low band: the low bins' frequencies read off a fine-frequency magnitude (engine/codec/fine_low_band.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.codec.evaluation import cents, estimate_f0_hz, harmonic_tone
from engine.codec.fine_low_band import fine_band_loss, fine_band_target, low_bin_corrections, valid_fine_frames
from engine.codec.model import DEBUG_CONFIG, AutoencoderConfig, MagnitudeAutoencoder, polar_from_log
from engine.codec.phase import magnitude_frequency_offsets, rtpghi_phase
from engine.codec.spectral import instantaneous_frequency_offsets
from engine.vocabulary import SAMPLE_RATE

N_FFT, HOP, FINE_N_FFT, BINS = 2048, 256, 8192, 16


def _fine(audio: torch.Tensor) -> np.ndarray:
    """(channels, samples) -> the true fine band as the decoder's branch gives it: (channels, 1 + latent frames,
    66), the first frame repeated in front (a stream's start: the frame before the first is the first)."""
    fine = fine_band_target(audio[None], FINE_N_FFT, 1024, 66)[0].double().numpy()
    return np.concatenate([fine[:, :1], fine], axis=1)


def _tone(f0_hz: float, seconds: float = 2.0) -> torch.Tensor:
    audio = harmonic_tone(f0_hz, "saw", seconds)
    return torch.from_numpy(np.ascontiguousarray(audio[:, :audio.shape[1] // 1024 * 1024]))


def _true_log_magnitude(audio: torch.Tensor) -> np.ndarray:
    """(channels, samples) -> frame-major 2048-point log-magnitude (channels, frames, bins), the decoder's frames."""
    spec = torch.stft(audio, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, return_complex=True)
    frames = audio.shape[-1] // HOP
    return torch.log(spec.abs().clamp_min(1e-7))[..., :frames].transpose(1, 2).double().numpy()


def _blurred(log_magnitude: np.ndarray) -> np.ndarray:
    """A decoder-like magnitude: the true one blurred across frequency (peaks broader, valleys filled)."""
    linear = np.exp(log_magnitude)
    out = log_magnitude.copy()
    out[..., 1:-1] = np.log(0.25 * linear[..., :-2] + 0.5 * linear[..., 1:-1] + 0.25 * linear[..., 2:])
    return out


def test_the_fine_band_of_a_low_saw_gives_its_partials_frequencies() -> None:
    # A 41.2 Hz saw: its partials are 1.9 decoder bins apart. With the fine (8192-point) magnitude each decoder
    # bin nearest a partial advances at that partial's frequency, whatever the decoder's own magnitude looks
    # like there (the true one, or one blurred as a decoder's is).
    f0_hz = 41.2
    audio = _tone(f0_hz)
    fine = _fine(audio)
    partial_bins = [2, 4, 6, 8, 10, 11, 13, 15]  # the bins nearest harmonics 1..8 (41.2 Hz = 1.91 bins)
    partials = np.arange(1, 9) * f0_hz * N_FFT / SAMPLE_RATE
    steady = slice(20, -20)
    for log_magnitude in (_true_log_magnitude(audio), _blurred(_true_log_magnitude(audio))):
        read = np.arange(BINS) + magnitude_frequency_offsets(log_magnitude, N_FFT, BINS)
        frequency = read + low_bin_corrections(fine, log_magnitude, N_FFT, FINE_N_FFT, BINS)
        error = np.abs(frequency[:, steady][..., partial_bins] - partials)
        assert np.median(error) < 0.005 and error.max() < 0.02
    # the blurred magnitude alone is read far off (0.02 bins is 9 cents at 41 Hz)
    assert np.median(np.abs(read[:, steady][..., partial_bins] - partials)) > 0.05


def test_the_low_tone_resynthesised_with_the_fine_band_keeps_its_pitch() -> None:
    # The whole path from a (here: true) magnitude: the phase integration with the fine band's corrections puts
    # a 41.2 Hz saw within 5 cents; the true magnitude blurred across frequency, as a decoder's is, still does.
    audio = _tone(41.2, 3.0)
    log_magnitude = _true_log_magnitude(audio)
    blurred = _blurred(log_magnitude)
    fine = _fine(audio)
    errors = {}
    for name, magnitude in (("true", log_magnitude), ("blurred", blurred)):
        for use_fine in (False, True):
            corrections = low_bin_corrections(fine, magnitude, N_FFT, FINE_N_FFT, BINS) if use_fine else None
            phase, _, _ = rtpghi_phase(magnitude, N_FFT, HOP, frame_major=True, frequency_corrections_bins=corrections)
            frames = polar_from_log(torch.from_numpy(magnitude).float(), torch.from_numpy(phase).float()).transpose(1, 2)
            out = torch.istft(torch.nn.functional.pad(frames, (0, 1)), N_FFT, HOP, window=torch.hann_window(N_FFT),
                              center=True, length=audio.shape[-1]).numpy()
            errors[name, use_fine] = abs(cents(estimate_f0_hz(out, SAMPLE_RATE, 41.2), 41.2))
    assert errors["true", True] < 5 and errors["blurred", True] < 5
    assert errors["blurred", False] > 25  # what the fine band is for: a blurred magnitude alone misplaces it


def test_magnitude_frequency_offsets_reads_what_the_integration_reads() -> None:
    # The offsets the corrections are measured against must be the integration's own reading: a correction of
    # true - read makes the integration advance each bin at the true frequency, so resynthesising a tone
    # from its magnitude with those corrections equals the oracle of session 12 (docs/autoencoder.md).
    audio = _tone(73.2)
    log_magnitude = _true_log_magnitude(audio)
    read = magnitude_frequency_offsets(log_magnitude, N_FFT, 24)
    full = magnitude_frequency_offsets(log_magnitude, N_FFT, log_magnitude.shape[-1])
    np.testing.assert_array_equal(read, full[..., :24])  # the first bins do not depend on how many are asked
    true = instantaneous_frequency_offsets(audio, N_FFT, HOP, 24, log_magnitude.shape[1]).numpy()
    zero, _, _ = rtpghi_phase(log_magnitude, N_FFT, HOP, frame_major=True,
                              frequency_corrections_bins=np.zeros_like(read))
    plain, _, _ = rtpghi_phase(log_magnitude, N_FFT, HOP, frame_major=True)
    np.testing.assert_array_equal(zero, plain)
    corrected, _, _ = rtpghi_phase(log_magnitude, N_FFT, HOP, frame_major=True, frequency_corrections_bins=true - read)
    advance = np.diff(corrected[..., 3], axis=1)  # bin 3 carries the fundamental (73.2 Hz = 3.4 bins)
    # the integration advances a peak bin by the mean of the two frames' frequencies (trapezoid rule)
    expected = 2 * np.pi * HOP * (3 + 0.5 * (true[:, 1:, 3] + true[:, :-1, 3])) / N_FFT
    wrapped = np.angle(np.exp(1j * (advance - expected)))
    assert np.median(np.abs(wrapped[:, 10:-10])) < 1e-3


def test_corrections_are_causal_per_latent_frame() -> None:
    # The STFT frames of latent frame t read fine frame t only: changing a later fine frame changes nothing before.
    rng = np.random.default_rng(0)
    fine = rng.normal(0, 1, (2, 11, 66))  # the frame before, then 10 latent frames
    log_magnitude = rng.normal(0, 1, (2, 40, 1025))
    before = low_bin_corrections(fine, log_magnitude, N_FFT, FINE_N_FFT, BINS)
    fine[:, 7:] += rng.normal(0, 1, (2, 4, 66))  # latent frames 6-9
    after = low_bin_corrections(fine, log_magnitude, N_FFT, FINE_N_FFT, BINS)
    np.testing.assert_array_equal(before[:, :24], after[:, :24])
    assert not np.array_equal(before[:, 24:], after[:, 24:])
    assert np.all(before[..., 0] == 0)  # DC does not rotate
    with pytest.raises(ValueError, match="whole number"):
        low_bin_corrections(fine, log_magnitude[:, :39], N_FFT, FINE_N_FFT, BINS)


def test_config_checks_and_old_configs() -> None:
    with pytest.raises(ValueError, match="decoder_frequency_bins"):
        replace(DEBUG_CONFIG, decoder_fine_n_fft=8192).validate()
    with pytest.raises(ValueError, match="multiple"):
        replace(DEBUG_CONFIG, decoder_fine_n_fft=3000, decoder_frequency_bins=8).validate()
    with pytest.raises(ValueError, match="cover"):
        replace(DEBUG_CONFIG, decoder_fine_n_fft=8192, decoder_frequency_bins=16, decoder_fine_bins=40).validate()
    # a file written before the fine band existed has no such keys: no fine band
    old = {k: v for k, v in AutoencoderConfig().to_dict().items() if not k.startswith("decoder_fine")}
    assert AutoencoderConfig.from_dict(old).decoder_fine_n_fft == 0
    assert MagnitudeAutoencoder(DEBUG_CONFIG).decoder.fine is None


def test_a_fine_band_decoder_needs_its_magnitude_for_the_corrections() -> None:
    torch.manual_seed(0)
    latent = torch.randn(1, 32, 12)
    for stereo_phase, channels in (("shared", 1), ("per_channel", 2)):  # shared: read against the channels' mean
        model = MagnitudeAutoencoder(replace(DEBUG_CONFIG, decoder_frequency_bins=12, decoder_fine_n_fft=8192,
                                             decoder_fine_bins=56, decoder_stereo_phase=stereo_phase)).eval()
        with torch.no_grad():
            log_magnitude = model.decoder.log_magnitude(latent)
            corrections = model.decoder.frequency_corrections(latent, 0, log_magnitude)
            with pytest.raises(ValueError, match="log-magnitude"):
                model.decoder.frequency_corrections(latent)
        assert corrections.shape == (1, channels, 48, 12) and corrections.abs().sum() > 0  # a random band moves bins


def test_the_loss_is_zero_only_at_the_target_and_sees_shifted_peaks() -> None:
    audio = _tone(55.0)[None]
    target = fine_band_target(audio, FINE_N_FFT, 1024, 66)
    valid = valid_fine_frames(target.shape[2], FINE_N_FFT, 1024, 6)
    assert valid.sum() > 0 and not valid[:6].any()
    assert fine_band_loss(target, target, valid)[0].item() == 0.0
    shifted = fine_band_target(_tone(55.0 * 2 ** (30 / 1200))[None], FINE_N_FFT, 1024, 66)  # 30 cents sharp
    loss, l1 = fine_band_loss(shifted, target, valid)
    assert loss.item() > l1.item() > 0.05

"""RTPGHI phase from magnitude: pitch kept from a true magnitude, no frame-rate comb, exact streaming."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.codec.evaluation import TONE_SET, cents, estimate_f0_hz, frame_line_prominence_db, harmonic_tone
from engine.codec.phase import PhaseState, rtpghi_phase

RATE = 44100
N_FFT, HOP = 2048, 256


def _log_magnitude(audio: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    spec = torch.stft(torch.from_numpy(audio), N_FFT, HOP, window=torch.hann_window(N_FFT), center=True,
                      return_complex=True)
    return spec.abs(), torch.log(spec.abs().clamp_min(1e-7)).double().numpy()


def _resynthesise(audio: np.ndarray) -> np.ndarray:
    """The true STFT magnitude with RTPGHI's phase, inverted: what the decoder gives for a perfect magnitude."""
    magnitude, log_magnitude = _log_magnitude(audio)
    phase, _, _ = rtpghi_phase(log_magnitude, N_FFT, HOP)
    frames = torch.polar(magnitude, torch.from_numpy(phase).float())
    return torch.istft(frames, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True,
                       length=audio.shape[1]).numpy()


def test_true_magnitude_keeps_the_pitch_of_every_tone() -> None:
    errors = []
    for tone in TONE_SET:
        out = _resynthesise(harmonic_tone(tone.f0_hz, tone.timbre, 1.5))
        errors.append(abs(cents(estimate_f0_hz(out[0], RATE, tone.f0_hz), tone.f0_hz)))
    assert np.median(errors) <= 5.0 and max(errors) <= 15.0, errors


@pytest.mark.parametrize("f0_hz", [98.0, 233.41])
def test_no_line_at_the_hop_or_latent_frame_rate(f0_hz: float) -> None:
    audio = harmonic_tone(f0_hz, "saw", 2.0)
    out = _resynthesise(audio)
    for line_hz in (RATE / 1024, RATE / HOP):
        assert frame_line_prominence_db(out, RATE, line_hz) <= frame_line_prominence_db(audio, RATE, line_hz) + 2.0


def test_phase_depends_on_magnitude_not_on_frame_rate() -> None:
    # Two tones 20 cents apart share their loudest bin; the integrated phase must advance differently.
    advances = []
    for f0_hz in (440.0, 440.0 * 2 ** (20 / 1200)):
        t = np.arange(RATE) / RATE
        audio = np.stack([0.3 * np.sin(2 * np.pi * f0_hz * t)] * 2).astype(np.float32)
        _, log_magnitude = _log_magnitude(audio)
        phase, _, _ = rtpghi_phase(log_magnitude, N_FFT, HOP)
        k = int(np.argmax(log_magnitude[0, :, 40]))
        advances.append(np.angle(np.exp(1j * (phase[0, k, 41] - phase[0, k, 40]))))
    expected = [2 * np.pi * f * HOP / RATE for f in (440.0, 440.0 * 2 ** (20 / 1200))]
    measured_step = np.angle(np.exp(1j * (advances[1] - advances[0])))
    # Within 15 %: a Hann window's log-magnitude is close to, not exactly, the Gaussian's parabola.
    assert measured_step == pytest.approx(expected[1] - expected[0], rel=0.15)


def test_streaming_in_chunks_equals_one_call() -> None:
    rng = np.random.default_rng(0)
    audio = (0.2 * rng.standard_normal((2, 40 * HOP))).astype(np.float32)
    audio[:, : 20 * HOP] += harmonic_tone(150.0, "pluck", 20 * HOP / RATE)
    _, log_magnitude = _log_magnitude(audio)
    whole, final, boundaries = rtpghi_phase(log_magnitude, N_FFT, HOP, boundary_every=4)
    pieces, state, start = [], None, 0
    for size in (1, 7, 4, 13, log_magnitude.shape[-1] - 25):
        phase, state, _ = rtpghi_phase(log_magnitude[..., start:start + size], N_FFT, HOP, state)
        pieces.append(phase)
        start += size
    np.testing.assert_array_equal(np.concatenate(pieces, axis=-1), whole)
    assert state.frames_done == final.frames_done == log_magnitude.shape[-1]
    # A boundary state continues the stream exactly from there.
    resumed, _, _ = rtpghi_phase(log_magnitude[..., 12:], N_FFT, HOP, boundaries[2])
    assert boundaries[2].frames_done == 12
    np.testing.assert_array_equal(resumed, whole[..., 12:])


def test_quiet_bins_get_a_deterministic_phase_and_silence_is_finite() -> None:
    silent = np.full((2, N_FFT // 2 + 1, 10), np.log(1e-7))
    a, _, _ = rtpghi_phase(silent, N_FFT, HOP)
    b, _, _ = rtpghi_phase(silent, N_FFT, HOP, PhaseState.empty(2, N_FFT // 2 + 1))
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="bins"):
        rtpghi_phase(silent[:, :-1], N_FFT, HOP)


def test_a_strided_frame_major_view_gives_the_phase_of_its_contiguous_copy() -> None:
    """The decoder hands the kernel its stereo frames in place (channels interleaved per frame): reading
    them through a view must give what a contiguous copy gives, bit for bit."""
    audio = np.stack([harmonic_tone(233.41, "saw", 0.5)[0], harmonic_tone(146.83, "pluck", 0.5)[0]])
    _, log_magnitude = _log_magnitude(audio)  # (2, bins, frames)
    interleaved = np.ascontiguousarray(log_magnitude.transpose(2, 0, 1).astype(np.float32))  # (frames, 2, bins)
    view = interleaved.transpose(1, 0, 2)
    assert not view.flags.c_contiguous
    from_view, _, _ = rtpghi_phase(view, N_FFT, HOP, frame_major=True)
    from_copy, _, _ = rtpghi_phase(np.ascontiguousarray(view), N_FFT, HOP, frame_major=True)
    np.testing.assert_array_equal(from_view, from_copy)


def test_corrected_low_bin_frequencies_place_a_41_hz_saw_and_stream_exactly() -> None:
    """A 41 Hz saw's partials sit 1.9 bins apart, inside each other's main lobes: from a smoothed magnitude the
    phase integration cannot place them; corrected by the true instantaneous frequency less what it reads
    off that magnitude (bins 1..15) it does (within 3 cents), a zero correction changes nothing, and chunked
    calls carry the last frame's corrections so streaming equals one call."""
    from engine.codec.phase import magnitude_frequency_offsets
    from engine.codec.spectral import instantaneous_frequency_offsets

    f0_hz = 41.2
    audio = harmonic_tone(f0_hz, "saw", 1.5)
    magnitude, log_magnitude = _log_magnitude(audio)
    blurred = np.log(np.maximum(np.apply_along_axis(lambda b: np.convolve(b, [0.25, 0.5, 0.25], "same"), 1,
                                                    np.exp(log_magnitude)), 1e-7))
    true = instantaneous_frequency_offsets(torch.from_numpy(audio), N_FFT, HOP, 16,
                                           log_magnitude.shape[-1]).double().numpy()
    offsets = true - magnitude_frequency_offsets(np.ascontiguousarray(blurred.transpose(0, 2, 1)), N_FFT, 16)

    def f0_error(corrections_bins: np.ndarray | None) -> float:
        phase, _, _ = rtpghi_phase(blurred, N_FFT, HOP, frequency_corrections_bins=corrections_bins)
        frames = torch.polar(torch.from_numpy(np.exp(blurred)).float(), torch.from_numpy(phase).float())
        out = torch.istft(frames, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True,
                          length=audio.shape[1]).numpy()
        return abs(cents(estimate_f0_hz(out[0], RATE, f0_hz), f0_hz))

    assert f0_error(offsets) <= 3.0 < f0_error(None)
    np.testing.assert_array_equal(rtpghi_phase(blurred, N_FFT, HOP, frequency_corrections_bins=0 * offsets)[0],
                                  rtpghi_phase(blurred, N_FFT, HOP)[0])
    whole, _, _ = rtpghi_phase(blurred, N_FFT, HOP, frequency_corrections_bins=offsets)
    pieces, state, start = [], None, 0
    for size in (3, 11, blurred.shape[-1] - 14):
        phase, state, _ = rtpghi_phase(blurred[..., start:start + size], N_FFT, HOP, state,
                                       frequency_corrections_bins=offsets[:, start:start + size])
        pieces.append(phase)
        start += size
    np.testing.assert_array_equal(np.concatenate(pieces, axis=-1), whole)
    with pytest.raises(ValueError, match="corrections"):
        rtpghi_phase(blurred, N_FFT, HOP, frequency_corrections_bins=offsets[:, 1:])

"""Tests for engine.dataset.descriptors on synthetic signals."""

from __future__ import annotations


import numpy as np
import pytest

from engine.dataset.descriptors import (
    DESCRIPTOR_NAMES,
    HOP_FRAMES,
    LOUDNESS_FLOOR_DB,
    frame_count,
    frame_descriptors,
    onset_frames,
    warm_up,
)

SAMPLE_RATE = 44100


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    warm_up()


def _time_s(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE


def _sine(freq_hz: float, seconds: float = 2.0, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq_hz * _time_s(seconds))).astype(np.float32)[np.newaxis, :]


def _noise(seconds: float = 2.0, rms: float = 0.1, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rms * rng.standard_normal((channels, int(seconds * SAMPLE_RATE)))).astype(np.float32)


def _clicks(rate_hz: float, seconds: float = 6.0, amplitude: float = 0.5) -> np.ndarray:
    audio = np.zeros((2, int(seconds * SAMPLE_RATE)), dtype=np.float32)
    audio[:, :: int(round(SAMPLE_RATE / rate_hz))] = amplitude
    return audio


def _interior(values: np.ndarray, margin_frames: int = 4) -> np.ndarray:
    return values[margin_frames:-margin_frames]


@pytest.mark.parametrize("n_samples", [0, 1023, 1024, 1500, 44100, 441000])
def test_lengths_match_frame_count(n_samples: int) -> None:
    out = frame_descriptors(np.zeros((2, n_samples), dtype=np.float32) + 0.01)
    assert set(out) == set(DESCRIPTOR_NAMES)
    for values in out.values():
        assert values.shape == (frame_count(n_samples),) == (n_samples // HOP_FRAMES,)
        assert values.dtype == np.float32


def test_sine_centroid_and_flatness() -> None:
    out = frame_descriptors(_sine(1000.0))
    centroid = _interior(out["centroid_hz"])
    assert np.all(np.abs(centroid - 1000.0) < 50.0), (centroid.min(), centroid.max())
    assert np.all(_interior(out["flatness"]) < 0.05)
    # A 0.5-amplitude sine: RMS 0.354 -> -9.03 dBFS.
    assert np.allclose(_interior(out["loudness_db"]), 20 * np.log10(0.5 / np.sqrt(2)), atol=0.05)


def test_white_noise_is_flat() -> None:
    out = frame_descriptors(_noise())
    assert np.all(_interior(out["flatness"]) > 0.5)
    assert np.all(out["flatness"] <= 1.0)


def test_gain_lowers_loudness_by_6_db() -> None:
    for audio in (_noise(), _sine(440.0)):
        loud = frame_descriptors(audio)["loudness_db"]
        quiet = frame_descriptors((audio * 10 ** (-6 / 20)).astype(np.float32))["loudness_db"]
        assert np.all(np.abs((loud - quiet) - 6.0) < 0.2)


def test_silence_values() -> None:
    out = frame_descriptors(np.zeros((2, SAMPLE_RATE), dtype=np.float32))
    assert np.all(out["loudness_db"] == LOUDNESS_FLOOR_DB)
    assert np.all(out["centroid_hz"] == 0.0)
    assert np.all(out["flatness"] == 1.0)  # documented: silence is a flat (empty) spectrum
    assert np.all(out["onset_density"] == 0.0)
    for values in out.values():
        assert np.all(np.isfinite(values))


@pytest.mark.parametrize("rate_hz", [1.0, 2.0, 4.0, 8.0])
def test_click_train_onset_density(rate_hz: float) -> None:
    density = frame_descriptors(_clicks(rate_hz))["onset_density"]
    middle = density[len(density) // 2 - 20 : len(density) // 2 + 20]
    assert np.all(np.abs(middle - rate_hz) <= 0.75), middle


def test_click_onsets_land_on_the_click_frames() -> None:
    audio = _clicks(4.0)
    expected = np.arange(1, 24) * (SAMPLE_RATE / 4) / HOP_FRAMES  # click 0 sits on frame 0: no flux there
    found = onset_frames(audio)
    assert len(found) == len(expected)
    assert np.all(np.abs(found - expected) <= 1.0)


def test_steady_signals_have_no_onsets() -> None:
    assert np.all(frame_descriptors(_noise(seconds=4.0))["onset_density"] == 0.0)
    assert np.all(frame_descriptors(_sine(440.0, seconds=4.0))["onset_density"] == 0.0)


def test_mono_and_stereo_agree() -> None:
    mono = _noise(channels=1)
    as_1d = frame_descriptors(mono[0])
    as_2d = frame_descriptors(mono)
    as_stereo = frame_descriptors(np.concatenate([mono, mono]))
    for name in DESCRIPTOR_NAMES:
        np.testing.assert_allclose(as_1d[name], as_2d[name])
        np.testing.assert_allclose(as_stereo[name], as_2d[name], rtol=1e-5, atol=1e-4)


def test_random_input_is_finite() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        audio = (rng.uniform(-1, 1, (2, int(rng.integers(0, 3 * SAMPLE_RATE)))) * rng.uniform(0, 2)).astype(
            np.float32)
        audio[:, : audio.shape[1] // 3] = 0.0  # silence then sound
        for values in frame_descriptors(audio).values():
            assert np.all(np.isfinite(values))
    tiny = (1e-30 * rng.standard_normal((2, 8192))).astype(np.float32)
    for values in frame_descriptors(tiny).values():
        assert np.all(np.isfinite(values))
    float64 = rng.standard_normal((2, 8192))
    assert frame_descriptors(float64)["loudness_db"].dtype == np.float32


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_raises(bad: float) -> None:
    audio = np.zeros((2, 4096), dtype=np.float32)
    audio[1, 100] = bad
    with pytest.raises(ValueError, match="NaN"):
        frame_descriptors(audio)


def test_bad_shape_raises() -> None:
    with pytest.raises(ValueError):
        frame_descriptors(np.zeros((2, 2, 4096), dtype=np.float32))

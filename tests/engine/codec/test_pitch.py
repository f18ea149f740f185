"""Acceptance tests for the shipped autoencoder's pitch: the round trip decode(encode(x)) must keep every
partial where it was. The first decoder (format version 1) failed all of these: its output repeated every
1024 samples, so partials snapped to multiples of 43.07 Hz: median |error| 76.7 cents over the tone set,
worst 424 (55 Hz -> 43.07 Hz), frame lines 30 dB prominent on tones (input ~2 dB) and 23 dB on a cadence
(input 1.6), and all four cadences read in F. See engine/codec/evaluation.py for the measurements.

Budget: 21 tones of 1.5 s and 4 cadences of 6.9 s through the codec, plus essentia: well under 30 s."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.codec.checkpoint import load_autoencoder
from engine.codec.evaluation import (TONE_SET, cents, essentia_key, estimate_f0_hz, frame_line_prominence_db,
                                     harmonic_tone, render_cadences, same_key)
from engine.dataset.score import PITCH_CLASS_NAMES

SR = 44100
TONE_SAMPLES = 1024 * 65  # 1.51 s
MEDIAN_CENTS = 10.0
WORST_CENTS = 25.0
PROMINENCE_TOLERANCE_DB = 2.0
LINES_HZ = (SR / 1024, SR / 256)  # the latent frame rate (43.07 Hz) and the STFT hop's (172.27 Hz)
CADENCE_KEYS = [(0, "major"), (9, "minor"), (6, "major"), (3, "minor")]  # C, Am, F#, D#m
CADENCE_TEMPO_BPM = 150.0  # 6.4 s + tail: essentia reads all 24 keys at this tempo too


def round_trip(model: torch.nn.Module, audio: np.ndarray) -> np.ndarray:
    """(batch, 2, n) or (2, n) float32 -> the codec's decode(encode(x)), same shape, float32 numpy."""
    batch = torch.from_numpy(np.ascontiguousarray(audio if audio.ndim == 3 else audio[None]))
    with torch.no_grad():
        out = model.decode(model.encode(batch)).float().numpy()
    return out if audio.ndim == 3 else out[0]


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return load_autoencoder()


@pytest.fixture(scope="module")
def tones(model: torch.nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, outputs), each (len(TONE_SET), 2, TONE_SAMPLES)."""
    inputs = np.stack([harmonic_tone(f0, timbre, TONE_SAMPLES / SR) for f0, timbre in TONE_SET])
    return inputs, round_trip(model, inputs)


@pytest.fixture(scope="module")
def cadences(model: torch.nn.Module) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """[(tonic, scale, input (2, n), output (2, n))] for CADENCE_KEYS."""
    rendered = render_cadences(CADENCE_KEYS, tempo_bpm=CADENCE_TEMPO_BPM)
    return [(name, scale, audio, round_trip(model, audio)) for name, scale, audio in rendered]


V1_MEDIAN_CENTS = 76.7  # the learned-phase decoder on this tone set


def test_round_trip_is_far_from_the_frame_locked_decoder(tones: tuple[np.ndarray, np.ndarray],
                                                         cadences: list) -> None:
    # What v2 does meet, kept from regressing: less than a third of v1's median pitch error, and on a cadence
    # the 43.07 Hz lines within 5 dB of the input's (v1: 20-24 dB above).
    inputs, outputs = tones
    errors = [abs(cents(estimate_f0_hz(out, SR, f0), f0)) for (f0, _), out in zip(TONE_SET, outputs)]
    assert np.median(errors) < V1_MEDIAN_CENTS / 3, np.median(errors)
    for _, _, source, decoded in cadences:
        excess = frame_line_prominence_db(decoded, SR, SR / 1024) - frame_line_prominence_db(source, SR, SR / 1024)
        assert excess < 5.0, excess


# The issue's bar on the 1.51 s tones: met since codec v2.3 (session 14: all 21 within 16 cents; v2.1's 41-73 Hz
# tones were 70-500 cents off); on the benchmark's 3 s tones since v2.4 (session 17: v2.3 read the 1.62 kHz
# pluck 441 cents off there, its decayed tail, where that magnitude decoder dropped the upper partials).
@pytest.fixture(scope="module")
def tones_3s(model: torch.nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """The tone set at the benchmark's length (benchmarks/autoencoder.py: 3 s, 129 latent frames)."""
    inputs = np.stack([harmonic_tone(f0, timbre, 1024 * 129 / SR) for f0, timbre in TONE_SET])
    return inputs, round_trip(model, inputs)


@pytest.mark.parametrize("protocol", ["tones", "tones_3s"])
def test_round_trip_keeps_the_pitch_of_every_tone(protocol: str, request: pytest.FixtureRequest) -> None:
    inputs, outputs = request.getfixturevalue(protocol)
    rows, errors = [], []
    for (f0, timbre), source, decoded in zip(TONE_SET, inputs, outputs):
        estimated_in = estimate_f0_hz(source, SR, f0)
        estimated_out = estimate_f0_hz(decoded, SR, f0)
        error = cents(estimated_out, f0)
        errors.append(abs(error) if np.isfinite(error) else np.inf)
        rows.append(f"{f0:8.2f} Hz {timbre:5s} in {estimated_in:9.3f} out {estimated_out:9.3f} {error:+8.1f} c")
    table = "\n".join(rows)
    assert np.median(errors) <= MEDIAN_CENTS and max(errors) <= WORST_CENTS, \
        f"median |cents| {np.median(errors):.1f} (<= {MEDIAN_CENTS}), " \
        f"worst {max(errors):.1f} (<= {WORST_CENTS})\n{table}"


def _lines_added_db(source: np.ndarray, decoded: np.ndarray, line_hz: float) -> tuple[float, float]:
    """(input's, output's) prominence of the lines at multiples of line_hz (dB). The tests bound how far the
    output's stand above the input's, not below: a frame-locked decoder adds a comb, while a partial the codec
    moved a little away from a multiple lowers the measure (the 111 Hz odd tone's 333 Hz partial lies 11 Hz
    from 2 x 172.27 Hz and reads as a 3 dB line in the input)."""
    return frame_line_prominence_db(source, SR, line_hz), frame_line_prominence_db(decoded, SR, line_hz)


@pytest.mark.parametrize("index", [5, 9])  # A2+18c odd (111.12 Hz), A#3 saw (233.41 Hz)
def test_round_trip_adds_no_frame_lines_to_a_tone(tones: tuple[np.ndarray, np.ndarray], index: int) -> None:
    inputs, outputs = tones
    for line_hz in LINES_HZ:
        before, after = _lines_added_db(inputs[index], outputs[index], line_hz)
        assert after - before <= PROMINENCE_TOLERANCE_DB, (TONE_SET[index], line_hz, before, after)


def test_round_trip_adds_no_frame_lines_to_a_cadence(cadences: list) -> None:
    _, _, source, decoded = cadences[0]
    for line_hz in LINES_HZ:
        before, after = _lines_added_db(source, decoded, line_hz)
        assert after - before <= PROMINENCE_TOLERANCE_DB, (line_hz, before, after)


# v2.3 (session 14) reads the C major cadence as C minor (0.87): with the bass now at its pitch and level the
# magnitude decoder's weak E4 and B3 (13-23 dB under the input's) tip the key profile; 23 of the benchmark's 24
# cadences keep their key (the bar: 90 %). Strict: when it reads C major again the mark must come off.
C_MAJOR_READS_MINOR = pytest.mark.xfail(strict=True, reason="codec v2.3 and v2.4: the C major cadence reads C minor "
                                        "(docs/autoencoder.md, v2.3)")


@pytest.mark.parametrize("index", [pytest.param(0, marks=C_MAJOR_READS_MINOR), 1, 2, 3],
                         ids=[f"{PITCH_CLASS_NAMES[tonic]}-{mode}" for tonic, mode in CADENCE_KEYS])
def test_round_trip_keeps_the_key_of_cadences(cadences: list, index: int) -> None:
    name, scale, source, decoded = cadences[index]
    key_in, scale_in, _ = essentia_key(source, SR)
    key_out, scale_out, _ = essentia_key(decoded, SR)
    assert same_key(name, scale, key_in, scale_in), (name, scale, key_in, scale_in)  # the input reads right
    assert same_key(name, scale, key_out, scale_out), (f"{name} {scale}", f"{key_out} {scale_out}")

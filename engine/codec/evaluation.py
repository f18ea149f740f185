"""Measurements that catch a codec that moves pitch: synthetic tones with an accurate f0 estimator, the
prominence of spectral lines at the codec's frame rates, and essentia's key on rendered cadences.

Why these exist: a decoder whose output repeats every `hop` samples has a line spectrum at multiples of
sample_rate / hop (43.07 Hz at hop 1024), so every partial snaps to the nearest line: A2 (110 Hz) comes back
at 86.1 or 129.2 Hz and every key reads alike. Log-spectral distances barely notice (the magnitude envelope
is right); these three measurements do:

* `harmonic_tone` + `estimate_f0_hz` + `cents` over `TONE_SET`: tones placed off every 43.07 Hz multiple, so
  a snapped partial is measured as tens to hundreds of cents off (the estimator does not re-centre on the
  hint, see its docstring).
* `frame_line_prominence_db` / `line_prominence_table`: how far spectral lines at multiples of
  sample_rate / hop stand above their neighbourhood (a frame-periodic output scores 20-30 dB, music and noise
  a few dB).
* `render_cadences` + `essentia_key` + `same_key`: a I-IV-V-I / i-iv-V-i cadence in each of the 24 keys,
  rendered with FluidSynth, and essentia's key estimate on input and output.

numpy/scipy only (FluidSynth and essentia are imported by the functions that need them); audio arrays are
float32 (channels, samples) at 44.1 kHz unless stated.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import numpy as np
from scipy import signal as sp_signal
from scipy.ndimage import maximum_filter1d

from engine.dataset.score import PITCH_CLASS_NAMES, Note, Piece, Track
from engine.dataset.validate import essentia_key  # noqa: F401 - the suite's key reader (one for the project)
from engine.vocabulary import LATENT_HOP_FRAMES, SAMPLE_RATE

TIMBRES: tuple[str, ...] = ("saw", "pluck", "odd")
HARMONIC_CEILING_HZ: float = 10000.0  # harmonic_tone's partials stop here
TONE_PEAK: float = 0.3
MAX_PEAKS: int = 256  # estimate_f0_hz scores with at most this many (the strongest) spectral peaks
MIN_PROMINENCE_SAMPLES: int = 32768  # 0.74 s: 32768-point segments, 1.35 Hz bins


# --------------------------------------------------------------------------------------------- tones

class Tone(NamedTuple):
    """One test tone: fundamental in Hz and timbre (one of TIMBRES). Unpacks as (f0_hz, timbre)."""

    f0_hz: float
    timbre: str

    @property
    def name(self) -> str:
        """Nearest equal-tempered note and the offset from it, e.g. "A2+18c" (A4 = 440 Hz)."""
        midi = 69.0 + 12.0 * math.log2(self.f0_hz / 440.0)
        nearest = int(round(midi))
        return f"{PITCH_CLASS_NAMES[nearest % 12]}{nearest // 12 - 1}{(midi - nearest) * 100.0:+.0f}c"


# 21 tones, log-spaced over 41-1970 Hz, saw/pluck/odd in turn. Each f0 sits 0.28-0.42 of the way between two
# multiples of 44100/1024 = 43.066 Hz (so >= 11.9 Hz from any multiple of 43.066 Hz and of 172.27 Hz = 4 x
# 43.066 Hz), except E1 = 41.20 Hz: below the first line, 1.87 Hz (77 cents) under it, a pitch a 43 Hz comb
# cannot represent at all. Snapping the fundamental to the nearest 43.066 Hz multiple moves it by 77-593
# cents below 300 Hz, 42-64 cents at 350-750 Hz and 11-25 cents above 900 Hz (an upper bound there: |snap|
# <= 21.5 Hz).
TONE_SET: tuple[Tone, ...] = (
    Tone(41.20, "saw"), Tone(55.00, "pluck"), Tone(60.67, "odd"), Tone(73.21, "saw"), Tone(99.06, "pluck"),
    Tone(111.12, "odd"), Tone(142.12, "saw"), Tone(159.34, "pluck"), Tone(190.35, "odd"), Tone(233.41, "saw"),
    Tone(285.25, "pluck"), Tone(357.46, "odd"), Tone(417.74, "saw"), Tone(503.87, "pluck"),
    Tone(618.53, "odd"), Tone(750.21, "saw"), Tone(917.32, "pluck"), Tone(1105.27, "odd"),
    Tone(1347.98, "saw"), Tone(1623.60, "pluck"), Tone(1968.12, "odd"),
)


def harmonic_partials(f0_hz: float, timbre: str,
                      ceiling_hz: float = HARMONIC_CEILING_HZ) -> tuple[np.ndarray, np.ndarray]:
    """The partials of `timbre` at f0: (harmonic numbers k, int (P,); relative amplitudes, float (P,)).

    saw: every k, amplitude 1/k. odd: odd k only, 1/k (clarinet-like). pluck: every k, 1/k at the onset (its
    decay is applied by `harmonic_tone`). Partials stop at `ceiling_hz` (10 kHz).
    """
    if timbre not in TIMBRES:
        raise ValueError(f"unknown timbre {timbre!r}; expected one of {TIMBRES}")
    count = max(1, int(ceiling_hz // f0_hz))
    k = np.arange(1, count + 1)
    if timbre == "odd":
        k = k[k % 2 == 1]
    return k, 1.0 / k


def _complex_exponential(rate: complex, samples: int, sample_rate: int, block: int = 1024) -> np.ndarray:
    """exp(rate * t) for t = arange(samples) / sample_rate, complex128 (samples,): block starts times an
    in-block ramp, so ~samples / block + block exponentials instead of one per sample (error ~1e-15)."""
    blocks = -(-samples // block)
    starts = np.exp(rate * (np.arange(blocks) * block / sample_rate))
    ramp = np.exp(rate * (np.arange(block) / sample_rate))
    return (starts[:, None] * ramp[None, :]).ravel()[:samples]


def harmonic_tone(f0_hz: float, timbre: str, seconds: float, sample_rate: int = SAMPLE_RATE,
                  seed: int = 0, partial_hz: np.ndarray | None = None) -> np.ndarray:
    """A steady harmonic tone: float32 (2, round(seconds * sample_rate)), peak `TONE_PEAK` (0.3).

    f0_hz: fundamental in Hz; timbre: "saw" (all harmonics, 1/k), "pluck" (all harmonics 1/k with a 3 ms
    attack and exponential decay, rate 0.6 + 2.5 * (k f0 / 1 kHz) per second, so higher partials die
    faster) or "odd" (odd harmonics 1/k). Harmonics up to 10 kHz, random start phases from `seed`; the right
    channel has the same partial frequencies with slightly different amplitudes and phases. saw and odd get
    5 ms raised-cosine fades at both ends, pluck a 5 ms fade-out.

    partial_hz: optional frequencies in Hz, one per partial (same order as `harmonic_partials`), replacing
    k * f0 (amplitudes and decay rates stay those of the true harmonics); the tests use it to build a tone
    whose partials were moved, e.g. snapped to multiples of 43.07 Hz.
    """
    k, amplitude = harmonic_partials(f0_hz, timbre, min(HARMONIC_CEILING_HZ, 0.45 * sample_rate))
    frequencies = k * f0_hz if partial_hz is None else np.asarray(partial_hz, dtype=np.float64)
    if frequencies.shape != k.shape:
        raise ValueError(f"partial_hz needs {k.size} frequencies, got {frequencies.shape}")
    samples = int(round(seconds * sample_rate))
    t = np.arange(samples) / sample_rate
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=(2, k.size))
    right_gain = 1.0 + 0.08 * np.sin(1.7 * k)  # a slight stereo difference in the spectral envelope
    # Each channel is Im(sum_i c_i exp(i w_i t)) with complex weights c_i (amplitude and start phase).
    weights = amplitude * np.exp(1j * phases) * np.stack([np.ones(k.size), right_gain])  # (2, P)
    decay = 2.5 * f0_hz / 1000.0 if timbre == "pluck" else 0.0  # per second, per harmonic number
    accumulator = np.zeros((2, samples), dtype=np.complex128)
    for i in range(k.size):
        accumulator += weights[:, i: i + 1] * _complex_exponential(2j * np.pi * frequencies[i] - decay * k[i],
                                                                   samples, sample_rate)
    out = accumulator.imag
    if timbre == "pluck":
        out *= np.exp(-0.6 * t)
    fade = min(samples // 2, int(0.005 * sample_rate))
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    if timbre == "pluck":
        out *= 1.0 - np.exp(-t / 0.003)
    else:
        out[:, :fade] *= ramp
    out[:, samples - fade:] *= ramp[::-1]
    peak = float(np.max(np.abs(out)))
    if peak > 0:
        out *= TONE_PEAK / peak
    return out.astype(np.float32)


def snap_to_lines(frequencies_hz: np.ndarray, line_hz: float = SAMPLE_RATE / LATENT_HOP_FRAMES) -> np.ndarray:
    """Each frequency moved to the nearest positive multiple of `line_hz` (what a frame-periodic decoder
    does to partials); float64, same shape."""
    return np.maximum(1.0, np.round(np.asarray(frequencies_hz, dtype=np.float64) / line_hz)) * line_hz


# ------------------------------------------------------------------------------------------ pitch

def cents(f_est: float, f_true: float) -> float:
    """1200 log2(f_est / f_true): signed pitch error in cents; NaN if either is not a positive number."""
    if not (np.isfinite(f_est) and np.isfinite(f_true)) or f_est <= 0 or f_true <= 0:
        return float("nan")
    return float(1200.0 * math.log2(f_est / f_true))


def _spectral_peaks(mono: np.ndarray, sample_rate: int, low_hz: float, high_hz: float,
                    floor_db: float) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of the Blackman-Harris spectrum of the steady middle 60 % of `mono` (zero-padded x8):
    (frequencies in Hz, linear amplitudes), both (P,), for peaks in [low_hz, high_hz] within `floor_db` of
    the strongest one there; frequency and amplitude from a parabola through the log magnitudes."""
    n = mono.shape[-1]
    segment = np.asarray(mono[int(0.2 * n): int(0.8 * n)], dtype=np.float64)
    segment = segment - segment.mean()
    if segment.size < 64:
        raise ValueError(f"{n} samples are too few to estimate a pitch")
    n_fft = 1 << int(math.ceil(math.log2(8 * segment.size)))
    window = sp_signal.windows.blackmanharris(segment.size, sym=False)
    magnitude = np.abs(np.fft.rfft(segment * window, n_fft))
    level = 20.0 * np.log10(magnitude + 1e-300)
    bin_hz = sample_rate / n_fft
    lo = max(1, int(low_hz / bin_hz))
    hi = min(magnitude.size - 2, int(math.ceil(high_hz / bin_hz)))
    if hi <= lo:
        return np.zeros(0), np.zeros(0)
    band = level[lo:hi + 1]
    top = float(band.max())
    found, _ = sp_signal.find_peaks(band, height=top + floor_db)
    i = found + lo
    alpha, beta, gamma = level[i - 1], level[i], level[i + 1]
    denominator = alpha - 2.0 * beta + gamma
    delta = np.where(denominator < 0, 0.5 * (alpha - gamma) / np.where(denominator < 0, denominator, -1.0), 0.0)
    frequency = (i + delta) * bin_hz
    amplitude = 10.0 ** ((beta - 0.25 * (alpha - gamma) * delta) / 20.0)
    return frequency, amplitude


def _matched_partials(frequency: np.ndarray, amplitude: np.ndarray, f0: float, max_harmonics: int,
                      max_hz: float, tolerance_cents: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For k = 1..max_harmonics (k f0 <= max_hz): the strongest peak within `tolerance_cents` of k f0.
    Returns (k, peak frequency, peak amplitude) of the harmonics that have one."""
    ks, fs, amps = [], [], []
    if frequency.size == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    log_frequency = np.log2(frequency)
    for k in range(1, max_harmonics + 1):
        target = k * f0
        if target > max_hz:
            break
        near = np.abs(log_frequency - math.log2(target)) * 1200.0 <= tolerance_cents
        if near.any():
            j = np.flatnonzero(near)[np.argmax(amplitude[near])]
            ks.append(k)
            fs.append(frequency[j])
            amps.append(amplitude[j])
    return np.asarray(ks, dtype=np.float64), np.asarray(fs), np.asarray(amps)


def _harmonic_scores(candidates: np.ndarray, frequency: np.ndarray, amplitude: np.ndarray, max_harmonics: int,
                     top_hz: float, tolerance_cents: float) -> np.ndarray:
    """estimate_f0_hz's score of each candidate f0: sum_k A_k / k, A_k the strongest peak within `tolerance_cents`
    of k f (0 if none, or if k f is above top_hz). Scored in blocks of 512 candidates: (candidates, harmonics,
    peaks) closeness in cents."""
    harmonics = np.arange(1, max_harmonics + 1, dtype=np.float64)
    log_frequency = np.log2(frequency)
    scores = np.empty(candidates.size)
    for start in range(0, candidates.size, 512):
        targets = candidates[start:start + 512, None] * harmonics[None, :]
        offset = np.abs(log_frequency[None, None, :] - np.log2(targets)[:, :, None]) * 1200.0
        matched = np.where(offset <= tolerance_cents, amplitude[None, None, :], 0.0).max(axis=2)
        matched = np.where(targets <= top_hz, matched, 0.0)
        scores[start:start + 512] = (matched / harmonics[None, :]).sum(axis=1)
    return scores


def estimate_f0_hz(mono: np.ndarray, sample_rate: int, f0_hint_hz: float, search_semitones: float = 5.0,
                   max_harmonics: int = 8, max_hz: float = 8000.0, tolerance_cents: float = 30.0,
                   floor_db: float = -70.0) -> float:
    """Fundamental frequency in Hz of a steady harmonic tone; NaN if there is no spectral peak to go on.

    mono: (samples,) audio, or (channels, samples), which is averaged; at least ~0.5 s for sub-cent accuracy
    at 40 Hz. f0_hint_hz: where to look: the answer lies within `search_semitones` (default 5) of it.

    Method: the steady middle 60 % of the signal, Blackman-Harris window (sidelobes -92 dB, so only real partials
    make peaks), zero-padded 8x FFT, peaks within `floor_db` (70 dB) of the strongest (at most the 256 strongest),
    frequency and level by parabolic interpolation of the log magnitude. Every peak p and every k <= `max_harmonics`
    with p / k within the search range is a candidate f; its score is sum_k A_k / k over k = 1..max_harmonics, A_k
    the strongest peak within `tolerance_cents` of k f (0 if none). The 1/k weight makes the strong low partials
    decide, so the winner is the tone's own fundamental region, not a subharmonic that happens to fit a few upper
    partials. The best candidate is refined, twice, to the power-weighted mean of f_k / k over its matched partials
    (weights A_k^2): the strongest partials set the pitch, and the upper partials' k-fold leverage cannot pull a
    moved fundamental back to the right pitch.

    Honesty: nothing pulls the answer towards the hint. A tone whose partials were snapped to multiples of
    43.07 Hz is measured where its strong low partials are (111.12 Hz snapped -> 129.2 Hz, +261 cents), and a
    tone that moved as a whole (e.g. to 86.1 Hz) is measured there if that is within `search_semitones`
    (else some other real peak structure wins, which is just as far off). On clean synthetic tones the error
    is far below 1 cent (the tests check < 1 cent for every timbre and every tone of TONE_SET).
    """
    audio = np.asarray(mono, dtype=np.float64)
    if audio.ndim == 2:
        audio = audio.mean(axis=0)
    span = 2.0 ** (search_semitones / 12.0)
    low, high = f0_hint_hz / span, f0_hint_hz * span
    top_hz = min(max_hz, 0.49 * sample_rate, (max_harmonics + 0.5) * high)
    frequency, amplitude = _spectral_peaks(audio, sample_rate, 0.95 * low, top_hz, floor_db)
    if frequency.size == 0:
        return float("nan")
    if frequency.size > MAX_PEAKS:  # a noisy output: only the strongest peaks can decide the pitch
        strongest = np.sort(np.argsort(amplitude)[-MAX_PEAKS:])
        frequency, amplitude = frequency[strongest], amplitude[strongest]
    candidates = np.concatenate([frequency / k for k in range(1, max_harmonics + 1)])
    candidates = np.unique(candidates[(candidates >= low) & (candidates <= high)])
    if candidates.size == 0:
        return float("nan")
    scores = _harmonic_scores(candidates, frequency, amplitude, max_harmonics, top_hz, tolerance_cents)
    f0 = float(candidates[int(np.argmax(scores))])
    for _ in range(2):
        k, fk, a = _matched_partials(frequency, amplitude, f0, max_harmonics, top_hz, tolerance_cents)
        if k.size == 0:
            break
        f0 = float(np.sum(a * a * fk / k) / np.sum(a * a))
    return f0


# -------------------------------------------------------------------------------- line prominence

def frame_line_prominence_db(audio: np.ndarray, sample_rate: int, line_hz: float, max_hz: float = 2500.0,
                             clip_db: float = 30.0) -> float:
    """Mean prominence in dB of spectral lines at the multiples of `line_hz` below `max_hz`.

    audio: (channels, samples) or (samples,), at least MIN_PROMINENCE_SAMPLES (32768) samples. Long-term
    spectrum: Welch, Blackman-Harris segments of 65536 samples (0.67 Hz bins at 44.1 kHz; 32768 for audio
    shorter than 65536 samples), half overlap, power averaged over channels, plus a floor of 1e-12 x the mean
    power (-120 dB) so digital silence reads as flat. Levels in dB are first replaced by their maximum over
    +-1 bin. For each multiple m * line_hz: that level at the multiple minus the median of it over the bins
    within +-line_hz/2 excluding the centre +-5 bins (the window's main lobe); clipped to +-`clip_db`
    (30 dB) so that a few partials of a harmonic signal that sit on a line cannot dominate the mean.

    A decoder output that repeats every sample_rate / line_hz samples scores 20-30 dB at line_hz (at all
    its multiples too: 30 dB at hop 1024 means the same at 512, 256, 128); white or pink noise scores
    ~0-2 dB, clean harmonic tones 0-8 dB (how many partials happen to sit on a line), music 0-4 dB.
    """
    x = np.asarray(audio, dtype=np.float64)
    x = x.reshape(-1, x.shape[-1])
    n = x.shape[-1]
    if n < MIN_PROMINENCE_SAMPLES:
        raise ValueError(f"{n} samples are too few for line prominence (need {MIN_PROMINENCE_SAMPLES})")
    nperseg = min(65536, 1 << int(math.floor(math.log2(n))))
    freqs, power = sp_signal.welch(x, fs=sample_rate, window="blackmanharris", nperseg=nperseg,
                                   noverlap=nperseg // 2, detrend=False, axis=-1)
    power = power.mean(axis=0)
    power = power + 1e-12 * float(power.mean()) + 1e-30
    # Max over +-1 bin everywhere, so the line and its neighbourhood are read with the same statistic (a
    # noise floor then scores ~0 dB however few segments were averaged).
    level = maximum_filter1d(10.0 * np.log10(power), size=3, mode="nearest")
    bin_hz = float(freqs[1] - freqs[0])
    half = int(line_hz / 2.0 / bin_hz)
    exclude = 5  # the Blackman-Harris main lobe (+-4 bins) widened by the +-1 bin maximum
    if half <= exclude + 2:
        raise ValueError(f"line spacing {line_hz} Hz is too fine for {bin_hz:.2f} Hz bins")
    offsets = np.arange(-half, half + 1)
    offsets = offsets[np.abs(offsets) > exclude]
    prominences = []
    m = 1
    while m * line_hz <= max_hz and m * line_hz + line_hz / 2.0 < freqs[-1]:
        centre = int(round(m * line_hz / bin_hz))
        reference = float(np.median(level[centre + offsets]))
        prominences.append(float(np.clip(level[centre] - reference, -clip_db, clip_db)))
        m += 1
    if not prominences:
        raise ValueError(f"no multiple of {line_hz} Hz below {max_hz} Hz in {n} samples")
    return float(np.mean(prominences))


def line_prominence_table(audio: np.ndarray, sample_rate: int = SAMPLE_RATE,
                          hops: tuple[int, ...] = (1024, 256, 512, 128),
                          max_hz: float = 2500.0) -> dict[int, float]:
    """{hop: frame_line_prominence_db at line_hz = sample_rate / hop}; multiples below max(max_hz,
    8 x line_hz), so short hops (few lines below 2.5 kHz) still average over 8 lines."""
    return {hop: frame_line_prominence_db(audio, sample_rate, sample_rate / hop,
                                          max(max_hz, 8.0 * sample_rate / hop)) for hop in hops}


# ------------------------------------------------------------------------------------------- keys

_LETTER_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def pitch_class(name: str) -> int:
    """Pitch class 0-11 of a note name: a letter A-G and any accidentals (#, b, ♯, ♭, x = double sharp),
    so C# and Db are both 1, Cb is 11, E# is 5. Raises ValueError on anything else."""
    text = name.strip()
    if not text or text[0].upper() not in _LETTER_PITCH_CLASS:
        raise ValueError(f"not a note name: {name!r}")
    value = _LETTER_PITCH_CLASS[text[0].upper()]
    for accidental in text[1:]:
        if accidental in "#♯":
            value += 1
        elif accidental in "b♭":
            value -= 1
        elif accidental == "x":
            value += 2
        else:
            raise ValueError(f"not a note name: {name!r}")
    return value % 12


def same_tonic(key_a: str, key_b: str) -> bool:
    """Whether two tonic names are the same pitch class (enharmonics equal: C# == Db)."""
    return pitch_class(key_a) == pitch_class(key_b)


def same_key(key_a: str, scale_a: str, key_b: str, scale_b: str) -> bool:
    """Whether (tonic, scale) pairs name the same key: enharmonic tonics equal, scales compared
    case-insensitively ("major"/"minor")."""
    return same_tonic(key_a, key_b) and scale_a.strip().lower() == scale_b.strip().lower()




# -------------------------------------------------------------------------------------- cadences

# Chord roots as semitones above the tonic and triad qualities: I-IV-V-I and i-iv-V-i (harmonic minor's
# major dominant, with the raised leading tone). A V7 on the third chord makes the dominant unmistakable.
_CADENCE: dict[str, tuple[tuple[int, tuple[int, ...]], ...]] = {
    "major": ((0, (0, 4, 7)), (5, (0, 4, 7)), (7, (0, 4, 7, 10)), (0, (0, 4, 7))),
    "minor": ((0, (0, 3, 7)), (5, (0, 3, 7)), (7, (0, 4, 7, 10)), (0, (0, 3, 7))),
}
CADENCE_PROGRAM: int = 0  # GM Acoustic Grand Piano
CADENCE_BASS_PROGRAM: int = 32  # GM Acoustic Bass
CADENCE_TEMPO_BPM: float = 96.0  # 4 bars of 4/4 (one chord a bar) = 10 s


def _in_range(pc: int, low: int, high: int) -> int:
    """The MIDI note of pitch class `pc` in [low, low + 11] (high only documents the range)."""
    return low + (pc - low) % 12


def cadence_piece(tonic_pitch_class: int, mode: str, program: int = CADENCE_PROGRAM,
                  bass_program: int = CADENCE_BASS_PROGRAM, tempo_bpm: float = CADENCE_TEMPO_BPM) -> Piece:
    """A harmonic cadence in one key: I-IV-V7-I (major) or i-iv-V7-i (minor), one chord a bar of 4/4.

    Block chords (program `program`, piano by default) voiced in A3-G#4, struck twice a bar (half notes), the
    tonic doubled an octave up in the tonic chords; the chord root in the bass (program `bass_program`,
    E2-D#3) on every beat. 4 bars at 96 BPM = 10 s. Deterministic.
    """
    if mode not in _CADENCE:
        raise ValueError(f"mode must be 'major' or 'minor', got {mode!r}")
    tonic = int(tonic_pitch_class) % 12
    beat = 60.0 / tempo_bpm
    chords = Track("chords", program, False, "chords", pan=0.45)
    bass = Track("bass", bass_program, False, "bass", pan=0.55)
    bar_starts = []
    for bar, (root_offset, quality) in enumerate(_CADENCE[mode]):
        start = bar * 4 * beat
        bar_starts.append(start)
        root = (tonic + root_offset) % 12
        pitches = sorted({_in_range((root + q) % 12, 57, 68) for q in quality})
        if root_offset == 0:
            pitches.append(_in_range(tonic, 69, 80))
        for half in range(2):
            onset = start + half * 2 * beat
            for pitch in pitches:
                chords.notes.append(Note(pitch, onset, onset + 2 * beat * 0.95, 72 if half == 0 else 62))
        bass_pitch = _in_range(root, 28, 39) + 12
        for b in range(4):
            onset = start + b * beat
            bass.notes.append(Note(bass_pitch, onset, onset + beat * 0.9, 90 if b == 0 else 75))
    piece = Piece(piece_id=f"cadence-{PITCH_CLASS_NAMES[tonic]}-{mode}", source="composer",
                  source_name=f"evaluation/cadence/{PITCH_CLASS_NAMES[tonic]}-{mode}", style="cadence",
                  tempo_bpm=tempo_bpm, key_tonic=PITCH_CLASS_NAMES[tonic], scale=mode, beats_per_bar=4,
                  bar_starts_seconds=bar_starts, end_seconds=len(_CADENCE[mode]) * 4 * beat,
                  tracks=[chords, bass], bar_energy=[0.5] * len(bar_starts))
    piece.validate()
    return piece


def render_piece(piece: Piece, soundfont: str | os.PathLike[str] | None = None, tail_seconds: float = 0.5,
                 hop: int = 1024) -> np.ndarray:
    """Render `piece` dry with the project's FluidRenderer (FluidR3_GM unless `soundfont` names another),
    normalise to -20 LUFS (peak <= -1 dBFS) and cut to a multiple of `hop`: float32 (2, samples)."""
    from engine.dataset.render import FluidRenderer, normalise_loudness

    renderer = FluidRenderer(soundfont)
    try:
        dry = renderer.render(piece, tail_seconds=tail_seconds)
    finally:
        renderer.close()
    audio, _ = normalise_loudness(dry)
    return np.ascontiguousarray(audio[:, : audio.shape[1] // hop * hop], dtype=np.float32)


def render_cadences(keys: list[tuple[int, str]] | None = None, soundfont: str | os.PathLike[str] | None = None,
                    program: int = CADENCE_PROGRAM, hop: int = 1024,
                    tempo_bpm: float = CADENCE_TEMPO_BPM) -> list[tuple[str, str, np.ndarray]]:
    """Render `cadence_piece` for each (tonic pitch class, "major"|"minor") in `keys` (default: all 24, C major
    first, major then minor for each tonic): [(tonic name from PITCH_CLASS_NAMES, scale, audio float32
    (2, samples), samples a multiple of `hop`; 16 beats at `tempo_bpm` plus a 0.5 s tail: ~10.4 s at the
    default 96 BPM)]. Deterministic (a fresh synth per piece)."""
    from engine.dataset.render import FluidRenderer, normalise_loudness

    if keys is None:
        keys = [(tonic, mode) for tonic in range(12) for mode in ("major", "minor")]
    renderer = FluidRenderer(soundfont)
    out = []
    try:
        for tonic, mode in keys:
            piece = cadence_piece(tonic, mode, program=program, tempo_bpm=tempo_bpm)
            audio, _ = normalise_loudness(renderer.render(piece, tail_seconds=0.5))
            audio = np.ascontiguousarray(audio[:, : audio.shape[1] // hop * hop], dtype=np.float32)
            out.append((PITCH_CLASS_NAMES[tonic % 12], mode, audio))
    finally:
        renderer.close()
    return out


def arpeggio_piece(program: int = 0, tempo_bpm: float = 120.0) -> Piece:
    """A moving-notes test piece: a rising and falling A-minor / F / C / G arpeggio in eighth notes (A2-E5)
    over sustained roots, 4 bars of 4/4 at 120 BPM = 8 s; for spectrograms of notes that move."""
    beat = 60.0 / tempo_bpm
    lead = Track("arp", program, False, "arp")
    bass = Track("bass", CADENCE_BASS_PROGRAM, False, "bass")
    progression = ((57, (0, 3, 7)), (53, (0, 4, 7)), (48, (0, 4, 7)), (55, (0, 4, 7)))  # Am F C G
    bar_starts = []
    for bar, (root, quality) in enumerate(progression):
        start = bar * 4 * beat
        bar_starts.append(start)
        up = [root + q + 12 * octave for octave in range(2) for q in quality][:5]
        pattern = up + up[-2:0:-1]  # 8 eighth notes up and down
        for i, pitch in enumerate(pattern):
            onset = start + i * beat / 2
            lead.notes.append(Note(pitch, onset, onset + beat * 0.5, 84))
        bass.notes.append(Note(root - 12, start, start + 4 * beat * 0.95, 90))
    piece = Piece(piece_id="arpeggio", source="composer", source_name="evaluation/arpeggio", style="arpeggio",
                  tempo_bpm=tempo_bpm, key_tonic="A", scale="minor", beats_per_bar=4,
                  bar_starts_seconds=bar_starts, end_seconds=len(progression) * 4 * beat,
                  tracks=[lead, bass], bar_energy=[0.5] * len(bar_starts))
    piece.validate()
    return piece

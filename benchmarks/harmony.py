"""Does the generated audio follow the requested chords? The harmony control's benchmark, scored by essentia.

    .venv/bin/python benchmarks/harmony.py [--diffusion engine/weights/diffusion.safetensors] [--seconds 16]
        [--path render|live] [--steps 16] [--cfg 3] [--seed 0] [--n-prompts 6] [--threads 2] [--out FILE]
        [--save-audio DIR] [--figure PNG]
    .venv/bin/python benchmarks/harmony.py --self-check     (the scoring alone, on synthetic audio; no model)

Each prompt (PROMPTS: varied styles, no key words, a tempo each) gets one progression of PROGRESSIONS (cycled),
one chord a bar of 4 beats, looped over the render. Every prompt is rendered twice with the same seed (the
base seed + the prompt's index), as `cascade render PROMPT --tempo T --chords "..."` and the same without
--chords (instrument/commands/render.py: the chords become the request's chroma curve through its
`_with_chords`; cfg, steps, sampler dpmpp_2m, `Generator.render`'s chunked continuation). A model without the
harmony control (its U-Net config's harmony_channels false; `cascade render --chords` refuses it) is rendered
without chords only, and that render is still scored against the progression: the baseline of a model that
does not know the chords.

Scoring, independent of our models: essentia's HPCP (12 bins, 8192-sample Blackman-Harris frames, hop 2048,
spectral peaks 40-5000 Hz, unitMax per frame) of the mono mix, rotated so bin 0 is C as in engine/harmony.
Bar b spans [b, b + 1) bar lengths from the render's start, as the chroma curve's bars do; bar 0 (where a
render may lag) and an incomplete last bar are not scored. Per scored bar, on the mean of its HPCP frames:
  - cos: cosine with the requested chord's 0/1 template (engine/harmony's Chord pitch classes);
  - sust: the same over the middle half of the bar only (the sustained chord, away from the changes);
  - others: mean cosine with the templates of the progression's other chords: a render that only holds the
    key scores as high here as in cos; one that follows the bars scores lower;
  - wins: the share of bars whose requested chord's cosine beats every other chord of the progression;
  - triad: the share of bars whose best of the 24 major/minor triad templates (by cosine) has the requested
    chord's root and quality (a 7th or other extended chord is compared as its triad; a chord without a major
    or minor third is not counted);
  - essentia: the same share for essentia's ChordsDetectionBeats (ticks on the bar lines, inter-bar median of
    the HPCP), its chord names read by engine/harmony's parser so enharmonics compare equal.
For reference, a flat chroma (noise) scores 0.5 against a triad's template. The issue's aim: cos >= 0.8 on
sustained chords, and the progression recognisable by a chord estimator.

--figure PNG draws, for the first FIGURE_PROMPTS_MAX prompts (one row each), the HPCP frames scored above (C at
the bottom) of the render with chords (left) and without (right; alone for a model without the harmony control),
the requested chord tones outlined per bar, the chord symbols above the bars, the unscored bars greyed; from the
renders already made (their HPCP frames kept), nothing rendered again.

--self-check scores synthetic audio instead, no model: a C major triad of sines (the HPCP's rotation); each
progression played by harmonic tones, which must score cos >= 0.85 and triad 1.0; the progressions played one
bar late, which must score triad 0; white noise, which must score low. It exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.harmony import DEFAULT_BEATS_PER_BAR, PITCH_CLASSES, Chord, parse_chord, parse_progression  # noqa: E402
from engine.essentia_chroma import HPCP_HOP_SAMPLES, c_based, hpcp_frames  # noqa: E402
from engine.limits import CFG_SCALE_RANGE, RENDER_SECONDS_MAX, STEPS_RANGE  # noqa: E402
from engine.vocabulary import GUIDED_CONTROLS_DEFAULT, SAMPLE_RATE  # noqa: E402
from instrument.arguments import guided_control_names, integer_in, number_in, seed, thread_count  # noqa: E402
from instrument.chord_names import NOTE_NAMES  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.image import AxesImage

    from engine.generate import Generator
    from engine.request import GenerationRequest

RENDER_SAMPLER = "dpmpp_2m"  # cascade render's default

# The middle half of a bar: the "sustained" chord, away from the bar lines where a change may smear.
SUSTAINED_SPAN = (0.25, 0.75)

PROGRESSIONS: tuple[str, ...] = ("Am F C G", "C G Am F", "Dm G C Am", "E B C#m A", "F Bb Gm C")


@dataclass(frozen=True)
class PromptSpec:
    text: str  # no key or chord words: the harmony is the control's alone
    tempo_bpm: float


PROMPTS: tuple[PromptSpec, ...] = (
    PromptSpec("warm electric piano ballad", 80.0),
    PromptSpec("lofi hip hop with soft keys", 85.0),
    PromptSpec("string ensemble, slow and sustained", 80.0),
    PromptSpec("acoustic guitar folk", 100.0),
    PromptSpec("synthwave pads and arpeggios", 110.0),
    PromptSpec("jazz trio with piano", 100.0),
    PromptSpec("ambient pad with a soft choir", 90.0),
    PromptSpec("funky organ groove with bass", 105.0),
)


# --- chord templates ---------------------------------------------------------------------------------------


def triad_of(chord: Chord) -> tuple[int, bool] | None:
    """(root, minor) of the major or minor triad a chord is heard as (a 7th as its triad); None for a chord
    with no major or minor third above its root (sus, power chord) or for no chord."""
    if chord.root is None:
        return None
    if (chord.root + 4) % PITCH_CLASSES in chord.pitch_classes:
        return chord.root, False
    if (chord.root + 3) % PITCH_CLASSES in chord.pitch_classes:
        return chord.root, True
    return None


def _triad_template(root: int, minor: bool) -> np.ndarray:
    template = np.zeros(PITCH_CLASSES, np.float64)
    template[[root, (root + (3 if minor else 4)) % PITCH_CLASSES, (root + 7) % PITCH_CLASSES]] = 1.0
    return template


TRIADS: tuple[tuple[int, bool], ...] = tuple((root, minor) for minor in (False, True) for root in range(PITCH_CLASSES))
TRIAD_TEMPLATES: np.ndarray = np.stack([_triad_template(root, minor) for root, minor in TRIADS])  # (24, 12)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two (12,) vectors; 0 when either is all zeros (a silent bar matches nothing)."""
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norms) if norms > 0 else 0.0


def best_triad(chroma: np.ndarray) -> tuple[int, bool] | None:
    """The major/minor triad whose template has the highest cosine with `chroma`; None for a silent chroma."""
    if not np.any(chroma > 0):
        return None
    scores = TRIAD_TEMPLATES @ chroma / (np.linalg.norm(TRIAD_TEMPLATES, axis=1) * np.linalg.norm(chroma))
    return TRIADS[int(np.argmax(scores))]


def triad_name(triad: tuple[int, bool] | None) -> str:
    if triad is None:
        return "-"
    names = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
    return names[triad[0]] + ("m" if triad[1] else "")


# --- essentia ----------------------------------------------------------------------------------------------


def essentia_bar_chords(hpcp: np.ndarray, bar_seconds: float, bars: int, sample_rate: int = SAMPLE_RATE) -> list[str]:
    """essentia's ChordsDetectionBeats, one chord per bar 0..bars-1 (ticks on the bar lines); `hpcp` in
    essentia's own bin order (its chord names assume bin 0 = A)."""
    import essentia.standard as es

    detector = es.ChordsDetectionBeats(hopSize=HPCP_HOP_SAMPLES, sampleRate=float(sample_rate),
                                       chromaPick="interbeat_median")
    ticks_s = np.arange(bars + 1, dtype=np.float32) * np.float32(bar_seconds)
    chords, _strength = detector(hpcp.astype(np.float32), ticks_s)
    return [str(chord) for chord in chords]


# --- scoring -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HarmonyScore:
    """One audio scored against one progression, over its scored bars (bar 1 to the last complete bar)."""

    bars: int  # bars scored
    cosine: float  # mean cosine with the requested chord's template
    sustained_cosine: float  # the same over each bar's middle half
    others_cosine: float  # mean cosine with the progression's other chords' templates
    wins: float  # share of bars where the requested chord beats every other chord of the progression
    triad_accuracy: float  # share of bars whose best triad template is the requested chord's triad
    essentia_accuracy: float  # share of bars where essentia's ChordsDetectionBeats names the requested triad
    best_triads: tuple[str, ...]  # the best triad template per scored bar
    essentia_chords: tuple[str, ...]  # essentia's chord per scored bar


def _mean_or_nan(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def _mono_mix(audio: np.ndarray) -> np.ndarray:
    """(samples,) float32 mono of (channels, samples) or (samples,) audio, as scored and drawn."""
    samples = np.asarray(audio, dtype=np.float32)
    return samples.reshape(-1, samples.shape[-1]).mean(axis=0)


def score_audio(audio: np.ndarray, chords: Sequence[Chord], tempo_bpm: float,
                beats_per_bar: int = DEFAULT_BEATS_PER_BAR, sample_rate: int = SAMPLE_RATE) -> HarmonyScore:
    """Score (channels, samples) or (samples,) float audio against `chords`, one a bar from sample 0, looped."""
    mono = _mono_mix(audio)
    raw = hpcp_frames(mono, sample_rate)
    chroma = c_based(raw)
    frame_times_s = np.arange(len(chroma)) * HPCP_HOP_SAMPLES / sample_rate
    bar_seconds = beats_per_bar * 60.0 / tempo_bpm
    complete_bars = int(math.floor(len(mono) / sample_rate / bar_seconds + 1e-9))
    scored = range(1, complete_bars)  # bar 0 skipped: the render's start may lag
    detected = essentia_bar_chords(raw, bar_seconds, complete_bars, sample_rate) if complete_bars > 1 else []
    cosines: list[float] = []
    sustained: list[float] = []
    others: list[float] = []
    wins: list[float] = []
    triad_hits: list[float] = []
    essentia_hits: list[float] = []
    best_names: list[str] = []
    essentia_names: list[str] = []
    for bar in scored:
        chord = chords[bar % len(chords)]
        template = chord.chroma().astype(np.float64)
        start_s = bar * bar_seconds
        in_bar = (frame_times_s >= start_s) & (frame_times_s < start_s + bar_seconds)
        in_middle = ((frame_times_s >= start_s + SUSTAINED_SPAN[0] * bar_seconds)
                     & (frame_times_s < start_s + SUSTAINED_SPAN[1] * bar_seconds))
        bar_chroma = chroma[in_bar].mean(axis=0) if in_bar.any() else np.zeros(PITCH_CLASSES)
        middle_chroma = chroma[in_middle].mean(axis=0) if in_middle.any() else np.zeros(PITCH_CLASSES)
        requested = cosine(bar_chroma, template)
        cosines.append(requested)
        sustained.append(cosine(middle_chroma, template))
        # The other chords by their sounding notes: a repeated chord, or the same notes spelled otherwise, is not
        # an "other" chord.
        other_templates = {other.pitch_classes: other.chroma().astype(np.float64) for other in chords
                           if other.pitch_classes != chord.pitch_classes and not other.is_no_chord}
        if other_templates:
            other_cosines = [cosine(bar_chroma, t) for t in other_templates.values()]
            others.append(float(np.mean(other_cosines)))
            wins.append(1.0 if requested > max(other_cosines) else 0.0)
        wanted = triad_of(chord)
        best = best_triad(bar_chroma)
        best_names.append(triad_name(best))
        if wanted is not None:
            triad_hits.append(1.0 if best == wanted else 0.0)
        name = detected[bar] if bar < len(detected) else "-"
        essentia_names.append(name)
        if wanted is not None:
            try:
                heard = triad_of(parse_chord(name))
            except ValueError:  # a name our parser does not read ("N"): no chord heard
                heard = None
            essentia_hits.append(1.0 if heard == wanted else 0.0)
    return HarmonyScore(bars=len(scored), cosine=_mean_or_nan(cosines), sustained_cosine=_mean_or_nan(sustained),
                        others_cosine=_mean_or_nan(others), wins=_mean_or_nan(wins),
                        triad_accuracy=_mean_or_nan(triad_hits), essentia_accuracy=_mean_or_nan(essentia_hits),
                        best_triads=tuple(best_names), essentia_chords=tuple(essentia_names))


# --- synthetic audio (the self-check) ----------------------------------------------------------------------


def harmonic_tone(frequency_hz: float, seconds: float, sample_rate: int = SAMPLE_RATE,
                  harmonics: int = 8) -> np.ndarray:
    """A sawtooth-like tone (harmonic k at 1/k) with a short attack and a slow decay, like a plucked pad."""
    time_s = np.arange(int(round(seconds * sample_rate))) / sample_rate
    tone = sum(np.sin(2 * np.pi * k * frequency_hz * time_s) / k
               for k in range(1, harmonics + 1) if k * frequency_hz < sample_rate / 2)
    envelope = np.minimum(time_s / 0.02, 1.0) * np.exp(-time_s / 3.0)
    return np.asarray(tone * envelope, np.float64)


def chord_voicing_hz(chord: Chord) -> list[float]:
    """The chord's pitch classes as notes from its root in octave 3 (C3 = MIDI 48) upwards, within C3..B4."""
    root = chord.root if chord.root is not None else 0
    midis = [48 + root + (pc - root) % PITCH_CLASSES for pc in sorted(chord.pitch_classes)]
    return [440.0 * 2.0 ** ((midi - 69) / 12.0) for midi in midis]


def synth_progression(chords: Sequence[Chord], tempo_bpm: float, seconds: float, sample_rate: int = SAMPLE_RATE,
                      beats_per_bar: int = DEFAULT_BEATS_PER_BAR, bar_shift: int = 0) -> np.ndarray:
    """(samples,) mono: the progression looped, one chord a bar from sample 0, each chord's tones re-struck on
    its bar. bar_shift > 0 plays each bar's chord that many bars late (bar b sounds chord b - bar_shift)."""
    total_samples = int(round(seconds * sample_rate))
    bar_seconds = beats_per_bar * 60.0 / tempo_bpm
    out = np.zeros(total_samples, np.float64)
    for bar in range(int(math.ceil(seconds / bar_seconds))):
        start = int(round(bar * bar_seconds * sample_rate))
        end = min(int(round((bar + 1) * bar_seconds * sample_rate)), total_samples)
        chord = chords[(bar - bar_shift) % len(chords)]
        for hz in chord_voicing_hz(chord):
            out[start:end] += harmonic_tone(hz, (end - start) / sample_rate, sample_rate)[:end - start]
    return (0.5 * out / max(float(np.abs(out).max()), 1e-9)).astype(np.float32)


def self_check(lines: list[str]) -> bool:
    """Score synthetic audio whose chords are known; True when every check passes (each printed)."""
    passed = True

    def check(ok: bool, text: str) -> None:
        nonlocal passed
        passed &= ok
        lines.append(f"  [{'ok' if ok else 'FAIL'}] {text}")

    lines.append("self-check: the scoring on synthetic audio (no model)")
    # The rotation: C4 E4 G4 sines must peak at pitch classes 0, 4, 7.
    time_s = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    triad = sum(np.sin(2 * np.pi * 440.0 * 2.0 ** ((midi - 69) / 12.0) * time_s) for midi in (60, 64, 67))
    mean_hpcp = c_based(hpcp_frames(np.asarray(triad / 3, np.float32))).mean(axis=0)
    top = sorted(int(pc) for pc in np.argsort(mean_hpcp)[-3:])
    check(top == [0, 4, 7], f"C4 E4 G4 sines: rotated HPCP's 3 highest bins {top} (want [0, 4, 7]); "
                            f"HPCP {np.array2string(mean_hpcp, precision=2, suppress_small=True)}")

    tempo_bpm, seconds = 100.0, 16.0
    header = (f"  {'audio':<34} {'progression':<11} {'bars':>4} {'cos':>5} {'sust':>5} {'others':>6} {'wins':>5} "
              f"{'triad':>5} {'ess.':>5}  essentia chords")
    lines.append(f"  synthetic audio: {tempo_bpm:g} BPM, {seconds:g} s, harmonic tones (8 partials at 1/k) C3-B4")
    lines.append(header)
    for progression in PROGRESSIONS:
        chords = parse_progression(progression)
        for label, shift in (("the progression", 0), ("the progression, one bar late", 1)):
            score = score_audio(synth_progression(chords, tempo_bpm, seconds, bar_shift=shift), chords, tempo_bpm)
            lines.append(_score_line(label, progression, score, width=34))
            if shift == 0:
                check(score.cosine >= 0.85 and score.sustained_cosine >= 0.85 and score.triad_accuracy == 1.0,
                      f"{progression}: cos {score.cosine:.3f}, sust {score.sustained_cosine:.3f} >= 0.85, "
                      f"triad {score.triad_accuracy:.2f} == 1")
                check(score.essentia_accuracy >= 0.75, f"{progression}: essentia's ChordsDetectionBeats "
                                                       f"{score.essentia_accuracy:.2f} >= 0.75")
            else:
                # A render that plays the right key but not this bar's chord must not pass as following it.
                check(score.triad_accuracy == 0.0 and score.wins == 0.0,
                      f"{progression} one bar late: triad {score.triad_accuracy:.2f}, wins {score.wins:.2f} == 0")
    noise = np.random.default_rng(0).standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32) * 0.1
    chords = parse_progression(PROGRESSIONS[0])
    score = score_audio(noise, chords, tempo_bpm)
    lines.append(_score_line("white noise", PROGRESSIONS[0], score, width=34))
    check(score.cosine < 0.65 and score.sustained_cosine < 0.65,
          f"white noise: cos {score.cosine:.3f}, sust {score.sustained_cosine:.3f} < 0.65 (a flat chroma: 0.5)")
    lines.append(f"self-check {'passed' if passed else 'FAILED'}")
    return passed


# --- the table ---------------------------------------------------------------------------------------------


def _cell(value: float, width: int = 5) -> str:
    return f"{'-':>{width}}" if math.isnan(value) else f"{value:{width}.2f}"


def _score_line(label: str, progression: str, score: HarmonyScore, width: int) -> str:
    text = label if len(label) <= width else label[:width - 3] + "..."
    return (f"  {text:<{width}} {progression:<11} {score.bars:>4} {_cell(score.cosine)} "
            f"{_cell(score.sustained_cosine)} {_cell(score.others_cosine, 6)} {_cell(score.wins)} "
            f"{_cell(score.triad_accuracy)} {_cell(score.essentia_accuracy)}  {' '.join(score.essentia_chords)}")


@dataclass(frozen=True)
class Row:
    spec: PromptSpec
    progression: str
    version: str  # "chords" or "no chords"
    seed: int
    score: HarmonyScore
    render_s: float


def table_lines(rows: Sequence[Row]) -> list[str]:
    width = 36
    header = (f"  {'prompt':<{width}} {'BPM':>4} {'progression':<11} {'version':<9} {'bars':>4} {'cos':>5} "
              f"{'sust':>5} {'others':>6} {'wins':>5} {'triad':>5} {'ess.':>5}  best triad | essentia, per bar")
    lines = [header, "  " + "-" * (len(header) - 2)]
    for row in rows:
        text = row.spec.text if len(row.spec.text) <= width else row.spec.text[:width - 3] + "..."
        score = row.score
        lines.append(f"  {text:<{width}} {row.spec.tempo_bpm:>4g} {row.progression:<11} {row.version:<9} "
                     f"{score.bars:>4} {_cell(score.cosine)} {_cell(score.sustained_cosine)} "
                     f"{_cell(score.others_cosine, 6)} {_cell(score.wins)} {_cell(score.triad_accuracy)} "
                     f"{_cell(score.essentia_accuracy)}  {' '.join(score.best_triads)} | "
                     f"{' '.join(score.essentia_chords)}")
    lines.append("  " + "-" * (len(header) - 2))
    for version in ("chords", "no chords"):
        chosen = [row.score for row in rows if row.version == version]
        if not chosen:
            continue

        def mean(values: list[float]) -> float:
            finite = [v for v in values if not math.isnan(v)]
            return float(np.mean(finite)) if finite else math.nan

        label = f"mean over {len(chosen)} prompt{'s' if len(chosen) > 1 else ''}"
        lines.append(f"  {label:<{width}} {'':>4} {'':<11} {version:<9} {sum(s.bars for s in chosen):>4} "
                     f"{_cell(mean([s.cosine for s in chosen]))} {_cell(mean([s.sustained_cosine for s in chosen]))} "
                     f"{_cell(mean([s.others_cosine for s in chosen]), 6)} {_cell(mean([s.wins for s in chosen]))} "
                     f"{_cell(mean([s.triad_accuracy for s in chosen]))} "
                     f"{_cell(mean([s.essentia_accuracy for s in chosen]))}")
    lines.append("")
    lines.append("cos / sust: cosine of the bar's mean HPCP (sust: its middle half) with the requested chord's 0/1 "
                 "template (a flat chroma: 0.5 for a triad; the aim: sust >= 0.8); others: mean cosine with the "
                 "progression's other chords;\nwins: share of bars where the requested chord beats all the others; "
                 "triad: share of bars whose best of the 24 major/minor triad templates is the requested chord's; "
                 "ess.: the same for essentia's ChordsDetectionBeats (one chord a bar).\nBar 0 and an incomplete "
                 "last bar are not scored; the per-bar chords listed are those of the scored bars.")
    return lines


# --- the figure (--figure) ---------------------------------------------------------------------------------

FIGURE_PROMPTS_MAX = 4  # more rows would squeeze each panel's 12 pitch-class rows below readability
FIGURE_DPI = 110
CHORD_TONE_COLOR = "#00e5ff"  # cyan: stands out on magma's black, purple and pale yellow alike
CHROMA_COLORMAP = "magma"  # perceptual, as the benchmarks' spectrograms


def figure_chroma(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(frames, 12) the C-based HPCP frames score_audio scores: kept per render so the figure re-renders nothing."""
    return c_based(hpcp_frames(_mono_mix(audio), sample_rate))


@dataclass(frozen=True)
class FigurePanel:
    """One render for the figure: its table row (prompt, progression, version, score) and its HPCP frames."""

    row: Row
    chroma: np.ndarray  # (frames, 12), C = 0; frame i centred on i * HPCP_HOP_SAMPLES
    seconds: float  # the render's length


def _draw_chromagram(ax: Axes, panel: FigurePanel, sample_rate: int) -> AxesImage:
    """The HPCP frames as an image, C at the bottom; each frame spans its hop, centred on its own time."""
    hop_s = HPCP_HOP_SAMPLES / sample_rate
    extent = (-hop_s / 2, (len(panel.chroma) - 0.5) * hop_s, -0.5, PITCH_CLASSES - 0.5)
    image = ax.imshow(panel.chroma.T, aspect="auto", origin="lower", extent=extent, cmap=CHROMA_COLORMAP,
                      vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xlim(0.0, panel.seconds)
    ax.set_yticks(range(PITCH_CLASSES), NOTE_NAMES)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("pitch class")
    return image


def _draw_chords(ax: Axes, chords: Sequence[Chord], tempo_bpm: float, seconds: float) -> None:
    """The requested chord per bar, as the scoring reads it (bar b from b bar lengths, looped): faint bar lines,
    an outlined box on each chord tone's row, the symbol above the bar; the unscored bars greyed."""
    from matplotlib.patches import Rectangle

    bar_s = DEFAULT_BEATS_PER_BAR * 60.0 / tempo_bpm
    complete_bars = int(math.floor(seconds / bar_s + 1e-9))
    # Bar 0 and an incomplete last bar are not scored: greyed so the panel's cos is read over the rest.
    ax.axvspan(0.0, bar_s, color="0.5", alpha=0.35, linewidth=0)
    if complete_bars * bar_s < seconds:
        ax.axvspan(complete_bars * bar_s, seconds, color="0.5", alpha=0.35, linewidth=0)
    above = ax.get_xaxis_transform()  # x in seconds, y in axes fractions: the symbols sit on the top edge
    for bar in range(int(math.ceil(seconds / bar_s - 1e-9))):
        start_s = bar * bar_s
        chord = chords[bar % len(chords)]
        if bar > 0:
            ax.axvline(start_s, color="white", alpha=0.35, linewidth=0.8)
        for pitch_class in chord.pitch_classes:
            # Inset a little on every side so neighbouring bars' and rows' boxes stay apart.
            ax.add_patch(Rectangle((start_s + 0.04 * bar_s, pitch_class - 0.42), 0.92 * bar_s, 0.84, fill=False,
                                   edgecolor=CHORD_TONE_COLOR, linewidth=1.1))
        middle_s = start_s + min(bar_s, seconds - start_s) / 2
        ax.text(middle_s, 1.01, chord.symbol, transform=above, ha="center", va="bottom", fontsize=9,
                fontweight="bold", clip_on=False)


def _panel_title(panel: FigurePanel, harmony: bool) -> str:
    row = panel.row
    if row.version == "chords":
        version = "with --chords"
    else:
        version = "without chords" if harmony else "without chords (model has no harmony control)"
    return (f"\"{row.spec.text}\" ({row.spec.tempo_bpm:g} BPM, {row.progression})\n{version}: "
            f"cos {_cell(row.score.cosine).strip()}, sust {_cell(row.score.sustained_cosine).strip()}")


def draw_figure(panels: Sequence[FigurePanel], harmony: bool, out: Path, caption: str,
                sample_rate: int = SAMPLE_RATE) -> None:
    """One row per prompt: the render with chords (left) and without (right), or the one render without chords
    of a model without the harmony control; the requested chords drawn over both."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    versions = ("chords", "no chords") if harmony else ("no chords",)
    prompts = list(dict.fromkeys(panel.row.spec.text for panel in panels))  # in render order
    by_key = {(panel.row.spec.text, panel.row.version): panel for panel in panels}
    width_in = max(8.0 * len(versions) + 1.0, 11.0)  # one column: still wide enough for the caption's lines
    fig, axes = plt.subplots(len(prompts), len(versions), figsize=(width_in, 4.2 * len(prompts) + 0.6),
                             squeeze=False, layout="constrained")
    for row_index, prompt in enumerate(prompts):
        for column, version in enumerate(versions):
            panel = by_key[(prompt, version)]
            ax = axes[row_index, column]
            image = _draw_chromagram(ax, panel, sample_rate)
            _draw_chords(ax, parse_progression(panel.row.progression), panel.row.spec.tempo_bpm, panel.seconds)
            ax.set_title(_panel_title(panel, harmony), fontsize=10, pad=16)
        fig.colorbar(image, ax=axes[row_index, :].tolist(), label="HPCP (unitMax per frame)", pad=0.01,
                     fraction=0.03)
    fig.suptitle(caption, fontsize=11)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=FIGURE_DPI)
    plt.close(fig)


def figure_caption(diffusion: Path, training_steps: object, args: argparse.Namespace) -> str:
    return (f"Harmony benchmark: {diffusion.name} ({training_steps} training steps)\n"
            f"{args.seconds:g} s {'live plays' if args.path == 'live' else 'renders'}, {args.steps} sampler steps, "
            f"cfg {args.cfg:g}, seed {args.seed} + prompt "
            f"index; essentia HPCP per frame, C at the bottom\n"
            f"cyan boxes: the requested chord's tones per bar; grey: bars not scored (bar 0, an incomplete last bar)")


# --- rendering ---------------------------------------------------------------------------------------------


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].rstrip("-") or "prompt"


def _request_with_chords(generator: Generator, request: GenerationRequest, chords: tuple[Chord, ...],
                         seconds: float) -> GenerationRequest:
    """The request `cascade render --chords` sends: the chords as a chroma curve over the render's latent frames
    (instrument/commands/render.py `_render` and `_with_chords`, reused so the two cannot drift apart)."""
    from instrument.commands.render import _with_chords

    frames = math.ceil(round(seconds * generator.sample_rate) / generator.hop_frames)
    return _with_chords(replace(request, beats_per_bar=DEFAULT_BEATS_PER_BAR), chords, frames)


def main() -> int:
    from engine.diffusion.checkpoint import DEFAULT_DIFFUSION_WEIGHTS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--diffusion", type=Path, default=DEFAULT_DIFFUSION_WEIGHTS,
                        help="diffusion .safetensors (default: shipped)")
    parser.add_argument("--seconds", type=number_in(0.0, RENDER_SECONDS_MAX, above_minimum=True), default=16.0,
                        help="seconds per render (at least two bars of the slowest prompt)")
    parser.add_argument("--path", choices=("render", "live"), default="render",
                        help="render: `cascade render`'s chunked continuation; live: the live engine's stitcher "
                             "driven offline (benchmarks/live_render.py), the chords on the bar lines as the held "
                             "chords of a player who lands each on its bar")
    parser.add_argument("--steps", type=integer_in(*STEPS_RANGE), default=None,
                        help="sampler steps per chunk (default: 16 rendered, the app's 8 live)")
    parser.add_argument("--cfg", type=number_in(*CFG_SCALE_RANGE), default=None,
                        help="classifier-free guidance (default: 3 rendered, the app's 4 live)")
    parser.add_argument("--guide-controls", type=guided_control_names, default=GUIDED_CONTROLS_DEFAULT,
                        metavar="NAMES", help="as `cascade render --guide-controls` (e.g. harmony,clock)")
    parser.add_argument("--seed", type=seed, default=0, help="base seed: prompt i renders with seed + i")
    parser.add_argument("--n-prompts", type=integer_in(1, len(PROMPTS)), default=6,
                        help=f"how many of the {len(PROMPTS)} prompts, in order")
    parser.add_argument("--threads", type=thread_count, default=2, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this text file")
    parser.add_argument("--save-audio", type=Path, default=None, metavar="DIR",
                        help="write each render here as FLAC")
    parser.add_argument("--figure", type=Path, default=None, metavar="PNG",
                        help=f"draw the chromagrams of the first {FIGURE_PROMPTS_MAX} prompts' renders, with the "
                             "requested chords over them, to this PNG")
    parser.add_argument("--self-check", action="store_true",
                        help="score synthetic audio of known chords only (no model); exit 1 if a check fails")
    args = parser.parse_args()

    if args.self_check:
        lines: list[str] = []
        ok = self_check(lines)
        print("\n".join(lines))
        return 0 if ok else 1

    from benchmarks.live_render import LIVE_CFG_SCALE, LIVE_STEPS, live_path  # the model's imports: not for the check

    live = args.path == "live"
    args.steps = args.steps if args.steps is not None else (LIVE_STEPS if live else 16)
    args.cfg = args.cfg if args.cfg is not None else (LIVE_CFG_SCALE if live else 3.0)

    specs = PROMPTS[:args.n_prompts]
    slowest_bar_s = max(DEFAULT_BEATS_PER_BAR * 60.0 / spec.tempo_bpm for spec in specs)
    if args.seconds < 2 * slowest_bar_s - 1e-9:
        parser.error(f"--seconds must cover at least two bars ({2 * slowest_bar_s:g} s at "
                     f"{min(s.tempo_bpm for s in specs):g} BPM): bar 0 is not scored")

    import torch

    from engine.diffusion.checkpoint import read_diffusion_metadata
    from engine.generate import Generator
    from engine.request import GenerationError, GenerationRequest
    from engine.weights_io import CheckpointError

    if args.threads:
        torch.set_num_threads(args.threads)
        # numba's OpenMP layer (the phase integrator) shares torch's runtime: its first launch would set torch's
        # thread count to all cores (benchmarks/render_report.py).
        import numba

        numba.set_num_threads(max(1, min(args.threads, numba.config.NUMBA_NUM_THREADS)))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        metadata = read_diffusion_metadata(args.diffusion)
        generator = Generator.load(args.diffusion, device=device, traced=True)
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        generator.require_harmony()  # what `cascade render --chords` asks before it renders anything
        refusal = None
    except GenerationError as error:
        refusal = str(error)
    versions = ("chords", "no chords") if generator.harmony else ("no chords",)

    out_lines = [f"harmony benchmark: model {args.diffusion} ({generator.model_id}: "
                 f"{metadata['extra'].get('steps', '?')} training steps), harmony control "
                 f"{'yes' if generator.harmony else 'no'}; {args.seconds:g} s per "
                 f"{'live play (the live stitcher)' if live else 'render'}, {args.steps} steps, "
                 f"cfg {args.cfg:g} guiding {','.join(args.guide_controls) or 'no control'}, sampler {RENDER_SAMPLER}, "
                 f"seeds {args.seed}..{args.seed + len(specs) - 1} "
                 f"(prompt i: seed + i, both versions), {device}, {args.threads or 'default'} threads"]
    if refusal is not None:
        out_lines.append(f"no harmony control (U-Net config harmony_channels false): only the renders without chords, "
                         f"scored against the progression (the baseline). `cascade render --chords` says: {refusal}")
    print("\n".join(out_lines), flush=True)

    if args.save_audio is not None:
        args.save_audio.mkdir(parents=True, exist_ok=True)
    from engine.audio_file import AudioFileError, write_audio_file

    rows: list[Row] = []
    panels: list[FigurePanel] = []  # the figure's renders, their HPCP frames kept (the audio is not)
    for index, spec in enumerate(specs):
        progression = PROGRESSIONS[index % len(PROGRESSIONS)]
        chords = parse_progression(progression)
        base = GenerationRequest(prompts=(spec.text,), weights=(1.0,), cfg_scale=args.cfg, steps=args.steps,
                                 sampler=RENDER_SAMPLER, seed=args.seed + index, tempo_bpm=spec.tempo_bpm,
                                 guided_controls=args.guide_controls)
        for version in versions:
            request = base if version == "no chords" else _request_with_chords(generator, base, chords, args.seconds)
            started = time.perf_counter()
            try:
                audio = (live_path(generator, request.validated(), args.seconds)[0] if live
                         else generator.render(request.validated(), args.seconds))
            except GenerationError as error:
                print(f"error: {spec.text!r} ({version}): {error}", file=sys.stderr)
                return 2
            render_s = time.perf_counter() - started
            score = score_audio(audio, chords, spec.tempo_bpm, sample_rate=generator.sample_rate)
            rows.append(Row(spec, progression, version, args.seed + index, score, render_s))
            if args.figure is not None and index < FIGURE_PROMPTS_MAX:
                panels.append(FigurePanel(rows[-1], figure_chroma(audio, generator.sample_rate),
                                          audio.shape[-1] / generator.sample_rate))
            # The first render also pays the one-off costs (the U-Net's trace, the phase kernels' first call).
            first = " (with the one-off first-call costs)" if len(rows) == 1 else ""
            print(f"  [{index + 1}/{len(specs)}] {spec.text} ({version}): rendered in {render_s:.1f} s{first}, "
                  f"scored in {time.perf_counter() - started - render_s:.1f} s", file=sys.stderr, flush=True)
            if args.save_audio is not None:
                path = args.save_audio / f"{index + 1:02d}-{_slug(spec.text)}-{_slug(version)}.flac"
                try:
                    write_audio_file(path, audio, generator.sample_rate)
                except AudioFileError as error:
                    print(f"error: {error}", file=sys.stderr)
                    return 2
                print(f"  wrote {path}", file=sys.stderr, flush=True)

    table = table_lines(rows)
    print()
    print("\n".join(table))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(out_lines + [""] + table) + "\n", encoding="utf-8")
        print(f"\nwrote {args.out}")
    if args.figure is not None:
        caption = figure_caption(args.diffusion, metadata["extra"].get("steps", "?"), args)
        draw_figure(panels, generator.harmony, args.figure, caption, generator.sample_rate)
        print(f"wrote {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Pieces from music21's bundled corpus (Bach chorales, folk tunes in ABC), transposed, re-tempoed and
given plausible GM instruments — the second MIDI source beside the procedural composer.

Only works with a single time signature are used, simple (2/4, 3/4, 4/4; 2/2 as four quarters) or compound (6/8
jigs, 12/8). Tempo counts quarter notes throughout Cascade, as a DAW and MIDI clock do: a 6/8 bar is 3 quarters (its
beats_per_bar), its felt dotted-quarter pulse runs at 2/3 of the stated tempo (9/8, 4.5 quarters, is refused).
Monophonic folk tunes get a harmonised accompaniment (chords on each pulse, the quarter or the dotted quarter, and a
root bass) so the tonal centre and the pulse are audible, as a folk band would play them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.dataset.score import PITCH_CLASS_NAMES, SCALE_INTERVALS, Note, Piece, Track

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Meter:
    """A work's time signature: quarters a bar (Cascade's beats_per_bar) and the felt pulse in quarters."""

    time_signature: str
    beats_per_bar: int
    pulse_quarters: float

    @property
    def pulses_per_bar(self) -> int:
        return int(round(self.beats_per_bar / self.pulse_quarters))


METERS: dict[str, Meter] = {
    "2/4": Meter("2/4", 2, 1.0), "3/4": Meter("3/4", 3, 1.0), "4/4": Meter("4/4", 4, 1.0),
    "2/2": Meter("2/2", 4, 1.0),  # cut-time reels: four quarters, as `prompt_words` reads "2/2"
    "6/8": Meter("6/8", 3, 1.5), "12/8": Meter("12/8", 6, 1.5),
}
COMPOUND_TIME_SIGNATURES: tuple[str, ...] = tuple(s for s, meter in METERS.items() if meter.pulse_quarters != 1.0)
# Collections used, with the style label captions will carry.
COLLECTIONS: dict[str, str] = {
    "bach": "chorale",
    "essenFolksong": "folk tune",
    "ryansMammoth": "folk tune",
    "oneills1850": "folk tune",
    "airdsAirs": "folk tune",
    "miscFolk": "folk tune",
}
TEMPO_RANGE_BPM: dict[str, tuple[float, float]] = {"chorale": (66.0, 100.0), "folk tune": (84.0, 132.0)}
# Compound folk tunes (jigs): a dotted-quarter pulse of 72-112 a minute, in quarters (x 1.5).
COMPOUND_TEMPO_RANGE_BPM: tuple[float, float] = (108.0, 168.0)
MAX_BARS: int = 32

# GM programs per ensemble for four-voice chorales (soprano, alto, tenor, bass).
CHORALE_ENSEMBLES: tuple[tuple[str, tuple[int, int, int, int]], ...] = (
    ("string quartet", (40, 40, 41, 42)),
    ("string ensemble", (48, 48, 48, 48)),
    ("church organ", (19, 19, 19, 19)),
    ("brass choir", (56, 60, 57, 58)),
    ("woodwind quartet", (73, 68, 71, 70)),
    ("choir", (52, 52, 52, 52)),
    ("piano", (0, 0, 0, 0)),
)
# Plucked continuo instruments (harpsichord, piano, nylon guitar as lute, pizzicato strings, harp).
CONTINUO_PROGRAMS: tuple[int, ...] = (6, 0, 24, 45, 46)
FOLK_LEADS: tuple[int, ...] = (110, 73, 72, 21, 22, 105, 75, 71, 68, 109, 40, 24)
FOLK_COMPING: tuple[int, ...] = (25, 24, 0, 21, 46, 105, 6)
FOLK_BASSES: tuple[int, ...] = (32, 33, 43, 58)


class CorpusParseError(RuntimeError):
    """A corpus work that cannot be turned into a usable piece (the reason is in the message)."""


@dataclass(frozen=True)
class CorpusWork:
    """One work: a corpus file, plus the tune number for ABC files that hold many tunes."""

    path: str
    number: int | None
    collection: str

    @property
    def name(self) -> str:
        stem = Path(self.path).stem
        return f"{self.collection}/{stem}" + (f"#{self.number}" if self.number is not None else "")


def list_corpus_works() -> list[CorpusWork]:
    """Every candidate work in a stable order (sorted), without parsing any music (fast: ~0.3 s)."""
    from music21 import corpus

    works: list[CorpusWork] = []
    for path in sorted(str(p) for p in corpus.getPaths()):
        collection = path.split("/corpus/")[-1].split("/")[0]
        if collection not in COLLECTIONS:
            continue
        if collection == "bach" and not path.endswith(".mxl"):
            continue  # the .rntxt files are harmonic analyses, not music
        if path.endswith(".abc"):
            text = Path(path).read_text(encoding="latin-1")
            numbers = re.findall(r"^X:\s*(\d+)", text, flags=re.MULTILINE)
            works.extend(CorpusWork(path, int(n), collection) for n in dict.fromkeys(numbers))
        else:
            works.append(CorpusWork(path, None, collection))
    return works


CHORALE_FRACTION: float = 0.35


def choose_work(works: list[CorpusWork], rng: np.random.Generator) -> CorpusWork:
    """Draw a work: chorales with probability CHORALE_FRACTION, else a folk tune.

    Drawing by kind first keeps the ~8,500 Essen tunes from crowding out the 408 chorales.
    """
    chorales = [w for w in works if COLLECTIONS[w.collection] == "chorale"]
    tunes = [w for w in works if COLLECTIONS[w.collection] != "chorale"]
    pool = chorales if (chorales and (not tunes or rng.random() < CHORALE_FRACTION)) else tunes
    return pool[int(rng.integers(len(pool)))]


def _parse(work: CorpusWork):  # -> music21.stream.Score
    from music21 import converter

    try:
        if work.number is not None:
            return converter.parse(work.path, number=work.number)
        return converter.parse(work.path)
    except Exception as error:  # music21 raises many types on malformed files
        raise CorpusParseError(f"{work.name}: music21 could not parse it ({type(error).__name__}: {error})") from error


def _best_triad(pitch_weights: np.ndarray, tonic_pc: int, scale: str) -> tuple[int, bool]:
    """Pick the diatonic triad (root pc, is_minor) that best covers a bar's duration-weighted pitch classes.

    The tonic and dominant get a small bonus: folk accompaniment leans on I and V, which also keeps the key
    unambiguous.
    """
    intervals = SCALE_INTERVALS[scale]
    best_score, best = -1.0, (tonic_pc, scale != "major")
    for degree in (0, 3, 4, 5, 1):  # I, IV, V, vi, ii (in scale-degree order)
        root = (tonic_pc + intervals[degree]) % 12
        third = (tonic_pc + intervals[(degree + 2) % 7]) % 12
        fifth = (tonic_pc + intervals[(degree + 4) % 7]) % 12
        is_minor = (third - root) % 12 == 3
        if scale == "minor" and degree == 4:  # harmonic-minor dominant: major V with the leading tone
            third, is_minor = (root + 4) % 12, False
        score = pitch_weights[root] + pitch_weights[third] + 0.8 * pitch_weights[fifth]
        score += 0.15 * pitch_weights.sum() * (degree in (0, 4))
        if score > best_score:
            best_score, best = score, (root, is_minor)
    return best


def corpus_piece(work: CorpusWork, rng: np.random.Generator, piece_id: str) -> Piece:
    """Turn one corpus work into a Piece: random transposition, tempo and instruments.

    Raises CorpusParseError when the work is unusable (parse error, a meter other than METERS or a changing one,
    no notes).
    The rng draws happen in a fixed order around the checks: a refused work leaves the rng where the next
    draw of the build expects it.
    """
    score = _parse(work)
    meter = _meter(score, work)
    beats_per_bar = meter.beats_per_bar
    analysed = _analysed_key(score, work)
    semitones = int(rng.integers(-6, 6))
    tonic_pc = (analysed.tonic.pitchClass + semitones) % 12
    scale = analysed.mode

    parts = [p for p in score.parts if p.flatten().notes]
    if not parts:
        raise CorpusParseError(f"{work.name}: no notes")
    style = COLLECTIONS[work.collection]
    low, high = TEMPO_RANGE_BPM[style] if meter.pulse_quarters == 1.0 else COMPOUND_TEMPO_RANGE_BPM
    tempo_bpm = float(round(rng.uniform(low, high)))
    seconds_per_quarter = 60.0 / tempo_bpm

    bar_length_quarters = float(beats_per_bar)
    origin_quarters, n_bars = _bar_window(parts[0], bar_length_quarters, work)
    end_quarters = origin_quarters + n_bars * bar_length_quarters
    voice_notes = [_part_notes(part, origin_quarters, end_quarters, semitones, seconds_per_quarter, rng)
                   for part in parts[:4]]
    if not any(voice_notes):
        raise CorpusParseError(f"{work.name}: no notes inside the bars used")

    bar_starts = [i * bar_length_quarters * seconds_per_quarter for i in range(n_bars)]
    end_seconds = n_bars * bar_length_quarters * seconds_per_quarter
    if style == "chorale" and len(voice_notes) >= 3:
        tracks, mood = _chorale_tracks(voice_notes, n_bars * beats_per_bar, seconds_per_quarter, scale, rng)
    else:
        tracks, mood = _folk_tracks(voice_notes, tonic_pc, scale, meter.pulses_per_bar, bar_starts, end_seconds,
                                    meter.pulse_quarters * seconds_per_quarter, rng)

    piece = Piece(
        piece_id=piece_id, source="corpus", source_name=f"corpus/{work.name}", style=style,
        tempo_bpm=tempo_bpm, key_tonic=PITCH_CLASS_NAMES[tonic_pc], scale=scale,
        beats_per_bar=beats_per_bar, bar_starts_seconds=bar_starts, end_seconds=end_seconds,
        tracks=tracks, bar_energy=[0.5] * n_bars, mood=mood, time_signature=meter.time_signature,
    )
    piece.validate()
    return piece


def _meter(score, work: CorpusWork) -> Meter:  # type: ignore[no-untyped-def]
    """The work's one meter; CorpusParseError for a changing meter or one not in METERS."""
    signatures = {ts.ratioString for ts in score.recurse().getElementsByClass("TimeSignature")}
    if len(signatures) != 1 or next(iter(signatures)) not in METERS:
        raise CorpusParseError(f"{work.name}: meter {sorted(signatures)} is not one of {', '.join(METERS)}")
    return METERS[next(iter(signatures))]


def _analysed_key(score, work: CorpusWork):  # type: ignore[no-untyped-def]
    """music21's key of the whole work (a music21.key.Key), major or minor."""
    try:
        analysed = score.analyze("key")
    except Exception as error:
        raise CorpusParseError(f"{work.name}: key analysis failed ({error})") from error
    if analysed.mode not in ("major", "minor"):
        raise CorpusParseError(f"{work.name}: mode {analysed.mode!r} is neither major nor minor")
    return analysed


def _bar_window(part, bar_length_quarters: float, work: CorpusWork) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """(origin in quarters, bar count) from the part's measures: the pickup (anacrusis) bar is dropped so bars
    are whole, and at most MAX_BARS are used."""
    measures = list(part.getElementsByClass("Measure"))
    offsets = [float(m.offset) for m in measures]
    if not offsets:
        raise CorpusParseError(f"{work.name}: no measures")
    first_full = 0
    if len(measures) > 1 and float(measures[0].duration.quarterLength) < bar_length_quarters - 1e-6:
        first_full = 1
    n_bars = min(MAX_BARS, len(offsets) - first_full)
    if n_bars < 2:
        raise CorpusParseError(f"{work.name}: too short ({n_bars} bars)")
    return offsets[first_full], n_bars


def _part_notes(part, origin_quarters: float, end_quarters: float, semitones: int,  # type: ignore[no-untyped-def]
                seconds_per_quarter: float, rng: np.random.Generator) -> list[Note]:
    """The part's notes inside [origin, end) quarters, transposed, in seconds, with drawn velocities."""
    from music21 import interval as m21interval

    transposition = m21interval.Interval(semitones)
    notes: list[Note] = []
    for element in part.flatten().notes:
        start_q = float(element.offset) - origin_quarters
        if start_q < 0 or float(element.offset) >= end_quarters:
            continue
        length_q = max(float(element.duration.quarterLength), 0.125)
        for pitch in element.pitches:
            midi = int(pitch.transpose(transposition).midi)
            if not 0 <= midi <= 127:
                continue
            # 0.97: a hair of release so repeated notes re-articulate.
            notes.append(Note(midi, start_q * seconds_per_quarter,
                              (start_q + 0.97 * length_q) * seconds_per_quarter,
                              int(np.clip(rng.normal(84, 8), 50, 118))))
    return notes


def _chorale_tracks(voice_notes: list[list[Note]], n_beats: int, seconds_per_quarter: float, scale: str,
                    rng: np.random.Generator) -> tuple[list[Track], str]:
    """The four voices on one ensemble's instruments, a plucked continuo, and a mood."""
    ensemble_name, programs = CHORALE_ENSEMBLES[int(rng.integers(len(CHORALE_ENSEMBLES)))]
    pans = (0.35, 0.45, 0.55, 0.65)
    tracks: list[Track] = []
    for index, notes in enumerate(voice_notes):
        tracks.append(Track(f"voice {index + 1}", programs[index], False,
                            "melody" if index == 0 else ("bass" if index == len(voice_notes) - 1 else "counter"),
                            notes, pans[index]))
    tracks.append(_continuo(voice_notes, n_beats, seconds_per_quarter, rng))
    mood = str(rng.choice(["solemn", "reverent", "calm", "stately"] if scale == "major"
                          else ["mournful", "solemn", "sombre", "reflective"]))
    return tracks, mood


def _folk_tracks(voice_notes: list[list[Note]], tonic_pc: int, scale: str, pulses_per_bar: int,
                 bar_starts: list[float], end_seconds: float, seconds_per_pulse: float,
                 rng: np.random.Generator) -> tuple[list[Track], str]:
    """The tune in a singing register on a folk lead, its accompaniment, and a mood."""
    melody = [n for notes in voice_notes for n in notes]
    median = float(np.median([n.pitch for n in melody]))
    shift = 12 * int(round((74 - median) / 12))
    for note in melody:
        note.pitch = int(np.clip(note.pitch + shift, 0, 127))
    tracks = [Track("melody", int(rng.choice(FOLK_LEADS)), False, "melody", melody, float(rng.uniform(0.35, 0.65)))]
    tracks.extend(_folk_accompaniment(melody, tonic_pc, scale, pulses_per_bar, bar_starts, end_seconds,
                                      seconds_per_pulse, rng))
    mood = str(rng.choice(["cheerful", "lively", "warm", "pastoral"] if scale == "major"
                          else ["wistful", "melancholic", "haunting", "plaintive"]))
    return tracks, mood


def _folk_accompaniment(
    melody: list[Note], tonic_pc: int, scale: str, pulses_per_bar: int, bar_starts: list[float],
    end_seconds: float, seconds_per_pulse: float, rng: np.random.Generator,
) -> list[Track]:
    """Chords on every pulse (a quarter, or a dotted quarter in compound meters) and a root/fifth bass, harmonised
    bar by bar from the melody."""
    comp = Track("accompaniment", int(rng.choice(FOLK_COMPING)), False, "chords", [], float(rng.uniform(0.25, 0.45)))
    bass = Track("bass", int(rng.choice(FOLK_BASSES)), False, "bass", [], 0.5)
    percussion = Track("percussion", 0, True, "drums", [], 0.5, drum_kit=int(rng.choice([0, 8, 40])))
    use_percussion = rng.random() < 0.5
    for bar_index, bar_start in enumerate(bar_starts):
        bar_end = bar_starts[bar_index + 1] if bar_index + 1 < len(bar_starts) else end_seconds
        weights = np.zeros(12)
        for note in melody:
            overlap = min(note.end_seconds, bar_end) - max(note.start_seconds, bar_start)
            if overlap > 0:
                weights[note.pitch % 12] += overlap
        if bar_index == 0 or bar_index == len(bar_starts) - 1:
            root, is_minor = tonic_pc, scale == "minor"  # open and close on the tonic chord
        else:
            root, is_minor = _best_triad(weights, tonic_pc, scale)
        chord = [48 + (root - 48) % 12 + 12, 0, 0]
        chord[1] = chord[0] + (3 if is_minor else 4)
        chord[2] = chord[0] + 7
        for beat in range(pulses_per_bar):
            onset = bar_start + beat * seconds_per_pulse
            strong = beat == 0
            velocity = int(np.clip(rng.normal(78 if strong else 64, 5), 40, 110))
            for pitch in chord:
                comp.notes.append(Note(pitch, onset, onset + 0.8 * seconds_per_pulse, velocity))
            if strong or (pulses_per_bar == 4 and beat == 2):
                bass_pitch = 36 + (root - 36) % 12 + (7 if beat == 2 and rng.random() < 0.5 else 0)
                bass.notes.append(Note(bass_pitch, onset, onset + 0.9 * seconds_per_pulse,
                                       int(np.clip(rng.normal(92, 5), 60, 120))))
            if use_percussion:
                drum_pitch = 36 if strong else 42
                percussion.notes.append(Note(drum_pitch, onset, onset + 0.1,
                                             int(np.clip(rng.normal(80 if strong else 55, 6), 30, 110))))
    return [comp, bass] + ([percussion] if use_percussion else [])


def _continuo(voice_notes: list[list[Note]], n_beats: int, seconds_per_beat: float,
              rng: np.random.Generator) -> Track:
    """A plucked continuo re-striking the sounding harmony on every beat.

    Sustained chorale voices (organ, strings, choir) have soft onsets; the continuo gives the pulse an
    audible attack, as a Baroque continuo player would.
    """
    continuo = Track("continuo", int(rng.choice(CONTINUO_PROGRAMS)), False, "chords", [], float(rng.uniform(0.4, 0.6)))
    all_notes = [n for notes in voice_notes for n in notes]
    for beat in range(n_beats):
        onset = beat * seconds_per_beat
        probe = onset + 0.01
        pitches = sorted({n.pitch for n in all_notes if n.start_seconds <= probe < n.end_seconds})
        if not pitches:
            continue
        velocity = int(np.clip(rng.normal(76 if beat % 2 == 0 else 64, 4), 40, 100))
        for pitch in pitches:
            continuo.notes.append(Note(pitch, onset, onset + 0.6 * seconds_per_beat, velocity))
    return continuo

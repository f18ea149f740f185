"""music21 corpus source: indexing, conversion to a Piece, refusal of unusable works."""

from __future__ import annotations

import numpy as np
import pytest

from engine.dataset import corpus
from engine.dataset.score import PITCH_CLASS_NAMES


@pytest.fixture(scope="module")
def works() -> list[corpus.CorpusWork]:
    return corpus.list_corpus_works()


def test_index_is_sorted_and_covers_chorales_and_tunes(works: list[corpus.CorpusWork]) -> None:
    paths = [w.path for w in works]
    assert paths == sorted(paths) and corpus.list_corpus_works() == works
    kinds = {corpus.COLLECTIONS[w.collection] for w in works}
    assert kinds == {"chorale", "folk tune"}
    assert sum(w.collection == "bach" for w in works) > 300


def test_chorale_becomes_a_transposed_retempoed_piece(works: list[corpus.CorpusWork]) -> None:
    work = next(w for w in works if w.path.endswith("bwv66.6.mxl"))
    for seed in range(3):
        piece = corpus.corpus_piece(work, np.random.default_rng(seed), "p000001")
        low, high = corpus.TEMPO_RANGE_BPM["chorale"]
        assert low <= piece.tempo_bpm <= high
        assert piece.style == "chorale" and piece.scale in ("major", "minor")
        assert len(piece.tracks) == 5 and piece.key_tonic in PITCH_CLASS_NAMES
        assert piece.tracks[-1].name == "continuo" and len(piece.tracks[-1].notes) > 0
        # Bar lines are whole bars at the stated tempo.
        bar_seconds = piece.beats_per_bar * 60.0 / piece.tempo_bpm
        assert np.allclose(np.diff(piece.bar_starts_seconds), bar_seconds)


def test_folk_tune_gets_accompaniment(works: list[corpus.CorpusWork]) -> None:
    rng = np.random.default_rng(5)
    tunes = [w for w in works if corpus.COLLECTIONS[w.collection] == "folk tune"]
    for _ in range(20):
        try:
            piece = corpus.corpus_piece(tunes[int(rng.integers(len(tunes)))], rng, "p000002")
        except corpus.CorpusParseError:
            continue
        roles = {t.role for t in piece.tracks}
        assert {"melody", "chords", "bass"} <= roles
        return
    pytest.fail("no usable folk tune in 20 draws")


def test_unparsable_file_is_refused_with_reason(tmp_path) -> None:
    broken = tmp_path / "broken.mxl"
    broken.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(corpus.CorpusParseError, match="could not parse"):
        corpus.corpus_piece(corpus.CorpusWork(str(broken), None, "bach"), np.random.default_rng(0), "p1")


def test_a_jig_in_6_8_keeps_its_compound_pulse(tmp_path) -> None:
    """6/8 is 3 quarters a bar (Cascade's beats_per_bar; tempo stays in quarters), the accompaniment strikes the
    two dotted-quarter pulses of each bar, and the time signature reaches the piece for its captions."""
    jig = tmp_path / "jig.abc"
    jig.write_text("X:1\nT:Jig\nM:6/8\nL:1/8\nK:G\nGAB cBA|GAB d2c|BAG FGA|G3 G3|]\n")
    piece = corpus.corpus_piece(corpus.CorpusWork(str(jig), 1, "miscFolk"), np.random.default_rng(0), "p1")
    assert (piece.beats_per_bar, piece.time_signature) == (3, "6/8")
    assert corpus.COMPOUND_TEMPO_RANGE_BPM[0] <= piece.tempo_bpm <= corpus.COMPOUND_TEMPO_RANGE_BPM[1]
    seconds_per_quarter = 60.0 / piece.tempo_bpm
    bar = piece.bar_starts_seconds[1] - piece.bar_starts_seconds[0]
    assert bar == pytest.approx(3 * seconds_per_quarter)
    accompaniment = next(t for t in piece.tracks if t.name == "accompaniment")
    onsets = sorted({round(n.start_seconds / seconds_per_quarter, 6) for n in accompaniment.notes})
    assert onsets[:4] == [0.0, 1.5, 3.0, 4.5]  # dotted quarters, not quarters


@pytest.mark.parametrize("meter", ["9/8", "5/4"])
def test_meters_without_whole_quarter_bars_or_a_pulse_we_play_are_refused(tmp_path, meter: str) -> None:
    tune = tmp_path / "tune.abc"
    tune.write_text(f"X:1\nT:Tune\nM:{meter}\nL:1/8\nK:G\nGAB cBA GAB|GAB d2c BAG|]\n")
    with pytest.raises(corpus.CorpusParseError, match="is not one of"):
        corpus.corpus_piece(corpus.CorpusWork(str(tune), 1, "miscFolk"), np.random.default_rng(0), "p1")


def test_excerpt_key_estimate() -> None:
    from engine.dataset.score import Note, Track, estimate_key

    # A cadence in G major (G, C, D7, G chords) and a drum track that must be ignored.
    chords = [(55, 59, 62), (48, 52, 55), (50, 54, 57, 60), (55, 59, 62)]
    notes = [Note(p, i, i + 1, 80) for i, chord in enumerate(chords) for p in chord]
    drums = Track("drums", 0, True, "drums", [Note(36, 0, 4, 100)])
    assert estimate_key([Track("piano", 0, False, "chords", notes), drums], 0.0, 4.0) == ("G", "major")
    a_minor = [Note(p, i, i + 1, 80) for i, chord in enumerate([(57, 60, 64), (50, 53, 57), (52, 56, 59), (57, 60, 64)])
               for p in chord]
    assert estimate_key([Track("piano", 0, False, "chords", a_minor)], 0.0, 4.0) == ("A", "minor")
    assert estimate_key([drums], 0.0, 4.0) == ("C", "major")

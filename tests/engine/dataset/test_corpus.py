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
        assert len(piece.tracks) == 4 and piece.key_tonic in PITCH_CLASS_NAMES
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


def test_compound_meter_is_refused(tmp_path) -> None:
    jig = tmp_path / "jig.abc"
    jig.write_text("X:1\nT:Jig\nM:6/8\nL:1/8\nK:G\nGAB cBA|GAB d2c|BAG FGA|G3 G3|]\n")
    with pytest.raises(corpus.CorpusParseError, match="simple meter"):
        corpus.corpus_piece(corpus.CorpusWork(str(jig), 1, "miscFolk"), np.random.default_rng(0), "p1")

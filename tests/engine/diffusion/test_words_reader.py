"""engine/diffusion/words_reader.py and its trainer: shapes, the threshold on "stated", the file round trip, a tiny
training run, and what the shipped reader reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.diffusion.words_reader import (DEFAULT_WORDS_READER_WEIGHTS, ReaderLogits, WordsModelReader, WordsReader,
                                           WordsReaderConfig, decode, load_words_reader, save_words_reader)
from engine.weights_io import CheckpointError

TINY = WordsReaderConfig(width=16, heads=2, layers=1, tempo_low_bpm=60, tempo_high_bpm=70)


def test_forward_shapes_and_padding_does_not_matter() -> None:
    torch.manual_seed(0)
    model = WordsReader(TINY).eval()
    tokens = torch.randn(2, 7, 384)
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    logits = model(tokens, mask)
    assert logits.tempo.shape == (2, 1 + 11) and logits.tonic.shape == (2, 13) and logits.scale.shape == (2, 5)
    padded = tokens.clone()
    padded[1, 4:] = 100.0  # whatever sits under the mask
    again = model(padded, mask)
    assert torch.allclose(logits.tempo[1], again.tempo[1], atol=1e-5)


def _logits(tempo_class: int, tonic_class: int, scale_class: int, sure: float = 10.0) -> ReaderLogits:
    tempo, tonic, scale = torch.zeros(1, 12), torch.zeros(1, 13), torch.zeros(1, 5)
    tempo[0, tempo_class] = tonic[0, tonic_class] = scale[0, scale_class] = sure
    return ReaderLogits(tempo, tonic, scale)


def test_decode_reads_only_what_is_stated_with_confidence() -> None:
    reading = decode(_logits(1 + 4, 1 + 3, 1 + 1), TINY)[0]  # 64 BPM, D#, minor
    assert (reading.tempo_bpm, reading.key, reading.scale) == (64, "D#", "minor")
    assert reading.tempo_probability > 0.99
    music = reading.as_prompt_music()
    assert (music.tempo_bpm, music.key, music.scale) == (64.0, "D#", "minor") and "read by the model" in music.describe()
    nothing = decode(_logits(0, 0, 0), TINY)[0]
    assert (nothing.tempo_bpm, nothing.key, nothing.scale) == (None, None, None)
    # a scale without a tonic is not a key
    scale_alone = decode(_logits(0, 0, 1 + 2), TINY)[0]
    assert scale_alone.key is None and scale_alone.scale is None
    # flat logits: "stated" (1 - e / (e + 11) = 0.80) but no value stands out (each 1 / (e + 11) = 0.07): a doubt,
    # said and not used
    spread = decode(_logits(0, 0, 0, sure=1.0), TINY)[0]
    assert spread.tempo_bpm is None and spread.doubts[0] == "tempo 60 BPM, p 0.07"
    assert "the model doubts tempo 60 BPM, p 0.07: not used" in spread.as_prompt_music().describe()
    assert decode(_logits(0, 0, 0, sure=1.0), TINY, value_probability=0.0)[0].tempo_bpm == 60
    assert decode(_logits(0, 0, 0, sure=1.0), TINY, stated_probability=0.9, value_probability=0.0)[0].tempo_bpm is None


def test_file_round_trip_keeps_the_config_and_refuses_other_files(tmp_path: Path) -> None:
    model = WordsReader(TINY)
    path = tmp_path / "reader.safetensors"
    save_words_reader(model, path, extra={"steps": 3})
    loaded = load_words_reader(path)
    assert loaded.config == TINY and not loaded.training
    tokens, mask = torch.randn(1, 5, 384), torch.ones(1, 5, dtype=torch.bool)
    with torch.no_grad():
        assert torch.allclose(model.eval()(tokens, mask).tempo, loaded(tokens, mask).tempo, atol=2e-2)  # fp16 file
    from engine.diffusion.checkpoint import DEFAULT_DIFFUSION_WEIGHTS
    with pytest.raises(CheckpointError, match="not a Cascade words reader"):
        load_words_reader(DEFAULT_DIFFUSION_WEIGHTS)
    with pytest.raises(CheckpointError, match="no such words reader"):
        load_words_reader(tmp_path / "missing.safetensors")


def test_a_tiny_training_run_learns_and_writes_a_loadable_file(tmp_path: Path) -> None:
    from engine.diffusion.train_words_reader import WordsReaderTrainConfig, train_words_reader

    rows = [{"split": "train", "style": style, "tempo": 100.0, "key": "C", "scale": "major",
             "instruments": ["piano", "bass"], "mood": "calm", "energy": "low", "effects": [], "beats_per_bar": 4}
            for style in ("house", "jazz")]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "reader.safetensors"
    lines: list[str] = []
    config = WordsReaderTrainConfig(dataset=tmp_path, out=out, examples=96, valid_examples=32, steps=40,
                                    batch_size=32, learning_rate=3e-3, threads=1,
                                    model=WordsReaderConfig(width=32, heads=2, layers=1))
    result = train_words_reader(config, log=lines.append)
    assert result["steps"] == 40 and out.is_file()
    assert load_words_reader(out).config == config.model
    # 40 steps: not a reader yet, but learning (the loss sums three cross-entropies, ~10 at the start)
    assert result["final_loss"] < 0.8 * result["first_loss"], result


@pytest.mark.skipif(not DEFAULT_WORDS_READER_WEIGHTS.is_file(), reason="no shipped words reader")
def test_the_shipped_reader_reads_typed_prompts() -> None:
    """Prompts as a performer types them, a tempo typed as a bare number, and texts that state nothing (numbers
    that are not tempi among them)."""
    reader = WordsModelReader()
    cases = [("deep house groove at 126 bpm in Eb minor", 126, "D#", "minor"),
             ("Genre: techno | BPM: 132 | Key: F minor | Mood: driving", 132, "F", "minor"),
             ("ambient pads, 70 bpm, C major", 70, "C", "major"),
             ("cinematic strings", None, None, None),
             ("techno 128", 128, None, None), ("opus 131 string quartet", None, None, None),  # session 21
             ("gym playlist 2024", None, None, None)]
    for text, tempo, key, scale in cases:
        reading = reader.read(text)
        assert (reading.tempo_bpm, reading.key, reading.scale) == (tempo, key, scale), text


def test_the_attention_pooling_is_multihead_attentions_own() -> None:
    """WordsReader._pool computes nn.MultiheadAttention's output on its weights (the shipped file's), padding
    masked, without calling its forward."""
    torch.manual_seed(0)
    model = WordsReader(WordsReaderConfig()).eval()
    hidden = torch.randn(3, 9, model.config.width)
    mask = torch.ones(3, 9, dtype=torch.bool)
    mask[1, 4:] = False
    mask[2, 7:] = False
    queries = model.queries.unsqueeze(0).expand(3, -1, -1)
    with torch.no_grad():
        expected, _ = model.pool(queries, hidden, hidden, key_padding_mask=~mask, need_weights=False)
        assert torch.allclose(model._pool(queries, hidden, mask), expected, atol=1e-5)


def test_a_tempo_the_text_does_not_hold_is_a_doubt() -> None:
    from engine.diffusion.words_reader import Reading, held_numbers_only

    read = Reading(202, None, None, 0.92, 0.0, 0.0)
    doubted = held_numbers_only(read, "gym playlist 2024")
    assert doubted.tempo_bpm is None and doubted.doubts == ("tempo 202 BPM, a number the text does not hold",)
    assert "the model doubts tempo 202 BPM" in doubted.as_prompt_music().describe()
    for text in ("techno 202", "two hundred and two bpm", "at two oh two", "tempo 202.0"):
        kept = held_numbers_only(read, text)
        assert (kept.tempo_bpm is None) == (text == "at two oh two"), text


def test_a_tempo_read_from_a_quantity_is_a_doubt() -> None:
    from engine.diffusion.words_reader import Reading, held_numbers_only

    read = Reading(60, None, None, 0.97, 0.0, 0.0)
    doubted = held_numbers_only(read, "a 60 minute sleep drone")
    assert doubted.tempo_bpm is None and doubted.doubts == ("tempo 60 BPM, a quantity or a label",)
    assert held_numbers_only(read, "dub 60, a 30 minute set").tempo_bpm == 60


def test_a_tempo_read_from_a_label_is_a_doubt() -> None:
    from engine.diffusion.words_reader import Reading, held_numbers_only

    read = Reading(88, None, None, 0.97, 0.0, 0.0)
    doubted = held_numbers_only(read, "lofi beats for bus 88 at night")
    assert doubted.tempo_bpm is None and doubted.doubts == ("tempo 88 BPM, a quantity or a label",)
    assert held_numbers_only(read, "lofi 88 for bus 144").tempo_bpm == 88


def test_a_reading_gives_only_the_answers_asked_with_their_doubts() -> None:
    from engine.diffusion.words_reader import Reading

    reading = Reading(120, None, None, 0.97, 0.0, 0.0, doubts=("key F, p 0.46", "scale minor, p 0.41"))
    tempo_only = reading.as_prompt_music(frozenset({"tempo"}))
    assert (tempo_only.tempo_bpm, tempo_only.key, tempo_only.model_read) == (120.0, None, frozenset({"tempo"}))
    assert tempo_only.notes == ("tempo read by the model, p 0.97",)
    everything = reading.as_prompt_music()
    assert everything.notes == ("tempo read by the model, p 0.97", "the model doubts key F, p 0.46: not used",
                                "the model doubts scale minor, p 0.41: not used")
    keyed = Reading(None, "A", "minor", 0.0, 0.9, 0.8).as_prompt_music(frozenset({"key"}))
    assert (keyed.tempo_bpm, keyed.key, keyed.scale, keyed.model_read) == (None, "A", "minor",
                                                                           frozenset({"key", "scale"}))

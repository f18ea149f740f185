"""The words reader: a small trained network that reads tempo, key and scale from a prompt's MiniLM tokens.

The diffusion model takes tempo, tonic and scale as conditioning of their own. Two things can fill them from a
prompt's words: the rule reader (engine/prompt_words.py: patterns, exact, conservative, the default) and this
learned one, which reads the same text encoder tokens the U-Net's cross-attention sees, trained on texts with
known labels (engine/dataset/reader_texts.py) and no patterns at all. It is how "the model reads the words": the
U-Net's cross-attention alone never learned to (docs/diffusion.md), so the reading is a small supervised head
over the frozen text encoder, as Stable Audio gives numbers a conditioner of their own.

Shapes: tokens (B, L, 384) MiniLM's last hidden state, mask (B, L) bool (True = a real token) ->
  tempo logits (B, 1 + T): class 0 = no tempo stated, class 1 + i = tempo_range_bpm[0] + i BPM;
  tonic logits (B, 13): class 0 = no key stated, 1 + i = KEY_TONICS[i];
  scale logits (B, 1 + len(SCALES)): class 0 = no scale stated, 1 + i = SCALES[i].
Inference never imports the trainer (engine/diffusion/train_words_reader.py); the config lives in the file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from engine.diffusion.text import EMBED_DIM, PromptEncoder
from engine.prompt_words import PromptMusic, numbers_in, tempo_numbers_in
from engine.vocabulary import KEY_TONICS, SCALES
from engine.weights_io import ModelFileKind, config_from_dict, load_model_file, save_model_file

WORDS_READER_FILE = ModelFileKind("cascade-words-reader", 1, what="words reader", short_name="words reader")
DEFAULT_WORDS_READER_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "words_reader.safetensors"
# A reading is used only when the reader puts at least this probability on "stated" (1 - p(class 0)) ...
STATED_PROBABILITY = 0.5
# ... and at least this on the value it reads; a doubtful value is said, not used (session 20: every wrong key
# the reader read with p < 0.6 on the rule reader's table and the typed prompts was wrong, every right one >= 0.85).
VALUE_PROBABILITY = 0.6


@dataclass(frozen=True)
class WordsReaderConfig:
    width: int = 128
    heads: int = 4
    layers: int = 1
    tempo_low_bpm: int = 40
    tempo_high_bpm: int = 250

    @property
    def tempo_classes(self) -> int:
        return self.tempo_high_bpm - self.tempo_low_bpm + 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordsReaderConfig:
        return config_from_dict(cls, data, "words reader")


class ReaderLogits(NamedTuple):
    tempo: torch.Tensor  # (B, 1 + tempo_classes)
    tonic: torch.Tensor  # (B, 13)
    scale: torch.Tensor  # (B, 1 + len(SCALES))


class WordsReader(nn.Module):
    """Projected tokens, a small transformer encoder, then one attention-pooling query per answer."""

    def __init__(self, config: WordsReaderConfig) -> None:
        super().__init__()
        self.config = config
        self.project = nn.Linear(EMBED_DIM, config.width)
        layer = nn.TransformerEncoderLayer(config.width, config.heads, 2 * config.width, dropout=0.1,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.queries = nn.Parameter(torch.randn(3, config.width) * 0.02)  # tempo, tonic, scale
        self.pool = nn.MultiheadAttention(config.width, config.heads, batch_first=True)
        self.norm = nn.LayerNorm(config.width)
        self.tempo_head = nn.Linear(config.width, 1 + config.tempo_classes)
        self.tonic_head = nn.Linear(config.width, 1 + len(KEY_TONICS))
        self.scale_head = nn.Linear(config.width, 1 + len(SCALES))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> ReaderLogits:
        """tokens (B, L, 384), mask (B, L) bool -> ReaderLogits (see the module docstring)."""
        padding = ~mask
        hidden = self.encoder(self.project(tokens), src_key_padding_mask=padding)
        queries = self.queries.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        pooled = self.norm(self._pool(queries, hidden, mask) + queries)
        return ReaderLogits(self.tempo_head(pooled[:, 0]), self.tonic_head(pooled[:, 1]),
                            self.scale_head(pooled[:, 2]))

    def _pool(self, queries: torch.Tensor, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`self.pool`'s attention on its own weights: queries (B, Q, W) over hidden (B, L, W), mask (B, L) True
        = a real token -> (B, Q, W). Not its forward: that one's key-padding check first imports much of torch.fx
        (0.8 s holding the GIL, a stall in the app's window when the first typed prompt is read)."""
        batch, n_queries, width = queries.shape
        heads = self.config.heads
        w_q, w_k, w_v = self.pool.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.pool.in_proj_bias.chunk(3)

        def split(x: torch.Tensor) -> torch.Tensor:  # (B, N, W) -> (B, heads, N, W / heads)
            return x.view(batch, x.shape[1], heads, width // heads).transpose(1, 2)

        attended = F.scaled_dot_product_attention(split(F.linear(queries, w_q, b_q)), split(F.linear(hidden, w_k, b_k)),
                                                  split(F.linear(hidden, w_v, b_v)), attn_mask=mask[:, None, None, :])
        return self.pool.out_proj(attended.transpose(1, 2).reshape(batch, n_queries, width))


def save_words_reader(model: WordsReader, path: str | Path, *, extra: dict[str, Any] | None = None) -> None:
    save_model_file(model, path, WORDS_READER_FILE, half=True, extra=extra)


def load_words_reader(path: str | Path = DEFAULT_WORDS_READER_WEIGHTS, device: str | torch.device = "cpu"
                      ) -> WordsReader:
    """The reader from its file (config inside), fp32, eval mode; raises CheckpointError."""
    return load_model_file(path, WORDS_READER_FILE, WordsReaderConfig.from_dict, WordsReader, device)


ALL_ANSWERS = frozenset({"tempo", "key"})  # what a Reading can give: a tempo, a key with its scale


@dataclass(frozen=True)
class Reading:
    """What the reader made of one text: each answer with the probability it gave it (None = not stated)."""

    tempo_bpm: int | None
    key: str | None
    scale: str | None
    tempo_probability: float
    key_probability: float
    scale_probability: float
    doubts: tuple[str, ...] = ()  # values it leaned to but doubted, not used ("key F, p 0.46")

    def as_prompt_music(self, answers: frozenset[str] = ALL_ANSWERS) -> PromptMusic:
        """The reading in the rule reader's form, so `settle` and the CLI use either; the notes say it was the
        model, with its confidence, so it is never silent. `answers`: those of "tempo", "key" (with its scale)
        to give, with their doubts (engine/read_words.py's `both` takes the tempo only)."""
        tempo = self.tempo_bpm if "tempo" in answers else None
        key, scale = (self.key, self.scale) if "key" in answers else (None, None)
        notes = []
        if tempo is not None:
            notes.append(f"tempo read by the model, p {self.tempo_probability:.2f}")
        if key is not None:
            notes.append(f"key read by the model, p {self.key_probability:.2f}")
        notes.extend(f"the model doubts {doubt}: not used" for doubt in self.doubts
                     if doubt.split()[0] in answers or (doubt.startswith("scale") and "key" in answers))
        read = frozenset(name for name, value in (("tempo", tempo), ("key", key), ("scale", scale)) if value is not None)
        return PromptMusic(tempo_bpm=None if tempo is None else float(tempo), key=key, scale=scale,
                           notes=tuple(notes), model_read=read)


def decode(logits: ReaderLogits, config: WordsReaderConfig,
           stated_probability: float = STATED_PROBABILITY, value_probability: float = VALUE_PROBABILITY
           ) -> list[Reading]:
    """Each row's answers: the most likely class of each head among the stated ones, used where the reader's
    probability that the text states it (1 - p(not stated)) reaches `stated_probability` and that of the value
    itself `value_probability` (else it is a doubt, said and not used); a scale only with a tonic. Each answer's
    probability is that of the value read (0 where nothing is read)."""
    readings = []
    tempo_p, tonic_p, scale_p = (torch.softmax(x.float(), dim=-1) for x in logits)
    for row in range(tempo_p.shape[0]):
        answers: list[tuple[object, float]] = []
        doubts: list[str] = []
        for name, p, values in (("tempo", tempo_p, None), ("key", tonic_p, KEY_TONICS), ("scale", scale_p, SCALES)):
            index = int(p[row, 1:].argmax())
            value = config.tempo_low_bpm + index if values is None else values[index]
            value_p = float(p[row, 1 + index])
            if (name == "scale" and answers[1][0] is None) or 1 - float(p[row, 0]) < stated_probability:
                answers.append((None, 0.0))
            elif value_p < value_probability:
                doubts.append(f"{name} {value}{' BPM' if values is None else ''}, p {value_p:.2f}")
                answers.append((None, 0.0))
            else:
                answers.append((value, value_p))
        (tempo, tempo_value_p), (key, key_value_p), (scale, scale_value_p) = answers
        readings.append(Reading(tempo, key, scale, tempo_value_p, key_value_p, scale_value_p,  # type: ignore[arg-type]
                                tuple(doubts)))
    return readings


def held_numbers_only(reading: Reading, text: str) -> Reading:
    """The reading with a tempo the text does not hold as a number made a doubt: the encoder splits digits into
    pieces, and the reader once read "gym playlist 2024" as 202 BPM and "a 10 minute drone" as 110 (session 21).
    A number with a unit of measure is a quantity, not a tempo: it read "a 60 minute sleep drone" as 60 BPM
    (session 22; prompt_words.tempo_numbers_in). So is a number that names a thing: it read "bus 88" and "studio 54"
    as tempi (session 23)."""
    if reading.tempo_bpm is None or float(reading.tempo_bpm) in tempo_numbers_in(text):
        return reading
    why = ("a quantity or a label" if float(reading.tempo_bpm) in numbers_in(text)
           else "a number the text does not hold")
    return replace(reading, tempo_bpm=None, tempo_probability=0.0,
                   doubts=reading.doubts + (f"tempo {reading.tempo_bpm} BPM, {why}",))


class WordsModelReader:
    """Text -> Reading with the shipped (or given) reader and a MiniLM encoder (shared with the generator's
    when given, so the tokens come from its cache)."""

    def __init__(self, path: str | Path = DEFAULT_WORDS_READER_WEIGHTS, encoder: PromptEncoder | None = None) -> None:
        self.model = load_words_reader(path)
        self.encoder = encoder if encoder is not None else PromptEncoder()

    def read_many(self, texts: list[str]) -> list[Reading]:
        tokens, mask, _ = self.encoder.encode_batch(texts)
        with torch.no_grad():  # the reader runs on the CPU, wherever a shared encoder runs (the generator's GPU)
            logits = self.model(tokens.to("cpu", torch.float32), mask.to("cpu"))
        return [held_numbers_only(reading, text) for reading, text in zip(decode(logits, self.model.config), texts)]

    def read(self, text: str) -> Reading:
        return self.read_many([text])[0]

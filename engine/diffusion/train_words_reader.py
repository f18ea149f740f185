"""Train the words reader (engine/diffusion/words_reader.py) on texts with known tempo, key and scale.

The texts come from engine/dataset/reader_texts.py (training captions, typed-prompt forms, bare-number tempi and
numbers that are not tempi; the paraphrase templates, the rule reader's test phrasings and the nouns of
benchmarks/words_reader.py's number tables are held out). MiniLM is frozen: every text is encoded once,
its tokens kept as fp16 rows of one ragged table, and the small reader trains on those (minutes on a CPU).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.dataset.captions import CaptionFacts
from engine.dataset.manifest import MANIFEST_NAME, read_jsonl
from engine.dataset.reader_texts import ReaderExample, facts_templates, reader_example
from engine.diffusion.text import EMBED_DIM, PromptEncoder
from engine.diffusion.words_reader import WordsReader, WordsReaderConfig, decode, save_words_reader
from engine.vocabulary import KEY_TONICS, SCALES


@dataclass(frozen=True)
class WordsReaderTrainConfig:
    dataset: Path  # a built dataset folder: its training split gives styles, instruments, moods, effects
    out: Path  # the weights file to write
    examples: int = 40_000  # the shipped reader's run (`cascade train words-reader`'s defaults)
    valid_examples: int = 2_000
    steps: int = 3_000
    batch_size: int = 256
    learning_rate: float = 1e-3
    seed: int = 0
    threads: int = 0
    model: WordsReaderConfig = WordsReaderConfig()


@dataclass
class EncodedTexts:
    """MiniLM tokens of N texts: tokens (N, L, 384) fp16 zero-padded to the longest, lengths (N,), and the
    class index of each answer (N,) (0 = not stated)."""

    tokens: torch.Tensor
    lengths: torch.Tensor
    tempo: torch.Tensor
    tonic: torch.Tensor
    scale: torch.Tensor

    def __len__(self) -> int:
        return self.lengths.shape[0]

    def batch(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, L_batch, 384) fp32 and mask (B, L_batch) bool for the given rows."""
        length = int(self.lengths[rows].max())
        mask = torch.arange(length).unsqueeze(0) < self.lengths[rows].unsqueeze(1)
        return self.tokens[rows, :length].to(torch.float32), mask


def labels(example: ReaderExample, config: WordsReaderConfig) -> tuple[int, int, int]:
    """The class indices of an example's answers (0 = not stated)."""
    tempo = 0 if example.tempo_bpm is None else 1 + example.tempo_bpm - config.tempo_low_bpm
    if not 0 <= tempo <= config.tempo_classes:
        raise ValueError(f"tempo {example.tempo_bpm} outside the reader's range")
    tonic = 0 if example.key is None else 1 + KEY_TONICS.index(example.key)
    scale = 0 if example.scale is None else 1 + SCALES.index(example.scale)
    return tempo, tonic, scale


def encode_examples(examples: list[ReaderExample], encoder: PromptEncoder, config: WordsReaderConfig,
                    chunk: int = 256) -> EncodedTexts:
    tokens = torch.zeros(len(examples), encoder.max_tokens, EMBED_DIM, dtype=torch.float16)
    lengths = torch.zeros(len(examples), dtype=torch.long)
    for start in range(0, len(examples), chunk):
        batch_tokens, mask, _ = encoder.encode_batch([e.text for e in examples[start:start + chunk]])
        tokens[start:start + batch_tokens.shape[0], :batch_tokens.shape[1]] = batch_tokens.to(torch.float16)
        lengths[start:start + batch_tokens.shape[0]] = mask.sum(dim=1)
        encoder.cache_clear()  # each text once: the cache would only hold memory
    longest = int(lengths.max())
    answers = torch.tensor([labels(e, config) for e in examples], dtype=torch.long).reshape(-1, 3)
    return EncodedTexts(tokens[:, :longest].clone(), lengths, answers[:, 0], answers[:, 1], answers[:, 2])


def reader_loss(model: WordsReader, data: EncodedTexts, rows: torch.Tensor) -> torch.Tensor:
    tokens, mask = data.batch(rows)
    logits = model(tokens, mask)
    return (F.cross_entropy(logits.tempo, data.tempo[rows]) + F.cross_entropy(logits.tonic, data.tonic[rows])
            + F.cross_entropy(logits.scale, data.scale[rows]))


def accuracy(model: WordsReader, data: EncodedTexts, chunk: int = 512) -> dict[str, float]:
    """Exact answers (including "not stated") over all rows, after `decode`'s threshold."""
    model.eval()
    right = {"tempo": 0, "key": 0, "scale": 0}
    with torch.no_grad():
        for start in range(0, len(data), chunk):
            rows = torch.arange(start, min(start + chunk, len(data)))
            tokens, mask = data.batch(rows)
            for reading, row in zip(decode(model(tokens, mask), model.config), rows.tolist()):
                tempo, tonic, scale = labels(ReaderExample("", reading.tempo_bpm, reading.key, reading.scale),
                                             model.config)
                right["tempo"] += tempo == int(data.tempo[row])
                right["key"] += tonic == int(data.tonic[row])
                right["scale"] += scale == int(data.scale[row])
    model.train()
    return {name: count / len(data) for name, count in right.items()}


def make_examples(templates: list[CaptionFacts], count: int, seed: int) -> list[ReaderExample]:
    rng = np.random.default_rng(seed)
    return [reader_example(templates, rng) for _ in range(count)]


def train_words_reader(config: WordsReaderTrainConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Encode the texts, train, write `config.out`; returns the run's summary (also in the file's metadata)."""
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    templates = facts_templates(read_jsonl(config.dataset / MANIFEST_NAME))
    encoder = PromptEncoder()
    started = time.time()
    train = encode_examples(make_examples(templates, config.examples, config.seed), encoder, config.model)
    valid = encode_examples(make_examples(templates, config.valid_examples, config.seed + 1), encoder, config.model)
    log(f"encoded {len(train)} + {len(valid)} texts in {time.time() - started:.0f} s")
    model = WordsReader(config.model)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    warmup = max(1, config.steps // 20)

    def rate(step: int) -> float:  # linear warm-up, then cosine to 0
        return min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, config.steps) / config.steps))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    generator = torch.Generator().manual_seed(config.seed)
    model.train()
    running = first_loss = 0.0
    for step in range(1, config.steps + 1):
        batch_rows = torch.randint(len(train), (config.batch_size,), generator=generator)
        loss = reader_loss(model, train, batch_rows)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        value = float(loss.detach())
        running = 0.98 * running + 0.02 * value if step > 1 else value
        first_loss = value if step == 1 else first_loss
        if step % 500 == 0 or step == config.steps:  # the last step always: its accuracy is the run's
            valid_accuracy = accuracy(model, valid)
            log(f"step {step}: loss {running:.4f}, valid {valid_accuracy} ({time.time() - started:.0f} s)")
    result = {"steps": config.steps, "examples": config.examples, "seed": config.seed,
              "first_loss": round(first_loss, 4), "final_loss": round(running, 4),
              "valid_accuracy": valid_accuracy, "seconds": round(time.time() - started, 1),
              "dataset": str(config.dataset)}
    save_words_reader(model, config.out, extra=result)
    return result

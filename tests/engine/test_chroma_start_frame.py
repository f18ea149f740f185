"""GenerationRequest.chroma_start_frame: a live chunk sends only its window's chroma rows; the chunk is the same as
with the whole curve from frame 0 (rows before the window's start unmasked), and a bad start is refused."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.debug_models import debug_generator
from engine.harmony import progression_chroma
from engine.request import GenerationError, GenerationRequest, request_from_json, request_to_json


def test_a_window_of_the_curve_gives_the_same_chunk_as_the_whole_curve() -> None:
    generator = debug_generator(0, harmony=True)
    whole = progression_chroma("Am F C G", 120.0, 160)
    base = GenerationRequest(prompts=("pad",), steps=2, tempo_bpm=120.0, key="A", scale="minor")
    start, frames = 64, 64
    full = replace(base, chroma=whole.chroma, chroma_mask=whole.mask)
    window = replace(base, chroma=whole.chroma[start - 8:start + frames], chroma_mask=whole.mask[start - 8:start + frames],
                     chroma_start_frame=start - 8)
    a = generator.generate_chunk(full, frames, start_frame=start).latent
    b = generator.generate_chunk(window, frames, start_frame=start).latent
    assert torch.equal(a, b)
    # A curve that starts inside the window: the rows before it are free (mask 0), as a zero-masked whole curve.
    late = replace(base, chroma=whole.chroma[start + 16:start + frames], chroma_start_frame=start + 16)
    padded = np.zeros_like(whole.chroma[:start + frames])
    padded[start + 16:] = whole.chroma[start + 16:start + frames]
    mask = np.zeros(start + frames, np.float32)
    mask[start + 16:] = 1.0
    c = generator.generate_chunk(late, frames, start_frame=start).latent
    d = generator.generate_chunk(replace(base, chroma=padded, chroma_mask=mask), frames, start_frame=start).latent
    assert torch.equal(c, d) and not torch.equal(a, c)
    assert request_from_json(request_to_json(window)).chroma_start_frame == start - 8


def test_a_bad_start_frame_is_refused() -> None:
    with pytest.raises(GenerationError, match="chroma_start_frame"):
        GenerationRequest(chroma=np.ones((4, 12), np.float32), chroma_start_frame=-1).validated()

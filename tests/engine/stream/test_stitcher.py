"""The stitcher on the tiny random debug model (CPU, one thread): chunk continuation, click-free joins, the
phase-continuous decode, rollback splices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.generate import Generator
from engine.request import GenerationRequest
from engine.stream import ChunkStitcher, DryAudioQueue, StreamGeometry
from engine.vocabulary import LATENT_HOP_FRAMES, SAMPLE_RATE
from tests.engine.stream.support import burst_ratio


def test_chunks_continue_and_joins_are_click_free(generator: Generator) -> None:
    geometry = StreamGeometry(window_frames=32, context_frames=12, crossfade_frames=4)
    stitcher = ChunkStitcher(generator, geometry)
    queue = DryAudioQueue(SAMPLE_RATE * 20)
    request = GenerationRequest(prompts=("warm pad",), steps=3)
    joins = []
    for _ in range(6):
        chunk = stitcher.generate(request)
        if chunk.crossfade_samples:
            # The pinned context lands exactly on the stream's frames: continuation, not a fresh start.
            offset = chunk.window_start_frame - stitcher.history_start
            torch.testing.assert_close(chunk.latent[:, :geometry.pin_frames],
                                       stitcher.history[:, offset:offset + geometry.pin_frames])
            joins.append(chunk.start_sample)
        queue.splice(chunk.start_sample, chunk.audio, chunk.crossfade_samples)
        stitcher.commit(chunk)
    out = np.zeros((2, queue.end), np.float32)
    queue.read_into(out)
    assert queue.end == (5 * geometry.new_frames + geometry.window_frames) * LATENT_HOP_FRAMES
    assert np.isfinite(out).all() and 0.001 < np.abs(out).max() < 1.0
    ends = [j + geometry.crossfade_frames * LATENT_HOP_FRAMES for j in joins]
    assert burst_ratio(out, joins + ends) < 1.5, "no high-frequency burst where chunks meet"
    assert np.abs(out[:, :4]).max() < 0.01, "a fresh stream fades in"


def test_chunks_decode_as_one_uninterrupted_stream(generator: Generator) -> None:
    # The decoder integrates its phase along the stream; each chunk resumes from the stream's stored phase
    # state, so after three chunks every chunk's audio is what one decode of the whole latent stream gives
    # (with fresh phases at each chunk, the partials would jump in phase at every join).
    geometry = StreamGeometry(window_frames=32, context_frames=12, crossfade_frames=4)
    stitcher = ChunkStitcher(generator, geometry)
    request = GenerationRequest(prompts=("warm pad",), steps=2)
    chunks = []
    for _ in range(3):
        chunks.append(stitcher.generate(request))
        stitcher.commit(chunks[-1])
    assert stitcher.history_start == 0
    whole = generator.decode(stitcher.history)
    ends = [chunks[2].start_sample - 1024, None]  # the next chunk replaced the frames from its splice on (an
    for chunk, end in zip(chunks[1:], ends):      # overlap-add window, 1024 samples, reaches back before it)
        kept = chunk.audio[:, :None if end is None else end - chunk.start_sample]
        np.testing.assert_allclose(kept, whole[:, chunk.start_sample:chunk.start_sample + kept.shape[1]], atol=1e-5)
    stitcher.phase_states.clear()  # what a chunk without the stream's phase state would give
    last = stitcher.generate(request)
    stitcher.commit(last)
    whole = generator.decode(stitcher.history)
    assert np.abs(last.audio - whole[:, last.start_sample:last.start_sample + last.audio.shape[1]]).max() > 1e-2


def test_rollback_splice_regenerates_from_an_earlier_frame(generator: Generator) -> None:
    geometry = StreamGeometry(window_frames=32, context_frames=12, crossfade_frames=4)
    stitcher = ChunkStitcher(generator, geometry)
    request = GenerationRequest(prompts=("warm pad",), steps=2)
    for _ in range(3):
        stitcher.commit(stitcher.generate(request))
    end = stitcher.end_frame
    frame = stitcher.earliest_splice_frame() + 10
    chunk = stitcher.generate(GenerationRequest(prompts=("noisy drums",), steps=2, cfg_scale=7.0), splice_frame=frame)
    assert chunk.crossfade_frame == frame and chunk.start_sample == frame * LATENT_HOP_FRAMES
    assert chunk.audio.shape[-1] == (frame - geometry.pin_frames + geometry.window_frames - frame) * LATENT_HOP_FRAMES
    stitcher.commit(chunk)
    assert stitcher.end_frame == frame - geometry.pin_frames + geometry.window_frames < end
    with pytest.raises(ValueError):
        stitcher.generate(request, splice_frame=stitcher.end_frame)

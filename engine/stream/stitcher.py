"""Stitching generated chunks into one stream of latent frames and audio, without threads: the engine thread
drives a ChunkStitcher live, render_chunk_log drives one offline.

Each chunk (engine.stream.geometry) is generated with its C - K pinned context frames from the stream so far;
the audio of its K regenerated frames is crossfaded with the audio already queued for those frames: an
equal-power crossfade, correlation-compensated because the two versions share their history and start out
nearly identical (a plain sin/cos law would swell up to +3 dB there). Each chunk is decoded with R frames of
true latent history before the splice point (R = the causal decoder's receptive field), so its magnitudes are
what an uninterrupted decode of the stream gives, and its phase integration starts from the stream's own phase
state at the first history frame (the stitcher keeps one per frame; the phase integration resumes at the
splice frame), so the new chunk's partials continue the queued audio's and are in phase with them in the
crossfade.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.codec.phase import PhaseState
from engine.generate import Generator
from engine.request import GenerationRequest
from engine.stream.crossfade import fade_in
from engine.stream.geometry import StreamGeometry
from engine.stream.requests import with_steps
from engine.vocabulary import SAMPLE_RATE

FADE_IN_SAMPLES = SAMPLE_RATE // 100  # 10 ms: a fresh stream (start, after an error) never starts with a step


@dataclass
class ChunkAudio:
    """One generated chunk, ready to splice: audio (2, samples) starting at start_sample."""

    start_sample: int  # = crossfade_frame * hop
    audio: np.ndarray  # (2, (window_end - crossfade_frame) * hop) float32, finite
    crossfade_samples: int  # 0 for a fresh start
    latent: torch.Tensor  # (latent_channels, window_frames) normalised, as generated
    window_start_frame: int  # s: the window's first frame in the stream
    crossfade_frame: int  # f: first frame whose audio comes from this chunk
    chunk_index: int
    steps: int
    generate_seconds: float
    decode_seconds: float
    phase_states: dict[int, PhaseState] = field(default_factory=dict)  # frame b -> decoder state before b


class RefineAbandoned(Exception):
    """Raised from a sampler step to give up a refine chunk (see EngineThread._abandon_on_change)."""


class ChunkStitcher:
    """The stream's latent state and the chunk logic, without threads: the engine thread drives it live,
    `render_chunk_log` drives it offline. Owned by one thread.

    State: `history` (latent_channels, end_frame - history_start), normalised, holds the latent frames
    [history_start, end_frame) of the stream as queued; the audio of the last K of them is provisional (the
    next chunk crossfades over it). `phase_states[b]` is the decoder's phase state before frame b, for the
    frames of the history.
    """

    def __init__(self, generator: Generator, geometry: StreamGeometry = StreamGeometry(),
                 max_history_frames: int = 1024) -> None:
        self.generator = generator
        self.geometry = geometry.validate(generator.frame_multiple)
        self.hop = generator.hop_frames
        self.decoder_history_frames = generator.decoder_receptive_frames + 2
        self.max_history_frames = max(max_history_frames, 4 * geometry.window_frames + self.decoder_history_frames)
        self.history: torch.Tensor | None = None
        self.history_start = 0
        self.end_frame = 0
        self.chunk_index = 0
        self.phase_states: dict[int, PhaseState] = {}
        # Where the next chunk of the normal flow splices (its crossfade start), when planned earlier than the
        # window's end (a bar-line join): a frame, and 0..hop-1 samples into it where the crossfade starts so
        # that it ends exactly on the bar line; None: end_frame - K. Cleared by commit and reset.
        self.planned_splice_frame: int | None = None
        self.planned_offset_samples = 0

    @property
    def next_splice_frame(self) -> int:
        """The normal flow's next splice: the planned one, or the window end minus the crossfade."""
        if self.planned_splice_frame is not None:
            return self.planned_splice_frame
        return self.end_frame - self.geometry.crossfade_frames

    @property
    def firm_end_frame(self) -> int:
        """End of the audio no future chunk of the normal flow will crossfade over (frame resolution)."""
        return self.next_splice_frame if self.history is not None else self.end_frame

    @property
    def firm_end_sample(self) -> int:
        """firm_end_frame in samples, with the planned join's offset."""
        planned = self.history is not None and self.planned_splice_frame is not None
        return self.firm_end_frame * self.hop + (self.planned_offset_samples if planned else 0)

    def plan_join(self, crossfade_end_sample: int | None) -> None:
        """The normal flow's next join: its crossfade ends at `crossfade_end_sample` (None: the window end)."""
        self.planned_splice_frame, self.planned_offset_samples = None, 0
        if crossfade_end_sample is None or self.history is None:
            return
        k = self.geometry.crossfade_frames
        splice_sample = crossfade_end_sample - k * self.hop
        frame, offset_samples = divmod(splice_sample, self.hop)
        earliest = self.earliest_splice_frame()
        if earliest is not None and earliest <= frame < self.end_frame - k:
            self.planned_splice_frame, self.planned_offset_samples = int(frame), int(offset_samples)

    def earliest_splice_frame(self) -> int | None:
        """The earliest frame a rollback may splice at (it needs C - K pinned frames of history)."""
        if self.history is None:
            return None
        return self.history_start + self.geometry.pin_frames

    def reset(self, at_frame: int) -> None:
        """Forget the latent history (after an error): the next chunk starts fresh at `at_frame`."""
        self.history = None
        self.history_start = at_frame
        self.end_frame = at_frame
        self.phase_states = {}
        self.planned_splice_frame, self.planned_offset_samples = None, 0

    @torch.no_grad()
    def generate(self, request: GenerationRequest, splice_frame: int | None = None,
                 steps: int | None = None, step_callback: Callable[[int], None] | None = None) -> ChunkAudio:
        """The next chunk: continuing the stream at `splice_frame` (default: the normal join, end - K), or a
        fresh start at end_frame when there is no history. Does not change state: `commit` does, so an
        exception from `step_callback` (called after each sampler step) abandons the chunk cleanly."""
        g = self.geometry
        generator = self.generator
        if steps is not None and steps != request.steps:
            request = with_steps(request, steps)
        started = time.perf_counter()
        if self.history is None:
            start = self.end_frame
            result = generator.generate_chunk(request, g.window_frames, start_frame=start,
                                              chunk_index=self.chunk_index, step_callback=step_callback)
            generated = time.perf_counter()
            audio, states = self._decode(result.latent, None, None)
            fade_in(audio, FADE_IN_SAMPLES)
            decoded = time.perf_counter()
            return ChunkAudio(start_sample=start * self.hop, audio=audio, crossfade_samples=0, latent=result.latent,
                              window_start_frame=start, crossfade_frame=start, chunk_index=self.chunk_index,
                              steps=request.steps, generate_seconds=generated - started,
                              decode_seconds=decoded - generated,
                              phase_states={start + 1 + i: state for i, state in enumerate(states)})
        f = self.next_splice_frame if splice_frame is None else int(splice_frame)
        earliest = self.earliest_splice_frame()
        if earliest is None or not earliest <= f <= self.end_frame - g.crossfade_frames:
            raise ValueError(f"splice frame {f} outside [{earliest}, {self.end_frame - g.crossfade_frames}]")
        start = f - g.pin_frames
        context_offset_frames = start - self.history_start
        context = self.history[:, context_offset_frames:context_offset_frames + g.context_frames]
        result = generator.generate_chunk(request, g.window_frames, context=context, start_frame=start,
                                          chunk_index=self.chunk_index, pin_frames=g.pin_frames,
                                          step_callback=step_callback)
        generated = time.perf_counter()
        prefix_start = max(self.history_start, f - self.decoder_history_frames)
        prefix = self.history[:, prefix_start - self.history_start:f - self.history_start]
        audio, states = self._decode(result.latent[:, g.pin_frames:], prefix, self.phase_states.get(f))
        decoded = time.perf_counter()
        new_states = {f + 1 + i: state for i, state in enumerate(states)}  # states[i] follows frame f + i
        return ChunkAudio(start_sample=f * self.hop, audio=audio, crossfade_samples=g.crossfade_frames * self.hop,
                          latent=result.latent, window_start_frame=start, crossfade_frame=f,
                          chunk_index=self.chunk_index, steps=request.steps, generate_seconds=generated - started,
                          decode_seconds=decoded - generated, phase_states=new_states)

    def commit(self, chunk: ChunkAudio) -> None:
        """Make `chunk` part of the stream (its latent frames replace everything from its crossfade frame)."""
        g = self.geometry
        latent = chunk.latent.detach()
        if self.history is None or chunk.crossfade_frame == chunk.window_start_frame:
            self.history, self.history_start = latent, chunk.window_start_frame
            self.phase_states = {}
        else:
            keep = self.history[:, :chunk.crossfade_frame - self.history_start]
            self.history = torch.cat([keep, latent[:, g.pin_frames:]], dim=-1)
            self.phase_states = {b: state for b, state in self.phase_states.items() if b <= chunk.crossfade_frame}
        self.phase_states.update(chunk.phase_states)
        self.end_frame = chunk.window_start_frame + g.window_frames
        self.planned_splice_frame, self.planned_offset_samples = None, 0
        excess = self.history.shape[-1] - self.max_history_frames
        if excess > 0:
            self.history = self.history[:, excess:]
            self.history_start += excess
            self.phase_states = {b: state for b, state in self.phase_states.items() if b >= self.history_start}
        self.chunk_index += 1

    @torch.no_grad()
    def _decode(self, latent: torch.Tensor, prefix: torch.Tensor | None,
                phase_state: PhaseState | None) -> tuple[np.ndarray, list[PhaseState]]:
        """Normalised latent (C, n) with optional true history (C, p) before it, the stream's phase state before
        the latent -> (audio (2, n * hop), the phase state after each of the n frames)."""
        return self.generator.decode_continuing(latent, prefix, phase_state, strict=True)

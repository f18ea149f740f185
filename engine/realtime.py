"""Real-time generation: the engine thread that keeps a stream of continued, crossfaded chunks ahead of the
playhead, and the pieces it is built from (no Qt, no audio device: testable headless and reused offline).

Threads and ownership (ARCHITECTURE.md section 3):

    parameter store ──snapshot per chunk──> EngineThread (owns the Generator and the ChunkStitcher)
                                                  │ splice(chunk audio, crossfade)
                                                  v
                                          DryAudioQueue (seconds of dry audio, absolute sample positions)
                                                  │ read(small blocks)
                                                  v
                       output pump (instrument.live: effects -> ring buffer of a few blocks -> PortAudio)

Why a dry queue in front of the effects instead of writing effected audio straight into the ring buffer:
the engine runs seconds ahead of the playhead, so effects applied there would answer a knob seconds late
(the issue asks <= 20 ms). The pump applies effects to small blocks just before the ring, which holds only
a few blocks. The dry queue also lets the engine *replace* audio it has queued but not yet handed to the
pump: a generation-parameter change is answered by regenerating from a point just ahead of the playhead
(a "rollback") instead of waiting until the 1-2 buffered chunks have played, so knob-to-sound latency is
one chunk's compute plus a guard, not the buffer length.

Chunk geometry (latent frames, hop 1024 samples = 23.2 ms at 44.1 kHz): a window of W frames starts
with C context frames copied from the stream so far. The first C - K are pinned (the sampler lands on
them exactly); the last K are regenerated, and their audio is crossfaded with the audio already queued
for those frames: an equal-power crossfade, correlation-compensated because the two versions share
their history and start out nearly identical (a plain sin/cos law would swell up to +3 dB there).
Each chunk is decoded with R frames of true latent history before the splice point (R = the causal
decoder's receptive field), so its magnitudes are what an uninterrupted decode of the stream gives, and its
phase integration starts from the stream's own phase state at the first history frame (the stitcher keeps
one per frame; the phase integration resumes at the splice frame), so the new chunk's partials continue the
queued audio's and are in phase with them in the crossfade.

Everything is fed one request per chunk; parameter changes take effect at the next chunk.

Under an external clock (a `BarGrid`: a MIDI clock's beats on the stream's sample axis) the engine plans
each chunk's join so that a crossfade *ends* on a bar line whenever one is within the chunk's reach (and
splits the way to the next bar line evenly otherwise), so every downbeat is played by one chunk, never by a
blend; and it holds "quantised" changes (prompt morphs) back until the next bar line, where they land as a
join: the chunks before it keep the old prompts, the chunk from the bar line on has the new ones.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Protocol

import numpy as np
import torch

from engine.codec.phase import PhaseState
from engine.generate import GenerationError, GenerationRequest, Generator, request_to_json
from engine.priority import lower_current_thread_priority

logger = logging.getLogger(__name__)

FADE_IN_SAMPLES = 441  # 10 ms: a fresh stream (start, after an error) never starts with a step
LATE_FADE_SAMPLES = 256  # a splice that found the queue already drained fades in over 5.8 ms


# --- geometry and pure helpers --------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamGeometry:
    """Chunk layout in latent frames. window_frames must be a multiple of the U-Net's frame multiple."""

    window_frames: int = 64  # W: frames generated per chunk (1.49 s)
    context_frames: int = 16  # C: leading frames taken from the stream so far
    crossfade_frames: int = 4  # K: the last K context frames are regenerated and crossfaded (93 ms)

    @property
    def pin_frames(self) -> int:
        return self.context_frames - self.crossfade_frames

    @property
    def new_frames(self) -> int:
        """Frames a chunk adds to the stream (W - C)."""
        return self.window_frames - self.context_frames

    def validate(self, frame_multiple: int) -> "StreamGeometry":
        if self.window_frames <= 0 or self.window_frames % frame_multiple:
            raise GenerationError(f"window_frames must be a positive multiple of {frame_multiple}")
        if not 0 < self.crossfade_frames < self.context_frames < self.window_frames:
            raise GenerationError("need 0 < crossfade_frames < context_frames < window_frames")
        return self


def equal_power_crossfade(old: np.ndarray, new: np.ndarray, compensate_correlation: bool = True) -> np.ndarray:
    """(channels, n) old fading out, new fading in -> (channels, n).

    Gains g_out = cos(pi t / 2) / N, g_in = sin(pi t / 2) / N with N = sqrt(1 + 2 rho cos sin), where rho
    (0..1) is the correlation of the two segments: the summed power stays constant for any rho (rho = 0 is
    the textbook equal-power law, rho = 1 the equal-gain law). Two versions of the same continuation are
    strongly correlated; the plain law would swell them by up to 3 dB mid-fade.
    """
    n = old.shape[-1]
    if n == 0:
        return new.copy()
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    fade_out, fade_in = np.cos(0.5 * np.pi * t), np.sin(0.5 * np.pi * t)
    rho = 0.0
    if compensate_correlation:
        energy = float(np.sqrt(np.sum(old.astype(np.float64) ** 2) * np.sum(new.astype(np.float64) ** 2)))
        if energy > 1e-12:
            rho = float(np.clip(np.sum(old.astype(np.float64) * new) / energy, 0.0, 1.0))
    norm = np.sqrt(1.0 + 2.0 * rho * fade_out * fade_in)
    return (old * (fade_out / norm) + new * (fade_in / norm)).astype(np.float32)


def fade_in(audio: np.ndarray, samples: int) -> None:
    """In place: a raised-cosine fade-in over the first `samples` of (channels, n)."""
    n = min(samples, audio.shape[-1])
    if n > 0:
        audio[..., :n] *= (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)


@dataclass(frozen=True)
class BarGrid:
    """External musical time on the stream's sample axis: beat(s) = beat_at_zero + s * beats_per_sample, with
    a bar line every `beats_per_bar` beats from beat 0 (a MIDI clock's song position 0)."""

    beat_at_zero: float  # beats (quarter notes) at stream sample 0
    beats_per_sample: float  # tempo / 60 / sample rate
    beats_per_bar: int = 4

    def beat_at(self, sample: float) -> float:
        return self.beat_at_zero + sample * self.beats_per_sample

    def sample_at(self, beat: float) -> float:
        return (beat - self.beat_at_zero) / self.beats_per_sample

    def bar_samples(self, from_sample: float, to_sample: float) -> list[float]:
        """Bar lines in [from_sample, to_sample] (fractional samples)."""
        if self.beats_per_sample <= 0 or to_sample < from_sample:
            return []
        bar = math.ceil(self.beat_at(from_sample) / self.beats_per_bar - 1e-9)
        samples = []
        while (sample := self.sample_at(bar * self.beats_per_bar)) <= to_sample:
            if sample >= from_sample:
                samples.append(sample)
            bar += 1
        return samples

    def next_bar_sample(self, at_or_after: float) -> float:
        """The first bar line at or after `at_or_after` (fractional samples)."""
        bar = math.ceil(self.beat_at(at_or_after) / self.beats_per_bar - 1e-9)
        return self.sample_at(bar * self.beats_per_bar)


def plan_join_sample(content_start: int, reach_end: int, grid: BarGrid, *, min_new_samples: int,
                     target: int | None = None, bar_slack_samples: int = 0) -> int | None:
    """Where the next join's crossfade should end (a stream sample), for a chunk whose own audio runs
    (uncrossfaded) from `content_start` and may run up to `reach_end` (its window's end); None: the normal
    join at the window's end.

    `target` (a pending quantised morph's bar line) wins when within reach, however close (a short chunk
    rather than a late morph), and so does any bar line within reach (the farthest, when several are);
    otherwise the way to the next bar line (or target) is split into the fewest chunks that can cover it,
    evenly, and this chunk takes the first share, so that a later join can land on it. Such split joins
    closer than `min_new_samples` to the chunk's start are not planned (a chunk adds at least that). A bar
    line within `bar_slack_samples` of the chunk's start counts as met by it (no chunk of a few samples).
    """
    max_new = reach_end - content_start
    if max_new <= 0:
        return None
    if target is not None and content_start < target <= reach_end:
        return int(target)
    bars = [round(b) for b in grid.bar_samples(content_start + 0.5, reach_end + 0.5)]
    bars = [b for b in bars if content_start + bar_slack_samples < b <= reach_end]
    if bars:
        return max(bars)
    goal = round(grid.next_bar_sample(max(reach_end, content_start + bar_slack_samples) + 0.5))
    if target is not None and target > reach_end:
        goal = min(goal, int(target))
    distance = goal - content_start
    join = content_start + round(distance / math.ceil(distance / max_new))
    return join if content_start + min_new_samples <= join < reach_end else None


def choose_steps(requested: int, budget_s: float, seconds_per_step: float | None, overhead_s: float,
                 min_steps: int = 1) -> int:
    """The most steps (<= requested, >= min_steps) whose estimated compute fits `budget_s`.

    The adaptive rule: fewer steps before the buffer may run dry. Unknown speed (first chunk): requested.
    """
    if seconds_per_step is None or seconds_per_step <= 0:
        return requested
    fit = math.floor((budget_s - overhead_s) / seconds_per_step)
    return int(max(min_steps, min(requested, fit)))


# --- the dry audio queue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpliceResult:
    position: int  # absolute sample where the new audio took over (the crossfade start)
    crossfade_samples: int
    late_samples: int  # how far past the requested position it landed (the pump had already read there)
    read_position: int  # the consumer's position at the splice (logged so a replay splices identically)


class DryAudioQueue:
    """Dry audio between the engine (producer) and the output pump (consumer), float32 (channels, samples)
    at absolute sample positions: [read_position, end) is queued.

    Unlike the lock-free ring buffer near the audio callback, this queue has a short lock (held for
    copies of at most one chunk), because the producer may rewrite audio the consumer has not read yet
    (`splice`). Neither side is the PortAudio callback, so a lock of a few hundred microseconds is fine.
    Markers (sample position, change time) travel with the audio so the pump can tell when the first
    sample generated with a parameter change reaches the output.
    """

    def __init__(self, capacity_samples: int, channels: int = 2) -> None:
        self.capacity_samples = int(capacity_samples)
        self.channels = channels
        self._data = np.zeros((channels, self.capacity_samples), dtype=np.float32)
        self._lock = threading.Lock()
        self._read = 0
        self._end = 0
        self._markers: list[tuple[int, float]] = []

    @property
    def read_position(self) -> int:
        return self._read

    @property
    def end(self) -> int:
        return self._end

    @property
    def queued_samples(self) -> int:
        return self._end - self._read

    def _put(self, position: int, audio: np.ndarray) -> None:
        n = audio.shape[-1]
        start = position % self.capacity_samples
        first = min(n, self.capacity_samples - start)
        self._data[:, start:start + first] = audio[:, :first]
        if n > first:
            self._data[:, :n - first] = audio[:, first:]

    def _get(self, position: int, n: int, out: np.ndarray) -> None:
        start = position % self.capacity_samples
        first = min(n, self.capacity_samples - start)
        out[:, :first] = self._data[:, start:start + first]
        if n > first:
            out[:, first:n] = self._data[:, :n - first]

    def _check_room(self, new_end: int) -> None:
        if new_end - self._read > self.capacity_samples:
            raise OverflowError(f"dry queue full: {new_end - self._read} > {self.capacity_samples} samples")

    def append(self, audio: np.ndarray) -> int:
        """Queue (channels, n) at the end; returns its start position."""
        with self._lock:
            self._check_room(self._end + audio.shape[-1])
            start = self._end
            self._put(start, audio)
            self._end += audio.shape[-1]
            return start

    def splice(self, at_sample: int, audio: np.ndarray, crossfade_samples: int, *, marker_time_s: float | None = None,
               margin_samples: int = 0, compensate_correlation: bool = True) -> SpliceResult | None:
        """Replace everything queued from `at_sample` on with `audio` (channels, n), which starts at
        `at_sample`, crossfading the first `crossfade_samples` with the audio queued there.

        If the consumer has already read past at_sample (+ margin), the splice lands at the first sample it
        may still change, skipping the start of `audio` (a late chunk never rewinds the timeline). Returns
        None when nothing of `audio` is left to place. Markers at or after the splice are dropped and their
        earliest time carried to the new marker (the changes they stood for are heard with this chunk).
        """
        n = audio.shape[-1]
        with self._lock:
            position = max(int(at_sample), self._read + margin_samples)
            if position > self._end:  # the queue ran dry before the new audio: continue from the end
                position = max(int(at_sample), self._end)
            skip = position - at_sample
            if skip >= n:
                return None
            if position > self._end:  # a fresh start beyond the end: the frames between are silence
                self._check_room(position)
                self._put(self._end, np.zeros((self.channels, position - self._end), dtype=np.float32))
                self._end = position
            new = audio[:, skip:]
            old_available = max(0, self._end - position)
            fade = min(crossfade_samples, old_available, new.shape[-1])
            self._check_room(position + new.shape[-1])
            if fade > 0:
                old = np.empty((self.channels, fade), dtype=np.float32)
                self._get(position, fade, old)
                head = equal_power_crossfade(old, new[:, :fade], compensate_correlation)
                self._put(position, head)
                self._put(position + fade, new[:, fade:])
            else:
                if skip > 0 or self._end < at_sample:
                    new = new.copy()
                    fade_in(new, LATE_FADE_SAMPLES)  # no old audio to fade from: avoid a step
                self._put(position, new)
            self._end = position + new.shape[-1]
            dropped = [t for p, t in self._markers if p >= position]
            self._markers = [(p, t) for p, t in self._markers if p < position]
            times = dropped + ([marker_time_s] if marker_time_s is not None else [])
            if times:
                self._markers.append((position, min(times)))
            return SpliceResult(position, fade, skip, self._read)

    def fade_out_from(self, at_sample: int) -> int:
        """Fade what is queued from `at_sample` (or the read position, if later) to the end down to zero
        (a raised cosine); returns the fade length in samples."""
        with self._lock:
            position = max(int(at_sample), self._read)
            n = self._end - position
            if n <= 0:
                return 0
            block = np.empty((self.channels, n), dtype=np.float32)
            self._get(position, n, block)
            block *= (0.5 + 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
            self._put(position, block)
            return n

    def read_into(self, out: np.ndarray) -> tuple[int, list[tuple[int, float]]]:
        """Consumer: fill out (channels, n) with up to n queued samples (the rest zero); returns the count
        and the markers (position, change time) inside what was read."""
        n = out.shape[-1]
        with self._lock:
            got = min(n, self._end - self._read)
            self._get(self._read, got, out)
            self._read += got
            markers: list[tuple[int, float]] = []
            if self._markers and self._markers[0][0] < self._read:
                markers = [(p, t) for p, t in self._markers if p < self._read]
                self._markers = [(p, t) for p, t in self._markers if p >= self._read]
        if got < n:
            out[:, got:] = 0.0
        return got, markers

    def peek(self, at_sample: int, n: int) -> np.ndarray:
        """A copy of (channels, n) queued samples from at_sample (zeros where nothing is queued)."""
        out = np.zeros((self.channels, n), dtype=np.float32)
        with self._lock:
            lo, hi = max(at_sample, self._read), min(at_sample + n, self._end)
            if hi > lo:
                tmp = np.empty((self.channels, hi - lo), dtype=np.float32)
                self._get(lo, hi - lo, tmp)
                out[:, lo - at_sample:hi - at_sample] = tmp
        return out


# --- stitching chunks into a stream -----------------------------------------------------------------------


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

    State: `history` holds the latent frames [history_start, end_frame) of the stream as queued; the audio
    of the last K of them is provisional (the next chunk crossfades over it). `phase_states[b]` is the
    decoder's phase state before frame b, for the frames of the history.
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
        frame, offset = divmod(splice_sample, self.hop)
        earliest = self.earliest_splice_frame()
        if earliest is not None and earliest <= frame < self.end_frame - k:
            self.planned_splice_frame, self.planned_offset_samples = int(frame), int(offset)

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
            request = _with_steps(request, steps)
        started = time.perf_counter()
        if self.history is None:
            start = self.end_frame
            result = generator.generate_chunk(request, g.window_frames, start_frame=start,
                                              chunk_index=self.chunk_index, step_callback=step_callback)
            generated = time.perf_counter()
            audio, states = self._decode(result.latent, None, None)
            fade_in(audio, FADE_IN_SAMPLES)
            decoded = time.perf_counter()
            return ChunkAudio(start * self.hop, audio, 0, result.latent, start, start, self.chunk_index,
                              request.steps, generated - started, decoded - generated,
                              {start + 1 + i: state for i, state in enumerate(states)})
        f = self.next_splice_frame if splice_frame is None else int(splice_frame)
        earliest = self.earliest_splice_frame()
        if earliest is None or not earliest <= f <= self.end_frame - g.crossfade_frames:
            raise ValueError(f"splice frame {f} outside [{earliest}, {self.end_frame - g.crossfade_frames}]")
        start = f - g.pin_frames
        offset = start - self.history_start
        context = self.history[:, offset:offset + g.context_frames]
        result = generator.generate_chunk(request, g.window_frames, context=context, start_frame=start,
                                          chunk_index=self.chunk_index, pin_frames=g.pin_frames,
                                          step_callback=step_callback)
        generated = time.perf_counter()
        prefix_start = max(self.history_start, f - self.decoder_history_frames)
        prefix = self.history[:, prefix_start - self.history_start:f - self.history_start]
        audio, states = self._decode(result.latent[:, g.pin_frames:], prefix, self.phase_states.get(f))
        decoded = time.perf_counter()
        new_states = {f + 1 + i: state for i, state in enumerate(states)}  # states[i] follows frame f + i
        return ChunkAudio(f * self.hop, audio, g.crossfade_frames * self.hop, result.latent, start, f,
                          self.chunk_index, request.steps, generated - started, decoded - generated, new_states)

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


def first_chunk_request(request: GenerationRequest, config: EngineConfig | None = None) -> GenerationRequest:
    """What a stream's first chunk is generated with: `request` at no more than `config.first_chunk_steps` steps
    (the app's preload computes that chunk ahead: instrument.preload)."""
    cap = (config or EngineConfig()).first_chunk_steps
    return request if cap is None or request.steps <= cap else _with_steps(request, max(1, int(cap)))


def _with_steps(request: GenerationRequest, steps: int) -> GenerationRequest:
    return replace(request, steps=int(steps))


def request_from_json(data: dict[str, Any]) -> GenerationRequest:
    """Inverse of request_to_json (unknown keys ignored: a log from a newer version still loads)."""
    known = {f.name for f in fields(GenerationRequest)}
    values = {k: v for k, v in data.items() if k in known}
    values["prompts"] = tuple(values.get("prompts", ()))
    values["weights"] = tuple(float(w) for w in values.get("weights", ()))
    values["descriptors"] = {k: (np.asarray(v, dtype=np.float32) if isinstance(v, list) else float(v))
                             for k, v in dict(values.get("descriptors", {})).items()}
    return GenerationRequest(**values)


# --- the engine thread ------------------------------------------------------------------------------------


class ParameterSource(Protocol):
    """What the engine needs of instrument.parameters.ParameterStore (duck-typed: engine/ imports no
    instrument code)."""

    @property
    def version(self) -> int: ...

    def snapshot(self) -> Any: ...

    def changes_since(self, version: int) -> list[Any]: ...

    def subscribe(self, callback: Callable[[str, Any, str], None]) -> Callable[[], None]: ...


@dataclass(frozen=True)
class EngineConfig:
    geometry: StreamGeometry = StreamGeometry()
    lead_chunks: float = 1.0  # generate the next chunk when less than this many chunks are firmly queued
    rollback: bool = True  # answer generation changes by regenerating just ahead of the playhead
    rollback_min_gain_s: float = 0.15  # ... only if that makes the change heard at least this much sooner
    guard_factor: float = 1.5  # rollback splice point: playhead + guard_factor x estimated chunk compute
    guard_extra_s: float = 0.05  # + this (pump ring, scheduling)
    latency_target_s: float | None = 0.3  # a rollback chunk may use fewer steps to be heard within this
    rollback_min_steps: int = 2  # ... but not fewer than this (one step of a few-step sampler sounds raw)
    rollback_min_interval_s: float = 0.15  # a knob being turned: at most one rollback per this long (the
    #                                         changes in between go into the next one, not one rollback each)
    refine_after_s: float | None = 0.25  # once the knobs have rested this long, audio generated with fewer
    #                                      steps than requested is regenerated at full steps (None: never)
    change_debounce_s: float = 0.003  # settle after a change: a note trigger writes four weights at once
    min_steps: int = 1
    first_chunk_steps: int | None = 4  # a stream's first chunk uses at most this many steps: the first sound waits
    #                                    for it, and the refine (above) brings what is not yet heard of it to
    #                                    full steps once the knobs rest (None: full steps)
    safety: float = 0.7  # adaptive steps: plan to use at most this fraction of the time left
    error_silence_s: float = 0.25  # silence queued per failed attempt (audio continues, it does not stop)
    error_backoff_s: float = 0.2  # first retry delay after a generation error (doubles up to 2 s)
    queue_seconds: float = 20.0  # dry queue capacity
    idle_wait_s: float = 0.005  # how often the thread looks at the buffer when it has nothing to do


@dataclass
class ChunkRecord:
    """What the engine did, for the take's automation log and `cascade rerender` (JSON via to_json)."""

    kind: str  # "chunk" or "gap" (error: queued audio faded out, silence appended, history reset)
    index: int
    sample: int  # where it landed in the stream (crossfade start / gap start), absolute samples
    requested_sample: int
    read_sample: int = 0  # the pump's stream position when it was spliced in (a replay reads up to here first)
    window_start_frame: int = 0
    crossfade_frame: int = 0
    fresh: bool = False
    steps: int = 0
    requested_steps: int = 0
    version: int = 0
    rollback: bool = False
    gap_samples: int = 0
    error: str | None = None
    request: dict[str, Any] | None = None
    morph: bool = False  # this chunk landed a quantised (bar-line) prompt morph
    refine: bool = False  # a full-step regeneration of few-step audio (same parameters) after the knobs rested
    splice_offset: int = 0  # samples after the crossfade frame where the crossfade started (a bar-line join)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class EngineStatus:
    """A snapshot for meters and logs; counters since start."""

    running: bool = False
    device: str = "cpu"
    chunks: int = 0
    rollbacks: int = 0
    late_splices: int = 0
    real_time_factor: float | None = None  # compute seconds per audio second over recent chunks (< 1 keeps up)
    last_chunk_seconds: float | None = None
    steps_used: int | None = None
    steps_requested: int | None = None
    lead_seconds: float = 0.0  # firmly queued dry audio ahead of the pump
    errors: int = 0
    last_error: str | None = None
    last_error_time_s: float | None = None
    applied_version: int = -1
    morphs: int = 0  # quantised prompt morphs landed on a bar line
    refines: int = 0  # few-step audio regenerated at full steps once the knobs rested
    refines_abandoned: int = 0  # refines given up half-way because a knob moved (its change answered at once)
    pending_morph_sample: int | None = None  # the bar line (stream sample) a held prompt morph will land on
    priority: str = ""  # the engine thread's scheduling priority, in words


class EngineThread:
    """Owns the Generator (one owner thread). Keeps `lead_chunks`..`lead_chunks + 1` chunks of dry audio
    queued ahead of the consumer, answers parameter changes at the next chunk (or sooner, by rollback),
    lowers the step count when the time left would not fit the requested steps, and survives generation
    errors (the queued tail fades out, silence follows, the error is reported, it retries).

    `request_for(snapshot)` turns a parameter snapshot into a GenerationRequest (instrument.live owns the
    parameter names); `is_generation_change(name)` says which changes need new audio (effects do not).
    `beat_offset_for(start_sample)` (optional) returns GenerationRequest.beat_offset for a chunk starting
    at that stream sample (a MIDI clock's phase).

    `bar_grid_for()` (optional) returns the external clock's BarGrid, or None while there is none. With a
    grid, the chunk's beat offset follows it (unless beat_offset_for is given), joins are planned onto its
    bar lines (`plan_join_sample`; exactly: a crossfade may start inside a frame), and changes for which
    `is_quantised_change(name)` holds are held back until the next bar line that can still be reached:
    chunks before it are generated from `hold_quantised(current snapshot, held snapshot)` (the held one's
    prompts, everything else current, so other knobs keep their latency), and the chunk whose crossfade
    ends on that bar line takes them all.

    `waits_for_next_chunk(change)` (optional) marks changes that ride along with the next chunk instead of
    rolling back: a MIDI clock's tempo, re-estimated from jittery ticks, would otherwise roll back several
    times a second and pull joins off the bar lines it is meant to keep.
    """

    def __init__(self, generator: Generator, store: ParameterSource, queue: DryAudioQueue,
                 request_for: Callable[[Any], GenerationRequest], *, config: EngineConfig = EngineConfig(),
                 is_generation_change: Callable[[str], bool] = lambda name: True,
                 beat_offset_for: Callable[[int], float | None] | None = None,
                 bar_grid_for: Callable[[], BarGrid | None] | None = None,
                 is_quantised_change: Callable[[str], bool] = lambda name: False,
                 hold_quantised: Callable[[Any, Any], Any] | None = None,
                 on_record: Callable[[ChunkRecord], None] | None = None,
                 extra_latency_samples: Callable[[], int] = lambda: 0,
                 waits_for_next_chunk: Callable[[Any], bool] = lambda change: False) -> None:
        self.generator = generator
        self.store = store
        self.queue = queue
        self.request_for = request_for
        self.config = config
        self.is_generation_change = is_generation_change
        self.beat_offset_for = beat_offset_for
        self.bar_grid_for = bar_grid_for
        self.is_quantised_change = is_quantised_change
        self.hold_quantised = hold_quantised
        self.on_record = on_record
        self.extra_latency_samples = extra_latency_samples
        self.waits_for_next_chunk = waits_for_next_chunk
        self.stitcher = ChunkStitcher(generator, config.geometry)
        self.hop = generator.hop_frames
        self.sample_rate = generator.sample_rate
        self.chunk_samples = config.geometry.new_frames * self.hop
        self.records: list[ChunkRecord] = []
        self._records_lock = threading.Lock()
        self._status = EngineStatus(device=str(generator.device))
        self._status_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._applied_version = -1
        self._pending_change_s: float | None = None  # earliest generation change not yet in a chunk
        self._seconds_per_step: deque[float] = deque(maxlen=6)
        self._overhead_s: deque[float] = deque(maxlen=6)
        self._timing: deque[tuple[float, float]] = deque(maxlen=8)  # (compute s, audio s) per chunk
        self._error_backoff_s = config.error_backoff_s
        self._retry_at_s = 0.0
        self._rollback_checked_version = -1
        self._last_rollback_s = -math.inf  # time.monotonic() of the latest rollback (coalescing)
        self._last_change_s = -math.inf  # time.monotonic() of the latest generation change seen
        # The firmly queued audio by the chunk that made it: [start sample, end sample, steps used, requested]
        # (a refine looks here for few-step audio still ahead of the playhead).
        self._segments: list[tuple[int, int, int, int]] = []
        self._refine_checked_chunk = -1  # the latest chunk a refine was considered for
        self._on_air_snapshot: Any = None  # the effective snapshot of the latest chunk
        self._held_snapshot: Any = None  # its prompts play until the pending morph's bar line (None: no morph)
        # A morph landed in audio not yet played: (the sample its chunk's own audio starts, the snapshot held
        # before it). Until the playhead gets there, a chunk spliced earlier must not bring the morph forward.
        self._landed_morph: tuple[int, Any] | None = None
        self._morph_sample: int | None = None  # the bar line (stream sample) where the pending morph's crossfade ends
        self._morph_seen_version = -1  # the newest quantised change already scheduled
        # Set before start(): the engine thread raises its nice value by this much (and so do the torch
        # workers it creates), so that the output pump, when it cannot get a higher priority, still wins.
        self.thread_nice = 0

    # --- control ----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._unsubscribe = self.store.subscribe(self._on_change)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cascade-engine", daemon=True)
        with self._status_lock:
            self._status.running = True
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._status_lock:
            self._status.running = False

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> EngineStatus:
        with self._status_lock:
            status = EngineStatus(**asdict(self._status))
        status.lead_seconds = max(0, self.firm_end_sample - self.queue.read_position) / self.sample_rate
        return status

    def records_since(self, index: int) -> list[ChunkRecord]:
        with self._records_lock:
            return list(self.records[index:])

    @property
    def firm_end_sample(self) -> int:
        return self.stitcher.firm_end_sample

    def _on_change(self, name: str, value: object, source: str) -> None:
        # Called on whichever thread changed the store: only wake the engine (no work here).
        if self.is_generation_change(name):
            self._wake.set()

    # --- estimates ----------------------------------------------------------------------------------------

    def estimated_chunk_seconds(self, steps: int) -> float | None:
        if not self._seconds_per_step:
            return None
        return max(self._overhead_s) + max(self._seconds_per_step) * steps

    def _steps_for_budget(self, requested: int, budget_s: float) -> int:
        per_step = max(self._seconds_per_step) if self._seconds_per_step else None
        overhead = max(self._overhead_s) if self._overhead_s else 0.0
        return choose_steps(requested, budget_s, per_step, overhead, self.config.min_steps)

    # --- the loop -------------------------------------------------------------------------------------------

    def _run(self) -> None:
        granted = lower_current_thread_priority(self.thread_nice)
        with self._status_lock:
            self._status.priority = granted
        while not self._stop.is_set():
            try:
                worked = self._step()
            except Exception as error:  # a bug here must not end the stream: report, keep going
                logger.exception("engine step failed")
                self._report_error(error)
                worked = False
                self._stop.wait(0.05)
            if not worked:
                self._wake.wait(self.config.idle_wait_s)
                self._wake.clear()

    def _grid(self) -> BarGrid | None:
        if self.bar_grid_for is None:
            return None
        try:
            return self.bar_grid_for()
        except Exception:  # noqa: BLE001 - a broken clock must not stop the stream: play unquantised
            logger.exception("bar grid failed")
            return None

    def _step(self) -> bool:
        """Generate one chunk (or queue silence while failing) if one is due; returns whether it worked."""
        if self._applied_version < 0:  # the first chunk: nothing plays yet (first_chunk_steps)
            self._generate(None, self.queue.read_position, self.firm_end_sample, rollback=False)
            return True
        grid = self._grid()
        quantise = grid is not None and self.hold_quantised is not None
        version = self.store.version
        changed = False
        if self._held_snapshot is not None and not quantise:
            # The clock stopped (or lost its tempo) with a morph pending: it takes effect now, like any change.
            self._clear_morph()
            changed = True
            self._rollback_checked_version = -1
        if self._landed_morph is not None and (not quantise or self.queue.read_position >= self._landed_morph[0]):
            self._landed_morph = None  # heard (or no clock to hold it to any more)
        if version != self._applied_version:
            changes = [c for c in self.store.changes_since(self._applied_version) if self.is_generation_change(c.name)]
            if changes:
                settle_s = self.config.change_debounce_s - (time.monotonic() - changes[-1].time_monotonic_s)
                if settle_s > 0:
                    time.sleep(settle_s)  # the snapshot below then holds the whole gesture
                deferred = [c for c in changes if quantise and self.is_quantised_change(c.name)]
                immediate = [c for c in changes if not (quantise and self.is_quantised_change(c.name))
                             and not self.waits_for_next_chunk(c)]
                self._last_change_s = max(self._last_change_s, changes[-1].time_monotonic_s)
                if immediate:
                    changed = True
                    first_s = min(c.time_monotonic_s for c in immediate)
                    self._pending_change_s = (first_s if self._pending_change_s is None
                                              else min(self._pending_change_s, first_s))
                fresh_morph = [c for c in deferred if c.version > self._morph_seen_version]
                if fresh_morph:
                    self._morph_seen_version = max(c.version for c in fresh_morph)
                    if self._held_snapshot is None:
                        self._held_snapshot = self._on_air_snapshot
                    self._morph_sample = None  # scheduled below: the next bar line that can be reached
            else:
                self._applied_version = version  # effects/output only: nothing to regenerate
        read = self.queue.read_position
        firm_end = self.firm_end_sample
        if self._held_snapshot is not None and grid is not None and self._schedule_morph(grid, read, firm_end):
            return True
        due = firm_end - read < self.config.lead_chunks * self.chunk_samples
        if time.monotonic() < self._retry_at_s and not changed:
            if due:  # failing: keep the stream going with silence rather than let the pump run dry
                self._queue_silence(None)
                return True
            return False
        if (changed and self.config.rollback and self.stitcher.history is not None
                and version != self._rollback_checked_version
                and time.monotonic() - self._last_rollback_s >= self.config.rollback_min_interval_s):
            self._rollback_checked_version = version  # the answer only gets worse as the playhead moves on
            if self._try_rollback(read, firm_end):
                return True
        if not changed and not due and self._refine_due():
            self._refine_checked_chunk = self.stitcher.chunk_index
            refine_from = self._few_step_start(read)
            if refine_from is not None and self._landed_morph is not None:
                refine_from = max(refine_from, self._landed_morph[0])  # a refine never crosses a landed morph
            if self._try_rollback(read, firm_end, refine=True, refine_from=refine_from):
                return True
        if due:
            self._generate(None, read, firm_end, rollback=False)
            return True
        return False

    def _clear_morph(self) -> None:
        self._held_snapshot = None
        self._morph_sample = None
        with self._status_lock:
            self._status.pending_morph_sample = None

    def _schedule_morph(self, grid: BarGrid, read: int, firm_end: int) -> bool:
        """Pick the bar line a held morph lands on (the first whose crossfade can still start a guard ahead of
        the playhead); if that bar line lies in audio already firmly queued, regenerate from it now (returns
        True). Otherwise the normal flow plans a join onto it (plan_join_sample's target)."""
        crossfade = self.config.geometry.crossfade_frames * self.hop
        if self._morph_sample is not None and self._morph_sample - crossfade < read:
            logger.info("a held morph missed its bar line: moved to the next")
            self._morph_sample = None
        if self._morph_sample is None:
            try:
                requested = int(self.request_for(self.store.snapshot()).steps)
            except Exception:  # noqa: BLE001 - a bad request fails (and is reported) when generated
                requested = 1
            estimate = self.estimated_chunk_seconds(requested)
            compute_s = estimate if estimate is not None else self.chunk_samples / self.sample_rate
            guard = int((self.config.guard_factor * compute_s + self.config.guard_extra_s) * self.sample_rate)
            earliest = read + guard
            if self.stitcher.history is not None:
                earliest = max(earliest, (self.stitcher.earliest_splice_frame() or 0) * self.hop)
            self._morph_sample = round(grid.next_bar_sample(earliest + crossfade))
            with self._status_lock:
                self._status.pending_morph_sample = self._morph_sample
        splice_sample = self._morph_sample - crossfade
        if self.stitcher.history is not None and splice_sample < firm_end:
            frame, offset = divmod(splice_sample, self.hop)
            earliest_splice = self.stitcher.earliest_splice_frame()
            if earliest_splice is not None and earliest_splice <= frame <= self.stitcher.end_frame - \
                    self.config.geometry.crossfade_frames:
                self._generate(int(frame), read, firm_end, rollback=True, offset_samples=int(offset))
                return True
        return False

    def _few_step_start(self, read: int) -> int | None:
        """Where the first firmly queued audio ahead of `read` that used fewer steps than requested starts."""
        return next((max(start, read) for start, end, used, requested in self._segments
                     if end > read and used < requested), None)

    def _refine_due(self) -> bool:
        """Whether queued audio ahead of the playhead used fewer steps than requested (a rollback, or a
        deadline) and the knobs have rested `refine_after_s`: then it is worth regenerating at full steps."""
        if (self.config.refine_after_s is None or self.stitcher.history is None or self._held_snapshot is not None
                or self._refine_checked_chunk == self.stitcher.chunk_index):
            return False
        return (time.monotonic() - self._last_change_s >= self.config.refine_after_s
                and self._few_step_start(self.queue.read_position) is not None)

    def _note_segment(self, start: int, end: int, used: int, requested: int) -> None:
        read = self.queue.read_position
        kept = [(a, min(b, start), u, r) for a, b, u, r in self._segments if a < start and min(b, start) > read]
        self._segments = kept + [(start, end, used, requested)]

    def _abandon_on_change(self, version: int) -> Callable[[int], None]:
        """A sampler-step callback that abandons a refine once a generation change has come since `version`:
        a refine is optional work (its few-step audio already plays), and finishing it first would add up
        to its whole compute (~0.5 s at 8 steps) to that change's latency."""
        def check(_step: int) -> None:
            if self.store.version != version and any(
                    self.is_generation_change(c.name) for c in self.store.changes_since(version)):
                raise RefineAbandoned
        return check

    def _try_rollback(self, read: int, firm_end: int, *, refine: bool = False, refine_from: int | None = None) -> bool:
        """Regenerate from just ahead of the playhead (a guard sized by the estimated compute). A rollback
        answers a generation change and may use fewer steps to be heard within latency_target_s; a refine
        regenerates few-step audio with unchanged parameters at the full requested steps."""
        snapshot = self.store.snapshot()
        requested = int(self.request_for(snapshot).steps)
        steps = requested
        pump_s = self.extra_latency_samples() / self.sample_rate
        if self.config.latency_target_s is not None and not refine:
            budget = (self.config.latency_target_s - pump_s - self.config.guard_extra_s) / self.config.guard_factor
            steps = max(min(requested, self.config.rollback_min_steps), self._steps_for_budget(requested, budget))
        estimate = self.estimated_chunk_seconds(steps)
        if estimate is None:
            return False
        guard_samples = int((self.config.guard_factor * estimate + self.config.guard_extra_s) * self.sample_rate)
        frame = -(-(read + guard_samples) // self.hop)
        earliest = self.stitcher.earliest_splice_frame()
        latest = self.stitcher.end_frame - self.config.geometry.crossfade_frames
        if earliest is None:
            return False
        frame = max(frame, earliest, (refine_from or 0) // self.hop)
        if frame > latest:
            return False
        gain_s = (firm_end - frame * self.hop) / self.sample_rate
        if gain_s < self.config.rollback_min_gain_s:
            return False
        if not refine:
            self._last_rollback_s = time.monotonic()
        self._generate(frame, read, firm_end, rollback=True, snapshot=snapshot, steps=steps, refine=refine)
        return True

    def _generate(self, splice_frame: int | None, read: int, firm_end: int, *, rollback: bool,
                  snapshot: Any = None, steps: int | None = None, offset_samples: int = 0,
                  refine: bool = False) -> None:
        """One chunk spliced at `splice_frame` (+ `offset_samples` into it: where the crossfade starts), or
        at the normal flow's next (planned) join when None."""
        snapshot = snapshot if snapshot is not None else self.store.snapshot()
        pending_change_s = self._pending_change_s
        self._pending_change_s = None
        fresh = self.stitcher.history is None
        k = self.config.geometry.crossfade_frames
        if fresh:
            splice, offset_samples = self.stitcher.end_frame, 0
        elif splice_frame is None:
            splice, offset_samples = self.stitcher.next_splice_frame, self.stitcher.planned_offset_samples
        else:
            splice = splice_frame
        # This chunk's own (uncrossfaded) audio starts here:
        crossfade_end = splice * self.hop + offset_samples + (0 if fresh else k * self.hop)
        effective = snapshot
        lands_morph = False
        if (self._landed_morph is not None and self._held_snapshot is None and not fresh
                and crossfade_end < self._landed_morph[0]):
            # This chunk replaces audio before a landed morph's bar line (a rollback for another knob): the morph
            # is pending again, so this chunk keeps the old prompts and the morph lands on its bar line anew.
            self._morph_sample, self._held_snapshot = self._landed_morph
            self._landed_morph = None
            with self._status_lock:
                self._status.pending_morph_sample = self._morph_sample
        if self._held_snapshot is not None and self.hold_quantised is not None:
            if self._morph_sample is not None and crossfade_end >= self._morph_sample:
                lands_morph = True  # the bar line (or, missed, later): the held changes take effect here
            else:
                effective = self.hold_quantised(snapshot, self._held_snapshot)
        grid = self._grid()
        try:
            request = self.request_for(effective)
            requested_steps = request.steps
            start_frame = splice if fresh else splice - self.config.geometry.pin_frames
            offset = None
            if self.beat_offset_for is not None:
                offset = self.beat_offset_for(start_frame * self.hop)
            elif grid is not None:
                offset = grid.beat_at(0)  # the model's clock runs from stream time: the beat at sample 0
            if offset is not None:
                request = replace(request, beat_offset=float(offset))
            if steps is None:
                if fresh and self._applied_version < 0:  # the first chunk: nothing plays yet, no deadline
                    steps = first_chunk_request(request, self.config).steps
                else:
                    target = splice_frame * self.hop if splice_frame is not None else firm_end
                    budget_s = self.config.safety * max(0, target - read) / self.sample_rate
                    steps = self._steps_for_budget(requested_steps, budget_s)
            chunk = self.stitcher.generate(request, None if fresh else splice_frame, steps,
                                           step_callback=self._abandon_on_change(snapshot.version) if refine else None)
        except RefineAbandoned:  # a knob moved during a refine: answer it now, the few-step audio stays queued
            if pending_change_s is not None:
                self._pending_change_s = pending_change_s
            with self._status_lock:
                self._status.refines_abandoned += 1
            return
        except Exception as error:  # GenerationError, NaN, a broken prompt, CUDA errors...
            if pending_change_s is not None:
                self._pending_change_s = pending_change_s
            self._applied_version = snapshot.version
            self._handle_generation_error(error)
            return
        result = self.queue.splice(chunk.start_sample + offset_samples, chunk.audio[:, offset_samples:],
                                   chunk.crossfade_samples, marker_time_s=pending_change_s)
        self.stitcher.commit(chunk)
        if lands_morph:
            self._landed_morph = (crossfade_end, self._held_snapshot)
            self._clear_morph()
        self._on_air_snapshot = effective
        if grid is not None:
            target = self._morph_sample if self._held_snapshot is not None else None
            self.stitcher.plan_join(plan_join_sample(crossfade_end, self.stitcher.end_frame * self.hop, grid,
                                                     min_new_samples=k * self.hop, target=target,
                                                     bar_slack_samples=self.hop // 2))
        compute_s = chunk.generate_seconds + chunk.decode_seconds
        self._seconds_per_step.append(chunk.generate_seconds / max(1, chunk.steps))
        self._overhead_s.append(chunk.decode_seconds)
        added_samples = self.stitcher.firm_end_sample - (chunk.start_sample + offset_samples)
        self._timing.append((compute_s, max(self.hop, added_samples) / self.sample_rate))
        self._error_backoff_s = self.config.error_backoff_s
        self._retry_at_s = 0.0
        if result is None or result.position >= chunk.start_sample + chunk.audio.shape[-1]:
            # The pump ran past the whole chunk (a long stall): restart fresh at the end of the queue.
            self.stitcher.reset(-(-self.queue.end // self.hop))
        record = ChunkRecord("chunk", chunk.chunk_index, result.position if result else chunk.start_sample,
                             chunk.start_sample, result.read_position if result else self.queue.read_position,
                             chunk.window_start_frame, chunk.crossfade_frame, fresh, chunk.steps, requested_steps,
                             snapshot.version, rollback, request=request_to_json(request), morph=lands_morph,
                             refine=refine, splice_offset=offset_samples)
        self._add_record(record)
        self._applied_version = snapshot.version
        self._note_segment(result.position if result else chunk.start_sample, self.stitcher.firm_end_sample,
                           chunk.steps, requested_steps)
        compute_total = sum(c for c, _ in self._timing)
        audio_total = sum(a for _, a in self._timing)
        with self._status_lock:
            s = self._status
            s.chunks += 1
            s.rollbacks += int(rollback and not refine)
            s.refines += int(refine)
            s.late_splices += int(result is not None and result.late_samples > 0)
            s.real_time_factor = compute_total / audio_total if audio_total else None
            s.last_chunk_seconds = compute_s
            s.steps_used = chunk.steps
            s.steps_requested = requested_steps
            s.applied_version = snapshot.version
            s.morphs += int(lands_morph)

    def _handle_generation_error(self, error: BaseException) -> None:
        """Audio continues: the provisional tail fades out, silence follows; the error is reported."""
        self._report_error(error)
        self._queue_silence(error)
        self.stitcher.chunk_index += 1  # fresh noise: a retry must not replay a chunk that produced NaN
        self._retry_at_s = time.monotonic() + self._error_backoff_s
        self._error_backoff_s = min(2.0, self._error_backoff_s * 2)

    def _queue_silence(self, error: BaseException | None) -> None:
        """Fade out what the next chunk would have crossfaded over, append error_silence_s of silence (frame
        aligned), forget the latent history; logged as a "gap" so a re-render does the same."""
        queue = self.queue
        read = queue.read_position
        gap_start = max(read, self.stitcher.firm_end_frame * self.hop)
        if self.stitcher.history is not None:
            queue.fade_out_from(gap_start)
        end_frame = -(-queue.end // self.hop)
        silence_frames = max(1, round(self.config.error_silence_s * self.sample_rate / self.hop))
        queue.append(np.zeros((queue.channels, end_frame * self.hop - queue.end + silence_frames * self.hop),
                              dtype=np.float32))
        self._add_record(ChunkRecord("gap", self.stitcher.chunk_index, gap_start, gap_start, read,
                                     gap_samples=queue.end - gap_start,
                                     error=None if error is None else _describe(error)))
        self.stitcher.reset(queue.end // self.hop)
        self._segments = []

    def _report_error(self, error: BaseException) -> None:
        with self._status_lock:
            self._status.errors += 1
            self._status.last_error = _describe(error)
            self._status.last_error_time_s = time.monotonic()
        logger.warning("generation failed: %s", _describe(error))

    def _add_record(self, record: ChunkRecord) -> None:
        with self._records_lock:
            self.records.append(record)
        if self.on_record is not None:
            try:
                self.on_record(record)
            except Exception:
                logger.exception("chunk record listener failed")


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


# --- offline -------------------------------------------------------------------------------------------------


def render_chunk_log(generator: Generator, records: Sequence[dict[str, Any]], geometry: StreamGeometry,
                     *, steps: int | None = None, end_sample: int | None = None,
                     progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Re-run a performance's chunk log offline: the dry stream (2, samples) float32 from sample 0.

    Each record (ChunkRecord.to_json) is replayed in order with the same request, seed, chunk index and
    geometry; `steps` overrides every chunk's step count (a re-render at higher quality). Audio is read
    out of the queue up to where each record landed live (as the pump had), so late splices and
    rollbacks land on the same samples. Rolled-back chunks are generated too: their early frames were the
    next chunk's context. `end_sample`: stop once the stream reaches it (the rest is not needed).
    """
    stitcher = ChunkStitcher(generator, geometry)
    hop = generator.hop_frames
    queue = DryAudioQueue(int(60 * generator.sample_rate) + 4 * geometry.window_frames * hop)
    parts: list[np.ndarray] = []

    def read_until(sample: int) -> None:
        n = min(sample, queue.end) - queue.read_position
        if n > 0:
            block = np.empty((queue.channels, n), dtype=np.float32)
            queue.read_into(block)
            parts.append(block)

    for number, record in enumerate(records):
        landed = int(record.get("sample", 0))
        if end_sample is not None and landed >= end_sample:
            break
        read_until(int(record.get("read_sample", landed)))
        if record.get("kind", "chunk") == "gap":
            if stitcher.history is not None:
                queue.fade_out_from(landed)
            target_end = landed + int(record.get("gap_samples", 0))
            if target_end > queue.end:
                queue.append(np.zeros((queue.channels, target_end - queue.end), dtype=np.float32))
            stitcher.reset(queue.end // hop)
        else:
            request = request_from_json(record["request"])
            chunk_steps = int(steps or record.get("steps") or request.steps)
            stitcher.chunk_index = int(record.get("index", stitcher.chunk_index))
            if record.get("fresh") or stitcher.history is None:
                stitcher.reset(int(record.get("window_start_frame", queue.end // hop)))
                chunk = stitcher.generate(request, None, chunk_steps)
            else:
                chunk = stitcher.generate(request, int(record["crossfade_frame"]), chunk_steps)
            offset = int(record.get("splice_offset", 0))
            queue.splice(chunk.start_sample + offset, chunk.audio[:, offset:], chunk.crossfade_samples)
            stitcher.commit(chunk)
        if progress:
            progress(number + 1, len(records))
    read_until(queue.end if end_sample is None else end_sample)
    if not parts:
        return np.zeros((2, 0), dtype=np.float32)
    return np.concatenate(parts, axis=-1)


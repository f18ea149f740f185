"""The dry audio queue between the engine thread (producer) and the output pump (consumer).

Why a dry queue in front of the effects instead of writing effected audio straight into the ring buffer: the
engine runs seconds ahead of the playhead, so effects applied there would answer a knob seconds late (the
instrument's target is <= 20 ms). The pump applies effects to small blocks just before the ring, which holds
only a few blocks. The dry queue also lets the engine *replace* audio it has queued but not yet handed to the
pump: a generation-parameter change is answered by regenerating from a point just ahead of the playhead (a
"rollback") instead of waiting until the 1-2 buffered chunks have played, so knob-to-sound latency is one
chunk's compute plus a guard, not the buffer length.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from engine.stream.crossfade import equal_power_crossfade, fade_in
from engine.vocabulary import AUDIO_CHANNELS

LATE_FADE_SAMPLES = 256  # a splice that found the queue already drained fades in over 5.8 ms


@dataclass(frozen=True)
class SpliceResult:
    """What one DryAudioQueue.splice did, in absolute stream samples."""

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

    def __init__(self, capacity_samples: int, channels: int = AUDIO_CHANNELS) -> None:
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
            return SpliceResult(position=position, crossfade_samples=fade, late_samples=skip,
                                read_position=self._read)

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

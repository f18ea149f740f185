"""A single-producer / single-consumer audio ring buffer, preallocated, lock-free.

The output pump writes; the PortAudio callback reads. Each side only advances its own counter, so no lock
is needed and the callback never blocks or allocates: `read_into` copies into the caller's preallocated
output array with at most two slice copies.

The counters and the samples live in one flat buffer (`nbytes(capacity, channels)` bytes). By default that
is private memory; `buffer=` puts them in shared memory instead, so the consumer may be another process
(instrument.output_process plays the ring from a child process that a lost JACK server can take down
without taking the instrument with it). Each counter is one aligned int64, written only by its owner with
a single store after the samples it publishes (a store the other side sees whole). Within one process the
GIL orders the two stores; across processes x86-64 keeps stores in order (TSO). On a weakly ordered CPU
(ARM) a consumer could in principle see a counter before the samples it covers: one stale block, never a
crash, since positions are always taken modulo the capacity.
"""

from __future__ import annotations

from typing import Any

import numpy as np

COUNTER_STRIDE_BYTES = 64  # the producer's and the consumer's counters on separate cache lines
HEADER_BYTES = 2 * COUNTER_STRIDE_BYTES


class AudioRingBuffer:
    """float32 frames, shape (capacity_frames, channels) (PortAudio's interleaved layout).

    Counters grow without wrapping (int64: 6.6 million years at 44.1 kHz); positions are taken modulo the
    capacity. `buffer`: a writable buffer of at least nbytes(...) bytes to live in (shared memory), whose
    counters and samples are taken as they are (attaching to a ring another process already uses).
    """

    def __init__(self, capacity_frames: int, channels: int = 2, *, buffer: Any = None) -> None:
        if capacity_frames <= 0 or channels <= 0:
            raise ValueError("capacity_frames and channels must be positive")
        self.capacity_frames = capacity_frames
        self.channels = channels
        size = self.nbytes(capacity_frames, channels)
        if buffer is None:
            buffer = np.zeros(size, dtype=np.uint8)  # numpy aligns this: the int64 counters are aligned
        elif len(memoryview(buffer).cast("B")) < size:
            raise ValueError(f"buffer too small for the ring: {len(memoryview(buffer).cast('B'))} < {size} bytes")
        self._buffer = buffer  # keep it alive as long as the views below
        self._written_cell = np.frombuffer(buffer, dtype=np.int64, count=1, offset=0)  # owned by the producer
        self._read_cell = np.frombuffer(buffer, dtype=np.int64, count=1, offset=COUNTER_STRIDE_BYTES)  # consumer
        self._data = np.frombuffer(buffer, dtype=np.float32, count=capacity_frames * channels,
                                   offset=HEADER_BYTES).reshape(capacity_frames, channels)

    @staticmethod
    def nbytes(capacity_frames: int, channels: int = 2) -> int:
        """Bytes a ring of this size needs (counters + samples), for sizing shared memory."""
        return HEADER_BYTES + 4 * capacity_frames * channels

    @property
    def _written(self) -> int:
        return int(self._written_cell[0])

    @property
    def _read(self) -> int:
        return int(self._read_cell[0])

    @property
    def fill_frames(self) -> int:
        """Frames written and not yet read (a snapshot: either side may move on right after). 0 while the
        consumer has skipped past the producer (`skip_to`)."""
        return max(0, self._written - self._read)

    @property
    def free_frames(self) -> int:
        return self.capacity_frames - self.fill_frames

    @property
    def frames_read(self) -> int:
        """Total frames the consumer has taken: the playhead, in samples since start."""
        return self._read

    @property
    def frames_written(self) -> int:
        return self._written

    def write(self, frames: np.ndarray) -> int:
        """Producer: copy (n, channels) frames in; returns how many fit (the rest is for the caller to retry)."""
        if frames.ndim != 2 or frames.shape[1] != self.channels:
            raise ValueError(f"expected (frames, {self.channels}), got {frames.shape}")
        written = self._written
        count = min(len(frames), self.capacity_frames - max(0, written - self._read))
        if count <= 0:
            return 0
        start = written % self.capacity_frames
        first = min(count, self.capacity_frames - start)
        self._data[start:start + first] = frames[:first]
        if count > first:
            self._data[:count - first] = frames[first:count]
        self._written_cell[0] = written + count  # publish after the copy (one int64 store)
        return count

    def read_into(self, out: np.ndarray) -> int:
        """Consumer: fill `out` (frames, channels) in place; returns frames read. A shortfall is zero-filled
        (silence) so the caller can count it as an underrun. Allocates nothing."""
        wanted = out.shape[0]
        read = self._read
        count = max(0, min(wanted, self._written - read))
        self._copy_out(read, count, out)
        if count < wanted:
            out[count:] = 0.0
        self._read_cell[0] = read + count  # release the space after the copy (one int64 store)
        return count

    def peek_into(self, position: int, out: np.ndarray) -> int:
        """Consumer side, without consuming: copy the frames at absolute positions [position, position + n)
        that are written and not yet read into `out` (frames, channels); returns how many (from the start of
        `out`; the rest is left as it was). The producer never overwrites unread frames, so this is safe
        while it writes."""
        if position < self._read:
            return 0
        count = max(0, min(out.shape[0], self._written - position))
        self._copy_out(position, count, out)
        return count

    def _copy_out(self, position: int, count: int, out: np.ndarray) -> None:
        """Frames [position, position + count) into out[:count]: at most two slice copies (the wrap)."""
        start = position % self.capacity_frames
        first = min(count, self.capacity_frames - start)
        out[:first] = self._data[start:start + first]
        if count > first:
            out[first:count] = self._data[:count - first]

    def skip_to(self, frame: int) -> None:
        """Consumer: move the read position forward to absolute `frame` (never back), past the producer if
        need be: frames the producer writes below it later are never read (they stand for positions that
        were played from elsewhere: the output's shadow ring)."""
        if frame > self._read:
            self._read_cell[0] = frame

    def align(self, frame: int) -> None:
        """Set both counters to `frame` (empty, continuing at that position). Only while neither side runs."""
        self._written_cell[0] = frame
        self._read_cell[0] = frame

    def clear(self) -> None:
        """Consumer side: drop everything buffered (e.g. on a hard stop)."""
        self._read_cell[0] = max(self._read, self._written)

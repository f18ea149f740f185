"""What the session plays into: the OutputSink Protocol that every consumer of the output ring meets
(instrument.output.AudioOutput, instrument.output_process.OutputProcess and PacedSink below), and PacedSink,
the software clock that stands in for an audio device."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

import numpy as np

from engine.vocabulary import SAMPLE_RATE
from instrument.ringbuffer import AudioRingBuffer
from instrument.worker import Worker


@runtime_checkable
class OutputSink(Protocol):
    """The output ring's consumer, as the session uses it: started and stopped, given the master gain, asked
    whether it was lost, and read for its rate, counters and play anchor (any thread may read those)."""

    @property
    def sample_rate(self) -> int:
        """Frames per second it takes from the output ring."""

    @property
    def underruns(self) -> int:
        """Blocks that found the output ring short (silence played), since it started."""

    @property
    def nonfinite_blocks(self) -> int:
        """Blocks in which NaN/inf were replaced by silence."""

    @property
    def shadow_callbacks(self) -> int:
        """Blocks that played frames from the effects pump's shadow ring instead of silence."""

    @property
    def shadow_frames(self) -> int:
        """Frames so played from the shadow ring."""

    @property
    def play_anchor(self) -> tuple[float, int] | None:
        """(time.monotonic() seconds, output ring frame): that frame is heard at that time; None before the
        first block."""

    def set_gain_db(self, gain_db: float) -> None:
        """The master gain (the monitor level; takes are recorded before it)."""

    def start(self) -> None:
        """Start taking audio from the output ring."""

    def stop(self) -> None:
        """Stop taking audio (a lost device must not hang this)."""

    def check_lost(self) -> str | None:
        """Why the output was lost (server or device gone, a stalled stream), or None while it plays."""


class PacedSink(Worker):
    """Consumes the ring buffer at the real-time rate without a sound card ("no audio device": the
    performance still runs in real time, MIDI still steers it, takes still record). Also what the session
    falls back to while a lost output is away, so the engine and a take keep their timeline. An OutputSink."""

    MAX_SLIP_SECONDS = 0.1
    thread_name = "cascade-paced-sink"
    join_timeout_s = 2.0

    def __init__(self, ring: AudioRingBuffer, sample_rate: int = SAMPLE_RATE, block_frames: int = 512) -> None:
        super().__init__()
        self.ring = ring
        self.sample_rate = sample_rate
        self.block_frames = block_frames
        self.max_slip_frames = int(self.MAX_SLIP_SECONDS * sample_rate)
        self.underruns = 0
        self.callbacks = 0
        self.peak = 0.0
        self.stream_lost = False
        # A software clock plays no samples of its own and has no shadow ring: these stay 0 (OutputSink).
        self.nonfinite_blocks = 0
        self.shadow_callbacks = 0
        self.shadow_frames = 0
        self.started_s: float | None = None  # time.monotonic() at start
        # (time.monotonic() seconds, ring frame) heard then: this clock's ideal timeline (see AudioOutput)
        self.play_anchor: tuple[float, int] | None = None
        self._out = np.zeros((block_frames, ring.channels), dtype=np.float32)

    def set_gain_db(self, gain_db: float) -> None:  # nothing is heard: the take is recorded pre-gain anyway
        pass

    def check_lost(self) -> str | None:
        """A software clock cannot be lost."""
        return None

    def start(self) -> None:
        self.started_s = time.monotonic()
        self.play_anchor = (self.started_s, self.ring.frames_read)
        super().start()

    @property
    def active(self) -> bool:
        return self.running

    def _run(self) -> None:
        start_s = self.started_s if self.started_s is not None else time.monotonic()
        consumed_frames = 0
        while not self._stop.is_set():
            due_frames = int((time.monotonic() - start_s) * self.sample_rate)
            while consumed_frames + self.block_frames <= due_frames:
                # A software clock has no hardware deadline: when this thread woke late and owes several
                # blocks at once, the pump (which keeps the ring only ~17 ms full) may not have caught up
                # yet. Slip up to MAX_SLIP_SECONDS instead of reading a short block; only a longer
                # starvation is an underrun.
                if (self.ring.fill_frames < self.block_frames
                        and due_frames - consumed_frames < self.max_slip_frames):
                    break
                got = self.ring.read_into(self._out)
                self.callbacks += 1
                if got < self.block_frames:
                    self.underruns += 1
                self.peak = float(np.abs(self._out).max())
                consumed_frames += self.block_frames
            self._stop.wait(self.block_frames / self.sample_rate / 2)

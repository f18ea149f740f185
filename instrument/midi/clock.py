"""The MIDI clock: tempo from 0xF8 ticks, transport from start/continue/stop, bar phase for the engine."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from instrument.midi.wire import (CLOCK_CONTINUE, CLOCK_START, CLOCK_STOP, CLOCK_TICK, SONG_POSITION,
                                  TICKS_PER_QUARTER, is_int)
from instrument.parameters import CLOCK_SOURCE, ParameterStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClockDisplay:
    """What the app shows of an external MIDI clock (MidiClock.display_state)."""

    running: bool
    tempo_bpm: float | None  # measured from the ticks; None until enough ticks came
    bar: int  # 1-based, bars of beats_per_bar quarter notes since song position 0
    beat: int  # 1-based within the bar
    silent_s: float | None  # seconds since the last tick (None: no tick yet)


class MidiClock:
    """Follows an external MIDI clock: tempo from 0xF8 ticks, transport from start/continue/stop.

    Tempo is the least-squares slope of tick time against tick number over the last `window_ticks`
    ticks: it uses every tick, so per-tick jitter (scheduling, JACK's period quantisation: every event
    lands on a ~5-12 ms period boundary) averages out, where a median of intervals would lock onto the
    quantisation steps. A gap longer than `gap_reset_s` (a paused clock) restarts the window.

    Phase is tick-quantised (1/24 beat). Per the MIDI spec, after start (0xFA) the *next* tick is
    beat 0; ticks while stopped update the tempo but do not advance the position. A song position
    pointer (0xF2) sets where the next tick lands. All timestamps are seconds on one monotonic timeline.

    Between ticks, `phase_anchor()` says where the beat is in time (for the engine's bar grid): the arrival
    times of the recent running ticks (`arrival_s`, time.monotonic(); the timestamp when not given) are
    fitted with the tempo's slope, so one late tick (a JACK period, a busy poll thread) moves the anchor by
    1/window of its lateness, not by all of it.
    """

    def __init__(self, store: ParameterStore | None = None, beats_per_bar: int = 4, window_ticks: int = 96,
                 min_ticks_for_tempo: int = 24, publish_threshold_bpm: float = 0.5,
                 gap_reset_s: float = 0.5, latency_offset_s: float = 0.0) -> None:
        if beats_per_bar < 1 or window_ticks < 3 or not 2 <= min_ticks_for_tempo <= window_ticks:
            raise ValueError("need beats_per_bar >= 1 and 2 <= min_ticks_for_tempo <= window_ticks")
        self._store = store
        self.latency_offset_s = latency_offset_s
        self.beats_per_bar = beats_per_bar
        self.publish_threshold_bpm = publish_threshold_bpm
        self.gap_reset_s = gap_reset_s
        self._min_ticks = min_ticks_for_tempo
        self._lock = threading.Lock()
        self._tick_times_s: deque[float] = deque(maxlen=window_ticks)
        self._tempo_bpm: float | None = None
        self._published_bpm: float | None = None
        self._running = False
        self._position_ticks = 0  # ticks since song position 0 (24 per quarter note)
        self._next_position: int | None = None  # where the next tick lands after start / SPP
        self._phase_ticks: deque[tuple[int, float]] = deque(maxlen=window_ticks)  # (position, arrival s), running
        self.tick_count = 0
        self.ignored_count = 0
        self.messages_seen = 0  # clock, transport and song position messages handled
        self._last_tick_arrival_s: float | None = None

    def display_state(self, now_s: float | None = None) -> ClockDisplay | None:
        """Transport, tempo and bar/beat for a display; None while no clock message has arrived at all.
        now_s: time.monotonic() (the arrival timeline) for `silent_s`."""
        now_s = time.monotonic() if now_s is None else now_s
        with self._lock:
            if not self.messages_seen:
                return None
            beats = self._position_ticks // TICKS_PER_QUARTER
            last = self._last_tick_arrival_s
            return ClockDisplay(self._running, self._tempo_bpm, beats // self.beats_per_bar + 1,
                                beats % self.beats_per_bar + 1, None if last is None else max(0.0, now_s - last))

    @property
    def tempo_bpm(self) -> float | None:
        with self._lock:
            return self._tempo_bpm

    @property
    def latency_offset_s(self) -> float:
        """How long a clock message takes from the sender to us (MIDI transport: JACK delivers at period
        boundaries, ~6.5 ms measured with a 512-frame period; a USB interface adds its own). The phase
        anchor is moved earlier by this much, so the sender's bar lines and ours coincide. Settable live."""
        return self._latency_offset_s

    @latency_offset_s.setter
    def latency_offset_s(self, seconds: float) -> None:
        seconds = float(seconds)
        if not math.isfinite(seconds) or not -0.5 <= seconds <= 0.5:
            raise ValueError(f"MIDI clock latency offset must be within +-500 ms, got {seconds!r}")
        self._latency_offset_s = seconds

    @property
    def running(self) -> bool:
        with self._lock:
            return self._running

    @property
    def position_ticks(self) -> int:
        with self._lock:
            return self._position_ticks

    @property
    def beat_phase(self) -> float:
        """0..1 within the current quarter note."""
        with self._lock:
            return (self._position_ticks % TICKS_PER_QUARTER) / TICKS_PER_QUARTER

    @property
    def bar_phase(self) -> float:
        """0..1 within the current bar of `beats_per_bar` quarter notes."""
        ticks_per_bar = TICKS_PER_QUARTER * self.beats_per_bar
        with self._lock:
            return (self._position_ticks % ticks_per_bar) / ticks_per_bar

    def phase_anchor(self) -> tuple[float, float, float] | None:
        """(time_s, beats, beats_per_second): the clock was at `beats` (quarter notes since song position 0)
        at `time_s` on the arrival timeline and moves on at `beats_per_second`; None unless it runs with a
        known tempo and has ticked since the last start/continue/song position."""
        with self._lock:
            if not self._running or not self._tempo_bpm or not self._phase_ticks:
                return None
            seconds_per_tick = 60.0 / (self._tempo_bpm * TICKS_PER_QUARTER)
            position = self._position_ticks
            ticks = self._phase_ticks
            # Least squares for the intercept with the slope fixed: the mean of each tick's arrival moved to
            # where `position` would have arrived.
            time_s = sum(t + (position - p) * seconds_per_tick for p, t in ticks) / len(ticks)
            return time_s - self._latency_offset_s, position / TICKS_PER_QUARTER, self._tempo_bpm / 60.0

    def handle(self, message: Sequence[int], timestamp_seconds: float, arrival_s: float | None = None) -> None:
        """Apply one raw MIDI message; everything but clock/transport/SPP is ignored. Never raises.
        timestamp_seconds: the wire-like timeline (tempo); arrival_s: time.monotonic() at arrival (phase)."""
        try:
            self._handle(message, timestamp_seconds, timestamp_seconds if arrival_s is None else arrival_s)
        except Exception:
            logger.debug("MIDI clock message %r failed", message, exc_info=True)
            self.ignored_count += 1

    def _handle(self, message: Sequence[int], timestamp_seconds: float, arrival_s: float) -> None:
        if not isinstance(message, (list, tuple, bytes, bytearray)) or not message:
            return
        status = message[0]
        publish: float | None = None
        with self._lock:
            if status in (CLOCK_TICK, CLOCK_START, CLOCK_CONTINUE, CLOCK_STOP, SONG_POSITION):
                self.messages_seen += 1
            if status == CLOCK_TICK and len(message) == 1:
                self._last_tick_arrival_s = float(arrival_s)
                publish = self._tick(float(timestamp_seconds), float(arrival_s))
            elif status == CLOCK_START and len(message) == 1:
                self._running = True
                self._position_ticks = 0
                self._next_position = 0
                self._phase_ticks.clear()
            elif status == CLOCK_CONTINUE and len(message) == 1:
                self._running = True
                self._phase_ticks.clear()
            elif status == CLOCK_STOP and len(message) == 1:
                self._running = False
                self._phase_ticks.clear()
            elif (status == SONG_POSITION and len(message) == 3 and all(is_int(b) and 0 <= b < 0x80
                                                                          for b in message[1:])):
                sixteenths = message[1] | (message[2] << 7)
                self._position_ticks = sixteenths * (TICKS_PER_QUARTER // 4)
                self._next_position = self._position_ticks
                self._phase_ticks.clear()
        if publish is not None and self._store is not None:
            try:
                self._store.set("tempo_bpm", publish, source=CLOCK_SOURCE)
            except KeyError:  # a store without a tempo parameter: the clock still tracks it
                pass

    def _tick(self, time_s: float, arrival_s: float) -> float | None:
        """Called under the lock; returns a tempo to publish, if any."""
        self.tick_count += 1
        times = self._tick_times_s
        if times and not 0.0 < time_s - times[-1] <= self.gap_reset_s:
            times.clear()  # a paused clock (or a timestamp going backwards): start a fresh estimate
            self._phase_ticks.clear()
        if self._running:
            if self._next_position is not None:
                self._position_ticks, self._next_position = self._next_position, None
            else:
                self._position_ticks += 1
            self._phase_ticks.append((self._position_ticks, arrival_s))
        times.append(time_s)
        if len(times) < self._min_ticks + 1:
            return None
        seconds_per_tick = _slope(times)
        if seconds_per_tick <= 0:
            return None
        tempo = 60.0 / (seconds_per_tick * TICKS_PER_QUARTER)
        self._tempo_bpm = tempo
        if self._published_bpm is None or abs(tempo - self._published_bpm) > self.publish_threshold_bpm:
            self._published_bpm = tempo
            return tempo
        return None


def _slope(times: Sequence[float]) -> float:
    """Least-squares slope of times[i] against i."""
    n = len(times)
    mean_i = (n - 1) / 2.0
    mean_t = sum(times) / n
    numerator = sum((i - mean_i) * (t - mean_t) for i, t in enumerate(times))
    denominator = n * (n * n - 1) / 12.0  # sum of (i - mean_i)^2
    return numerator / denominator

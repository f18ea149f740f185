"""The MIDI clock (instrument.midi.clock) with synthetic timestamps: tempo, phase anchor, display, transport."""

from __future__ import annotations

import random

import pytest

from instrument.midi import MidiClock
from instrument.parameters import ParameterStore


def test_clock_with_synthetic_jittered_timestamps() -> None:
    store = ParameterStore()
    clock = MidiClock(store)
    rng = random.Random(1)
    period_s = 0.0116  # JACK-like quantisation of each tick onto a period boundary
    clock.handle([0xFA], 0.0)
    for i in range(96):
        t = i * 60.0 / (97.3 * 24)
        clock.handle([0xF8], t - (t % period_s) + rng.uniform(0, 0.002))
    assert clock.tempo_bpm == pytest.approx(97.3, abs=1.0)
    assert store.get("tempo_bpm") == pytest.approx(97.3, abs=1.0)
    assert clock.running and clock.position_ticks == 95
    assert clock.beat_phase == pytest.approx(23 / 24) and clock.bar_phase == pytest.approx(95 / 96)


def test_clock_phase_anchor_averages_late_arrivals() -> None:
    """Ticks on time on the wire, arriving 4-16 ms late (a JACK period, a busy poll): the phase anchor is
    the fitted arrival of the latest tick, within a millisecond of its mean lateness, not one tick's."""
    clock = MidiClock()
    rng = random.Random(3)
    period_s = 60.0 / (120.0 * 24)
    assert clock.phase_anchor() is None
    clock.handle([0xFA], 0.99)
    for i in range(96):
        wire_s = 1.0 + i * period_s
        clock.handle([0xF8], wire_s, arrival_s=wire_s + 0.004 + rng.uniform(0.0, 0.0116))
    time_s, beats, beats_per_second = clock.phase_anchor()
    assert beats == pytest.approx(95 / 24) and beats_per_second == pytest.approx(2.0, rel=1e-6)
    assert time_s == pytest.approx(1.0 + 95 * period_s + 0.004 + 0.0058, abs=0.001)
    # A known transport delay (the MIDI latency offset): the sender's beat was that much earlier.
    clock.latency_offset_s = 0.0065
    assert clock.phase_anchor()[0] == pytest.approx(time_s - 0.0065, abs=1e-9)
    with pytest.raises(ValueError):
        clock.latency_offset_s = float("nan")
    clock.handle([0xFC], 3.0)
    assert clock.phase_anchor() is None, "stopped: no phase"
    clock.handle([0xFB], 3.1)
    assert clock.phase_anchor() is None, "continued: no phase until the next tick"


def test_clock_display_state() -> None:
    clock = MidiClock()
    assert clock.display_state(0.0) is None  # no clock message yet: nothing to show
    clock.handle([0xFA], 1.0)
    state = clock.display_state(1.0)
    assert state is not None and state.running and state.tempo_bpm is None and state.silent_s is None
    assert (state.bar, state.beat) == (1, 1)
    for i in range(24 * 6 + 1):  # positions 0..144 at 100 BPM: 6 beats = bar 2, beat 3
        clock.handle([0xF8], 1.0 + i * 0.025)
    last_s = 1.0 + 144 * 0.025
    state = clock.display_state(last_s + 0.5)
    assert state.tempo_bpm == pytest.approx(100.0, abs=0.01) and (state.bar, state.beat) == (2, 3)
    assert state.silent_s == pytest.approx(0.5)
    clock.handle([0xFC], last_s + 1.0)
    state = clock.display_state(last_s + 1.0)
    assert not state.running and (state.bar, state.beat) == (2, 3)


def test_clock_transport_and_song_position() -> None:
    clock = MidiClock()
    assert clock.tempo_bpm is None and not clock.running
    for i in range(10):
        clock.handle([0xF8], i * 0.02)  # ticks while stopped: no position change
    assert clock.position_ticks == 0
    clock.handle([0xFA], 0.2)
    clock.handle([0xF8], 0.22)  # the first tick after start is beat 0
    assert clock.position_ticks == 0 and clock.running
    for i in range(30):
        clock.handle([0xF8], 0.24 + i * 0.02)
    assert clock.position_ticks == 30 and clock.beat_phase == pytest.approx(6 / 24)
    clock.handle([0xFC], 1.0)
    clock.handle([0xF8], 1.02)
    assert not clock.running and clock.position_ticks == 30
    clock.handle([0xF2, 8, 0], 1.04)  # song position: 8 sixteenths = 2 beats
    clock.handle([0xFB], 1.06)
    clock.handle([0xF8], 1.08)
    assert clock.running and clock.position_ticks == 48 and clock.bar_phase == pytest.approx(0.5)
    clock.handle([0xF8], 1.10)
    assert clock.position_ticks == 49

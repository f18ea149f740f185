"""The effects pump (instrument.effects_pump) on its own: rings in memory, a consumer driven by the test."""

from __future__ import annotations

import time

import numpy as np
import pytest

from instrument.effects_pump import (EFFECT_PARAMETERS, PUMP_BYTES, EffectsPump, PumpConfig, PumpShared,
                                     FIRST_SOUND)
from instrument.parameters import PARAMETER_SPECS
from instrument.ringbuffer import AudioRingBuffer
from tests.helpers import wait_for

RATE = 44100
DEFAULTS = {spec.name: float(spec.default) for spec in PARAMETER_SPECS}


def rings(dry_frames: int, out_frames: int) -> tuple[AudioRingBuffer, AudioRingBuffer, AudioRingBuffer, PumpShared]:
    shared = PumpShared(np.zeros(PUMP_BYTES, np.uint8))
    shared.reset({**DEFAULTS, "fx_reverb_mix": 0.0})
    return AudioRingBuffer(dry_frames), AudioRingBuffer(out_frames), AudioRingBuffer(1 << 18), shared


def test_pump_resamples_to_the_device_rate_and_returns_the_44k_audio() -> None:
    dry, out, returned, shared = rings(1 << 17, 96000)
    t = np.arange(RATE) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    dry.write(np.stack([tone, tone], axis=1))
    pump = EffectsPump(dry, out, returned, shared, PumpConfig(ring_target_frames=80000, realtime_priority=0, nice=0),
                       output_rate=48000)
    pump.start()
    try:
        assert wait_for(lambda: dry.fill_frames < 256)
        time.sleep(0.05)
    finally:
        pump.stop()
    played = np.zeros((out.fill_frames, 2), np.float32)
    out.read_into(played)
    assert abs(len(played) - 48000) < 512, "1 s at 44.1 kHz became 1 s at 48 kHz"
    body = played[4096:-4096, 0]
    peak_hz = np.argmax(np.abs(np.fft.rfft(body * np.hanning(len(body))))) * 48000 / len(body)
    assert abs(peak_hz - 1000.0) < 5.0
    back = np.zeros((returned.fill_frames, 2), np.float32)
    returned.read_into(back)
    assert len(back) == RATE - RATE % 256, "the return ring carries the wet audio at 44.1 kHz, frame for frame"
    from instrument.session import apply_effects_automation

    expected = apply_effects_automation(np.stack([tone, tone])[:, :len(back)], {**DEFAULTS, "fx_reverb_mix": 0.0}, [])
    assert np.allclose(back.T, expected, atol=1e-5), "what the take gets is the offline effects chain's output"


def test_pump_applies_a_published_effect_at_its_next_block_and_measures_the_latency() -> None:
    dry, out, returned, shared = rings(1 << 17, 1 << 16)
    noise = np.random.default_rng(0).uniform(-0.3, 0.3, (RATE, 2)).astype(np.float32)
    dry.write(noise)
    pump = EffectsPump(dry, out, returned, shared, PumpConfig(realtime_priority=0, nice=0))
    for _ in range(8):
        pump.pump_block()
    taken = np.zeros((512, 2), np.float32)
    out.read_into(taken)
    sequence = shared.publish("fx_filter_cutoff_hz", 20.0, time.monotonic())
    at_dry_frame = dry.frames_read
    pump.pump_block()
    count, applied = shared.applied_since(0)
    assert count == 1 and applied == [(sequence, at_dry_frame)], "the change is logged at the block it took effect"
    for _ in range(160):  # 0.46 s
        pump.pump_block()
    assert shared.latencies_since(0) == (0, []), "not measured before the output has taken the changed block"
    rest = np.zeros((out.fill_frames, 2), np.float32)
    out.read_into(rest)
    pump.pump_block()
    total, latencies = shared.latencies_since(0)
    assert total == 1 and 0 < latencies[0] < 1.0
    back = np.zeros((returned.fill_frames, 2), np.float32)
    returned.read_into(back)
    high = lambda x: float(np.mean(np.diff(x, axis=0) ** 2))  # noqa: E731
    # The filter glides to its target (smoothing): a few blocks on, the highs are gone.
    assert high(back[at_dry_frame + 8192:]) < 0.01 * high(back[:at_dry_frame])


def test_tempo_is_applied_but_not_measured_as_an_effect_latency() -> None:
    dry, out, returned, shared = rings(1 << 16, 8192)
    dry.write(np.zeros((8192, 2), np.float32))
    pump = EffectsPump(dry, out, returned, shared, PumpConfig(realtime_priority=0, nice=0))
    shared.publish("tempo_bpm", 90.0, time.monotonic())
    pump.pump_block()
    out.read_into(np.zeros((out.fill_frames, 2), np.float32))
    pump.pump_block()
    assert pump.automation.targets["tempo_bpm"] == 90.0 and shared.latencies_since(0) == (0, [])
    assert set(EFFECT_PARAMETERS) == set(pump.automation.targets)


def test_pump_raises_its_ring_lead_after_near_misses_and_reports_them() -> None:
    """A consumer that takes 1024 frames at a time from a ring kept 640 frames full finds it nearly empty:
    the pump raises its target in 256-frame steps (one per cooldown) until the ring covers the reads."""
    dry, out, returned, shared = rings(1 << 19, 8192)
    dry.write(np.full((RATE * 8, 2), 0.1, np.float32))
    config = PumpConfig(ring_raise_cooldown_s=0.05, realtime_priority=0, nice=0)
    pump = EffectsPump(dry, out, returned, shared, config)
    shared.slots[FIRST_SOUND] = 1.0  # count from the start
    assert pump.ring_target_frames == shared.ring_target_frames == 640, "no device period: the default target"
    taken = np.zeros((1024, 2), np.float32)
    pump.start()
    try:
        deadline_s = time.monotonic() + 3.0
        while time.monotonic() < deadline_s and shared.ring_target_frames < 1152:
            time.sleep(1024 / RATE)
            out.read_into(taken)  # a device with a 1024-frame period
    finally:
        pump.stop()
    from instrument.effects_pump import NEAR_MISSES

    assert shared.slots[NEAR_MISSES] >= 2 and shared.ring_target_frames == pump.ring_target_frames >= 1152
    assert pump.ring_target_frames <= config.ring_target_frames + config.ring_extra_max_frames
    again = EffectsPump(dry, out, returned, shared, config)
    assert again.ring_target_frames == pump.ring_target_frames, "a restarted output keeps the lead it grew to"


def test_an_empty_dry_ring_is_not_the_pumps_near_miss() -> None:
    dry, out, returned, shared = rings(1 << 16, 8192)
    pump = EffectsPump(dry, out, returned, shared, PumpConfig(realtime_priority=0, nice=0))
    shared.slots[FIRST_SOUND] = 1.0
    pump.start()
    try:
        time.sleep(0.1)
    finally:
        pump.stop()
    from instrument.effects_pump import NEAR_MISSES

    assert shared.slots[NEAR_MISSES] == 0 and out.fill_frames == 0


def test_the_output_ring_target_follows_the_device_period() -> None:
    """A device that takes 256 frames per callback: one period plus the margin; 1024: the same rule. A pump
    that got no real-time scheduling keeps the wider time-shared margin."""
    for period in (256, 1024):
        dry, out, returned, shared = rings(1 << 16, 8192)
        dry.write(np.zeros((RATE, 2), np.float32))
        config = PumpConfig(realtime_priority=0, nice=0)
        pump = EffectsPump(dry, out, returned, shared, config, device_period=lambda period=period: period)
        pump.start()
        try:
            expected = period + config.timeshared_ring_margin_frames
            assert wait_for(lambda: pump.ring_target_frames == expected, 2.0)
            assert wait_for(lambda: out.fill_frames >= expected, 2.0)
        finally:
            pump.stop()
        assert shared.ring_target_frames == expected and shared.priority == "unchanged"


def test_a_real_time_pump_keeps_the_narrow_margin() -> None:
    dry, out, returned, shared = rings(1 << 16, 8192)
    dry.write(np.zeros((RATE, 2), np.float32))
    config = PumpConfig(realtime_priority=45)
    pump = EffectsPump(dry, out, returned, shared, config, device_period=lambda: 256)
    pump.start()
    try:
        assert pump.started.wait(2.0)
        if not shared.priority.startswith("SCHED_FIFO"):
            pytest.skip(f"this process may not use SCHED_FIFO (got {shared.priority})")
        assert wait_for(lambda: pump.ring_target_frames == 256 + config.ring_margin_frames, 2.0)
    finally:
        pump.stop()
    assert config.ring_margin_frames < config.timeshared_ring_margin_frames


def test_the_shadow_chain_runs_ahead_and_equals_the_main_chain_bit_for_bit() -> None:
    """A pump with a shadow ring: the shadow chain takes every dry frame the ring holds (up to its lead) while
    the main chain keeps its narrow ring; without effect changes both make the same samples, so an output
    that plays a stretch from the shadow plays the stream it would have played."""
    dry, out, returned, shared = rings(1 << 16, 8192)
    shared.reset({**DEFAULTS, "fx_reverb_mix": 0.4, "fx_delay_mix": 0.3, "fx_chorus_mix": 0.5})
    shadow = AudioRingBuffer(8192)
    noise = np.random.default_rng(1).uniform(-0.3, 0.3, (4000, 2)).astype(np.float32)
    dry.write(noise)
    config = PumpConfig(realtime_priority=0, nice=0)
    pump = EffectsPump(dry, out, returned, shared, config, device_period=lambda: 256, shadow=shadow,
                       output_rate=48000)
    pump.start()
    try:
        assert wait_for(lambda: dry.frames_written - pump._shadow_dry_frame < config.block_frames, 2.0)
        assert wait_for(lambda: out.fill_frames >= pump.ring_target_frames, 2.0)
        time.sleep(0.05)
        assert out.fill_frames < pump.ring_target_frames + 2 * config.block_frames, "the main ring stays narrow"
        assert shadow.fill_frames > 4000, "the shadow took everything the dry ring held (4000 frames, 48 kHz)"
    finally:
        pump.stop()
    main = np.zeros((out.fill_frames, 2), np.float32)
    ahead = np.zeros((out.fill_frames, 2), np.float32)
    assert shadow.peek_into(out.frames_read, ahead) == len(ahead)
    out.read_into(main)
    np.testing.assert_array_equal(main, ahead)


def test_an_output_fed_by_a_stalling_pump_plays_the_stream_unbroken_from_the_shadow() -> None:
    """The pump stops for ten device periods at a time: the callback plays those stretches from the shadow.
    What comes out is exactly what a pump that never stalled makes; an effect change whose first frame the
    shadow played is counted, not measured."""
    from instrument.effects_pump import SHADOWED_EFFECT_CHANGES
    from instrument.output import AudioOutput
    from types import SimpleNamespace

    noise = np.random.default_rng(2).uniform(-0.3, 0.3, (20000, 2)).astype(np.float32)
    values = {**DEFAULTS, "fx_reverb_mix": 0.4, "fx_delay_mix": 0.3}

    def play(stall_every: int) -> tuple[np.ndarray, AudioOutput, PumpShared]:
        dry, out, returned, shared = rings(1 << 16, 8192)
        shared.reset(values)
        shadow = AudioRingBuffer(8192)
        dry.write(noise)
        output = AudioOutput(out, shadow=shadow)
        pump = EffectsPump(dry, out, returned, shared, PumpConfig(realtime_priority=0, nice=0),
                           device_period=lambda: 256, shadow=shadow, shadow_span=lambda: output.shadow_span)
        pump._learn_period(256)
        period = np.empty((256, 2), np.float32)
        played = []
        for n in range(60):
            stalled = stall_every and n % stall_every < 10 and n >= stall_every
            while not stalled and out.fill_frames < pump.ring_target_frames:
                pump.pump_block()
            while pump._shadow_wants_block():
                pump.pump_shadow_block()
            if n == 42:  # an effect knob turns while the pump is away
                shared.publish("fx_filter_cutoff_hz", 500.0, time.monotonic())
            output._callback(period, 256, None, SimpleNamespace(output_underflow=False))
            played.append(period.copy())
            pump._note_heard()
        return np.concatenate(played), output, shared

    steady, steady_output, _ = play(0)
    stalling, output, shared = play(20)
    assert steady_output.shadow_callbacks == 0 and output.shadow_callbacks >= 10
    assert output.underruns == steady_output.underruns == 0
    np.testing.assert_array_equal(stalling[:42 * 256], steady[:42 * 256])
    assert np.all(np.isfinite(stalling)) and np.abs(stalling).max() > 0.1
    # The main chain applied the change at its first block back, a stretch the shadow had already played.
    assert shared.slots[SHADOWED_EFFECT_CHANGES] == 1 and shared.latencies_since(0)[0] == 0


def test_with_a_shadow_near_misses_do_not_grow_the_lead() -> None:
    dry, out, returned, shared = rings(1 << 19, 8192)
    dry.write(np.full((RATE * 4, 2), 0.1, np.float32))
    config = PumpConfig(ring_raise_cooldown_s=0.01, realtime_priority=0, nice=0)
    shadow = AudioRingBuffer(8192)
    pump = EffectsPump(dry, out, returned, shared, config, shadow=shadow)
    shared.slots[FIRST_SOUND] = 1.0
    taken = np.zeros((1024, 2), np.float32)
    pump.start()
    try:
        deadline_s = time.monotonic() + 0.5
        while time.monotonic() < deadline_s:
            time.sleep(1024 / RATE)
            out.read_into(taken)
            shadow.skip_to(out.frames_read)
    finally:
        pump.stop()
    from instrument.effects_pump import NEAR_MISSES

    assert shared.slots[NEAR_MISSES] >= 2 and pump.ring_target_frames == config.ring_target_frames


def test_the_wet_audio_never_exceeds_full_scale_whatever_reaches_the_effects() -> None:
    """The live chain's guards (issue 17): the effects turn NaN/inf dry blocks into silence and the pump clips its
    wet output at CEILING before the take, the monitor and the output ring (the device callback then applies the
    gain, blanks a non-finite block and clips again: tests/instrument/test_output.py)."""
    from instrument.effects_pump.chain import PumpChain
    from instrument.output import CEILING

    loud = {**DEFAULTS, "fx_limiter_enabled": 0.0, "fx_reverb_mix": 1.0, "fx_delay_mix": 1.0,
            "fx_delay_feedback": 0.95, "fx_chorus_mix": 1.0}
    chain = PumpChain(loud, 0, RATE)
    rng = np.random.default_rng(0)
    for index in range(200):
        block = (20.0 * rng.standard_normal((128, 2))).astype(np.float32)  # 26 dB over full scale
        if index % 7 == 3:
            block[5, 1], block[9, 0] = np.nan, np.inf
        wet, device = chain.render(block)
        assert np.isfinite(wet).all() and np.abs(wet).max() <= CEILING and device is wet

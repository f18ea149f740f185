"""The effects pump's and the session feeder's tuning: ring targets, near-miss steps, priorities (`PumpConfig`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PumpConfig:
    block_frames: int = 128  # effects block: 2.9 ms (the effect latency moves in steps of one block)
    # What the pump keeps in the output ring in front of the callback: one device period (the callback takes
    # that much at once) plus `ring_margin_frames`; `ring_target_frames` until the device's period is known
    # (and for a software clock). A near miss (the pump found less than `near_miss_frames` left although dry
    # audio was waiting: it came back late, or the device called early) adds `ring_step_frames`, at most once
    # per `ring_raise_cooldown_s`, up to `ring_extra_max_frames`. Effect latency grows with it; it never
    # shrinks back within a session, so the latency a player gets used to stays put.
    ring_target_frames: int = 640
    ring_margin_frames: int = 128
    # A pump without SCHED_FIFO (no rtprio for this user) waits behind runnable threads for a scheduler slice,
    # and so does a time-shared audio server, whose late cycles then come back to back: measured on a host that
    # refused real-time scheduling to every process, the 128-frame margin underran at the start (near misses
    # grew it by 256 within the first minute in both runs). 384 frames: 8.7 ms, effect latency ~17 ms at 256.
    timeshared_ring_margin_frames: int = 384
    ring_extra_max_frames: int = 1536
    ring_step_frames: int = 256
    near_miss_frames: int = 128
    ring_raise_cooldown_s: float = 1.0
    # The shadow chain (when the output has a shadow ring): a second EffectsChain over the same dry frames,
    # run as far ahead as the dry ring allows (at most this much beyond the output ring's target), so a pump
    # that comes back late costs no silence. With it, near misses no longer grow the output ring's lead: they
    # cost no silence, and the effect latency a player gets used to stays put.
    shadow_lead_frames: int = 4096
    poll_seconds: float = 0.0005
    realtime_priority: int = 45  # the pump thread asks for SCHED_FIFO at this priority (0: do not ask) ...
    nice: int = -10  # ... else for this nice value
    # The session's feeder (main process): dry audio it keeps queued in front of the pump, raised by
    # `dry_step_frames` after a near miss of its own (less than `dry_near_miss_frames` left when it looked).
    dry_lead_frames: int = 1536  # 35 ms: absorbs main-process stalls; adds to generation-knob latency only
    dry_lead_max_frames: int = 4096
    dry_step_frames: int = 512
    dry_near_miss_frames: int = 512
    dry_lead_busy_frames: int = 8192  # 186 ms, while the engine's network is being traced (the GIL held ~130 ms)
    feeder_poll_seconds: float = 0.002
    feeder_realtime_priority: int = 40
    feeder_nice: int = -10

"""The pump's shared block: float64 slots that the session and the effects pump both map, one writer per slot.

The session writes the effect parameters (under a sequence lock) and the "first sound" flag; the pump writes
everything else: which parameter sequence it applied at which dry frame, the dry frame heard now, its
(output frame, dry frame) anchor, counters and the effect latencies it measured.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.vocabulary import SAMPLE_RATE

EFFECT_PARAMETERS: tuple[str, ...] = ("fx_reverb_mix", "fx_reverb_room", "fx_delay_mix", "fx_delay_beats",
                                      "fx_delay_feedback", "fx_chorus_mix", "fx_filter_cutoff_hz",
                                      "fx_compressor_threshold_db", "fx_limiter_enabled", "tempo_bpm")
UNMEASURED_EFFECT_PARAMETERS = frozenset({"tempo_bpm"})  # a generation knob too: its latency is the engine's


# --- the shared block ---------------------------------------------------------------------------------------

# Written by the session:
PARAM_SEQUENCE = 0  # sequence lock over PARAM_CHANGE_TIME_S and the values: odd while being written
PARAM_CHANGE_TIME_S = 1  # time.monotonic() of the earliest measured change the pump has not applied (0: none)
FIRST_SOUND = 2  # 1 once the first engine sample was heard: the pump starts its wake statistics
# Written by the pump:
APPLIED_SEQUENCE = 3
HEARD_DRY_FRAME = 4  # dry frames whose audio the output has taken (the playhead, on the dry ring's axis)
ANCHOR_SEQUENCE, ANCHOR_OUT_FRAME, ANCHOR_DRY_FRAME = 5, 6, 7  # (output frame, dry frame) of the latest block
BLOCKS = 8
MAX_WAKE_GAP_S = 9
RING_LOW_WATER = 10  # -1: not measured yet
NEAR_MISSES = 11
RING_TARGET_FRAMES = 12
PRIORITY = 13  # the granted priority, coded by priority_code
RETURN_DROPPED_FRAMES = 14  # wet frames the return ring had no room for (the session fell seconds behind)
OUTPUT_RATE = 15
EFFECT_LATENCY_COUNT = 16
APPLIED_COUNT = 17
SHADOWED_EFFECT_CHANGES = 18  # effect changes whose first frame was played from the shadow (latency unknown)
RING_EXTRA_FRAMES = 19  # what near misses added to the output ring's target
DEVICE_PERIOD_FRAMES = 20  # frames the device takes per callback (0: not known)
LONG_WAKE_GAPS = 21  # absences over 5 ms
MAX_WAKE_GAP_AT_S = 22  # time.monotonic() when the longest absence ended
VERY_LONG_WAKE_GAPS = 23  # absences over 20 ms
PARAM_VALUES = 24
EFFECT_LATENCIES = PARAM_VALUES + len(EFFECT_PARAMETERS) + 6  # 40
EFFECT_LATENCY_SLOTS = 64
APPLIED_LOG = EFFECT_LATENCIES + EFFECT_LATENCY_SLOTS  # (sequence, dry frame) pairs
APPLIED_LOG_SLOTS = 64
PUMP_SLOTS = 256
PUMP_BYTES = 8 * PUMP_SLOTS  # a multiple of 64: what follows stays cache-line aligned
assert APPLIED_LOG + 2 * APPLIED_LOG_SLOTS <= PUMP_SLOTS


def read_pair_under_sequence(slots: np.ndarray, sequence: int, first: int, second: int) -> tuple[float, float] | None:
    """Two slots written under a sequence counter by one writer (odd while writing; 0: never written)."""
    for _ in range(100):
        before = slots[sequence]
        if before == 0:
            return None
        if int(before) % 2:
            continue
        pair = float(slots[first]), float(slots[second])
        if slots[sequence] == before:
            return pair
    return None


def priority_code(words: str) -> float:
    if words.startswith("SCHED_FIFO"):
        return 1000.0 + int(words.split()[-1])
    if words.startswith("nice"):
        return 100.0 + int(words.split()[-1])
    return 1.0 if words == "unchanged" else 0.0


def priority_words(code: float) -> str:
    if code >= 900:
        return f"SCHED_FIFO {int(code) - 1000}"
    if code >= 50:
        return f"nice {int(code) - 100}"
    return "unchanged" if code == 1.0 else ""


class PumpShared:
    """The pump's shared slots (`PUMP_SLOTS` float64 over `buffer`: shared memory, or private for a pump
    thread in the session's own process). Methods say which side calls them."""

    def __init__(self, buffer: Any) -> None:
        self.slots = np.frombuffer(buffer, dtype=np.float64, count=PUMP_SLOTS)
        self._write_lock = threading.Lock()  # the store's callbacks may run on several threads

    def reset(self, values: Mapping[str, float]) -> None:
        """Session, before any pump runs: zero everything and publish the effect values."""
        self.slots[:] = 0.0
        self.slots[RING_LOW_WATER] = -1.0
        for index, name in enumerate(EFFECT_PARAMETERS):
            self.slots[PARAM_VALUES + index] = float(values[name])
        self.slots[PARAM_SEQUENCE] = 2.0

    # --- the session's side ---------------------------------------------------------------------------------

    def publish(self, name: str, value: float, change_time_s: float) -> int:
        """Session (any thread): one effect parameter's new value; the pump applies it at its next block.
        Returns the sequence number that carries it."""
        index = EFFECT_PARAMETERS.index(name)
        slots = self.slots
        with self._write_lock:
            caught_up = slots[APPLIED_SEQUENCE] >= slots[PARAM_SEQUENCE]
            slots[PARAM_SEQUENCE] += 1  # odd: writing
            slots[PARAM_VALUES + index] = float(value)
            if name not in UNMEASURED_EFFECT_PARAMETERS and (caught_up or slots[PARAM_CHANGE_TIME_S] == 0):
                slots[PARAM_CHANGE_TIME_S] = change_time_s
            elif caught_up:
                slots[PARAM_CHANGE_TIME_S] = 0.0
            slots[PARAM_SEQUENCE] += 1
            return int(slots[PARAM_SEQUENCE])

    def applied_since(self, count: int) -> tuple[int, list[tuple[int, int]]]:
        """Session: the (sequence, dry frame) applications logged after the first `count`; returns the new
        count and them (the log holds the latest APPLIED_LOG_SLOTS)."""
        total = int(self.slots[APPLIED_COUNT])
        pairs = []
        for n in range(max(count, total - APPLIED_LOG_SLOTS), total):
            slot = APPLIED_LOG + 2 * (n % APPLIED_LOG_SLOTS)
            pairs.append((int(self.slots[slot]), int(self.slots[slot + 1])))
        return total, pairs

    def latencies_since(self, count: int) -> tuple[int, list[float]]:
        """Session: effect latencies (seconds) measured after the first `count`; returns the new count too."""
        total = int(self.slots[EFFECT_LATENCY_COUNT])
        return total, [float(self.slots[EFFECT_LATENCIES + n % EFFECT_LATENCY_SLOTS])
                       for n in range(max(count, total - EFFECT_LATENCY_SLOTS), total)]

    def anchor(self) -> tuple[int, int] | None:
        """(output ring frame, dry ring frame) at the start of the pump's latest block."""
        pair = read_pair_under_sequence(self.slots, ANCHOR_SEQUENCE, ANCHOR_OUT_FRAME, ANCHOR_DRY_FRAME)
        return None if pair is None else (int(pair[0]), int(pair[1]))

    @property
    def heard_dry_frame(self) -> int:
        return int(self.slots[HEARD_DRY_FRAME])

    @property
    def priority(self) -> str:
        return priority_words(float(self.slots[PRIORITY]))

    @property
    def ring_target_frames(self) -> int:
        return int(self.slots[RING_TARGET_FRAMES])

    @property
    def output_rate(self) -> int:
        return int(self.slots[OUTPUT_RATE]) or SAMPLE_RATE

    # --- the pump's side --------------------------------------------------------------------------------------

    def read_parameters(self) -> tuple[int, float, list[float]] | None:
        """Pump: (sequence, change time, values) under the sequence lock; None if a writer kept it busy."""
        slots = self.slots
        for _ in range(1000):
            before = slots[PARAM_SEQUENCE]
            if int(before) % 2:
                continue
            change_time_s = float(slots[PARAM_CHANGE_TIME_S])
            values = slots[PARAM_VALUES:PARAM_VALUES + len(EFFECT_PARAMETERS)].tolist()
            if slots[PARAM_SEQUENCE] == before:
                return int(before), change_time_s, values
        return None

    def log_applied(self, sequence: int, dry_frame: int) -> None:
        n = int(self.slots[APPLIED_COUNT])
        slot = APPLIED_LOG + 2 * (n % APPLIED_LOG_SLOTS)
        self.slots[slot], self.slots[slot + 1] = sequence, dry_frame
        self.slots[APPLIED_COUNT] = n + 1  # publish after the pair
        self.slots[APPLIED_SEQUENCE] = sequence

    def log_latency(self, seconds: float) -> None:
        n = int(self.slots[EFFECT_LATENCY_COUNT])
        self.slots[EFFECT_LATENCIES + n % EFFECT_LATENCY_SLOTS] = seconds
        self.slots[EFFECT_LATENCY_COUNT] = n + 1

    def set_anchor(self, out_frame: int, dry_frame: int) -> None:
        self.slots[ANCHOR_SEQUENCE] += 1  # odd: writing
        self.slots[ANCHOR_OUT_FRAME], self.slots[ANCHOR_DRY_FRAME] = out_frame, dry_frame
        self.slots[ANCHOR_SEQUENCE] += 1

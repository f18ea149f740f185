"""The effects pump: dry audio -> pedalboard effects in 5.8 ms blocks -> the output ring in front of the callback.

Where it runs, and why. An effect knob must be heard within ~20 ms, so the pump keeps the output ring only
~17 ms full and must run within a few milliseconds of every wake. In the main process it shared the GIL with
the engine (torch), the MIDI thread and (in the app) Qt, and even at SCHED_FIFO it waited 20-100 ms whenever a
GIL holder was descheduled or inside a long call: 2-30 underruns per 10 minutes. So the pump runs in the output
process (instrument.output_process), whose only other Python threads are the PortAudio callback and a 5 ms
bookkeeping loop: its own GIL. The output ring holds one device period plus 128 frames (8.7 ms at JACK's 256),
so an effect knob is heard within about two periods. The main process feeds it dry audio through a second shared ring with a longer
lead (`dry_lead_frames`, 35 ms, grown after near misses): a main-process stall up to that long costs nothing,
and only generation knobs pay that lead (they take ~400 ms anyway). Effect parameters do not wait for the main
process's feeder: the store's change callback writes them into the shared block at once (`PumpShared`), on the
thread that changed them (the MIDI thread for a CC).

The shadow chain. A pump that comes back late (a time-shared thread behind runnable ones, a vCPU the
hypervisor took) used to leave the callback a short ring: silence. So, when the output has a shadow ring, the
pump also runs a second EffectsChain over the same dry frames as far ahead as the dry ring holds (it peeks:
the main chain still consumes them), writing a shadow ring on the output ring's frame axis; the callback plays
from it what the output ring lacks and moves the output ring's reader past those frames (the main chain's
late frames for them are never read). Both chains start equal and see equal input and parameters, so their
samples are bit-equal: the stretch sounds as the stream would have. Only an effect knob moved within the dry
lead (~35 ms) before the stretch is heard late there: the shadow had already processed those frames. Such
changes are counted (SHADOWED_EFFECT_CHANGES), not measured as latencies. The second chain costs ~0.02 ms a
block. With a shadow, near misses no longer grow the output ring (they cost no silence), so the effect
latency stays at its start value.

Where there is no output process (no audio device: a software clock; a lost output; platforms without it) the
session runs the same `EffectsPump` as a thread of its own, over the same shared memory.

The pump also copies every wet block (44.1 kHz, before any resampling to the device rate) into a *return ring*
that the session reads for the take (post-effects, pre-master-gain) and the app's live view: one frame of the
return ring is one frame of the dry ring, so the take's timeline is the dry ring's.

Shared state (`PumpShared`): float64 slots. The session writes the effect parameters under a sequence lock
(odd while writing) and a "first sound" flag; the pump writes everything else: which parameter sequence it
applied at which dry frame (a small log, for the take's automation), the dry frame heard now (for control
latency and first sound), its (output frame, dry frame) anchor, counters and the effect latencies it measured
(a small ring). Each slot has one writer.
"""

# One job per module: `config` (PumpConfig), `shared` (the slot layout and PumpShared), `chain` (automation,
# effects chain and resampler as the pump runs them), `pump` (the EffectsPump thread).
from instrument.effects_pump.chain import SPECS, EffectsAutomation, PumpChain
from instrument.effects_pump.config import PumpConfig
from instrument.effects_pump.pump import EffectsPump
from instrument.effects_pump.shared import (ANCHOR_DRY_FRAME, ANCHOR_OUT_FRAME, ANCHOR_SEQUENCE, APPLIED_COUNT,
                                            APPLIED_LOG, APPLIED_LOG_SLOTS, APPLIED_SEQUENCE, BLOCKS,
                                            DEVICE_PERIOD_FRAMES, EFFECT_LATENCIES, EFFECT_LATENCY_COUNT,
                                            EFFECT_LATENCY_SLOTS, EFFECT_PARAMETERS, FIRST_SOUND, HEARD_DRY_FRAME,
                                            LONG_WAKE_GAPS, MAX_WAKE_GAP_AT_S, MAX_WAKE_GAP_S, NEAR_MISSES,
                                            OUTPUT_RATE, PARAM_CHANGE_TIME_S, PARAM_SEQUENCE, PARAM_VALUES, PRIORITY,
                                            PUMP_BYTES, PUMP_SLOTS, RETURN_DROPPED_FRAMES, RING_EXTRA_FRAMES,
                                            RING_LOW_WATER, RING_TARGET_FRAMES, SHADOWED_EFFECT_CHANGES,
                                            UNMEASURED_EFFECT_PARAMETERS, VERY_LONG_WAKE_GAPS, PumpShared,
                                            read_pair_under_sequence)

__all__ = [
    "ANCHOR_DRY_FRAME", "ANCHOR_OUT_FRAME", "ANCHOR_SEQUENCE", "APPLIED_COUNT", "APPLIED_LOG", "APPLIED_LOG_SLOTS",
    "APPLIED_SEQUENCE", "BLOCKS", "DEVICE_PERIOD_FRAMES", "EFFECT_LATENCIES", "EFFECT_LATENCY_COUNT",
    "EFFECT_LATENCY_SLOTS", "EFFECT_PARAMETERS", "FIRST_SOUND", "HEARD_DRY_FRAME", "LONG_WAKE_GAPS",
    "MAX_WAKE_GAP_AT_S", "MAX_WAKE_GAP_S", "NEAR_MISSES", "OUTPUT_RATE", "PARAM_CHANGE_TIME_S", "PARAM_SEQUENCE",
    "PARAM_VALUES", "PRIORITY", "PUMP_BYTES", "PUMP_SLOTS", "RETURN_DROPPED_FRAMES", "RING_EXTRA_FRAMES",
    "RING_LOW_WATER", "RING_TARGET_FRAMES", "SHADOWED_EFFECT_CHANGES", "SPECS", "UNMEASURED_EFFECT_PARAMETERS",
    "VERY_LONG_WAKE_GAPS", "EffectsAutomation", "EffectsPump", "PumpChain", "PumpConfig", "PumpShared",
    "read_pair_under_sequence",
]

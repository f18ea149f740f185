"""The live instrument: parameter store -> engine thread -> dry queue -> feeder -> dry ring -> effects pump ->
output ring -> PortAudio, the pump and PortAudio in an output process (or, with no audio device or while a lost
one is away, a software clock and the pump in this process), with takes recorded and re-rendered, and a MIDI
clock's bar lines steering joins and prompt morphs.

One job per module:
- requests: parameter snapshots -> the engine's GenerationRequest, and which changes need new audio;
- feeder: OutputPump, the session's side of the effects pump (dry audio in, wet audio to the take and monitor);
- sinks: the OutputSink Protocol every output meets, and PacedSink, the software clock;
- output_switch: OutputSwitch, which sink plays now (open, lose, fall back to the clock, reopen);
- status: SessionStatus and its line/JSON forms;
- live_session: LiveSession, which wires the above to an EngineThread, records takes and follows a MIDI clock;
- rerender: re-rendering a recorded take offline from its automation log.

Where the effects run, and why: the engine thread works 1-2 chunks (1-3 s) ahead of the playhead, so
effects applied there would answer a knob seconds late. The effects pump (instrument.effects_pump) applies the
pedalboard chain in 128-frame blocks right before an output ring that holds one device period plus 2.9 ms, in
the output process with its own GIL; this process's `OutputPump` feeds it dry audio 35 ms ahead (absorbing
this process's GIL stalls), publishes effect parameters to it the moment the store changes, and takes the wet
audio it returns into the take (post-effects, pre-master-gain: the master gain is the monitor level) and the
monitor tap.

Timelines: the engine's *stream* counts dry samples from the start of the session; the feeder reads it
in order. When the dry queue runs short the feeder feeds silence (a dry underrun) without advancing the
stream, so a take's frames = stream samples + logged underrun gaps. The take's automation log holds
the state at the start, every parameter change at its take frame, every engine chunk (request, seed,
chunk index, where it landed) and every underrun: enough for `rerender_take` to replay the performance.
"""

from instrument.session.feeder import OutputPump, PumpStatus
from instrument.session.live_session import LiveSession
from instrument.session.output_switch import OutputSwitch
from instrument.session.requests import (DESCRIPTOR_PARAMETERS, blend_weights, hold_prompts, make_generation_filter,
                                         make_quantised_filter, request_from_snapshot, xy_corner_weights)
from instrument.session.rerender import (TakeError, TakeLog, apply_effects_automation, read_take_log,
                                         rerender_take)
from instrument.session.sinks import OutputSink, PacedSink
from instrument.session.status import SessionStatus, status_json

__all__ = [
    "DESCRIPTOR_PARAMETERS", "LiveSession", "OutputPump", "OutputSink", "OutputSwitch", "PacedSink", "PumpStatus",
    "SessionStatus", "TakeError", "TakeLog", "apply_effects_automation", "blend_weights", "hold_prompts",
    "make_generation_filter", "make_quantised_filter", "read_take_log", "request_from_snapshot", "rerender_take",
    "status_json", "xy_corner_weights",
]

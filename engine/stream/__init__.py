"""Real-time generation: the engine thread that keeps a stream of continued, crossfaded chunks ahead of the
playhead, and the pieces it is built from (no Qt, no audio device: testable headless and reused offline).

Threads and ownership:

    parameter store ──snapshot per chunk──> EngineThread (owns the Generator and the ChunkStitcher)
                                                  │ splice(chunk audio, crossfade)
                                                  v
                                          DryAudioQueue (seconds of dry audio, absolute sample positions)
                                                  │ read(small blocks)
                                                  v
                       output pump (the instrument's: effects -> ring buffer of a few blocks -> PortAudio)

- The engine thread ("cascade-engine", EngineThread) is the only one that touches the Generator and the
  ChunkStitcher, and the only producer of the DryAudioQueue. It reads the parameter store through snapshots
  and its change log; the store's change callback, called on whichever thread made the change (GUI, MIDI),
  only wakes it. Its records and status are read by other threads under two short locks.
- The output pump (a thread of the instrument) is the queue's only consumer. The queue holds a short lock for
  copies of at most a chunk, because the engine may rewrite audio the pump has not read yet (a rollback);
  neither side is the PortAudio callback.
- Offline (render_chunk_log), one thread drives a ChunkStitcher and a DryAudioQueue the same way.

Everything is fed one request per chunk; parameter changes take effect at the next chunk, or sooner by a
rollback.

Modules, one job each: geometry (the chunk layout), crossfade (the fades), planning (bar grid, joins, steps),
dry_queue (the queue), stitcher (chunks into a stream), requests (request helpers), config (what the engine
thread is given), records (what it reports), estimates (how fast it runs), morph (a prompt morph held to a bar
line), engine_thread (the thread), replay (offline re-render).
"""

from engine.stream.config import EngineConfig, EngineHooks, ParameterSource
from engine.stream.crossfade import equal_power_crossfade, fade_in
from engine.stream.dry_queue import DryAudioQueue, SpliceResult
from engine.stream.engine_thread import EngineThread
from engine.stream.geometry import StreamGeometry
from engine.stream.planning import BarGrid, choose_steps, plan_join_sample
from engine.stream.records import ChunkRecord, EngineStatus
from engine.stream.replay import render_chunk_log
from engine.stream.requests import first_chunk_request
from engine.stream.stitcher import ChunkAudio, ChunkStitcher, RefineAbandoned

__all__ = [
    "BarGrid", "ChunkAudio", "ChunkRecord", "ChunkStitcher", "DryAudioQueue", "EngineConfig", "EngineHooks",
    "EngineStatus", "EngineThread", "ParameterSource", "RefineAbandoned", "SpliceResult", "StreamGeometry",
    "choose_steps", "equal_power_crossfade", "fade_in", "first_chunk_request", "plan_join_sample",
    "render_chunk_log",
]

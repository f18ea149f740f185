"""LiveSession: wires one instrument together and runs it (store -> engine thread -> dry queue -> feeder ->
effects pump -> output), records takes with their automation log, and maps a MIDI clock's beats onto the
engine's stream."""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.generate import Generator
from engine.stream import BarGrid, ChunkRecord, DryAudioQueue, EngineConfig, EngineHooks, EngineThread
from engine.vocabulary import SAMPLE_RATE
from instrument.effects_pump import SHADOWED_EFFECT_CHANGES, PumpConfig
from instrument.output import OutputDevice
from instrument.output_process import PreparedOutput
from instrument.parameters import CLOCK_SOURCE, ParameterStore
from instrument.session.feeder import OutputPump
from instrument.session.harmony import HarmonyFollower
from instrument.session.output_switch import OutputSwitch
from instrument.session.requests import (hold_prompts, make_generation_filter, make_quantised_filter,
                                         request_from_snapshot)
from instrument.session.sinks import OutputSink
from instrument.session.status import SessionStatus
from instrument.takes import AutomationEvent, TakeStatus, TakeWriter

logger = logging.getLogger(__name__)

ENGINE_NICE_FALLBACK = 5  # the engine thread's nice value when the feeder got no higher priority


class LiveSession:
    """Wires one instrument: store -> EngineThread -> DryAudioQueue -> OutputPump (feeder) -> dry ring ->
    EffectsPump -> output ring -> output (an OutputSink, kept by an OutputSwitch).

    output: "auto" (the best device: JACK when a server runs; none -> software clock), "none" (software
    clock), or a device index / name substring. The device is played by a child process
    (instrument.output_process) that shares the rings and runs the effects pump: losing the audio server kills
    at most that child. A watch thread notices a lost output (`status().output_lost`), switches to a software clock (the
    engine and a take keep running) and reopens the output once its server or device is back (instrument.reconnect);
    `restart_output()` reopens it at once when asked.

    midi_clock: an instrument.midi.MidiClock. While it runs, each chunk's beat offset follows its phase,
    chunk joins are planned onto its bar lines, and prompt morphs (texts, weights, XY pad) take effect at the
    next bar line (`quantise_morphs`).

    held_notes: an instrument.midi.HeldNotes. With a model that has the harmony control, the held chord becomes
    the harmony target from the next bar line or beat (`harmony`, a HarmonyFollower); with any other model
    `harmony` is None and nothing is sent.
    """

    def __init__(self, generator: Generator, store: ParameterStore | None = None, *,
                 engine_config: EngineConfig = EngineConfig(), pump_config: PumpConfig = PumpConfig(),
                 output: str | int | None = "auto", output_block_frames: int = 512, midi_clock: Any = None,
                 client_name: str = "Cascade", isolate_output: bool = os.name == "posix",
                 output_stall_seconds: float = 2.0, quantise_morphs: bool = True,
                 prepared_output: PreparedOutput | None = None,
                 on_output_change: Callable[[str, str], None] | None = None, auto_reconnect: bool = True,
                 held_notes: Any = None) -> None:
        """prepared_output: an output process started earlier (PreparedOutput.start); adopted if it matches
        what this session asks for, else discarded. on_output_change(level, words): told when the output is
        lost ("warning") and when it comes back by itself ("info"), in a performer's words (default: logged).
        auto_reconnect: reopen a lost output when its server or device is back (instrument.reconnect)."""
        self.created_s = time.monotonic()
        self.generator = generator
        self.store = store or ParameterStore()
        self.engine_config = engine_config
        self.pump_config = pump_config
        self.midi_clock = midi_clock
        self.harmony = (HarmonyFollower(self.store, held_notes, self.stream_sample_at, self.bar_grid,
                                        sample_rate=SAMPLE_RATE, hop_frames=generator.hop_frames)
                        if held_notes is not None and generator.harmony else None)
        self.queue = DryAudioQueue(int(engine_config.queue_seconds * generator.sample_rate))
        self.output_switch = OutputSwitch(
            output, pump_config=pump_config, output_block_frames=output_block_frames, client_name=client_name,
            isolate_output=isolate_output, output_stall_seconds=output_stall_seconds,
            gain_db=float(self.store.get("master_gain_db")), prepared_output=prepared_output,
            on_output_change=on_output_change, auto_reconnect=auto_reconnect)
        self._memory = self.output_switch.memory  # the rings and the effects pump's block
        self.ring = self.output_switch.ring
        self.engine = self._make_engine(quantise_morphs)
        self.pump = OutputPump(self.queue, self._memory, self.store, pump_config,
                               set_gain_db=self.output_switch.set_gain_db,
                               stream_started=lambda: self.engine.alive, on_first_sound=self._on_first_sound,
                               gil_busy=lambda: generator.tracing)
        self._take_lock = threading.Lock()
        self._take: TakeWriter | None = None
        self._records_logged = 0
        self._take_start_sample = 0
        self.started_s: float | None = None
        self.engine_nice_fallback = ENGINE_NICE_FALLBACK

    def _make_engine(self, quantise_morphs: bool) -> EngineThread:
        quantised = make_quantised_filter(self.store) if quantise_morphs else (lambda change: False)
        hooks = EngineHooks(request_for=request_from_snapshot, is_generation_change=make_generation_filter(self.store),
                            bar_grid_for=self.bar_grid if self.midi_clock is not None else None,
                            is_quantised_change=quantised, hold_quantised=hold_prompts,
                            on_record=self._on_record, extra_latency_samples=lambda: self.pump.latency_samples,
                            waits_for_next_chunk=lambda change: change.source == CLOCK_SOURCE,
                            harmony_for=None if self.harmony is None else self.harmony.harmony_for,
                            harmony_change=None if self.harmony is None else self.harmony.harmony_change)
        return EngineThread(self.generator, self.store, self.queue, hooks, config=self.engine_config)

    # --- output (kept by the OutputSwitch) ----------------------------------------------------------------------

    @property
    def sink(self) -> OutputSink:
        return self.output_switch.sink

    @property
    def device(self) -> OutputDevice | None:
        return self.output_switch.device

    @property
    def output_error(self) -> str | None:
        return self.output_switch.output_error

    @property
    def output_name(self) -> str:
        return self.output_switch.output_name

    @property
    def output_rate(self) -> int:
        return self.output_switch.output_rate

    @property
    def output_lost(self) -> bool:
        return self.output_switch.output_lost

    @property
    def output_lost_reason(self) -> str | None:
        return self.output_switch.output_lost_reason

    @property
    def output_losses(self) -> int:
        return self.output_switch.output_losses

    @property
    def output_reconnects(self) -> int:
        """Output losses the session recovered from by itself."""
        return self.output_switch.output_reconnects

    @property
    def output_underruns(self) -> int:
        """Output callbacks that found the ring short since the first sound (all outputs this session)."""
        return self.output_switch.output_underruns

    def restart_output(self, output: str | int | None = None) -> bool:
        """Reopen the audio output (after a loss, or to pick up a server started since): a fresh output
        process scans the devices there are now. The engine never stops; while the device opens the software
        clock keeps the stream (and a take) going. Returns whether a device plays now; on failure the session
        stays on the software clock and `output_error` says why. output: as for the constructor (default: the
        constructor's)."""
        return self.output_switch.restart_output(output)

    def _on_first_sound(self) -> None:
        self.output_switch.note_first_sound()
        gc.freeze()
        self.generator.release_tracer()  # a network traced in the background waits for the first sound

    # --- life cycle -----------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.started_s = time.monotonic()
        # The pump needs the GIL for a moment every block; the default 5 ms switch interval can keep it
        # waiting behind the engine's Python code for most of the ring's ~17 ms lead.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        # A full cyclic-GC pass walks every tracked object with the GIL held: with torch and the models
        # loaded that took ~190 ms (measured in the app), far beyond the pump's ring lead. Frozen objects
        # are never walked; the first sound freezes what the first chunk made too.
        gc.freeze()
        self.pump.start()
        self.pump.priority_ready.wait(1.0)
        if self.pump.status_copy().feeder_priority == "unchanged":
            self.engine.thread_nice = max(self.engine.thread_nice, self.engine_nice_fallback)
        self.engine.start()
        self.output_switch.start()
        if self.harmony is not None:
            self.harmony.start()

    def stop(self) -> None:
        if self.harmony is not None:
            self.harmony.stop()
        self.output_switch.stop_watch()
        self.stop_recording()
        self.engine.stop()
        if not self.generator.settle_tracer():  # a trace in torch at exit would abort the process
            logger.warning("the U-Net's background trace did not finish")
        self.pump.stop()
        self.output_switch.close()

    def __enter__(self) -> LiveSession:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def first_sound_played(self) -> bool:
        """Whether the first engine sample has played (one attribute read: cheap enough to poll)."""
        return self.pump.status.first_sound_time_s is not None

    def status(self) -> SessionStatus:
        engine = self.engine.status()
        pump = self.pump.status_copy()
        output = self.output_switch
        take = self._take
        take_stopped = take is not None and take.status.finished  # by itself: the FLAC holds what it says
        first_sound_s = None
        if pump.first_sound_time_s is not None and self.started_s is not None:
            first_sound_s = pump.first_sound_time_s - self.started_s
        return SessionStatus(
            engine=engine, output=output.output_name, output_underruns=output.output_underruns,
            dry_underruns=pump.dry_underruns, nonfinite_blocks=output.nonfinite_blocks,
            buffer_fill_seconds=(self.queue.queued_samples + self._memory.dry_ring.fill_frames) / SAMPLE_RATE
            + self.ring.fill_frames / output.output_rate,
            control_latency_seconds=pump.control_latencies_s[-1] if pump.control_latencies_s else None,
            effect_latency_seconds=pump.effect_latencies_s[-1] if pump.effect_latencies_s else None,
            start_to_first_sound_seconds=first_sound_s, output_lost=output.output_lost,
            recording=take is not None and not take_stopped,
            take_frames=take.status.frames_written if take_stopped else self.pump.take_frames,
            take_error=take.status.error if take is not None else None,
            output_lost_reason=output.output_lost_reason, output_losses=output.output_losses,
            pump_priority=pump.priority, pump_max_wake_gap_seconds=pump.max_wake_gap_s,
            ring_low_water_seconds=(None if pump.ring_low_water_frames is None
                                    else pump.ring_low_water_frames / output.output_rate),
            ring_target_seconds=pump.ring_target_frames / output.output_rate, near_misses=pump.near_misses,
            feeder_max_wake_gap_seconds=pump.feeder_max_wake_gap_s, dry_lead_seconds=pump.dry_lead_frames / SAMPLE_RATE,
            feeder_near_misses=pump.feeder_near_misses,
            shadow_callbacks=output.shadow_callbacks, shadow_frames=output.shadow_frames,
            shadowed_effect_changes=int(self._memory.pump.slots[SHADOWED_EFFECT_CHANGES]))

    # --- MIDI clock ---------------------------------------------------------------------------------------------

    def stream_sample_at(self, time_s: float) -> float:
        """The stream sample heard at `time_s` (time.monotonic()): the output's play anchor (an output ring frame
        and when it reaches the DAC), mapped onto the dry ring through the effects pump's (output frame, dry
        frame) anchor and onto the stream through the feeder's (dry frame, stream sample) anchor. Before the
        output has played anything: the feeder's read position minus what waits in front of the output."""
        sink_anchor = self.sink.play_anchor
        pump_anchor = self._memory.pump.anchor()
        feeder_anchor = self.pump.stream_anchor
        if sink_anchor is None or pump_anchor is None or feeder_anchor is None:
            return self.queue.read_position - self.pump.latency_samples + (time_s - time.monotonic()) * SAMPLE_RATE
        anchor_s, anchor_frame = sink_anchor
        out_frame, pump_dry_frame = pump_anchor
        dry_frame, stream_sample = feeder_anchor
        output_rate = self.pump.output_rate
        heard_out_frame = anchor_frame + (time_s - anchor_s) * output_rate
        heard_dry_frame = pump_dry_frame + (heard_out_frame - out_frame) * SAMPLE_RATE / output_rate
        return stream_sample + heard_dry_frame - dry_frame

    def bar_grid(self) -> BarGrid | None:
        """The MIDI clock's beats and bars on the stream's sample axis (None unless the clock runs with a
        known tempo): the engine's beat offset, bar-line joins and quantised morphs all use it."""
        clock = self.midi_clock
        anchor = clock.phase_anchor() if clock is not None else None
        if anchor is None:
            return None
        tick_time_s, tick_beats, beats_per_second = anchor
        now_s = time.monotonic()
        beats_per_sample = beats_per_second / SAMPLE_RATE
        beat_now = tick_beats + (now_s - tick_time_s) * beats_per_second
        return BarGrid(beat_now - self.stream_sample_at(now_s) * beats_per_sample, beats_per_sample,
                       int(clock.beats_per_bar))

    def _beat_offset(self, start_sample: int) -> float | None:
        """beat_offset so that the chunk's beat clock matches the MIDI clock when its first sample plays
        (the model's clock runs from stream time, so this is the external beat at stream sample 0)."""
        grid = self.bar_grid()
        return None if grid is None else grid.beat_at(0)

    # --- takes ----------------------------------------------------------------------------------------------------

    def start_recording(self, directory: Path, name: str | None = None,
                        on_stopped: Callable[[TakeStatus], None] | None = None) -> TakeWriter:
        """Record the output (post-effects, pre-master-gain) with an automation log that can be re-rendered.
        on_stopped(status): the take stopped by itself (a full disk), on the writer thread; it is finalised, the
        session plays on, and recording can start again (elsewhere). Raises OSError when the folder cannot
        hold a take (nothing started then)."""
        if self._take is not None:
            if not self._take.status.finished:
                raise RuntimeError("already recording")
            self.stop_recording()  # the previous take stopped by itself: let it go
        take = TakeWriter(Path(directory), name=name, metadata=self._take_metadata(), on_stopped=on_stopped)
        take.start()
        attached = threading.Event()

        def on_attached(stream_sample: int) -> None:  # on the feeder thread, before the take's first block
            snapshot = self.store.snapshot()
            with self._take_lock:
                self._take_start_sample = stream_sample
                take.metadata["take_start_sample"] = stream_sample
                take.log(AutomationEvent(0, "take_start", {"stream_sample": stream_sample,
                                                           "values": dict(snapshot.values),
                                                           "prompts": list(snapshot.prompt_texts),
                                                           "version": snapshot.version}, "engine"))
                self._records_logged = 0
                self._take = take
                self._log_new_records()
            attached.set()

        self.pump.attach_take(take, on_attached)
        attached.wait(2.0)
        return take

    def _take_metadata(self) -> dict[str, Any]:
        """The sidecar's model, seed, prompts and stream geometry: what a re-render needs besides the log."""
        geometry = self.engine_config.geometry
        snapshot = self.store.snapshot()
        return {"model_id": self.generator.model_id, "seed": int(self.store.get("seed")),
                "prompts": [text for text in snapshot.prompt_texts if text.strip()],
                "engine": {"window_frames": geometry.window_frames, "context_frames": geometry.context_frames,
                           "crossfade_frames": geometry.crossfade_frames, "hop_frames": self.generator.hop_frames,
                           "stereo_phase": self.generator.autoencoder.decoder.config.decoder_stereo_phase}}

    def stop_recording(self) -> TakeStatus | None:
        with self._take_lock:
            take, self._take = self._take, None
        self.pump.detach_take()
        if take is None:
            return None
        return take.close()

    def _on_record(self, record: ChunkRecord) -> None:
        with self._take_lock:
            if self._take is not None:
                self._log_new_records()

    def _log_new_records(self) -> None:
        """Called under _take_lock: log every engine record not logged yet (exactly once, in order)."""
        take = self._take
        if take is None:
            return
        for record in self.engine.records_since(self._records_logged):
            data = record.to_json()
            take.log(AutomationEvent(record.sample - self._take_start_sample, record.kind, data, "engine"))
            self._records_logged += 1

"""The session's audio output: which OutputSink consumes the output ring now, and the switches between them.

Normally the device is played by a child process (instrument.output_process) that shares the rings and runs
the effects pump: losing the audio server kills at most that child. Where there is no output process (not
POSIX) PortAudio plays in this process, and with no device at all (or while a lost one is away) a software
clock (PacedSink) takes the ring at the real-time rate; the effects pump then runs in this process. A watch
thread notices a lost output, switches to the software clock (the engine and a take keep running) and reopens
the output once its server or device is back (instrument.reconnect).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from engine.vocabulary import SAMPLE_RATE
from instrument.effects_pump import EffectsPump, PumpConfig
from instrument.output import AudioOutput, OutputDevice, choose_output_device
from instrument.output_process import OutputProcess, PreparedOutput, SharedOutputMemory, ring_frames_for
from instrument.reconnect import ReconnectSchedule, back_words, lost_words
from instrument.session.sinks import OutputSink, PacedSink

logger = logging.getLogger(__name__)

WATCH_POLL_SECONDS = 0.02  # a lost output is replaced by the software clock within one poll


class OutputSwitch:
    """Keeps one OutputSink playing the output ring (`sink`): an output process, an in-process stream or the
    software clock, and swaps them on a loss, a return or a reopen, one change at a time. The counters of
    sinks it has replaced stay in its totals (`output_underruns`, `nonfinite_blocks`, `shadow_callbacks`,
    `shadow_frames`).

    output: "auto" (the best device: JACK when a server runs; none -> software clock), "none" (software
    clock), or a device index / name substring. prepared_output: an output process started earlier; adopted
    if it matches what is asked for, else discarded. on_output_change(level, words): told when the output is
    lost ("warning") and when it comes back by itself ("info") (default: logged).
    """

    def __init__(self, output: str | int | None, *, pump_config: PumpConfig, output_block_frames: int,
                 client_name: str, isolate_output: bool, output_stall_seconds: float, gain_db: float,
                 prepared_output: PreparedOutput | None = None,
                 on_output_change: Callable[[str, str], None] | None = None, auto_reconnect: bool = True) -> None:
        self.pump_config = pump_config
        self.client_name = client_name
        self.output_block_frames = output_block_frames
        self.output_stall_seconds = output_stall_seconds
        self._output_spec = output
        self._isolate_output = isolate_output
        adopted = self._adopt(prepared_output, output)
        # The rings and the effects pump's block, in memory an output process can map (used in-process too).
        self.memory = adopted.memory if adopted is not None else SharedOutputMemory(
            ring_frames_for(output_block_frames))
        self.ring = self.memory.ring
        self._local_pump: EffectsPump | None = None  # the effects pump when no output process runs it
        self.device: OutputDevice | None = None
        self.output_error: str | None = None
        self.output_lost_reason: str | None = None
        self.output_losses = 0
        self.output_reconnects = 0  # losses recovered from by itself
        self.auto_reconnect = auto_reconnect
        self._reconnect = ReconnectSchedule()
        self._on_output_change = on_output_change
        self._gain_db = float(gain_db)
        self._output_lock = threading.RLock()  # one output change (loss, restart, stop) at a time
        self._abandoned: list[OutputSink] = []  # in-process streams lost under us: never touched again
        self._underruns_before_sound: int | None = None
        self._underruns_retired = 0  # counted by outputs that have been replaced
        self._nonfinite_retired = 0
        self._shadow_retired = (0, 0)  # (callbacks, frames) played from the shadow by outputs since replaced
        self._watch_stop = threading.Event()
        self._watch: threading.Thread | None = None
        self.sink: OutputSink = self._open_output(output, adopted)

    def _adopt(self, prepared: PreparedOutput | None, output: str | int | None) -> OutputProcess | None:
        """The prepared output process if it plays what is asked for here; a mismatched one is discarded."""
        if prepared is None:
            return None
        if self._isolate_output and prepared.matches(output, ring_frames_for(self.output_block_frames),
                                                     self.pump_config):
            return prepared.process
        prepared.discard()
        return None

    # --- what plays now ----------------------------------------------------------------------------------------

    @property
    def output_rate(self) -> int:
        return int(self.sink.sample_rate)

    @property
    def output_lost(self) -> bool:
        return self.output_lost_reason is not None

    @property
    def output_name(self) -> str:
        if self.output_lost_reason is not None:
            return f"software clock (output lost: {self.output_lost_reason})"
        if self.device is not None and not isinstance(self.sink, PacedSink):
            return f"{self.device.name} ({self.device.host_api})"
        return "no audio device (software clock)" + (f": {self.output_error}" if self.output_error else "")

    @property
    def output_underruns(self) -> int:
        """Output callbacks that found the ring short since the first sound (all outputs this session)."""
        if self._underruns_before_sound is None:
            return 0
        return self._underruns_retired + self.sink.underruns - self._underruns_before_sound

    @property
    def nonfinite_blocks(self) -> int:
        return self._nonfinite_retired + self.sink.nonfinite_blocks

    @property
    def shadow_callbacks(self) -> int:
        return self._shadow_retired[0] + self.sink.shadow_callbacks

    @property
    def shadow_frames(self) -> int:
        return self._shadow_retired[1] + self.sink.shadow_frames

    def note_first_sound(self) -> None:
        """Callbacks before the first chunk arrived played silence on purpose: not underruns."""
        self._underruns_before_sound = self.sink.underruns

    def set_gain_db(self, gain_db: float) -> None:
        self._gain_db = float(gain_db)
        self.sink.set_gain_db(gain_db)

    # --- opening ---------------------------------------------------------------------------------------------

    def _clock(self) -> PacedSink:
        """A software clock at the rate the local effects pump delivers (so the stream keeps real time)."""
        rate = self._local_pump.output_rate if self._local_pump is not None else SAMPLE_RATE
        return PacedSink(self.ring, rate, self.output_block_frames)

    def _start_local_pump(self, output_rate: int = SAMPLE_RATE) -> None:
        """Run the effects pump in this process (no output process runs it): before a clock or an in-process
        stream starts, after any output process that ran it has gone (one pump on the rings at a time)."""
        if self._local_pump is None:
            sink = self.sink
            period = (lambda: sink.callback_frames) if isinstance(sink, AudioOutput) else None  # in-process stream
            self._local_pump = EffectsPump(self.memory.dry_ring, self.ring, self.memory.return_ring,
                                           self.memory.pump, self.pump_config, output_rate=output_rate,
                                           device_period=period)
            self._local_pump.start()

    def _stop_local_pump(self) -> None:
        if self._local_pump is not None:
            self._local_pump.stop()
            self._local_pump = None

    def _new_output_process(self, output: str | int | None) -> OutputProcess:
        return OutputProcess(self.memory, output, block_frames=self.output_block_frames,
                             stall_seconds=self.output_stall_seconds, gain=10 ** (self._gain_db / 20),
                             pump_config=self.pump_config)

    def _open_output(self, output: str | int | None, prepared: OutputProcess | None = None) -> OutputSink:
        if output in ("none", None):
            return self._clock()
        if self._isolate_output:
            return self._open_output_process(output, prepared)
        return self._open_in_process(output)

    def _open_output_process(self, output: str | int, prepared: OutputProcess | None) -> OutputSink:
        try:
            sink = prepared if prepared is not None else self._new_output_process(output)
        except Exception as error:  # noqa: BLE001 - PortAudio missing or broken: play to the clock instead
            if output != "auto":
                self.memory.close()
                raise
            self.output_error = f"{type(error).__name__}: {error}"
            return self._clock()
        if sink.device is None:
            sink.stop()
            return self._clock()
        self.device = sink.device
        return sink

    def _open_in_process(self, output: str | int) -> OutputSink:
        """In-process PortAudio (platforms without the output process)."""
        try:
            device = choose_output_device(None if output == "auto" else output)
        except Exception as error:  # noqa: BLE001
            if output != "auto":
                raise
            self.output_error = f"{type(error).__name__}: {error}"
            device = None
        if device is None:
            return self._clock()
        self.device = device
        # JACK runs at the server's rate; elsewhere PortAudio/ALSA converts 44.1 kHz itself.
        rate = int(device.default_sample_rate) if "JACK" in device.host_api else SAMPLE_RATE
        return AudioOutput(self.ring, sample_rate=rate, device=device, block_frames=self.output_block_frames,
                           client_name=self.client_name)

    # --- swapping sinks ------------------------------------------------------------------------------------------

    def _swap_sink(self, old: OutputSink, new: OutputSink) -> None:
        """Make `new` the output (not started here); counters of `old` are kept in the totals."""
        if self._underruns_before_sound is not None:
            self._underruns_retired += old.underruns - self._underruns_before_sound
            self._underruns_before_sound = 0  # the new output counts from zero, after the first sound
        self._nonfinite_retired += old.nonfinite_blocks
        self._shadow_retired = (self._shadow_retired[0] + old.shadow_callbacks,
                                self._shadow_retired[1] + old.shadow_frames)
        new.set_gain_db(self._gain_db)
        self.sink = new

    def _play_to_clock(self, old: OutputSink) -> None:
        """Replace `old` by a started software clock (start the local effects pump first: it sets the rate)."""
        clock = self._clock()
        self._swap_sink(old, clock)
        clock.start()

    # --- life cycle ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the output (and the effects pump here unless an output process runs it), then the watch."""
        with self._output_lock:
            if not isinstance(self.sink, OutputProcess):
                self._start_local_pump(self.output_rate)
            try:
                self.sink.start()
            except Exception as error:  # noqa: BLE001 - the device refused: keep playing to the software clock
                logger.warning("cannot open %s: %s; playing to a software clock", self.output_name, error)
                self.output_error = f"{type(error).__name__}: {error}"
                self.device = None
                if isinstance(self.sink, OutputProcess):
                    self.sink.stop()
                self._stop_local_pump()  # an in-process stream's rate may not be the clock's
                self._start_local_pump()
                self._play_to_clock(self.sink)
        self._watch_stop.clear()
        self._watch = threading.Thread(target=self._watch_output, name="cascade-output-watch", daemon=True)
        self._watch.start()

    def stop_watch(self) -> None:
        self._watch_stop.set()
        if self._watch is not None:
            self._watch.join(2.0)
            self._watch = None

    def close(self) -> None:
        """Stop the output (never a stream lost under us: that call could hang) and the local effects pump,
        and release the shared memory."""
        with self._output_lock:
            if not any(self.sink is lost for lost in self._abandoned):
                self.sink.stop()
            self._stop_local_pump()
        self.memory.close()

    # --- loss and return -----------------------------------------------------------------------------------------

    def _watch_output(self) -> None:
        """Watch thread: a lost output is replaced by a software clock within one poll, and reopened once its
        server or device is back (instrument.reconnect: JACK is probed every 1.5 s)."""
        while not self._watch_stop.wait(WATCH_POLL_SECONDS):
            sink = self.sink
            try:
                reason = sink.check_lost()
                if reason is not None:
                    self._on_output_lost(sink, reason)
                elif (self.output_lost_reason is not None and self.auto_reconnect and self._isolate_output
                      and self._reconnect.due()):  # in-process PortAudio cannot reopen after a loss
                    self._reconnect_output()
            except Exception:  # noqa: BLE001 - the watch must outlive any one failure
                logger.exception("output watch failed")

    def _tell(self, level: str, words: str) -> None:
        if self._on_output_change is not None:
            self._on_output_change(level, words)
        else:
            logger.log(logging.WARNING if level == "warning" else logging.INFO, "%s", words)

    def _reconnect_output(self) -> None:
        """The watch thread's reopening of a lost output (a failure stays on the clock; the schedule retries)."""
        lost_device = self.device
        with self._output_lock:
            if self.output_lost_reason is None or self._watch_stop.is_set():
                return  # reopened meanwhile (the performer's "Reopen"), or stopping
            if not self.restart_output():
                logger.info("audio output not back yet: %s", self.output_error)
                return
            self.output_reconnects += 1
        self._reconnect.back()
        self._tell("info", back_words(self.device or lost_device))

    def _on_output_lost(self, sink: OutputSink, reason: str) -> None:
        with self._output_lock:
            if self.sink is not sink or self._watch_stop.is_set():
                return
            if isinstance(sink, OutputProcess):
                sink.stop(timeout_s=1.0)  # reaps the child (killed if stuck in PortAudio), and its pump with it
                self._start_local_pump()
            else:
                self._abandoned.append(sink)  # an in-process stream: any PortAudio call on it could hang
            self._play_to_clock(sink)
            self.output_lost_reason = reason
            self.output_losses += 1
            self._reconnect.lost(self.device)
        self._tell("warning", lost_words(self.device, reason))

    # --- reopening -----------------------------------------------------------------------------------------------

    def restart_output(self, output: str | int | None = None) -> bool:
        """Reopen the audio output (after a loss, or to pick up a server started since): a fresh output
        process scans the devices there are now. While the device opens the software clock keeps the stream
        (and a take) going. Returns whether a device plays now; on failure the output stays on the software
        clock and `output_error` says why. output: as for the constructor (default: the constructor's)."""
        spec = self._output_spec if output is None else output
        with self._output_lock:
            if spec in ("none", None):
                return False
            if not self._isolate_output:
                return self._restart_in_process()
            if isinstance(self.sink, OutputProcess):  # reopening a working output: clock while it reopens
                old = self.sink
                old.stop()
                self._start_local_pump()
                self._play_to_clock(old)
            new = self._open_new_process(spec)
            return new is not None and self._hand_over(new)

    def _restart_in_process(self) -> bool:
        """In-process PortAudio cannot be re-initialised safely after a loss; a working stream restarts."""
        if self.output_lost_reason is not None:
            self.output_error = "cannot reopen an in-process output after a loss"
            return False
        self.sink.stop()
        self.sink.start()
        return True

    def _open_new_process(self, output: str | int) -> OutputProcess | None:
        """A fresh output process with a device, or None (`output_error` says why; nothing else changes)."""
        try:
            new = self._new_output_process(output)
        except Exception as error:  # noqa: BLE001 - stays on the software clock
            self.output_error = f"{type(error).__name__}: {error}"
            logger.warning("cannot reopen the audio output: %s", self.output_error)
            return None
        if new.device is None:
            new.stop()
            self.output_error = "no audio output device"
            return None
        return new

    def _hand_over(self, new: OutputProcess) -> bool:
        """The software clock hands the ring and the effects pump over to `new` and `new` starts; if it cannot,
        a fresh clock plays on."""
        clock = self.sink
        clock.stop()  # the ring has one consumer at a time ...
        old_rate = self._local_pump.output_rate if self._local_pump is not None else SAMPLE_RATE
        self._stop_local_pump()  # ... and one pump: the new output process runs its own
        if new.sample_rate != old_rate:
            self.ring.clear()  # blocks made for the old rate would play at the wrong speed
        try:
            new.start()
        except Exception as error:  # noqa: BLE001
            self.output_error = f"{type(error).__name__}: {error}"
            logger.warning("cannot start the audio output: %s", self.output_error)
            self._start_local_pump()
            self._play_to_clock(clock)
            return False
        self._swap_sink(clock, new)
        self.device = new.device
        self.output_error = None
        self.output_lost_reason = None
        logger.info("audio output reopened: %s", self.output_name)
        return True

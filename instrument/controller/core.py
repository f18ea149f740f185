"""The app's instrument controller (Instrument): the start-up, the transport (play, stop, the audio output), the
status the meters read and the shutdown; its other parts (takes, the take player, presets, MIDI) are mixed in
from their own modules. The package docstring (instrument/controller/__init__.py) says which thread does what."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from engine.read_words import prompt_reader
from engine.vocabulary import DESCRIPTORS
from instrument.controller.base import logger
from instrument.controller.config import NO_DEVICE_MESSAGE, AppConfig, Message, default_takes_dir
from instrument.controller.midi_control import MidiControl
from instrument.controller.playback_control import PlaybackControl
from instrument.controller.preset_control import PresetControl
from instrument.controller.take_control import TakeControl
from instrument.live_setup import GeneratorOptions, SessionOptions, build_session, load_live_generator
from instrument.midi import HeldNotes, MidiClock, MidiInput, MidiMapper
from instrument.monitor import MonitorTap
from instrument.parameters import ParameterStore
from instrument.presets import PresetError, PresetInfo
from instrument.session.prompt_settings import PromptSettingsFollower
from instrument.take_player import TakePlayer


class Instrument(TakeControl, PlaybackControl, PresetControl, MidiControl):
    """Everything the window drives, minus widgets. States: loading -> stopped <-> playing (+ recording)."""

    def __init__(self, config: AppConfig | None = None, store: ParameterStore | None = None) -> None:
        self.config = config or AppConfig()
        self._prepared_output = self.config.prepared_output  # taken by the first session (operations thread)
        self.store = store or ParameterStore()
        self.mapper = MidiMapper(self.store)
        self.clock = MidiClock(self.store)
        self.held_notes = HeldNotes()  # the chord the player holds: the harmony target (instrument/session/harmony)
        self.store.subscribe(self._follow_harmony_channel)
        # reads each prompt's words (knobs, labels) as render does; shares the generator's text encoder once loaded
        self.words = prompt_reader(self.config.read_words, encoder=lambda: getattr(self.generator, "prompt_encoder",
                                                                                   None))
        # the tempo, key and scale knobs follow the words of the prompt blend as it morphs (a running clock owns
        # the tempo), playing or not: the store lives as long as the app
        self.prompt_settings = PromptSettingsFollower(self.store, tempo_locked=lambda: self.clock.running,
                                                      reader=self.words)
        self.prompt_settings.start()
        self.midi_input: MidiInput | None = None
        self.midi_ports: list[str] = []
        self.midi_ports_version = 0
        self.mapping_version = 0  # bumped when mappings change (learn, controller preset, removal)
        self.controller_preset = ""
        self.generator: Any = None
        self.session: Any = None  # instrument.session.LiveSession while playing
        self.monitor: MonitorTap | None = None
        self.state = "loading"
        self.busy = False  # an operation is running (buttons show it)
        self.take: Any = None  # the TakeWriter while recording
        self.takes_dir = Path(self.config.takes_dir) if self.config.takes_dir else default_takes_dir()
        self.takes_version = 0
        self.messages: deque[Message] = deque(maxlen=50)
        self.current_preset: PresetInfo | None = None
        self.current_preset_data: dict | None = None
        self.preset_version = -1  # store version right after the preset was applied or saved
        self._last_engine_error_s: float | None = None
        self.timings_s: dict[str, float] = {"created": time.monotonic()}  # start-up milestones (time.monotonic())
        self._rerenders: dict[Path, tuple[subprocess.Popen, Path]] = {}
        # Drawn descriptor curves (what presets save): parameter -> {"points": [real units], "playing": bool}.
        # The window's curve lanes mirror this on curves_version, and write it on a stroke or the play switch.
        self.curves: dict[str, dict[str, Any]] = {}
        self.curves_version = 0
        self._preset_curves_version = 0
        # The in-app take player: a child process per playback (the app never initialises PortAudio itself).
        self.take_player = TakePlayer(on_event=self._on_player_event)
        self.player_version = 0  # bumped on every take-player event (the Takes tab redraws its button)
        self.player_path: Path | None = None  # the file the player plays (None when it does not)
        self._player_error_seen = False
        self._player_ops = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cascade-take-player")
        self._ops = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cascade-app-ops")
        self._closed = False
        self.mapper.add_learn_listener(self._on_learned)

    # --- start-up ---------------------------------------------------------------------------------------------

    def start(self) -> Future:
        """Apply the start preset at once; load the model (and play), then open MIDI, on the operations thread.

        Qt-free: the app calls it before Qt is imported (instrument.app_start.start_app_instrument), so the
        first chunk's request is known while the model loads. MIDI comes after the model on the operations thread:
        listing the ports holds the GIL ~0.1 s, which would only slow the load down, and nothing plays before."""
        try:
            self.load_preset_named(self.config.preset)
        except PresetError as error:
            self.post("error", str(error))
        self.load_controller_preset(self.config.midi_map)
        if self.config.announce_first_request is not None and self.config.autoplay:
            from engine.stream import first_chunk_request
            from instrument.session import request_from_snapshot

            try:
                self.config.announce_first_request(first_chunk_request(request_from_snapshot(self.store.snapshot())))
            except Exception:  # noqa: BLE001 - only a head start: the engine computes the chunk itself then
                logger.exception("cannot announce the first chunk's request")
        loaded = self._submit("loading the model", self._load_and_play)
        # Listing MIDI ports holds the GIL ~0.1 s (measured: it delayed the first sound 0.16 -> 0.09 s after
        # the session started), so the ports wait for the first sound.
        self._submit("waiting for the first sound", self._wait_for_first_sound)
        self._submit("checking the takes folder", self._repair_takes)  # after the first sound: it can wait
        if self.config.midi is not None:
            self.open_midi(self.config.midi or None)
        else:
            self.refresh_midi_ports()
        return loaded

    def _load_and_play(self) -> None:
        started_s = time.monotonic()
        try:
            self._load_generator()
        except Exception:
            self.state = "no model"  # the operations thread posts the error to the banner
            raise
        self.timings_s["model_loaded"] = time.monotonic()
        logger.info("model %s loaded in %.2f s", self.generator.model_id, time.monotonic() - started_s)
        self.state = "stopped"
        if self.config.autoplay:
            self._start_session()

    def _load_generator(self) -> None:
        if self.config.generator_factory is not None:
            self.generator = self.config.generator_factory()
        else:
            # No preload (tests, scripts): load here. The first shape is traced before the first sound, not
            # after it as `cascade play` does: traced while playing, it stalled the window (docs/gui.md).
            self.generator = load_live_generator(generator_options(self.config))

    # --- transport --------------------------------------------------------------------------------------------

    @property
    def playing(self) -> bool:
        return self.session is not None

    @property
    def recording(self) -> bool:
        return self.take is not None

    def play(self) -> Future:
        return self._submit("starting playback", self._start_session)

    def stop(self) -> Future:
        return self._submit("stopping playback", self._stop_session)

    def toggle_play(self) -> Future:
        return self.stop() if self.playing else self.play()

    def _start_session(self) -> None:
        if self.session is not None or self.generator is None:
            return
        monitor = MonitorTap(sample_rate=self.generator.sample_rate)
        session = build_session(self.generator, self.store, SessionOptions(
            output=self.config.output, midi_clock=self.clock, held_notes=self.held_notes, prepared_output=self._take_prepared_output(),
            on_output_change=self._on_output_change, monitor=monitor, engine_nice=self.config.engine_nice,
            extra=self.config.session_options))
        session.start()
        self.timings_s["session_started"] = time.monotonic()
        self.monitor = monitor
        self.session = session
        self.state = "playing"
        if session.device is None or session.output_error:
            self.post("warning", NO_DEVICE_MESSAGE + (f" ({session.output_error})" if session.output_error else ""))

    def _wait_for_first_sound(self, timeout_s: float = 1.0) -> None:
        """Block (operations thread) until the session's first sample played, at most `timeout_s`."""
        deadline_s = time.monotonic() + timeout_s
        while self.session is not None and time.monotonic() < deadline_s:
            if self.session.first_sound_played:
                return
            time.sleep(0.01)

    def _take_prepared_output(self) -> Any:
        """The prepared output, once (operations thread); None when there is none or it was taken."""
        factory, self._prepared_output = self._prepared_output, None
        return factory() if factory is not None else None

    def _stop_session(self) -> None:
        self._stop_take()
        session, self.session = self.session, None
        if session is not None:
            session.stop()
        self.state = "stopped" if self.generator is not None else self.state

    def restart_output(self) -> Future:
        def reopen() -> None:
            if self.session is not None:
                if self.session.restart_output():
                    self.post("info", f"audio output: {self.session.output_name}")
                else:
                    self.post("warning", f"cannot reopen the audio output: {self.session.output_error}")
        return self._submit("reopening the audio output", reopen)

    def _on_output_change(self, level: str, words: str) -> None:
        """The session's output went away or came back by itself (its watch thread): say so on the banner."""
        self.post(level, words[:1].upper() + words[1:])

    # --- harmony (the held chord) -------------------------------------------------------------------------------

    @property
    def harmony_available(self) -> bool | None:
        """Whether the loaded model has the harmony control (None: no model loaded yet)."""
        return None if self.generator is None else bool(getattr(self.generator, "harmony", False))

    def harmony_display(self) -> Any:
        """The playing session's HarmonyDisplay (instrument.session.harmony); None when nothing plays or the model
        has no harmony control."""
        session = self.session
        follower = None if session is None else session.harmony
        return None if follower is None else follower.display()

    def _follow_harmony_channel(self, name: str, value: object, source: str) -> None:
        if name == "harmony_channel":  # any thread: the tracker takes its own lock
            self.held_notes.channel = None if int(value) == 0 else int(value) - 1

    # --- status for the meters --------------------------------------------------------------------------------

    def session_status(self) -> Any:
        """The session's status (called by the analysis thread, not the GUI thread); engine errors -> banner."""
        session = self.session
        if session is None:
            return None
        status = session.status()
        error_s = status.engine.last_error_time_s
        if status.engine.last_error and error_s != self._last_engine_error_s:
            self._last_engine_error_s = error_s
            self.post("error", f"engine: {status.engine.last_error}")
        return status

    def requested_descriptors(self) -> dict[str, float | None]:
        """Descriptor targets that are switched on (None where off), for the requested-vs-measured curves."""
        snapshot = self.store.snapshot().values
        return {d.short: (float(snapshot[d.parameter]) if snapshot[f"{d.parameter}_enabled"] >= 0.5 else None)
                for d in DESCRIPTORS}

    # --- shutdown ---------------------------------------------------------------------------------------------

    def shutdown(self, timeout_s: float = 15.0) -> None:
        """Stop recording, playback and MIDI; wait for running operations. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        done = threading.Event()

        def close() -> None:
            try:
                prepared = self._take_prepared_output()
                if prepared is not None:  # never played: the child it started goes too
                    prepared.discard()
                self._stop_session()
                if self.midi_input is not None:
                    self.midi_input.close()
                    self.midi_input = None
            finally:
                done.set()

        self.prompt_settings.stop()
        self._ops.submit(close)
        self._ops.shutdown(wait=False)
        self._player_ops.shutdown(wait=True)
        self.take_player.stop()
        if not done.wait(timeout_s):
            logger.warning("shutdown did not finish within %.0f s", timeout_s)
        for process, output in self._rerenders.values():  # a re-render keeps running on its own: it was asked for
            logger.info("re-render to %s continues in the background (pid %d)", output, process.pid)


def generator_options(config: AppConfig) -> GeneratorOptions:
    """The app's live generator options: its model traced before the first sound (a trace while playing stalls
    the window), not after it as `cascade play` does."""
    return GeneratorOptions(debug_model=config.debug_model, weights=config.weights, threads=config.threads,
                            eager=config.eager, trace_first_inline=True)

"""The app's instrument controller: owns the parameter store, MIDI, the live session, presets and takes, and
runs everything that can block (loading the model, starting/stopping the session, opening ports,
starting/stopping a take) on one operations thread. No Qt: the window calls these methods on user
actions and reads the published state on its display timer, so the GUI thread never waits.

Threads: the GUI thread (calls, reads), the operations thread (one at a time, in order), the MIDI
thread (store writes, learn notifications), the session's own threads. Messages for the error banner
arrive from any of them through a deque (append/popleft are atomic).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instrument.midi import (CcMapping, MidiClock, MidiError, MidiInput, MidiMapper, MidiMappingError,
                             factory_mapping_dir, list_midi_inputs, load_mapping_file, open_midi_input,
                             save_mapping_file)
from instrument.monitor import MonitorTap
from instrument.output import parse_output
from instrument.parameters import ParameterStore
from instrument.presets import (FoundPreset, PresetError, PresetInfo, apply_preset, find_preset, list_presets,
                                load_preset_file, preset_file_name, preset_from_store, save_preset_file,
                                user_preset_dir, validate_curves)
from instrument.take_player import TakePlayer

logger = logging.getLogger(__name__)

NO_DEVICE_MESSAGE = "No audio device: nothing is heard, but Record still saves takes."


def user_data_dir() -> Path:
    """$CASCADE_USER_DIR, else the platform's data folder for cascade (as instrument.presets uses)."""
    import platformdirs

    return Path(os.environ.get("CASCADE_USER_DIR") or platformdirs.user_data_dir("cascade"))


def default_takes_dir() -> Path:
    return user_data_dir() / "takes"


def user_mapping_dir() -> Path:
    return user_data_dir() / "midi"


@dataclass
class AppConfig:
    """How `cascade app` starts. generator_factory replaces model loading (tests pass a debug generator)."""

    preset: str = "default"
    output: str | int = "auto"
    debug_model: bool = False
    weights: str | None = None
    threads: int = 0
    midi: str | None = None  # a port to open at start ("" = the first port), None = none
    midi_map: str = "generic-8-knobs"
    takes_dir: Path | None = None
    autoplay: bool = True
    generator_factory: Callable[[], Any] | None = None
    eager: bool = False  # run the U-Net eagerly instead of the TorchScript-traced one (diagnostics)
    # The engine thread (and the torch workers it starts) runs this much nicer than the GUI thread, so a
    # chunk being generated on both cores cannot keep the display timer waiting for a CPU.
    engine_nice: int = 5
    session_options: dict[str, Any] = field(default_factory=dict)  # extra LiveSession keyword arguments
    # () -> instrument.output_process.PreparedOutput: an output process started while the app loaded; the
    # first session adopts it when it asks for the same output (cli._start_output_prepare).
    prepared_output: Callable[[], Any] | None = None
    # (engine.generate.GenerationRequest) -> None: told the first chunk's request once the start preset is
    # applied (before Qt is imported), so the preload computes that chunk ahead (instrument.preload.ModelPreload).
    announce_first_request: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class Message:
    level: str  # "error", "warning", "info"
    text: str
    time_s: float


@dataclass(frozen=True)
class TakeEntry:
    sidecar: Path
    audio: Path
    seconds: float
    state: str
    rerenders: tuple[Path, ...]


class Instrument:
    """Everything the window drives, minus widgets. States: loading -> stopped <-> playing (+ recording)."""

    def __init__(self, config: AppConfig | None = None, store: ParameterStore | None = None) -> None:
        self.config = config or AppConfig()
        self._prepared_output = self.config.prepared_output  # taken by the first session (operations thread)
        self.store = store or ParameterStore()
        self.mapper = MidiMapper(self.store)
        self.clock = MidiClock(self.store)
        self.midi_input: MidiInput | None = None
        self.midi_ports: list[str] = []
        self.midi_ports_version = 0
        self.mapping_version = 0  # bumped when mappings change (learn, controller preset, removal)
        self.controller_preset = ""
        self.generator: Any = None
        self.session: Any = None  # instrument.live.LiveSession while playing
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

    # --- messages ---------------------------------------------------------------------------------------------

    def post(self, level: str, text: str) -> None:
        """Queue a banner message (any thread)."""
        (logger.warning if level != "info" else logger.info)("%s", text)
        self.messages.append(Message(level, text, time.monotonic()))

    def _on_output_change(self, level: str, words: str) -> None:
        """The session's output went away or came back by itself (its watch thread): say so on the banner."""
        self.post(level, words[:1].upper() + words[1:])

    def _submit(self, what: str, function: Callable[[], Any]) -> Future:
        def run() -> Any:
            self.busy = True
            try:
                return function()
            except Exception as error:  # noqa: BLE001 - reported on the banner, the app keeps running
                logger.exception("%s failed", what)
                self.post("error", f"{what} failed: {error}")
                return None
            finally:
                self.busy = False

        if self._closed:
            future: Future = Future()
            future.set_result(None)
            return future
        return self._ops.submit(run)

    # --- start-up ---------------------------------------------------------------------------------------------

    def start(self) -> Future:
        """Apply the start preset at once; load the model (and play), then open MIDI, on the operations thread.

        Qt-free: the app calls it before Qt is imported (instrument.cli.start_app_instrument), so the first
        chunk's request is known while the model loads. MIDI comes after the model on the operations thread:
        listing the ports holds the GIL ~0.1 s, which would only slow the load down, and nothing plays before."""
        try:
            self.load_preset_named(self.config.preset)
        except PresetError as error:
            self.post("error", str(error))
        self.load_controller_preset(self.config.midi_map)
        if self.config.announce_first_request is not None and self.config.autoplay:
            from engine.stream import first_chunk_request
            from instrument.live import request_from_snapshot

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
            from argparse import Namespace

            from instrument.cli import _load_play_generator

            # No preload (tests, scripts): load here. The first shape is traced before the first sound, not
            # after it as `cascade play` does: traced while playing, it stalled the window (docs/gui.md).
            self.generator = _load_play_generator(Namespace(debug_model=self.config.debug_model, eager=self.config.eager,
                                                            weights=self.config.weights, threads=self.config.threads,
                                                            trace_first_inline=True))

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
        from instrument.live import LiveSession

        session = LiveSession(self.generator, self.store, output=parse_output(self.config.output),
                              midi_clock=self.clock, prepared_output=self._take_prepared_output(),
                              on_output_change=self._on_output_change, **self.config.session_options)
        monitor = MonitorTap(sample_rate=self.generator.sample_rate)
        session.pump.monitor = monitor
        session.engine.thread_nice = max(session.engine.thread_nice, self.config.engine_nice)
        session.engine_nice_fallback = max(session.engine_nice_fallback, self.config.engine_nice)
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

    # --- takes ------------------------------------------------------------------------------------------------

    def toggle_record(self) -> Future:
        return self._submit("recording", self._stop_take if self.take is not None else self._start_take)

    def _start_take(self) -> None:
        if self.take is not None:
            return
        if self.session is None:  # Record while stopped: start playing, then record
            self._start_session()
            if self.session is None:
                return
        self.take = self.session.start_recording(self.takes_dir, on_stopped=self._on_take_stopped)
        self.takes_version += 1

    def _on_take_stopped(self, status: Any) -> None:
        """The take stopped by itself (a full disk), on its writer thread: the banner says so at once; the
        operations thread lets the take go, so Record records again (once there is room)."""
        from instrument.takes import SAMPLE_RATE

        self.post("error", f"Recording stopped: {status.error}. The take is kept up to "
                           f"{status.frames_written / SAMPLE_RATE:.1f} s ({self.takes_dir}); still playing. "
                           "Free some space, then Record again.")

        def let_go() -> None:
            if self.take is not None and self.take.status is status:  # not a take started since
                self._stop_take(told=True)

        self._submit("stopping the take", let_go)

    def _repair_takes(self) -> None:
        """Repair the takes a crash left in the takes folder (instrument.take_folder); one banner line."""
        from instrument.take_folder import repair_folder, repair_summary

        results = repair_folder(self.takes_dir)
        if results:
            self.takes_version += 1
            self.post("warning" if any(r.error for r in results) else "info", repair_summary(results, self.takes_dir))

    def _stop_take(self, told: bool = False) -> None:
        """told: the banner already said why the take stopped (_on_take_stopped)."""
        if self.take is None or self.session is None:
            self.take = None
            return
        take, self.take = self.take, None
        status = self.session.stop_recording()
        self.takes_version += 1
        if told:
            return
        if status is not None and status.error:
            self.post("error", f"take {take.audio_path.name}: {status.error}")
        elif status is not None and status.blocks_dropped:
            self.post("warning", f"take {take.audio_path.name}: {status.blocks_dropped} blocks dropped (disk slow)")
        else:
            self.post("info", f"take saved: {take.audio_path}")

    def list_takes(self) -> list[TakeEntry]:
        """Takes in the takes folder, newest first (reads the small JSON sidecars only)."""
        from instrument.take_folder import audio_path_of, is_being_recorded, read_sidecar, sample_rate_of

        entries: list[TakeEntry] = []
        if not self.takes_dir.is_dir():
            return entries
        for sidecar in sorted(self.takes_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
            data = read_sidecar(sidecar)
            if data is None:  # another JSON file, unreadable or half-written
                continue
            if data.get("state") == "recording" and sidecar != getattr(self.take, "sidecar_path", None):
                if not is_being_recorded(sidecar, data):  # left by a crash since the start's repair
                    data["state"] = "crashed"
            rerenders = tuple(sorted(sidecar.parent.glob(f"{sidecar.stem}-*steps.flac")))
            entries.append(TakeEntry(sidecar, audio_path_of(sidecar, data),
                                     float(data.get("frames", 0)) / sample_rate_of(data),
                                     str(data.get("state", "?")), rerenders))
        return entries

    def rerender_command(self, sidecar: Path, steps: int, output: Path) -> list[str]:
        """`cascade rerender` on the model that is playing: the debug model when that is what runs (tests,
        --debug-model), the --weights file when one was given, else the shipped model."""
        command = [sys.executable, "-m", "instrument.cli", "rerender", str(sidecar), "--steps", str(steps), "-o",
                   str(output), "--no-progress", "--threads", "1"]
        if self.config.debug_model or getattr(self.generator, "is_debug", False):
            command.append("--debug-model")
        elif self.config.weights:
            command += ["--weights", str(self.config.weights)]
        return command

    def rerender_take(self, sidecar: Path, steps: int = 32) -> Path:
        """Re-render a take at more steps in a separate process (the live engine owns this process's model;
        a child keeps the GUI and the engine free). Returns the output path; poll_rerenders() reports."""
        output = sidecar.with_name(f"{sidecar.stem}-{steps}steps.flac")
        if sidecar in self._rerenders:
            raise RuntimeError(f"{sidecar.name} is already being re-rendered")
        command = self.rerender_command(sidecar, steps, output)
        import shutil

        if shutil.which("nice"):  # below the live engine: a re-render must not cause dropouts
            command = ["nice", "-n", "10", *command]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._rerenders[sidecar] = (process, output)
        return output

    @property
    def rerendering(self) -> tuple[Path, ...]:
        return tuple(self._rerenders)

    def poll_rerenders(self) -> list[tuple[Path, int]]:
        """Finished re-renders since the last call: (output, return code); posts a banner message each."""
        finished: list[tuple[Path, int]] = []
        for sidecar, (process, output) in list(self._rerenders.items()):
            code = process.poll()
            if code is None:
                continue
            del self._rerenders[sidecar]
            finished.append((output, code))
            if code == 0:
                self.post("info", f"re-rendered: {output.name}")
            else:
                tail = (process.stderr.read() if process.stderr else "").strip().splitlines()[-1:] or ["?"]
                self.post("error", f"re-render of {sidecar.name} failed: {tail[0]}")
            self.takes_version += 1
        return finished

    # --- the take player ---------------------------------------------------------------------------------------

    @property
    def take_playing(self) -> bool:
        """The take player's child runs (opening, playing or stopping)."""
        return self.player_path is not None

    def play_take(self, audio: Path) -> Future:
        """Play a take's audio in a child process (python -m instrument.take_player) on the output device
        (JACK when a server runs); errors (missing or broken file, no device) come back as banner messages."""
        output = self.config.output
        device = "auto" if output in ("auto", "none", None) else parse_output(str(output))

        def start() -> None:
            self.take_player.stop()  # the previous playback's last events arrive before the new path is set
            self._player_error_seen = False
            self.player_path = Path(audio)
            self.player_version += 1
            self.take_player.start(audio, device)
        return self._submit_player("playing the take", start)

    def stop_take_playback(self) -> Future:
        return self._submit_player("stopping the take", self.take_player.stop)

    def toggle_take_playback(self, audio: Path) -> Future:
        return self.stop_take_playback() if self.take_playing else self.play_take(audio)

    def _submit_player(self, what: str, function: Callable[[], Any]) -> Future:
        # Its own thread: the operations thread may be loading the model or starting the session for seconds.
        def run() -> Any:
            try:
                return function()
            except Exception as error:  # noqa: BLE001 - reported on the banner, the app keeps running
                logger.exception("%s failed", what)
                self.post("error", f"{what} failed: {error}")
                self.player_path = None
                self.player_version += 1
                return None

        if self._closed:
            future: Future = Future()
            future.set_result(None)
            return future
        return self._player_ops.submit(run)

    def _on_player_event(self, event: dict[str, Any]) -> None:  # the player's reader thread
        kind = event.get("event")
        name = self.player_path.name if self.player_path is not None else "the take"
        if kind == "error":
            self._player_error_seen = True
            self.post("error", f"Take not played: {event.get('message')}")
        elif kind == "exited":
            code = event.get("code")
            if code not in (0, None) and not self._player_error_seen and code != -15:  # -15: our own SIGTERM
                tail = (str(event.get("stderr") or "").strip().splitlines() or [f"exit code {code}"])[-1]
                self.post("error", f"Take player for {name} failed: {tail}")
            self.player_path = None
        self.player_version += 1

    # --- presets ----------------------------------------------------------------------------------------------

    def presets(self) -> list[PresetInfo]:
        return list_presets()

    def load_preset_named(self, name: str) -> None:
        """A preset by name (a user preset replaces a factory one of the same name; "factory:NAME" / "user:NAME"
        pick one) or a .json path; PresetError if none, with a broken file's own error (file, line)."""
        self._apply_found(find_preset(name))

    def load_preset(self, info: PresetInfo) -> None:
        """Apply a preset, all or nothing: a broken file raises PresetError and leaves the sound as it was."""
        preset, warnings = load_preset_file(info.path)  # a broken curve raises here: nothing changed yet
        self._apply_found(FoundPreset(info, preset, tuple(warnings)))

    def _apply_found(self, found: FoundPreset) -> None:
        preset, info = found.preset, found.info
        apply_preset(self.store, preset)
        self._set_preset_curves(preset)
        text = found.banner_text()  # every problem in one message: the banner shows one at a time
        if text is not None:
            self.post("warning" if found.warnings else "info", text)
        self.current_preset = PresetInfo(preset["name"], info.path, info.is_factory, preset["description"])
        self.current_preset_data = preset
        self.preset_version = self.store.version

    @property
    def preset_modified(self) -> bool:
        """Changed since loaded or saved: a drawn curve, or a parameter changed by anything but a playing curve
        (the curve is what the preset keeps, so its writes are the preset playing, not a change)."""
        if self.current_preset is None:
            return False
        if self.curves_version != self._preset_curves_version:
            return True
        if self.store.version == self.preset_version:
            return False
        changes = self.store.changes_since(self.preset_version)
        if not changes or changes[0].version > self.preset_version + 1:  # the history no longer reaches back
            return True
        return any(change.source != "curve" for change in changes)

    def revert_preset(self) -> None:
        if self.current_preset_data is None:
            raise PresetError("no preset loaded to revert to")
        apply_preset(self.store, self.current_preset_data)
        self._set_preset_curves(self.current_preset_data)
        self.preset_version = self.store.version

    def _set_preset_curves(self, preset: dict) -> None:
        """A preset is a whole sound: its curves replace the drawn ones (none drawn when it has none)."""
        self.curves = {name: {"points": list(curve["points"]), "playing": bool(curve["playing"])}
                       for name, curve in preset.get("curves", {}).items()}
        self.curves_version += 1
        self._preset_curves_version = self.curves_version

    def set_curve(self, name: str, points: list[float] | None = None, playing: bool | None = None) -> None:
        """A drawn curve (real units, validated and clamped as a preset's) or its play switch changed (GUI
        thread). Raises PresetError for a curve a preset could not hold; nothing changes then."""
        current = self.curves.get(name)
        curve = {"points": list(points) if points is not None else (current["points"] if current else None),
                 "playing": bool(playing) if playing is not None else bool(current and current["playing"])}
        if curve["points"] is None:  # the play switch of a lane never drawn: nothing a preset needs to keep
            return
        clean, _warnings = validate_curves({name: curve}, "<drawn curve>")
        if self.curves.get(name) == clean[name]:
            return
        self.curves = {**self.curves, name: clean[name]}
        self.curves_version += 1

    def save_preset(self) -> Path:
        """Overwrite the current user preset; a factory preset is saved as a user copy of the same name."""
        if self.current_preset is None:
            raise PresetError("no preset loaded: use Save As")
        if self.current_preset.is_factory:
            return self.save_preset_as(self.current_preset.name)
        return self._save(self.current_preset.path, self.current_preset.name, self.current_preset.description)

    def save_preset_as(self, name: str, description: str = "") -> Path:
        name = name.strip()
        if not name:
            raise PresetError("a preset needs a name")
        return self._save(user_preset_dir() / preset_file_name(name), name, description)

    def _save(self, path: Path, name: str, description: str) -> Path:
        preset = preset_from_store(self.store, name, description, curves=self.curves)
        save_preset_file(path, preset)
        self.current_preset = PresetInfo(preset["name"], path, False, preset["description"])
        self.current_preset_data = preset
        self.preset_version = self.store.version
        self._preset_curves_version = self.curves_version
        return path

    # --- MIDI -------------------------------------------------------------------------------------------------

    def refresh_midi_ports(self) -> Future:
        def scan() -> None:
            self.midi_ports = list_midi_inputs()
            self.midi_ports_version += 1
        return self._submit("listing MIDI inputs", scan)

    def open_midi(self, port: str | int | None) -> Future:
        """Open an input port (None: the first there is; "" or "none" closes the current one)."""
        def swap() -> None:
            old, self.midi_input = self.midi_input, None
            if old is not None:
                old.close()
            if port in ("", "none"):
                return
            try:
                self.midi_input = open_midi_input(port, mapper=self.mapper, clock=self.clock)
            except MidiError as error:
                self.post("error", str(error))
            self.midi_ports = list_midi_inputs()
            self.midi_ports_version += 1
        return self._submit("opening the MIDI input", swap)

    @property
    def midi_port_name(self) -> str | None:
        return None if self.midi_input is None else self.midi_input.port_name

    def controller_presets(self) -> list[tuple[str, Path]]:
        """(name, path) of factory then user controller mappings."""
        found = [(p.stem, p) for p in sorted(factory_mapping_dir().glob("*.json"))]
        user = user_mapping_dir()
        if user.is_dir():
            found += [(f"{p.stem} (user)", p) for p in sorted(user.glob("*.json"))]
        return found

    def load_controller_preset(self, name: str) -> bool:
        """Replace the CC mappings with a controller preset (name from controller_presets(), a stem, or a path)."""
        path = next((p for n, p in self.controller_presets() if name in (n, p.stem)), Path(name))
        try:
            self.mapper.load_mappings(load_mapping_file(path), source=str(path))
        except MidiMappingError as error:
            self.post("error", str(error))
            return False
        self.controller_preset = name
        self.mapping_version += 1
        return True

    def save_controller_preset(self, name: str) -> Path:
        path = user_mapping_dir() / preset_file_name(name)
        save_mapping_file(path, self.mapper.mappings_to_json(name=name))
        self.controller_preset = f"{path.stem} (user)"
        return path

    def arm_learn(self, parameter: str) -> None:
        self.mapper.arm_learn(parameter)
        self.mapping_version += 1

    def cancel_learn(self) -> None:
        self.mapper.cancel_learn()
        self.mapping_version += 1

    def forget_mappings(self, parameter: str) -> int:
        removed = self.mapper.remove_mappings(parameter=parameter)
        self.mapping_version += 1
        return removed

    def remove_mapping(self, mapping: CcMapping) -> None:
        self.mapper.remove_mappings(parameter=mapping.parameter, control=mapping.control)
        self.mapping_version += 1

    def _on_learned(self, mapping: CcMapping) -> None:  # MIDI thread
        channel = "any channel" if mapping.channel is None else f"channel {mapping.channel + 1}"
        self.post("info", f"MIDI learn: CC {mapping.control} ({channel}) -> {mapping.parameter}")
        self.mapping_version += 1

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
        names = {"loudness": "loudness_db", "brightness": "brightness_hz", "noisiness": "noisiness",
                 "density": "density"}
        return {key: (float(snapshot[name]) if snapshot[f"{name}_enabled"] >= 0.5 else None)
                for key, name in names.items()}

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

        self._ops.submit(close)
        self._ops.shutdown(wait=False)
        self._player_ops.shutdown(wait=True)
        self.take_player.stop()
        if not done.wait(timeout_s):
            logger.warning("shutdown did not finish within %.0f s", timeout_s)
        for process, output in self._rerenders.values():  # a re-render keeps running on its own: it was asked for
            logger.info("re-render to %s continues in the background (pid %d)", output, process.pid)

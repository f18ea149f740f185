"""`cascade play`: the instrument headless (engine, effects, output, MIDI, takes) until Ctrl-C or --seconds, a
status line every --status-every seconds, and a JSON summary at the end. The session is built as the app builds
it (instrument.live_setup)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.read_words import DEFAULT_READ_WORDS, READ_WORDS_MODES, prompt_reader
from engine.vocabulary import SAMPLE_RATE
from instrument.arguments import SECONDS_PER_WEEK, number_in, thread_count
from instrument.live_setup import GeneratorOptions, SessionOptions, build_session, load_live_generator

PRESET_HELP = ("preset name (a user preset replaces a factory one of the same name; 'factory:NAME' or "
               "'user:NAME' picks one) or a .json file")


class _Refused(Exception):
    """A set-up step refused to go on: the line to print on stderr before exiting with status 2."""


@dataclass
class _Playing:
    """What `cascade play` set up before its session starts."""

    store: Any  # instrument.parameters.ParameterStore, the preset applied
    curves: dict[str, Any]  # the preset's drawn curves that play (instrument.curves.start_preset_curves)
    generator: Any  # engine.generate.Generator
    record_dir: Path | None
    midi_input: Any = None  # instrument.midi.MidiInput when --midi opened one
    clock: Any = None  # instrument.midi.MidiClock with --midi
    prompt_settings: Any = None  # instrument.session.prompt_settings.PromptSettingsFollower, started
    words: Any = None  # engine.read_words.PromptReader: how the prompts' words are read (--read-words)


def _cmd_play(args: argparse.Namespace) -> int:
    started_s = time.monotonic()
    if not args.headless:
        print("playing headless (Ctrl-C stops); `cascade app` opens the desktop app", file=sys.stderr)
    try:
        playing = _set_up(args)
    except _Refused as refused:
        print(refused, file=sys.stderr)
        return 2
    try:
        session = build_session(playing.generator, playing.store, SessionOptions(
            output=args.output if args.output is not None else "auto", midi_clock=playing.clock,
            on_output_change=lambda _level, words: print(f"output: {words}", file=sys.stderr)))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    reopen = threading.Event()  # SIGUSR1: reopen the audio output (after a lost JACK server, say)
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, lambda *_: reopen.set())
    session.start()
    take = None
    try:
        if playing.record_dir is not None:
            take = _start_recording(session, playing.record_dir)
            if take is None:
                return 2
        print(f"playing on {session.output_name}; model {playing.generator.model_id} on {playing.generator.device}"
              + (f"; curves: {', '.join(playing.curves)}" if playing.curves else "")
              + (f"; recording {take.audio_path}" if take else ""), file=sys.stderr)
        for slot, text in enumerate(playing.store.prompt_texts()):  # what each prompt's words say, as the app shows
            if text.strip():
                print(f"prompt {slot + 1} reads: {playing.words(text).describe()}", file=sys.stderr)
        _play_until_stopped(args, session, playing, stop, reopen)
    finally:
        signal.signal(signal.SIGINT, previous)
        status = session.status()
        session.stop()
        if playing.midi_input is not None:
            playing.midi_input.close()
    print(json.dumps(_summary(status, session, take, started_s), indent=2, default=str))
    return 3 if take is not None and take.status.error else 0


def _set_up(args: argparse.Namespace) -> _Playing:
    """The record folder checked, the preset applied, the model loaded, MIDI opened: in this order, so that what
    fails fast fails before the model loads. _Refused says what failed."""
    from instrument.curves import start_preset_curves
    from instrument.parameters import ParameterStore
    from instrument.presets import PresetError, apply_preset
    from instrument.session.prompt_settings import PromptSettingsFollower

    record_dir = None
    if args.record:
        try:  # before anything starts: an unwritable folder is one clear line, not a crash mid-session
            record_dir = _prepare_record_folder(Path(args.record))
        except OSError as error:
            raise _Refused(f"error: {error}") from error
    store = ParameterStore()
    try:
        preset = _find_preset(args.preset)
        apply_preset(store, preset)
    except PresetError as error:
        raise _Refused(f"error: {error}") from error
    curves = start_preset_curves(preset.get("curves", {}), store)  # the preset's drawn curves play as in the app
    try:
        generator = load_live_generator(GeneratorOptions(debug_model=args.debug_model, weights=args.weights,
                                                         threads=args.threads, eager=args.eager))
    except Exception as error:  # noqa: BLE001 - missing or broken weights: a clear message, not a trace
        raise _Refused(f"error: {error}") from error
    playing = _Playing(store, curves, generator, record_dir)
    if args.midi is not None:
        playing.midi_input, playing.clock = _open_midi(args, store)
    # MIDI morphs between the preset's prompts: the tempo, key and scale knobs follow their words (as in the app)
    playing.words = prompt_reader(args.read_words, encoder=generator.prompt_encoder)
    playing.prompt_settings = PromptSettingsFollower(
        store, tempo_locked=lambda: playing.clock is not None and playing.clock.running, reader=playing.words)
    playing.prompt_settings.start()
    return playing


def _open_midi(args: argparse.Namespace, store: Any) -> tuple[Any, Any]:
    """--midi's input port with --midi-map's mappings, and the MIDI clock (--midi-latency-ms earlier)."""
    from instrument.midi import (MidiClock, MidiError, MidiMapper, MidiMappingError, factory_mapping_dir,
                                 load_mapping_file, open_midi_input)

    mapper = MidiMapper(store)
    try:
        clock = MidiClock(store, latency_offset_s=args.midi_latency_ms / 1000.0)
    except ValueError as error:
        raise _Refused(f"error: --midi-latency-ms: {error}") from error
    mapping_path = Path(args.midi_map) if args.midi_map and Path(args.midi_map).exists() else (
        factory_mapping_dir() / f"{args.midi_map or 'generic-8-knobs'}.json")
    try:
        mapper.load_mappings(load_mapping_file(mapping_path), source=str(mapping_path))
        midi_input = open_midi_input(int(args.midi) if args.midi.isdigit() else (args.midi or None),
                                     mapper=mapper, clock=clock)
    except (MidiError, MidiMappingError) as error:
        raise _Refused(f"error: {error}") from error
    print(f"MIDI: {midi_input.port_name} ({mapping_path.stem})", file=sys.stderr)
    return midi_input, clock


def _start_recording(session: Any, record_dir: Path) -> Any:
    """The take recording into record_dir, or None after saying why not (the folder changed since the check)."""
    try:
        return session.start_recording(record_dir, on_stopped=lambda status: _tell_take_stopped(status, record_dir))
    except OSError as error:  # the caller's finally stops what started
        print(f"error: {error}", file=sys.stderr)
        return None


def _play_until_stopped(args: argparse.Namespace, session: Any, playing: _Playing, stop: threading.Event,
                        reopen: threading.Event) -> None:
    """Play until Ctrl-C (stop) or --seconds: the preset's curves move their knobs, SIGUSR1 (reopen) reopens the
    output, a status line every --status-every seconds unless --quiet."""
    from instrument.curves import CurvePlayer

    curves, curve_player = playing.curves, CurvePlayer(playing.store)
    deadline_s = None if args.seconds is None else time.monotonic() + args.seconds
    # --quiet: no status is ever due (a due time left in the past made every wait below 0: a busy loop that
    # took most of a core from the engine and caused underruns).
    next_status_s = float("inf") if args.quiet else time.monotonic() + args.status_every
    while not stop.is_set() and (deadline_s is None or time.monotonic() < deadline_s):
        stop.wait(max(0.01, min(0.1 if curves else 0.25, next_status_s - time.monotonic(),
                                (deadline_s or 1e18) - time.monotonic())))
        curve_player.tick(curves, time.monotonic())
        if reopen.is_set() and not stop.is_set():
            reopen.clear()
            reopened = session.restart_output()
            print(f"output: {session.output_name}" if reopened else
                  f"output: cannot reopen ({session.output_error}); still on the software clock", file=sys.stderr)
        if not args.quiet and not stop.is_set() and time.monotonic() >= next_status_s:
            next_status_s = time.monotonic() + args.status_every
            print(session.status().line(), file=sys.stderr)


def _summary(status: Any, session: Any, take: Any, started_s: float) -> dict[str, Any]:
    """The JSON printed at the end: the session's status, launch-to-first-sound, and what the take's files hold
    (not what was sent to it)."""
    from instrument.session import status_json

    summary = status_json(status)
    summary["seconds_from_launch_to_first_sound"] = (None if status.start_to_first_sound_seconds is None else
                                                     round(session.started_s - started_s
                                                           + status.start_to_first_sound_seconds, 3))
    if take is not None:
        summary["take"] = str(take.sidecar_path)
        summary.update(take_state=take.status.state, take_frames=take.status.frames_written,
                       take_seconds=round(take.seconds, 3), take_error=take.status.error)
    return summary


def _find_preset(name: str) -> dict:
    """The preset `--preset` names (instrument.presets.find_preset), its problems and notes on stderr, one a line:
    what a file gets wrong is ignored or clamped and the rest plays, so the player must be told what."""
    from instrument.presets import find_preset

    found = find_preset(name)
    for warning in found.warnings:
        print(f"warning: preset: {warning}", file=sys.stderr)
    for note in found.notes:
        print(f"note: {note}", file=sys.stderr)
    return found.preset


def _prepare_record_folder(folder: Path) -> Path:
    """`play --record`: check that takes can be written to `folder` (RecordFolderError says why not) and repair
    the takes a crash left there (one line on stderr when there were any)."""
    from instrument.take_folder import repair_folder, repair_summary
    from instrument.takes import check_record_folder

    folder = check_record_folder(folder)
    repaired = repair_folder(folder)
    if repaired:
        print(repair_summary(repaired, folder), file=sys.stderr)
    return folder


def _tell_take_stopped(status: Any, folder: Path) -> None:
    """The take stopped by itself (on its writer thread): say so at once, whatever --quiet says."""
    print(f"RECORDING STOPPED: {status.error}; the take keeps {status.frames_written / SAMPLE_RATE:.2f} s, finalised "
          f"({status.state}) in {folder}; still playing. Free some space or record elsewhere (--record DIR).",
          file=sys.stderr, flush=True)


def add_play(commands: argparse._SubParsersAction) -> None:
    play = commands.add_parser("play", help="play the instrument (headless): engine, effects, output, MIDI, takes",
                               epilog="If the audio output is lost (a JACK server stops), playing and recording go "
                               "on silently and the sound comes back by itself when the server runs again (checked "
                               "every 1.5 s); `kill -USR1 PID` tries at once.")
    play.add_argument("--headless", action="store_true", help="no window (the default for `play`; `cascade app` opens the window)")
    play.add_argument("--preset", default="default", help=PRESET_HELP)
    play.add_argument("--midi", nargs="?", const="", default=None,
                      help="MIDI input port (name, substring or index; no value: the first port)")
    play.add_argument("--midi-map", default=None, help="controller mapping: a factory name (generic-8-knobs, "
                      "korg-nanokontrol2, akai-mpk-mini) or a .json file")
    play.add_argument("--record", default=None, metavar="DIR", help="record a take (FLAC + automation log) here")
    play.add_argument("--seconds", type=number_in(0.0, SECONDS_PER_WEEK, above_minimum=True), default=None,
                      help="stop after this long (default: Ctrl-C)")
    play.add_argument("--output", default=None, help="audio device index or name; 'none': no device "
                      "(a software clock; recording still works). Default: JACK if a server runs, else the default")
    play.add_argument("--debug-model", action="store_true", help="random debug-size weights (no trained model)")
    play.add_argument("--weights", default=None, help="diffusion .safetensors (default: shipped)")
    play.add_argument("--threads", type=thread_count, default=0,
                      help="torch CPU threads (0: one fewer than the CPUs: a core is left to the audio)")
    play.add_argument("--eager", action="store_true", help="run the U-Net eagerly (no TorchScript)")
    play.add_argument("--read-words", choices=READ_WORDS_MODES, default=DEFAULT_READ_WORDS,
                      help="what reads tempo/key/scale from the prompts' words as MIDI morphs them (as in `cascade "
                           "render`): both (the default), rules, model, off")
    play.add_argument("--midi-latency-ms", type=number_in(-500.0, 500.0, unit="ms"), default=0.0,
                      help="MIDI clock transport delay to compensate (JACK, 512-frame period: ~6.5); bar-line "
                           "joins move this much earlier")
    play.add_argument("--status-every", type=number_in(0.1, 3600.0, unit="s"), default=1.0,
                      help="seconds between status lines (0.1..3600)")
    play.add_argument("--quiet", action="store_true", help="no status lines")
    play.set_defaults(func=_cmd_play)

"""The `cascade` command line. Heavy imports (torch, music21, essentia) happen inside the subcommands, so
`cascade --help` and the status screen answer at once."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.limits import (CFG_SCALE_RANGE, NEGATIVE_SCALE_RANGE, PROMPT_WEIGHT_MAX, RENDER_SECONDS_MAX, STEPS_RANGE,
                           TEMPO_BPM_RANGE, VARIATION_RANGE)
from instrument.arguments import (SECONDS_PER_WEEK, integer_in, knob_range, number_in, seed, thread_count,
                                  worker_count)

STATUS_TEXT = """Cascade {version}: a real-time music instrument driven by a cascaded latent diffusion model.

What works today:
  cascade play --headless [--preset NAME] [--midi PORT] [--record DIR]
                                                       play live (JACK when a server runs), MIDI knobs steer it
  cascade render "PROMPT" [PROMPT2 ...] --seconds 30 -o OUT.flac
                                                       render offline (prompt blends, --tempo, --key, --scale,
                                                       --loudness, --brightness, --cfg, --input for audio-to-audio)
  cascade rerender TAKE.json --steps 32 -o OUT.flac    re-render a recorded take at more steps
  cascade takes list DIR | cascade takes repair DIR    list takes; repair those a crash left
  cascade devices                                      list audio outputs and MIDI inputs
  cascade reconstruct IN -o OUT                        round-trip audio through the shipped autoencoder
  cascade dataset build --hours H --out DIR --seed S   build the training set (MIDI -> FluidSynth -> FLAC)
  cascade dataset check DIR                            check it against an independent estimator (essentia)
  cascade train autoencoder --dataset DIR --out RUN    train (or resume training) the autoencoder
  cascade train diffusion --cache FILE --out RUN       train (or resume training) the diffusion model
  cascade doctor                                       check the system packages the instrument needs

The desktop app: `cascade` with no arguments (or `cascade app [--preset NAME] [--output none] [--midi PORT]`)
opens it on the shipped model and the default preset; `cascade status` prints this screen.
The shipped diffusion model was trained for 96 minutes on a 2-core CPU: it follows tempo (as a control),
loudness, brightness and the prompt's style, not yet key or scale, and its sound is rough; see
docs/diffusion.md for what it does and does not do yet.
"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cascade-instrument")
    except PackageNotFoundError:
        return "(not installed)"


def _cmd_status(_: argparse.Namespace) -> int:
    print(STATUS_TEXT.format(version=_version()))
    return 0


def _cmd_app(args: argparse.Namespace) -> int:
    """The desktop app. Qt is imported here only, so every headless command stays Qt-free."""
    from instrument.display import HEADLESS_HINT, display_problem

    problem = display_problem()  # before anything loads: Qt would abort the process seconds later
    if problem is not None:
        print(f"cascade: cannot open the window: {problem}; {HEADLESS_HINT}", file=sys.stderr)
        return 2
    instrument, preload = start_app_instrument(args, {
        "preset": getattr(args, "preset", "default"), "output": getattr(args, "output", None) or "auto",
        "debug_model": getattr(args, "debug_model", False), "weights": getattr(args, "weights", None),
        "threads": getattr(args, "threads", 0), "midi": getattr(args, "midi", None),
        "midi_map": getattr(args, "midi_map", None) or "generic-8-knobs",
        "takes_dir": Path(args.takes) if getattr(args, "takes", None) else None,
        "eager": getattr(args, "eager", False)})
    try:
        from gui.app import run_app
    except ImportError as error:  # PySide6/pyqtgraph or their system libraries missing
        instrument.shutdown()
        print(f"error: cannot start the desktop app: {error}. `cascade doctor` checks the packages; "
              "`cascade play --headless` plays without a window.", file=sys.stderr)
        return 2
    preload.imports_done()
    screenshot = getattr(args, "screenshot", None)
    layout_report = getattr(args, "layout_report", None)
    return run_app(instrument, quit_after_seconds=getattr(args, "quit_after", None),
                   screenshot=Path(screenshot) if screenshot else None,
                   screenshot_after_seconds=getattr(args, "screenshot_after", 8.0),
                   layout_report_path=Path(layout_report) if layout_report else None)


# How long the app's main thread waits for the model's load and warm-up before importing Qt anyway (a slow disk
# or a big model must not keep the window away for long; the warm-up then finishes beside Qt's import).
APP_WARM_UP_WAIT_S = 3.0


def start_app_instrument(args: argparse.Namespace, config_fields: dict[str, Any], *, prepare_output: bool = True,
                         announce_first_request: bool = True) -> tuple[Any, Any]:
    """The desktop app's start before Qt is imported, in the order instrument/preload.py explains: the output
    process spawned, torch imported, the model loading and warming up on the preload thread, the instrument
    (gui.controller, Qt-free) started on the start preset (which announces the first chunk, then waits for
    the model on its operations thread and plays), and the warm-up waited for (up to APP_WARM_UP_WAIT_S).

    config_fields: gui.controller.AppConfig's fields but the model's and the output's hand-overs.
    prepare_output=False: the session spawns its own output process (benchmarks compare). Returns
    (gui.controller.Instrument, instrument.preload.ModelPreload); the caller imports Qt next, then calls
    the preload's `imports_done()`."""
    output = config_fields.get("output", "auto")
    prepared_output = _start_output_prepare(output) if prepare_output else None
    preload = _start_app_preload(args, announce_first_request)
    from gui.controller import AppConfig, Instrument

    config = AppConfig(**config_fields, generator_factory=preload.result, prepared_output=prepared_output,
                       announce_first_request=preload.set_first_request if announce_first_request else None)
    instrument = Instrument(config)
    instrument.start()
    preload.wait_warmed_up(APP_WARM_UP_WAIT_S)
    return instrument, preload


def _cmd_doctor(_: argparse.Namespace) -> int:
    """Report each system dependency as ok/missing with the package that provides it."""
    import ctypes.util
    import shutil

    checks: list[tuple[str, bool, str]] = []
    try:
        from engine.dataset.render import find_soundfont

        checks.append(("GM soundfont", True, str(find_soundfont())))
    except Exception as error:  # noqa: BLE001 - reported, not raised
        checks.append(("GM soundfont", False, str(error)))
    checks.append(("libfluidsynth", ctypes.util.find_library("fluidsynth") is not None,
                   "apt-get install libfluidsynth3"))
    checks.append(("PortAudio", ctypes.util.find_library("portaudio") is not None, "apt-get install libportaudio2"))
    checks.append(("JACK server (jackd)", shutil.which("jackd") is not None, "apt-get install jackd2"))
    for module in ("torch", "numba", "pedalboard", "sounddevice", "rtmidi", "PySide6", "pyqtgraph"):
        try:
            __import__(module)
            checks.append((f"python: {module}", True, "importable"))
        except Exception as error:  # noqa: BLE001
            checks.append((f"python: {module}", False, f"{type(error).__name__}: {error}"))
    from instrument.display import HEADLESS_HINT, display_problem, platform_plugin_problem

    plugin = platform_plugin_problem("xcb")  # Qt's own message would be "Reinstalling the application may fix..."
    checks.append(("Qt xcb platform (the window)", plugin is None, plugin or "loads"))
    width = max(len(name) for name, _, _ in checks)
    for name, ok, detail in checks:
        print(f"{'ok     ' if ok else 'MISSING'} {name.ljust(width)}  {detail}")
    display = display_problem()  # not a missing package: a server has none, and plays headless
    print(f"{'ok     ' if display is None else 'none   '} {'display'.ljust(width)}  "
          f"{'the window can open here' if display is None else f'{display}; {HEADLESS_HINT}'}")
    return 0 if all(ok for _, ok, _ in checks) else 1


def _cmd_dataset_build(args: argparse.Namespace) -> int:
    from engine.dataset.builder import BuildConfig, DatasetConfigError, DiskFullError, build_dataset, summary_dict
    from engine.dataset.render import SoundfontMissingError

    config = BuildConfig(out_dir=Path(args.out), hours=args.hours, seed=args.seed,
                         workers=args.workers, soundfont=args.soundfont, soundfonts=args.soundfonts,
                         progress=not args.no_progress)
    try:
        summary = build_dataset(config)
    except (SoundfontMissingError, DatasetConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except DiskFullError as error:
        print(f"error: {error.strerror}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("\ninterrupted: the manifest holds every completed piece; run the same command to resume.",
              file=sys.stderr)
        return 130
    print(json.dumps(summary_dict(summary), indent=2))
    return 0


def _cmd_dataset_check(args: argparse.Namespace) -> int:
    from engine.dataset.validate import check_dataset, write_report

    report = check_dataset(Path(args.dataset), sample_size=args.sample, seed=args.seed, workers=args.workers)
    print(json.dumps(report["agreement"], indent=2))
    if args.report:
        write_report(report, Path(args.report), Path(args.dataset))
        print(f"report written to {args.report}")
    return 0


def _cmd_train_autoencoder(args: argparse.Namespace) -> int:
    from engine.codec.train import TrainConfig, export_run, train

    if args.export_only:
        path = export_run(Path(args.dataset), Path(args.out))
        print(f"exported the EMA weights of {args.out} to {path}")
        return 0

    config = TrainConfig(dataset=Path(args.dataset), out_dir=Path(args.out), steps=args.steps,
                         batch_size=args.batch_size, learning_rate=args.learning_rate,
                         debug_model=args.debug_model, threads=args.threads,
                         checkpoint_every=args.checkpoint_every,
                         init_from=Path(args.init_from) if args.init_from else None,
                         freeze_encoder=args.freeze_encoder, tone_fraction=args.tone_fraction,
                         time_gradient_weight=args.time_gradient_weight)
    result = train(config)
    print(f"trained {result['steps']} steps in {result['seconds']:.0f} s; weights: {Path(args.out) / 'autoencoder.safetensors'}")
    return 0


def _cmd_train_diffusion(args: argparse.Namespace) -> int:
    from engine.diffusion.latents import build_latent_cache
    from engine.diffusion.train import DiffusionTrainConfig, train_diffusion

    cache = Path(args.cache)
    if not cache.exists():
        if not args.dataset:
            print(f"error: {cache} does not exist; pass --dataset DIR to build it", file=sys.stderr)
            return 2
        from engine.codec.checkpoint import DEFAULT_WEIGHTS

        build_latent_cache(Path(args.dataset), cache, Path(args.autoencoder or DEFAULT_WEIGHTS))
    config = DiffusionTrainConfig(cache=cache, out_dir=Path(args.out), model=args.model, steps=args.steps,
                                  batch_size=args.batch_size, window_frames=args.window_frames,
                                  learning_rate=args.learning_rate, threads=args.threads,
                                  checkpoint_every=args.checkpoint_every)
    result = train_diffusion(config)
    print(f"trained {result['steps']} steps in {result['seconds']:.0f} s; weights: {Path(args.out) / 'diffusion.safetensors'}")
    return 0


def _parse_descriptor_args(args: argparse.Namespace) -> dict[str, float]:
    values = {"loudness": args.loudness, "brightness": args.brightness, "noisiness": args.noisiness,
              "density": args.density}
    return {name: value for name, value in values.items() if value is not None}


def _cmd_render(args: argparse.Namespace) -> int:
    from engine.audio_file import AudioFileError, check_output_file, write_audio_file

    output = Path(args.output)
    try:
        check_output_file(output)  # before torch and the model load: a render can take an hour
    except AudioFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.input and not Path(args.input).is_file():
        print(f"error: {args.input}: no such file", file=sys.stderr)
        return 2
    import torch
    from tqdm import tqdm

    from engine.codec.checkpoint import CheckpointError
    from engine.generate import GenerationError, GenerationRequest, Generator

    if args.threads:
        torch.set_num_threads(args.threads)
    prompts = tuple(args.prompt)
    weights = tuple(args.weight) if args.weight else tuple(1.0 for _ in prompts)
    request = GenerationRequest(prompts=prompts, weights=weights, negative_prompt=args.negative or "",
                                negative_scale=args.negative_scale if args.negative else 0.0,
                                cfg_scale=args.cfg, steps=args.steps, sampler=args.sampler, seed=args.seed,
                                variation=args.variation, tempo_bpm=args.tempo, key=args.key, scale=args.scale,
                                descriptors=_parse_descriptor_args(args))
    try:
        request.validated()
        kwargs = {"device": "cuda" if torch.cuda.is_available() else "cpu", "traced": True}
        if args.weights:
            kwargs["diffusion_path"] = args.weights
        generator = Generator.load(**kwargs)
        if args.input:
            from engine.codec.reconstruct import AudioInputError, read_audio_44k_stereo

            try:
                source = read_audio_44k_stereo(Path(args.input), generator.sample_rate)
            except AudioInputError as error:
                raise GenerationError(str(error)) from error
            audio = generator.audio_to_audio(source, request, args.strength)
        else:
            with tqdm(total=1, unit="chunk", desc="render", disable=args.no_progress) as bar:
                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.n = done
                    bar.refresh()

                audio = generator.render(request, args.seconds, progress=progress)
    except (GenerationError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        write_audio_file(output, audio, generator.sample_rate)  # atomic: a failed write leaves no partial file
    except AudioFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    peak = float(abs(audio).max()) if audio.size else 0.0
    print(f"wrote {output} ({audio.shape[1] / generator.sample_rate:.2f} s, peak {peak:.3f}, model {generator.model_id})")
    return 0


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from engine.codec.checkpoint import DEFAULT_WEIGHTS, CheckpointError
    from engine.codec.reconstruct import AudioInputError, AudioOutputError, reconstruct_file

    try:
        report = reconstruct_file(Path(args.input), Path(args.output), Path(args.weights or DEFAULT_WEIGHTS))
    except (CheckpointError, AudioInputError, AudioOutputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


def _start_app_preload(args: argparse.Namespace, announce_first_request: bool):  # noqa: ANN202 - ModelPreload
    """The app's model, loading on a thread from now on and traced for the live shape by a warm-up chunk before
    the first sound (instrument/preload.py says why, and why Qt must be imported after this).
    announce_first_request: the instrument will announce its first chunk (the preload then computes it)."""
    from instrument.preload import ModelPreload, import_load_modules

    import_load_modules()
    from engine.realtime import EngineConfig

    options = argparse.Namespace(debug_model=getattr(args, "debug_model", False), eager=getattr(args, "eager", False),
                                 weights=getattr(args, "weights", None), threads=getattr(args, "threads", 0),
                                 trace_first_inline=True)
    # The app announces its first chunk right after applying the start preset (gui.controller.start), before
    # the model has loaded (start_app_instrument); a second's wait is only a margin.
    return ModelPreload(lambda: _load_play_generator(options), EngineConfig().geometry.window_frames,
                        first_request_wait_s=1.0 if announce_first_request else 0.0)


def _start_output_prepare(output: str | int) -> Callable[[], Any] | None:
    """The app's output process, spawned on a thread before torch is imported (its interpreter, PortAudio and
    the JACK connection, ~0.2 s, then run on the core torch's single-threaded import leaves idle); returns a
    function that waits for it (instrument.output_process.PreparedOutput), or None for no device."""
    if output == "none":
        return None
    from concurrent.futures import Future

    future: Future = Future()

    def run() -> None:
        from instrument.output import parse_output  # torch-free; done long before Qt's import hook
        from instrument.output_process import PreparedOutput

        future.set_result(PreparedOutput.start(parse_output(output)))

    threading.Thread(target=run, name="cascade-output-prepare", daemon=True).start()
    return future.result


def _load_play_generator(args: argparse.Namespace):  # noqa: ANN202 - engine.generate.Generator
    """The generator for play/rerender: --debug-model, --weights, or the shipped models (CUDA when present)."""
    import torch

    from engine.debug_models import debug_generator
    from engine.diffusion.checkpoint import DEFAULT_DIFFUSION_WEIGHTS
    from engine.generate import Generator

    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.debug_model:
        return debug_generator(0, device=device)
    weights = Path(args.weights) if args.weights else DEFAULT_DIFFUSION_WEIGHTS
    if not weights.exists():
        raise FileNotFoundError(f"no diffusion model at {weights}: the trained model has not shipped yet. "
                                "Pass --weights FILE, or --debug-model to hear the engine run on random weights.")
    generator = Generator.load(weights, device=device)
    if generator.device.type == "cpu" and not getattr(args, "eager", False):
        # No GIL held while the U-Net runs (and a step about as fast as eager despite the 256-token bucket:
        # engine/optimise.py). The shape is traced in the background once the first sound plays (the session
        # releases the tracer then and lengthens its dry lead while the trace holds the GIL): the first chunk
        # runs eager, ~1 s sooner than trace + chunk. The app traces first (trace_first_inline; its preload
        # does it before the window plays): a trace while playing stalls its window.
        generator.use_traced_network(background=True,
                                     trace_first_inline=bool(getattr(args, "trace_first_inline", False)))
    return generator


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


def _cmd_play(args: argparse.Namespace) -> int:
    import signal
    import threading
    import time

    from instrument.curves import CurvePlayer, start_preset_curves
    from instrument.live import LiveSession, status_json
    from instrument.output import parse_output
    from instrument.parameters import ParameterStore
    from instrument.presets import PresetError, apply_preset

    started_s = time.monotonic()
    if not args.headless:
        print("playing headless (Ctrl-C stops); `cascade app` opens the desktop app", file=sys.stderr)
    record_dir = None
    if args.record:
        try:  # before anything starts: an unwritable folder is one clear line, not a crash mid-session
            record_dir = _prepare_record_folder(Path(args.record))
        except OSError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    store = ParameterStore()
    try:
        preset = _find_preset(args.preset)
        apply_preset(store, preset)
    except PresetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    curves = start_preset_curves(preset.get("curves", {}), store)  # the preset's drawn curves play as in the app
    curve_player = CurvePlayer(store)
    try:
        generator = _load_play_generator(args)
    except Exception as error:  # noqa: BLE001 - missing or broken weights: a clear message, not a trace
        print(f"error: {error}", file=sys.stderr)
        return 2
    midi_input = None
    clock = None
    if args.midi is not None:
        from instrument.midi import (MidiClock, MidiError, MidiMapper, MidiMappingError, factory_mapping_dir,
                                     load_mapping_file, open_midi_input)

        mapper = MidiMapper(store)
        try:
            clock = MidiClock(store, latency_offset_s=args.midi_latency_ms / 1000.0)
        except ValueError as error:
            print(f"error: --midi-latency-ms: {error}", file=sys.stderr)
            return 2
        mapping_path = Path(args.midi_map) if args.midi_map and Path(args.midi_map).exists() else (
            factory_mapping_dir() / f"{args.midi_map or 'generic-8-knobs'}.json")
        try:
            mapper.load_mappings(load_mapping_file(mapping_path), source=str(mapping_path))
            midi_input = open_midi_input(int(args.midi) if args.midi.isdigit() else (args.midi or None),
                                         mapper=mapper, clock=clock)
        except (MidiError, MidiMappingError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"MIDI: {midi_input.port_name} ({mapping_path.stem})", file=sys.stderr)
    output = args.output if args.output is not None else "auto"
    try:
        session = LiveSession(generator, store, output=parse_output(output), midi_clock=clock,
                              on_output_change=lambda _level, words: print(f"output: {words}", file=sys.stderr))
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
        if record_dir is not None:
            try:
                take = session.start_recording(record_dir,
                                               on_stopped=lambda status: _tell_take_stopped(status, record_dir))
            except OSError as error:  # the folder changed since the check: say why (finally stops what started)
                print(f"error: {error}", file=sys.stderr)
                return 2
        print(f"playing on {session.output_name}; model {generator.model_id} on {generator.device}"
              + (f"; curves: {', '.join(curves)}" if curves else "")
              + (f"; recording {take.audio_path}" if take else ""), file=sys.stderr)
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
    finally:
        signal.signal(signal.SIGINT, previous)
        status = session.status()
        session.stop()
        if midi_input is not None:
            midi_input.close()
    summary = status_json(status)
    summary["seconds_from_launch_to_first_sound"] = (None if status.start_to_first_sound_seconds is None else
                                                     round(session.started_s - started_s
                                                           + status.start_to_first_sound_seconds, 3))
    if take is not None:  # what the take's files hold, not what was sent to it
        summary["take"] = str(take.sidecar_path)
        summary.update(take_state=take.status.state, take_frames=take.status.frames_written,
                       take_seconds=round(take.seconds, 3), take_error=take.status.error)
    print(json.dumps(summary, indent=2, default=str))
    return 3 if take is not None and take.status.error else 0


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
    from instrument.takes import SAMPLE_RATE

    print(f"RECORDING STOPPED: {status.error}; the take keeps {status.frames_written / SAMPLE_RATE:.2f} s, finalised "
          f"({status.state}) in {folder}; still playing. Free some space or record elsewhere (--record DIR).",
          file=sys.stderr, flush=True)


def _takes_folder(args: argparse.Namespace) -> Path | None:
    """`cascade takes ... DIR`'s folder, or None after saying why it is not one."""
    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"error: {folder} is not a folder", file=sys.stderr)
        return None
    return folder


def _cmd_takes_list(args: argparse.Namespace) -> int:
    from instrument.take_folder import format_table, list_folder

    folder = _takes_folder(args)
    if folder is None:
        return 2
    infos = list_folder(folder)
    print(format_table(infos) if infos else f"no takes in {folder}")
    return 0


def _cmd_takes_repair(args: argparse.Namespace) -> int:
    from instrument.take_folder import list_folder, repair_folder

    folder = _takes_folder(args)
    if folder is None:
        return 2
    results = repair_folder(folder)
    for result in results:
        print(result.line())
    if not results:
        count = len(list_folder(folder))
        print(f"nothing to repair in {folder} ({count} take{'' if count == 1 else 's'})")
    return 1 if any(result.error for result in results) else 0


def _cmd_devices(_: argparse.Namespace) -> int:
    from instrument.midi import list_midi_inputs
    from instrument.output import choose_output_device, list_output_devices

    try:
        devices = list_output_devices()
        best = choose_output_device()
    except Exception as error:  # noqa: BLE001 - no PortAudio: still list MIDI
        print(f"audio outputs: unavailable ({type(error).__name__}: {error})")
        devices, best = [], None
    else:
        print("audio outputs:" if devices else "audio outputs: none (cascade play records to a software clock)")
        for device in devices:
            mark = "*" if best is not None and device.index == best.index else " "
            print(f" {mark}{device.index:3d}  {device.name}  [{device.host_api}, {device.channels} ch, "
                  f"{device.default_sample_rate:.0f} Hz]")
        if best is not None:
            print("   (* = what `cascade play` picks by default)")
    ports = list_midi_inputs()
    print("MIDI inputs:" if ports else "MIDI inputs: none")
    for index, name in enumerate(ports):
        print(f"  {index:3d}  {name}")
    return 0


def _cmd_rerender(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from instrument.live import TakeError, rerender_take

    try:
        generator = _load_play_generator(args)
    except Exception as error:  # noqa: BLE001
        print(f"error: {error}", file=sys.stderr)
        return 2
    output = Path(args.output) if args.output else Path(args.take).with_name(Path(args.take).stem + f"-{args.steps}steps.flac")
    try:
        with tqdm(total=1, unit="chunk", desc="rerender", disable=args.no_progress) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            summary = rerender_take(Path(args.take), generator, output, steps=args.steps, progress=progress)
    except TakeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


def _training_soundfont(value: str) -> str:
    """`dataset build --soundfont`: any file but a held-out one (the CLI builds training sets)."""
    from engine.dataset.render import is_held_out

    if is_held_out(value):
        raise argparse.ArgumentTypeError(
            f"{value} is held out from training (the autoencoder benchmark's unseen soundfont)")
    return value


PRESET_HELP = ("preset name (a user preset replaces a factory one of the same name; 'factory:NAME' or "
               "'user:NAME' picks one) or a .json file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cascade", description="Cascade: a real-time latent-diffusion instrument")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.set_defaults(func=_cmd_app)  # `cascade` with no arguments opens the desktop app
    commands = parser.add_subparsers(title="commands")

    app = commands.add_parser("app", help="the desktop app (the default command)")
    app.add_argument("--preset", default="default", help=PRESET_HELP)
    app.add_argument("--output", default=None, help="audio device index or name; 'none': no device (a software "
                     "clock; recording still works). Default: JACK if a server runs, else the default device")
    app.add_argument("--midi", nargs="?", const="", default=None,
                     help="open this MIDI input at start (name, substring or index; no value: the first port)")
    app.add_argument("--midi-map", default=None, help="controller preset (default: generic-8-knobs)")
    app.add_argument("--takes", default=None, metavar="DIR", help="where takes go (default: the user data folder)")
    app.add_argument("--debug-model", action="store_true", help="random debug-size weights (no trained model)")
    app.add_argument("--weights", default=None, help="diffusion .safetensors (default: shipped)")
    app.add_argument("--threads", type=thread_count, default=0, help="torch CPU threads (0: default)")
    app.add_argument("--eager", action="store_true", help="run the U-Net eagerly (no TorchScript)")
    app.add_argument("--quit-after", type=number_in(0.0, SECONDS_PER_WEEK, above_minimum=True), default=None,
                     metavar="SECONDS", help=argparse.SUPPRESS)
    app.add_argument("--screenshot", default=None, metavar="PNG", help=argparse.SUPPRESS)
    app.add_argument("--layout-report", default=None, metavar="JSON", help=argparse.SUPPRESS)  # gui/layout_report.py
    app.add_argument("--screenshot-after", type=number_in(0.0, 3600.0), default=8.0, help=argparse.SUPPRESS)
    app.set_defaults(func=_cmd_app)

    commands.add_parser("status", help="what works today").set_defaults(func=_cmd_status)
    commands.add_parser("doctor", help="check system packages").set_defaults(func=_cmd_doctor)

    dataset = commands.add_parser("dataset", help="build and check the training set")
    dataset_commands = dataset.add_subparsers(title="dataset commands", required=True)
    build = dataset_commands.add_parser("build", help="render MIDI into FLAC clips with a JSON-lines manifest")
    build.add_argument("--hours", type=number_in(0.0, 100_000.0, above_minimum=True), required=True,
                       help="hours of audio to build (e.g. 0.05 or 10)")
    build.add_argument("--out", required=True, help="output folder (an existing build there is resumed)")
    build.add_argument("--seed", type=seed, default=0, help="same seed, same dataset")
    build.add_argument("--workers", type=worker_count, default=None, help="processes (default: all cores)")
    fonts = build.add_mutually_exclusive_group()
    fonts.add_argument("--soundfonts", default=None, metavar="all|NAME,...",
                       help="soundfont pool, one chosen per piece from the seed: 'all' (default: every installed "
                            "training soundfont) or comma-separated names (FluidR3_GM, MuseScore_General_Lite, ...) "
                            "or .sf2/.sf3 paths; TimGM6mb is held out")
    fonts.add_argument("--soundfont", default=None, type=_training_soundfont,
                       help="one fixed GM .sf2/.sf3 file for every piece (also CASCADE_SOUNDFONT)")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.set_defaults(func=_cmd_dataset_build)

    check = dataset_commands.add_parser("check", help="compare the manifest with essentia's tempo and key estimates")
    check.add_argument("dataset", help="dataset folder")
    check.add_argument("--sample", type=integer_in(1, 10_000_000), default=200, help="clips to check (random sample)")
    check.add_argument("--seed", type=seed, default=0)
    check.add_argument("--workers", type=worker_count, default=None)
    check.add_argument("--report", default=None, help="write a Markdown report (and plots) here")
    check.set_defaults(func=_cmd_dataset_check)

    train = commands.add_parser("train", help="train the models")
    train_commands = train.add_subparsers(title="models", required=True)
    autoencoder = train_commands.add_parser("autoencoder", help="the magnitude autoencoder (resumable)")
    autoencoder.add_argument("--dataset", required=True, help="dataset folder (manifest.jsonl)")
    autoencoder.add_argument("--out", required=True, help="run folder: checkpoints, log, exported weights")
    autoencoder.add_argument("--steps", type=integer_in(1, 100_000_000), default=20000)
    autoencoder.add_argument("--batch-size", type=integer_in(1, 4096), default=8)
    autoencoder.add_argument("--learning-rate", type=number_in(0.0, 1.0, above_minimum=True), default=4e-4)
    autoencoder.add_argument("--checkpoint-every", type=integer_in(1, 100_000_000), default=200)
    autoencoder.add_argument("--threads", type=thread_count, default=0, help="torch CPU threads (0: default)")
    autoencoder.add_argument("--debug-model", action="store_true", help="tiny config (tests, smoke runs)")
    autoencoder.add_argument("--init-from", help="start from this autoencoder file (format 1 or 2)")
    autoencoder.add_argument("--freeze-encoder", action="store_true",
                             help="keep --init-from's encoder and latent statistics (the diffusion model's latent)")
    autoencoder.add_argument("--time-gradient-weight", type=number_in(0.0, 100.0), default=1.0,
                             help="weight of the log-magnitude's frame-to-frame gradient loss (against ripple)")
    autoencoder.add_argument("--tone-fraction", type=number_in(0.0, 1.0), default=0.25,
                             help="share of each batch that is random harmonic tones (pitch anywhere, not just notes)")
    autoencoder.add_argument("--export-only", action="store_true",
                             help="write the run's current EMA weights to OUT/autoencoder.safetensors and stop")
    autoencoder.set_defaults(func=_cmd_train_autoencoder)

    diffusion = train_commands.add_parser("diffusion", help="the text-conditioned latent diffusion U-Net (resumable)")
    diffusion.add_argument("--cache", required=True, help="latent cache .safetensors (built from --dataset if missing)")
    diffusion.add_argument("--dataset", default=None, help="dataset folder to build the cache from")
    diffusion.add_argument("--autoencoder", default=None, help="autoencoder weights for the cache (default: shipped)")
    diffusion.add_argument("--out", required=True, help="run folder: checkpoints, log, exported weights")
    diffusion.add_argument("--model", default="small", help="size preset: debug, small, base")
    diffusion.add_argument("--steps", type=integer_in(1, 100_000_000), default=20000)
    diffusion.add_argument("--batch-size", type=integer_in(1, 4096), default=16)
    diffusion.add_argument("--window-frames", type=integer_in(8, 8192), default=128,
                           help="training window in latent frames")
    diffusion.add_argument("--learning-rate", type=number_in(0.0, 1.0, above_minimum=True), default=3e-4)
    diffusion.add_argument("--checkpoint-every", type=integer_in(1, 100_000_000), default=250)
    diffusion.add_argument("--threads", type=thread_count, default=0, help="torch CPU threads (0: default)")
    diffusion.set_defaults(func=_cmd_train_diffusion)

    render = commands.add_parser("render", help="render a prompt (or a blend of prompts) to an audio file")
    render.add_argument("prompt", nargs="+", help="one or more prompts (blended by --weight)")
    render.add_argument("-o", "--output", required=True, help="output file: .flac, .wav, .aiff, .ogg, .mp3")
    render.add_argument("--seconds", type=number_in(0.0, RENDER_SECONDS_MAX, above_minimum=True), default=30.0)
    render.add_argument("--weight", type=number_in(0.0, PROMPT_WEIGHT_MAX), action="append",
                        help="blend weight per prompt, in order")
    render.add_argument("--negative", default=None, help="negative prompt (composable guidance)")
    render.add_argument("--negative-scale", type=number_in(*NEGATIVE_SCALE_RANGE), default=1.0,
                        help="how hard --negative pushes away (0..30)")
    render.add_argument("--cfg", type=number_in(*CFG_SCALE_RANGE), default=3.0,
                        help="classifier-free guidance scale (0: off; at most 30)")
    render.add_argument("--steps", type=integer_in(*STEPS_RANGE), default=16)
    render.add_argument("--sampler", default="dpmpp_2m", help="dpmpp_2m, euler or ddim")
    render.add_argument("--seed", type=seed, default=0)
    render.add_argument("--variation", type=number_in(*VARIATION_RANGE), default=0.0,
                        help="0..1, move away from the seed's noise")
    render.add_argument("--tempo", type=number_in(*TEMPO_BPM_RANGE, unit="BPM"), default=None, help="BPM")
    render.add_argument("--key", default=None, help="tonic, e.g. D or F#")
    render.add_argument("--scale", default=None, help="major, minor, dorian, mixolydian")
    render.add_argument("--loudness", type=knob_range("loudness_db"), default=None,
                        help="target loudness, dBFS RMS (e.g. -20)")
    render.add_argument("--brightness", type=knob_range("brightness_hz"), default=None,
                        help="target spectral centroid, Hz")
    render.add_argument("--noisiness", type=knob_range("noisiness"), default=None,
                        help="target spectral flatness, 0..1")
    render.add_argument("--density", type=knob_range("density"), default=None, help="target onsets per second")
    render.add_argument("--input", default=None, help="audio-to-audio: restyle this file instead")
    render.add_argument("--strength", type=number_in(0.0, 1.0, above_minimum=True), default=0.6,
                        help="audio-to-audio: near 0 keeps the input, 1 ignores it")
    render.add_argument("--weights", default=None, help="diffusion .safetensors (default: shipped)")
    render.add_argument("--threads", type=thread_count, default=0, help="torch CPU threads (0: default)")
    render.add_argument("--no-progress", action="store_true")
    render.set_defaults(func=_cmd_render)

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
    play.add_argument("--threads", type=thread_count, default=0, help="torch CPU threads (0: default)")
    play.add_argument("--eager", action="store_true", help="run the U-Net eagerly (no TorchScript)")
    play.add_argument("--midi-latency-ms", type=number_in(-500.0, 500.0, unit="ms"), default=0.0,
                      help="MIDI clock transport delay to compensate (JACK, 512-frame period: ~6.5); bar-line "
                           "joins move this much earlier")
    play.add_argument("--status-every", type=number_in(0.1, 3600.0, unit="s"), default=1.0,
                      help="seconds between status lines (0.1..3600)")
    play.add_argument("--quiet", action="store_true", help="no status lines")
    play.set_defaults(func=_cmd_play)

    commands.add_parser("devices", help="list audio outputs and MIDI inputs").set_defaults(func=_cmd_devices)

    rerender = commands.add_parser("rerender", help="re-render a recorded take offline at more steps")
    rerender.add_argument("take", help="the take's JSON sidecar (TAKE.json)")
    rerender.add_argument("-o", "--output", default=None, help="output file (default: TAKE-<steps>steps.flac)")
    rerender.add_argument("--steps", type=integer_in(*STEPS_RANGE), default=32, help="sampler steps per chunk")
    rerender.add_argument("--debug-model", action="store_true", help="random debug-size weights (a debug take)")
    rerender.add_argument("--weights", default=None, help="diffusion .safetensors (default: shipped)")
    rerender.add_argument("--threads", type=thread_count, default=0, help="torch CPU threads (0: default)")
    rerender.add_argument("--no-progress", action="store_true")
    rerender.set_defaults(func=_cmd_rerender)

    takes = commands.add_parser("takes", help="list recorded takes; repair those a crash left")
    takes_commands = takes.add_subparsers(title="takes commands", required=True)
    takes_list = takes_commands.add_parser("list", help="each take in DIR: name, state, seconds, prompt")
    takes_list.add_argument("folder", metavar="DIR")
    takes_list.set_defaults(func=_cmd_takes_list)
    takes_repair = takes_commands.add_parser("repair", help="make the takes a crash left in DIR readable "
                                             "(`cascade play --record DIR` and the app do it at start)")
    takes_repair.add_argument("folder", metavar="DIR")
    takes_repair.set_defaults(func=_cmd_takes_repair)

    reconstruct = commands.add_parser("reconstruct", help="round-trip an audio file through the autoencoder")
    reconstruct.add_argument("input", help="any common audio file (WAV, FLAC, MP3, OGG; any rate)")
    reconstruct.add_argument("-o", "--output", required=True, help="output file (format from the extension)")
    reconstruct.add_argument("--weights", default=None, help="autoencoder .safetensors (default: shipped)")
    reconstruct.set_defaults(func=_cmd_reconstruct)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "workers", None) is None and hasattr(args, "workers"):
        import os

        args.workers = max(1, os.cpu_count() or 1)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `cascade status | head -1`: the reader left; no traceback into the terminal
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the exit's flush of stdout would raise again
        return 141  # what a shell reports for a command killed by SIGPIPE


if __name__ == "__main__":
    sys.exit(main())

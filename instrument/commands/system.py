"""`cascade status`, `cascade doctor` and `cascade devices`: what works today, what this machine has installed,
and which audio outputs and MIDI inputs it sees."""

from __future__ import annotations

import argparse

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
  cascade train words-reader --dataset DIR --out FILE  train the words reader (tempo/key read from the text)
  cascade doctor                                       check the system packages the instrument needs

The desktop app: `cascade` with no arguments (or `cascade app [--preset NAME] [--output none] [--midi PORT]`)
opens it on the shipped model and the default preset; `cascade status` prints this screen.
The shipped diffusion model was trained on a 2-core CPU (96 minutes, then a harmony fine-tune): it follows
tempo, key and scale (read from the prompt's words or given), held or written chords, loudness and
brightness curves and the prompt's style; its sound is still rough; see docs/diffusion.md for what it does
and does not do yet.
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


def add_status(commands: argparse._SubParsersAction) -> None:
    commands.add_parser("status", help="what works today").set_defaults(func=_cmd_status)


def add_doctor(commands: argparse._SubParsersAction) -> None:
    commands.add_parser("doctor", help="check system packages").set_defaults(func=_cmd_doctor)


def add_devices(commands: argparse._SubParsersAction) -> None:
    commands.add_parser("devices", help="list audio outputs and MIDI inputs").set_defaults(func=_cmd_devices)

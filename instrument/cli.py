"""The `cascade` command line. Heavy imports (torch, music21, essentia) happen inside the subcommands, so
`cascade --help` and the status screen answer at once."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

STATUS_TEXT = """Cascade {version}: a real-time music instrument driven by a cascaded latent diffusion model.

What works today:
  cascade dataset build --hours H --out DIR --seed S   build the training set (MIDI -> FluidSynth -> FLAC)
  cascade dataset check DIR                            check it against an independent estimator (essentia)
  cascade reconstruct IN -o OUT                        round-trip audio through the shipped autoencoder
  cascade train autoencoder --dataset DIR --out RUN    train (or resume training) the autoencoder
  cascade doctor                                       check the system packages the instrument needs

Not built yet (tracked as issues): the text-conditioned diffusion model (its samplers, U-Net and prompt
encoder exist, untrained), so `cascade` cannot play music yet; the real-time engine thread and
`cascade play` (the parameter store, presets, audio output, MIDI, effects and take writer exist and are
tested, but nothing drives them yet); the desktop app.
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
    width = max(len(name) for name, _, _ in checks)
    for name, ok, detail in checks:
        print(f"{'ok     ' if ok else 'MISSING'} {name.ljust(width)}  {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


def _cmd_dataset_build(args: argparse.Namespace) -> int:
    from engine.dataset.builder import BuildConfig, DatasetConfigError, DiskFullError, build_dataset, summary_dict
    from engine.dataset.render import SoundfontMissingError

    config = BuildConfig(out_dir=Path(args.out), hours=args.hours, seed=args.seed,
                         workers=args.workers, soundfont=args.soundfont, progress=not args.no_progress)
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
                         checkpoint_every=args.checkpoint_every)
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
    import soundfile
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
        kwargs = {"device": "cuda" if torch.cuda.is_available() else "cpu"}
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
    output = Path(args.output)
    try:
        soundfile.write(output, audio.T, generator.sample_rate, subtype="PCM_24" if output.suffix.lower() in
                        (".flac", ".wav") else None)
    except (RuntimeError, OSError, TypeError) as error:
        print(f"error: cannot write {output}: {error}", file=sys.stderr)
        return 2
    peak = float(abs(audio).max()) if audio.size else 0.0
    print(f"wrote {output} ({audio.shape[1] / generator.sample_rate:.2f} s, peak {peak:.3f}, model {generator.model_id})")
    return 0


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from engine.codec.checkpoint import DEFAULT_WEIGHTS, CheckpointError
    from engine.codec.reconstruct import AudioInputError, reconstruct_file

    try:
        report = reconstruct_file(Path(args.input), Path(args.output), Path(args.weights or DEFAULT_WEIGHTS))
    except (CheckpointError, AudioInputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cascade", description="Cascade: a real-time latent-diffusion instrument")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.set_defaults(func=_cmd_status)
    commands = parser.add_subparsers(title="commands")

    commands.add_parser("status", help="what works today").set_defaults(func=_cmd_status)
    commands.add_parser("doctor", help="check system packages").set_defaults(func=_cmd_doctor)

    dataset = commands.add_parser("dataset", help="build and check the training set")
    dataset_commands = dataset.add_subparsers(title="dataset commands", required=True)
    build = dataset_commands.add_parser("build", help="render MIDI into FLAC clips with a JSON-lines manifest")
    build.add_argument("--hours", type=float, required=True, help="hours of audio to build (e.g. 0.05 or 10)")
    build.add_argument("--out", required=True, help="output folder (an existing build there is resumed)")
    build.add_argument("--seed", type=int, default=0, help="same seed, same dataset")
    build.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    build.add_argument("--soundfont", default=None, help="GM .sf2 file (default: Debian's FluidR3_GM.sf2)")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.set_defaults(func=_cmd_dataset_build)

    check = dataset_commands.add_parser("check", help="compare the manifest with essentia's tempo and key estimates")
    check.add_argument("dataset", help="dataset folder")
    check.add_argument("--sample", type=int, default=200, help="clips to check (random sample)")
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--workers", type=int, default=None)
    check.add_argument("--report", default=None, help="write a Markdown report (and plots) here")
    check.set_defaults(func=_cmd_dataset_check)

    train = commands.add_parser("train", help="train the models")
    train_commands = train.add_subparsers(title="models", required=True)
    autoencoder = train_commands.add_parser("autoencoder", help="the magnitude autoencoder (resumable)")
    autoencoder.add_argument("--dataset", required=True, help="dataset folder (manifest.jsonl)")
    autoencoder.add_argument("--out", required=True, help="run folder: checkpoints, log, exported weights")
    autoencoder.add_argument("--steps", type=int, default=20000)
    autoencoder.add_argument("--batch-size", type=int, default=8)
    autoencoder.add_argument("--learning-rate", type=float, default=4e-4)
    autoencoder.add_argument("--checkpoint-every", type=int, default=200)
    autoencoder.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    autoencoder.add_argument("--debug-model", action="store_true", help="tiny config (tests, smoke runs)")
    autoencoder.add_argument("--export-only", action="store_true",
                             help="write the run's current EMA weights to OUT/autoencoder.safetensors and stop")
    autoencoder.set_defaults(func=_cmd_train_autoencoder)

    diffusion = train_commands.add_parser("diffusion", help="the text-conditioned latent diffusion U-Net (resumable)")
    diffusion.add_argument("--cache", required=True, help="latent cache .safetensors (built from --dataset if missing)")
    diffusion.add_argument("--dataset", default=None, help="dataset folder to build the cache from")
    diffusion.add_argument("--autoencoder", default=None, help="autoencoder weights for the cache (default: shipped)")
    diffusion.add_argument("--out", required=True, help="run folder: checkpoints, log, exported weights")
    diffusion.add_argument("--model", default="small", help="size preset: debug, small, base")
    diffusion.add_argument("--steps", type=int, default=20000)
    diffusion.add_argument("--batch-size", type=int, default=16)
    diffusion.add_argument("--window-frames", type=int, default=128, help="training window in latent frames")
    diffusion.add_argument("--learning-rate", type=float, default=3e-4)
    diffusion.add_argument("--checkpoint-every", type=int, default=250)
    diffusion.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    diffusion.set_defaults(func=_cmd_train_diffusion)

    render = commands.add_parser("render", help="render a prompt (or a blend of prompts) to an audio file")
    render.add_argument("prompt", nargs="+", help="one or more prompts (blended by --weight)")
    render.add_argument("-o", "--output", required=True, help="output file: .flac, .wav, .ogg")
    render.add_argument("--seconds", type=float, default=30.0)
    render.add_argument("--weight", type=float, action="append", help="blend weight per prompt, in order")
    render.add_argument("--negative", default=None, help="negative prompt (composable guidance)")
    render.add_argument("--negative-scale", type=float, default=1.0)
    render.add_argument("--cfg", type=float, default=3.0, help="classifier-free guidance scale (0: off)")
    render.add_argument("--steps", type=int, default=16)
    render.add_argument("--sampler", default="dpmpp_2m", help="dpmpp_2m, euler or ddim")
    render.add_argument("--seed", type=int, default=0)
    render.add_argument("--variation", type=float, default=0.0, help="0..1, move away from the seed's noise")
    render.add_argument("--tempo", type=float, default=None, help="BPM")
    render.add_argument("--key", default=None, help="tonic, e.g. D or F#")
    render.add_argument("--scale", default=None, help="major, minor, dorian, mixolydian")
    render.add_argument("--loudness", type=float, default=None, help="target loudness, dBFS RMS (e.g. -20)")
    render.add_argument("--brightness", type=float, default=None, help="target spectral centroid, Hz")
    render.add_argument("--noisiness", type=float, default=None, help="target spectral flatness, 0..1")
    render.add_argument("--density", type=float, default=None, help="target onsets per second")
    render.add_argument("--input", default=None, help="audio-to-audio: restyle this file instead")
    render.add_argument("--strength", type=float, default=0.6, help="audio-to-audio: 0 keeps the input, 1 ignores it")
    render.add_argument("--weights", default=None, help="diffusion .safetensors (default: shipped)")
    render.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    render.add_argument("--no-progress", action="store_true")
    render.set_defaults(func=_cmd_render)

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
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
